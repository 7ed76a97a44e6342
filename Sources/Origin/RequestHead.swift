import Glibc

/// What the origin needs from a request head: where the path is, how the body is framed, and
/// whether the connection stays open. Parsed in place from the input buffer, no copies.
struct RequestHead {
    var headLength = 0
    var pathStart = 0
    var pathLength = 0
    var isHEAD = false
    var http10 = false
    var contentLength = -1
    var chunked = false
    var connectionClose = false
    var connectionKeepAlive = false
    var expectContinue = false

    var keepAlive: Bool { http10 ? (connectionKeepAlive && !connectionClose) : !connectionClose }
    var hasBody: Bool { chunked || contentLength > 0 }
}

enum HeadScan {
    /// No blank line yet; scanning can resume at `resumeAt` when more bytes arrive.
    case incomplete(resumeAt: Int)
    case complete(RequestHead)
    case invalid
}

enum RequestParser {
    static let lf: UInt8 = 10, cr: UInt8 = 13, space: UInt8 = 32, tab: UInt8 = 9, colon: UInt8 = 58

    /// Finds the blank line ending the head (CRLF or bare LF) and parses the head up to it.
    static func scan(_ p: UnsafePointer<UInt8>, _ n: Int, from: Int) -> HeadScan {
        var i = from
        while i < n {
            guard let q = memchr(p + i, Int32(lf), n - i) else { break }
            let j = UnsafePointer<UInt8>(q.assumingMemoryBound(to: UInt8.self)) - p
            if j + 1 < n && p[j + 1] == lf { return parse(p, j + 2) }
            if j + 2 < n && p[j + 1] == cr && p[j + 2] == lf { return parse(p, j + 3) }
            i = j + 1
        }
        return .incomplete(resumeAt: max(0, n - 3))
    }

    /// End of the line starting at `i` (index of its LF) and the end of its content (CR dropped).
    @inline(__always)
    private static func line(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> (contentEnd: Int, next: Int) {
        var j = i
        while j < end && p[j] != lf { j += 1 }
        var c = j
        if c > i && p[c - 1] == cr { c -= 1 }
        return (c, j + 1)
    }

    private static func parse(_ p: UnsafePointer<UInt8>, _ headLength: Int) -> HeadScan {
        var h = RequestHead()
        h.headLength = headLength
        guard let fieldsStart = requestLine(p, headLength, &h) else { return .invalid }
        // Header lines until the blank line.
        var ls = fieldsStart
        while ls < headLength {
            let (ce, nx) = line(p, ls, headLength)
            if ce == ls { break }
            guard field(p, ls, ce, &h) else { return .invalid }
            ls = nx
        }
        if h.chunked {
            h.contentLength = -1
            if h.http10 { return .invalid }
        }
        return .complete(h)
    }

    /// Parses `METHOD SP target SP HTTP/1.x` into `h`; the start of the next line, or nil when
    /// the line is malformed.
    @inline(__always)
    private static func requestLine(_ p: UnsafePointer<UInt8>, _ headLength: Int, _ h: inout RequestHead) -> Int? {
        let (lineEnd, next) = line(p, 0, headLength)
        var i = 0
        while i < lineEnd && p[i] != space { i += 1 }
        let methodLength = i
        guard methodLength > 0, i < lineEnd else { return nil }
        h.isHEAD = methodLength == 4 && p[0] == 72 && p[1] == 69 && p[2] == 65 && p[3] == 68
        i += 1
        let targetStart = i
        while i < lineEnd && p[i] != space { i += 1 }
        let targetEnd = i
        guard targetEnd > targetStart, lineEnd - i == 9 else { return nil }
        // " HTTP/1.x"
        guard p[i + 1] == 72, p[i + 2] == 84, p[i + 3] == 84, p[i + 4] == 80, p[i + 5] == 47,
              p[i + 6] == 49, p[i + 7] == 46 else { return nil }
        switch p[i + 8] {
        case 49: h.http10 = false
        case 48: h.http10 = true
        default: return nil
        }
        var pathStart = targetStart
        if p[pathStart] != 47 {   // absolute-form "http://host/path": skip scheme and authority
            var k = pathStart
            var slashes = 0
            while k < targetEnd && slashes < 3 { if p[k] == 47 { slashes += 1 }; if slashes < 3 { k += 1 } }
            pathStart = k
        }
        var pathEnd = pathStart
        while pathEnd < targetEnd && p[pathEnd] != 63 && p[pathEnd] != 35 { pathEnd += 1 }   // '?' '#'
        h.pathStart = pathStart
        h.pathLength = pathEnd - pathStart
        return next
    }

    /// Applies the header line [ls, ce) to `h` (only the fields the origin acts on); false when
    /// the line is malformed.
    @inline(__always)
    private static func field(_ p: UnsafePointer<UInt8>, _ ls: Int, _ ce: Int, _ h: inout RequestHead) -> Bool {
        // Field names are tokens: no whitespace or controls (this also rejects obs-fold).
        var colonAt = ls
        while colonAt < ce && p[colonAt] != colon {
            if p[colonAt] <= space || p[colonAt] == 127 { return false }
            colonAt += 1
        }
        guard colonAt < ce, colonAt > ls else { return false }
        var vs = colonAt + 1
        while vs < ce && (p[vs] == space || p[vs] == tab) { vs += 1 }
        var ve = ce
        while ve > vs && (p[ve - 1] == space || p[ve - 1] == tab) { ve -= 1 }
        let nameLength = colonAt - ls
        switch nameLength {
        case 14 where equalsLower(p + ls, nameLength, "content-length"):
            guard ve > vs, ve - vs <= 15 else { return false }
            var v = 0
            for k in vs..<ve {
                let d = Int(p[k]) - 48
                guard d >= 0 && d <= 9 else { return false }
                v = v * 10 + d
            }
            if h.contentLength >= 0 && h.contentLength != v { return false }
            h.contentLength = v
        case 17 where equalsLower(p + ls, nameLength, "transfer-encoding"):
            // Only "…, chunked" is a framing we can read; anything else cannot be delimited.
            guard ve - vs >= 7, equalsLower(p + ve - 7, 7, "chunked") else { return false }
            h.chunked = true
        case 10 where equalsLower(p + ls, nameLength, "connection"):
            forEachToken(p, vs, ve) { s, n in
                if n == 5 && equalsLower(p + s, 5, "close") { h.connectionClose = true }
                if n == 10 && equalsLower(p + s, 10, "keep-alive") { h.connectionKeepAlive = true }
            }
        case 6 where equalsLower(p + ls, nameLength, "expect"):
            if ve - vs == 12 && equalsLower(p + vs, 12, "100-continue") { h.expectContinue = true }
        default:
            break
        }
        return true
    }

    @inline(__always)
    private static func forEachToken(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ body: (Int, Int) -> Void) {
        var i = start
        while i < end {
            while i < end && (p[i] == space || p[i] == tab || p[i] == 44) { i += 1 }
            let s = i
            while i < end && p[i] != 44 { i += 1 }
            var e = i
            while e > s && (p[e - 1] == space || p[e - 1] == tab) { e -= 1 }
            if e > s { body(s, e - s) }
        }
    }

    /// ASCII case-insensitive compare against a lowercase literal (no String is created).
    @inline(__always)
    static func equalsLower(_ p: UnsafePointer<UInt8>, _ n: Int, _ lower: StaticString) -> Bool {
        guard n == lower.utf8CodeUnitCount else { return false }
        let l = lower.utf8Start
        for k in 0..<n {
            var c = p[k]
            if c >= 65 && c <= 90 { c |= 0x20 }
            if c != l[k] { return false }
        }
        return true
    }
}
