/// An IP address as plain integers, so the request path can match peers
/// against CIDRs without building Strings.
///
/// Equality is on the representation: `.v4(x)` and the IPv4-mapped IPv6
/// form of `x` are different values (use `unmapped` to normalise);
/// `CIDR.contains` treats them as the same address.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// Host byte order: 10.0.0.1 is 0x0A00_0001.
    case v4(UInt32)
    /// High and low 64 bits, host byte order: ::1 is (0, 1).
    case v6(UInt64, UInt64)

    /// Parses "10.0.0.1", "::1", "fd00::1:2", "::ffff:10.0.0.1".
    /// Strict like `inet_pton`: dotted-quad IPv4 only (no "10.1", no leading
    /// zeros), no zone ids ("%eth0"), no brackets.
    public static func parse(_ s: String) -> IPAddress? {
        var s = s
        return s.withUTF8 { parse(utf8: $0) }
    }

    /// Same as `parse(_:)`, straight from bytes (e.g. a header value slice),
    /// so the request path does not need to create a String.
    public static func parse<C: Collection>(utf8 s: C) -> IPAddress? where C.Element == UInt8 {
        if s.contains(UInt8(ascii: ":")) {
            guard let (hi, lo) = parseIPv6(s) else { return nil }
            return .v6(hi, lo)
        }
        guard let v = parseIPv4(s, from: s.startIndex) else { return nil }
        return .v4(v)
    }

    /// From raw network-order bytes as found in `in_addr` (4 bytes) or
    /// `in6_addr` (16 bytes); e.g. `withUnsafeBytes(of: &sin6.sin6_addr) { IPAddress(bytes: $0) }`.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        switch bytes.count {
        case 4:
            self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            var hi: UInt64 = 0, lo: UInt64 = 0
            for (i, b) in bytes.enumerated() {
                if i < 8 { hi = hi << 8 | UInt64(b) } else { lo = lo << 8 | UInt64(b) }
            }
            self = .v6(hi, lo)
        default:
            return nil
        }
    }

    public var isIPv6: Bool {
        if case .v6 = self { return true }
        return false
    }

    /// True for ::ffff:a.b.c.d, which is how a dual-stack socket reports an IPv4 peer.
    public var isIPv4Mapped: Bool {
        if case .v6(0, let lo) = self, lo >> 32 == 0xFFFF { return true }
        return false
    }

    /// The IPv4 address behind an IPv4-mapped IPv6 address; otherwise self.
    public var unmapped: IPAddress {
        if case .v6(0, let lo) = self, lo >> 32 == 0xFFFF { return .v4(UInt32(truncatingIfNeeded: lo)) }
        return self
    }

    /// The 128-bit form: IPv4 addresses become ::ffff:a.b.c.d.
    public var mappedToIPv6: (hi: UInt64, lo: UInt64) {
        switch self {
        case .v4(let v): return (0, 0xFFFF_0000_0000 | UInt64(v))
        case .v6(let hi, let lo): return (hi, lo)
        }
    }

    /// Dotted quad, or RFC 5952 canonical IPv6 (lowercase, longest zero run
    /// of two or more groups compressed, mapped IPv4 written as ::ffff:a.b.c.d).
    public var description: String {
        switch self {
        case .v4(let v):
            return IPAddress.dottedQuad(v)
        case .v6(let hi, let lo):
            if hi == 0, lo >> 32 == 0xFFFF {
                return "::ffff:" + IPAddress.dottedQuad(UInt32(truncatingIfNeeded: lo))
            }
            var words = [UInt16](repeating: 0, count: 8)
            for i in 0..<4 {
                words[i] = UInt16(truncatingIfNeeded: hi >> (48 - 16 * UInt64(i)))
                words[i + 4] = UInt16(truncatingIfNeeded: lo >> (48 - 16 * UInt64(i)))
            }
            // Longest run of zero words (first one wins a tie); RFC 5952 forbids "::" for a single word.
            var bestStart = -1, bestLen = 0, i = 0
            while i < 8 {
                guard words[i] == 0 else { i += 1; continue }
                var j = i
                while j < 8, words[j] == 0 { j += 1 }
                if j - i > bestLen { bestStart = i; bestLen = j - i }
                i = j
            }
            if bestLen < 2 { bestStart = -1 }
            var out = ""
            i = 0
            while i < 8 {
                if i == bestStart {
                    out += "::"
                    i += bestLen
                    continue
                }
                if !out.isEmpty, !out.hasSuffix(":") { out += ":" }
                out += String(words[i], radix: 16)
                i += 1
            }
            return out
        }
    }

    private static func dottedQuad(_ v: UInt32) -> String {
        "\(v >> 24).\(v >> 16 & 0xFF).\(v >> 8 & 0xFF).\(v & 0xFF)"
    }

    /// Four decimal octets from `from` to the end of `s`, mirroring glibc's inet_pton4.
    static func parseIPv4<C: Collection>(_ s: C, from: C.Index) -> UInt32? where C.Element == UInt8 {
        var result: UInt32 = 0
        var octet: UInt32 = 0
        var octets = 0
        var sawDigit = false
        var i = from
        while i != s.endIndex {
            let ch = s[i]
            s.formIndex(after: &i)
            if ch >= UInt8(ascii: "0"), ch <= UInt8(ascii: "9") {
                if sawDigit, octet == 0 { return nil }  // leading zero: "01" could mean octal elsewhere
                octet = octet * 10 + UInt32(ch - UInt8(ascii: "0"))
                if octet > 255 { return nil }
                if !sawDigit {
                    octets += 1
                    if octets > 4 { return nil }
                    sawDigit = true
                }
            } else if ch == UInt8(ascii: "."), sawDigit {
                if octets == 4 { return nil }
                result = result << 8 | octet
                octet = 0
                sawDigit = false
            } else {
                return nil
            }
        }
        guard octets == 4, sawDigit else { return nil }
        return result << 8 | octet
    }

    /// Mirrors glibc's inet_pton6: 1-4 hex digits per group, at most one "::"
    /// standing for at least one zero group, optional dotted-quad tail.
    static func parseIPv6<C: Collection>(_ s: C) -> (UInt64, UInt64)? where C.Element == UInt8 {
        var value = UInt128Parts()  // groups shifted in from the right
        var count = 0               // groups parsed so far
        var gap = -1                // groups before "::", or -1
        var group: UInt64 = 0
        var digits = 0
        var i = s.startIndex
        guard i != s.endIndex else { return nil }
        if s[i] == UInt8(ascii: ":") {
            s.formIndex(after: &i)
            guard i != s.endIndex, s[i] == UInt8(ascii: ":") else { return nil }
        }
        var groupStart = i
        while i != s.endIndex {
            let ch = s[i]
            s.formIndex(after: &i)
            if let h = hexValue(ch) {
                digits += 1
                if digits > 4 { return nil }
                group = group << 4 | UInt64(h)
                continue
            }
            if ch == UInt8(ascii: ":") {
                groupStart = i
                if digits == 0 {
                    if gap != -1 { return nil }
                    gap = count
                    continue
                }
                if i == s.endIndex { return nil }  // trailing single ':'
                if count == 8 { return nil }
                value.shiftIn(group, bits: 16)
                count += 1
                group = 0
                digits = 0
                continue
            }
            if ch == UInt8(ascii: "."), count <= 6 {
                guard let v4 = parseIPv4(s, from: groupStart) else { return nil }
                value.shiftIn(UInt64(v4), bits: 32)
                count += 2
                digits = 0
                break
            }
            return nil
        }
        if digits > 0 {
            if count == 8 { return nil }
            value.shiftIn(group, bits: 16)
            count += 1
        }
        if gap >= 0 {
            if count == 8 { return nil }  // "::" must stand for at least one group
            // Groups after the gap stay at the bottom; those before move up past the zeros.
            let after = count - gap
            let low = value.masked(toLowBits: 16 * after)
            let high = value.shiftedRight(16 * after).shiftedLeft(16 * (8 - gap))
            value = UInt128Parts(hi: high.hi | low.hi, lo: high.lo | low.lo)
        } else if count != 8 {
            return nil
        }
        return (value.hi, value.lo)
    }

    @inline(__always)
    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Just enough 128-bit arithmetic for IPv6 parsing, avoiding `UInt128`'s
/// OS availability requirements on Apple platforms.
struct UInt128Parts {
    var hi: UInt64 = 0
    var lo: UInt64 = 0

    mutating func shiftIn(_ v: UInt64, bits: Int) {
        self = shiftedLeft(bits)
        lo |= v
    }

    func shiftedLeft(_ n: Int) -> UInt128Parts {
        if n == 0 { return self }
        if n >= 128 { return UInt128Parts() }
        if n >= 64 { return UInt128Parts(hi: lo << UInt64(n - 64), lo: 0) }
        return UInt128Parts(hi: hi << UInt64(n) | lo >> UInt64(64 - n), lo: lo << UInt64(n))
    }

    func shiftedRight(_ n: Int) -> UInt128Parts {
        if n == 0 { return self }
        if n >= 128 { return UInt128Parts() }
        if n >= 64 { return UInt128Parts(hi: 0, lo: hi >> UInt64(n - 64)) }
        return UInt128Parts(hi: hi >> UInt64(n), lo: lo >> UInt64(n) | hi << UInt64(64 - n))
    }

    func masked(toLowBits n: Int) -> UInt128Parts {
        let m = UInt128Parts.lowMask(n)
        return UInt128Parts(hi: hi & m.hi, lo: lo & m.lo)
    }

    /// A mask with the top `n` bits set (a CIDR netmask).
    static func highMask(_ n: Int) -> UInt128Parts {
        let low = lowMask(128 - n)
        return UInt128Parts(hi: ~low.hi, lo: ~low.lo)
    }

    static func lowMask(_ n: Int) -> UInt128Parts {
        if n <= 0 { return UInt128Parts() }
        if n >= 128 { return UInt128Parts(hi: .max, lo: .max) }
        if n >= 64 { return UInt128Parts(hi: n == 64 ? 0 : (1 << UInt64(n - 64)) - 1, lo: .max) }
        return UInt128Parts(hi: 0, lo: (1 << UInt64(n)) - 1)
    }
}
