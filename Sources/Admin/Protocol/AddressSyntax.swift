/// Syntax check for `IPv4:PORT` and `[IPv6]:PORT`, self-contained so the command codec needs no
/// other module. It only decides "well formed or not"; the proxy side canonicalises.
enum AddressSyntax {
    static let expected = "expected IPv4:PORT or [IPv6]:PORT"

    /// nil when `text` is acceptable, else the reason (without the address itself).
    static func problem(_ text: String) -> String? {
        let b = Array(text.utf8)
        let host: ArraySlice<UInt8>
        let port: ArraySlice<UInt8>
        if b.first == UInt8(ascii: "[") {
            guard let close = b.firstIndex(of: UInt8(ascii: "]")) else { return "missing ']'" }
            guard close + 1 < b.count, b[close + 1] == UInt8(ascii: ":") else { return "missing ':PORT' after ']'" }
            host = b[1..<close]
            port = b[(close + 2)...]
            guard isIPv6(host) else { return "'\(String(decoding: host, as: UTF8.self))' is not an IPv6 address" }
        } else {
            guard let colon = b.lastIndex(of: UInt8(ascii: ":")) else { return "missing ':PORT'" }
            host = b[..<colon]
            port = b[(colon + 1)...]
            if host.contains(UInt8(ascii: ":")) { return "an IPv6 address needs brackets, e.g. [::1]:8080" }
            guard isIPv4(host) else {
                return "'\(String(decoding: host, as: UTF8.self))' is not an IPv4 address (host names are not accepted)"
            }
        }
        guard let p = decimal(port, maxDigits: 5), (1...65535).contains(p) else { return "port must be 1...65535" }
        return nil
    }

    /// Dotted quad, no leading zeros (they would read as octal elsewhere).
    static func isIPv4(_ s: ArraySlice<UInt8>) -> Bool {
        let parts = s.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for part in parts {
            guard let v = decimal(part, maxDigits: 3), v <= 255 else { return false }
            if part.count > 1 && part.first == UInt8(ascii: "0") { return false }
        }
        return true
    }

    /// RFC 4291 text form: hex groups, at most one "::", optional dotted-quad tail. No zone ids.
    static func isIPv6(_ s: ArraySlice<UInt8>) -> Bool {
        let text = Array(s)
        var halves: [[UInt8]] = []
        var compressed = false
        if let r = findDoubleColon(text) {
            compressed = true
            halves = [Array(text[..<r]), Array(text[(r + 2)...])]
            if findDoubleColon(halves[1]) != nil { return false }
        } else {
            halves = [text]
        }
        var groups = 0
        for (h, half) in halves.enumerated() {
            if half.isEmpty { continue }
            let parts = half.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            for (i, part) in parts.enumerated() {
                let isLast = h == halves.count - 1 && i == parts.count - 1
                if isLast && part.contains(UInt8(ascii: ".")) {
                    guard isIPv4(part) else { return false }
                    groups += 2
                } else {
                    guard (1...4).contains(part.count), part.allSatisfy(isHex) else { return false }
                    groups += 1
                }
            }
        }
        return compressed ? groups <= 7 : groups == 8
    }

    private static func findDoubleColon(_ b: [UInt8]) -> Int? {
        guard b.count >= 2 else { return nil }
        for i in 0..<(b.count - 1) where b[i] == UInt8(ascii: ":") && b[i + 1] == UInt8(ascii: ":") {
            return i
        }
        return nil
    }

    private static func isHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
    }

    /// 1...maxDigits ASCII digits, no sign.
    static func decimal<S: Collection>(_ s: S, maxDigits: Int) -> Int? where S.Element == UInt8 {
        guard !s.isEmpty, s.count <= maxDigits else { return nil }
        var v = 0
        for c in s {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        return v
    }
}
