/// The parts of a response head the load generator needs, parsed without allocating.
struct ResponseHead {
    var length = 0
    var status = 0
    var contentLength = -1
    var close = false

    static func parse(_ b: UnsafeRawBufferPointer) -> ResponseHead? {
        let n = b.count
        guard n >= 16 else { return nil }
        var end = -1
        var i = 3
        while i < n {
            if b[i] == 10 && b[i - 1] == 13 && b[i - 2] == 10 && b[i - 3] == 13 { end = i + 1; break }
            i += 1
        }
        guard end > 0 else { return nil }
        var h = ResponseHead()
        h.length = end
        h.status = Int(b[9] &- 48) * 100 + Int(b[10] &- 48) * 10 + Int(b[11] &- 48)
        var ls = 0
        while ls < end {
            var le = ls
            while le < end && b[le] != 10 { le += 1 }
            var colon = ls
            while colon < le && b[colon] != 58 { colon += 1 }
            if colon < le {
                var vs = colon + 1
                while vs < le && b[vs] == 32 { vs += 1 }
                var ve = le
                while ve > vs && (b[ve - 1] == 13 || b[ve - 1] == 32) { ve -= 1 }
                if equalsLower(b, ls, colon, "content-length") {
                    var v = 0
                    for k in vs..<ve { v = v * 10 + Int(b[k] &- 48) }
                    h.contentLength = v
                } else if equalsLower(b, ls, colon, "connection") && equalsLower(b, vs, ve, "close") {
                    h.close = true
                }
            }
            ls = le + 1
        }
        return h
    }

    private static func equalsLower(_ b: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ lower: StaticString) -> Bool {
        guard e - s == lower.utf8CodeUnitCount else { return false }
        let l = lower.utf8Start
        for k in 0..<(e - s) {
            var c = b[s + k]
            if c >= 65 && c <= 90 { c |= 0x20 }
            if c != l[k] { return false }
        }
        return true
    }
}
