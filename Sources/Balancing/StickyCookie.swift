/// The signed cookie that keeps a shopper on one colour for the length of a rollout.
///
/// Value: `v1.<pool>.<rolloutID hex>.<issuedAt hex>.<MAC>`, e.g.
/// `v1.green.2a.6650f1c0.Jq3...` (43 MAC characters). Every character is in
/// `[A-Za-z0-9_.-]`, a subset of RFC 6265 cookie-octet, so the value needs no quoting.
///
/// - The MAC is HMAC-SHA256 over everything before the last '.', base64url without padding.
///   A shopper can read the cookie (it only names a colour) but cannot forge or alter one.
/// - The rollout id, not the config generation, is signed: the generation moves at every
///   rollout step and would unstick everyone at each step; a new rollout must unstick them.
///   Comparing the decoded id with the current rollout is the caller's job.
/// - The issue time bounds the cookie's life on the server side, whatever the browser does
///   with Max-Age.
///
/// Decoding is strict and total: anything but a value this code would have produced with the
/// same key (any altered byte, another key, another version, non-canonical numbers or base64,
/// over 256 bytes, expired) is nil, and no input traps.
public struct StickyCookie: Sendable {
    public static let version = "v1"
    /// Longer values are rejected before any parsing; a real one is at most about 150 bytes.
    public static let maxValueLength = 256
    public static let maxPoolNameLength = 64
    /// `loadKey` rejects less key material than this.
    public static let minKeyLength = 32
    /// A cookie issued up to this far in the future (another proxy's clock running ahead) is
    /// still accepted; further is refused.
    public static let maxClockSkewS: Int64 = 300

    private let mac: HMACSHA256

    /// `key` is the secret from `loadKey`. Shorter keys trap: a weak key makes cookies forgeable,
    /// which is worse than failing at startup.
    public init(key: [UInt8]) {
        precondition(key.count >= Self.minKeyLength, "sticky cookie key shorter than \(Self.minKeyLength) bytes")
        mac = HMACSHA256(key: key)
    }

    /// The cookie value for `pool`, which must be a valid pool name (`[A-Za-z0-9_-]{1,64}`, what
    /// the config parser accepts; anything else traps). `issuedAtS` is wall-clock seconds.
    public func encode(pool: String, rolloutID: UInt64, issuedAtS: Int64) -> String {
        precondition(Self.isValidPoolName(pool.utf8), "invalid pool name for a sticky cookie")
        var out: [UInt8] = []
        out.reserveCapacity(160)
        out.append(contentsOf: Self.version.utf8)
        out.append(ASCII.dot)
        out.append(contentsOf: pool.utf8)
        out.append(ASCII.dot)
        Self.appendHex(rolloutID, to: &out)
        out.append(ASCII.dot)
        Self.appendHex(UInt64(bitPattern: issuedAtS), to: &out)
        let digest = mac.authenticationCode(for: out)
        out.append(ASCII.dot)
        digest.withUnsafeBytes { Self.appendBase64URL($0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The pool and rollout id of a valid cookie, or nil. Valid means: produced by `encode` with
    /// this key, issued at most `maxAgeS` before `nowS` and at most `maxClockSkewS` after it.
    public func decode(_ value: UnsafeRawBufferPointer, nowS: Int64, maxAgeS: Int64) -> (pool: String, rolloutID: UInt64)? {
        let n = value.count
        guard n > 0, n <= Self.maxValueLength else { return nil }

        // Exactly five '.'-separated fields, every byte from the value alphabet.
        var dots = (0, 0, 0, 0)
        var dotCount = 0
        for i in 0..<n {
            let c = value[i]
            if c == ASCII.dot {
                switch dotCount {
                case 0: dots.0 = i
                case 1: dots.1 = i
                case 2: dots.2 = i
                case 3: dots.3 = i
                default: return nil
                }
                dotCount += 1
            } else if !Self.isNameByte(c) {
                return nil
            }
        }
        guard dotCount == 4 else { return nil }

        let versionField = 0..<dots.0
        let poolField = (dots.0 + 1)..<dots.1
        let rolloutField = (dots.1 + 1)..<dots.2
        let issuedField = (dots.2 + 1)..<dots.3
        let macField = (dots.3 + 1)..<n

        guard Self.equals(value, versionField, Self.version) else { return nil }
        guard (1...Self.maxPoolNameLength).contains(poolField.count) else { return nil }
        guard let rolloutID = Self.parseHex(value, rolloutField),
              let issuedBits = Self.parseHex(value, issuedField)
        else { return nil }

        // Age check before the MAC: an expired cookie is rejected without hashing. Overflow
        // (absurd times) is a rejection, never a trap.
        let issuedAtS = Int64(bitPattern: issuedBits)
        let (age, overflow) = nowS.subtractingReportingOverflow(issuedAtS)
        guard !overflow, age <= maxAgeS, age >= -Self.maxClockSkewS else { return nil }

        guard macField.count == Self.macTextLength else { return nil }
        var given: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let decoded = withUnsafeMutableBytes(of: &given) { out in
            Self.decodeBase64URL(UnsafeRawBufferPointer(rebasing: value[macField]), into: out)
        }
        guard decoded else { return nil }

        let expected = mac.authenticationCode(for: UnsafeRawBufferPointer(rebasing: value[0..<dots.3]))
        let ok = expected.withUnsafeBytes { e in
            withUnsafeBytes(of: given) { g in HMACSHA256.isEqualConstantTime(e, g) }
        }
        guard ok else { return nil }

        let pool = String(decoding: UnsafeRawBufferPointer(rebasing: value[poolField]), as: UTF8.self)
        return (pool, rolloutID)
    }

    public func decode(_ value: some StringProtocol, nowS: Int64, maxAgeS: Int64) -> (pool: String, rolloutID: UInt64)? {
        guard value.utf8.count <= Self.maxValueLength else { return nil }
        if let r = value.utf8.withContiguousStorageIfAvailable({
            decode(UnsafeRawBufferPointer($0), nowS: nowS, maxAgeS: maxAgeS)
        }) {
            return r
        }
        return Array(value.utf8).withUnsafeBytes { decode($0, nowS: nowS, maxAgeS: maxAgeS) }
    }

    // MARK: - Cookie header

    /// The byte range (indices into `header`) of the value of the first cookie called exactly
    /// `name` in a `Cookie:` header value such as `a=1; b=2`. Spaces and tabs around pairs,
    /// names and values are skipped, and a value in double quotes is returned without them.
    /// Pairs without '=' are ignored. Nil if there is no such cookie; a present but empty value
    /// is an empty range.
    public static func cookieValue(named name: String, inCookieHeader header: UnsafeRawBufferPointer) -> Range<Int>? {
        var name = name
        return name.withUTF8 { nameBytes in
            guard !nameBytes.isEmpty else { return nil }
            let n = header.count
            var pairStart = 0
            while pairStart < n {
                var pairEnd = pairStart
                while pairEnd < n && header[pairEnd] != ASCII.semicolon { pairEnd += 1 }
                if let r = value(in: header, pairStart..<pairEnd, ifNamed: nameBytes) { return r }
                pairStart = pairEnd + 1
            }
            return nil
        }
    }

    /// `cookieValue(named:inCookieHeader:)` for a header held as a string.
    public static func cookieValue(named name: String, inCookieHeader header: Substring) -> Substring? {
        var header = header
        guard let r = header.withUTF8({ cookieValue(named: name, inCookieHeader: UnsafeRawBufferPointer($0)) }) else {
            return nil
        }
        let utf8 = header.utf8
        let lo = utf8.index(utf8.startIndex, offsetBy: r.lowerBound)
        let hi = utf8.index(lo, offsetBy: r.count)
        return header[lo..<hi]
    }

    /// The value range of one `name=value` pair in `range`, if its name is `name`.
    private static func value(in h: UnsafeRawBufferPointer, _ range: Range<Int>, ifNamed name: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var lo = range.lowerBound, hi = range.upperBound
        while lo < hi && isSpace(h[lo]) { lo += 1 }
        while hi > lo && isSpace(h[hi - 1]) { hi -= 1 }
        var eq = lo
        while eq < hi && h[eq] != ASCII.equals { eq += 1 }
        guard eq < hi else { return nil }
        var nameEnd = eq
        while nameEnd > lo && isSpace(h[nameEnd - 1]) { nameEnd -= 1 }
        guard nameEnd - lo == name.count else { return nil }
        for i in 0..<name.count where h[lo + i] != name[i] { return nil }
        var vlo = eq + 1
        while vlo < hi && isSpace(h[vlo]) { vlo += 1 }
        if hi - vlo >= 2 && h[vlo] == ASCII.quote && h[hi - 1] == ASCII.quote {
            return (vlo + 1)..<(hi - 1)
        }
        return vlo..<hi
    }

    // MARK: - Key

    /// The key from the contents of a key file: the bytes as they are, minus one trailing
    /// newline (LF or CRLF) an editor or `echo` adds. Nil if fewer than `minKeyLength` bytes
    /// remain. Generate one with e.g. `head -c 48 /dev/urandom | base64 > sticky.key`.
    public static func loadKey(fileContents: [UInt8]) -> [UInt8]? {
        var key = fileContents[...]
        if key.last == 0x0A {
            key.removeLast()
            if key.last == 0x0D { key.removeLast() }
        }
        guard key.count >= minKeyLength else { return nil }
        return Array(key)
    }

    // MARK: - Encoding helpers

    /// Base64url characters for a 32-byte MAC without padding: ceil(32 * 4 / 3).
    static let macTextLength = 43

    static func isValidPoolName(_ s: String.UTF8View) -> Bool {
        (1...maxPoolNameLength).contains(s.count) && s.allSatisfy(isNameByte)
    }

    /// `[A-Za-z0-9_-]`: pool name bytes, and also exactly the base64url alphabet.
    @inline(__always)
    static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7A) || c == 0x2D || c == 0x5F
    }

    private static func equals(_ buf: UnsafeRawBufferPointer, _ range: Range<Int>, _ s: String) -> Bool {
        range.count == s.utf8.count && zip(range, s.utf8).allSatisfy { buf[$0] == $1 }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase, no leading zeros ("0" for zero).
    static func appendHex(_ v: UInt64, to out: inout [UInt8]) {
        var shift = 60
        while shift > 0 && (v >> UInt64(shift)) == 0 { shift -= 4 }
        while shift >= 0 {
            out.append(hexDigits[Int((v >> UInt64(shift)) & 0xF)])
            shift -= 4
        }
    }

    /// Only the canonical form `appendHex` writes: 1...16 lowercase digits, no leading zero.
    static func parseHex(_ buf: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt64? {
        guard (1...16).contains(range.count) else { return nil }
        if range.count > 1 && buf[range.lowerBound] == 0x30 { return nil }
        var v: UInt64 = 0
        for i in range {
            let c = buf[i]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x61...0x66: d = c - 0x61 + 10
            default: return nil
            }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    private static let base64URLAlphabet: [UInt8] =
        Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Base64url without padding.
    static func appendBase64URL(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for s in stride(from: 18, through: 0, by: -6) { out.append(base64URLAlphabet[Int((v >> UInt32(s)) & 63)]) }
            i += 3
        }
        switch bytes.count - i {
        case 1:
            let v = UInt32(bytes[i]) << 16
            out.append(base64URLAlphabet[Int(v >> 18 & 63)])
            out.append(base64URLAlphabet[Int(v >> 12 & 63)])
        case 2:
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(base64URLAlphabet[Int(v >> 18 & 63)])
            out.append(base64URLAlphabet[Int(v >> 12 & 63)])
            out.append(base64URLAlphabet[Int(v >> 6 & 63)])
        default:
            break
        }
    }

    @inline(__always)
    private static func base64URLValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 0x41...0x5A: return UInt32(c - 0x41)
        case 0x61...0x7A: return UInt32(c - 0x61 + 26)
        case 0x30...0x39: return UInt32(c - 0x30 + 52)
        case 0x2D: return 62
        case 0x5F: return 63
        default: return nil
        }
    }

    /// Decodes unpadded base64url `text` into exactly `out.count` bytes. False unless `text` is
    /// the one canonical encoding of that many bytes: right length, alphabet only, and unused
    /// low bits of the last character zero (otherwise several texts would decode to one MAC,
    /// and a changed character could go unnoticed).
    static func decodeBase64URL(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Bool {
        let fullGroups = out.count / 3, rest = out.count % 3
        guard text.count == fullGroups * 4 + (rest == 0 ? 0 : rest + 1) else { return false }
        var t = 0, o = 0
        for _ in 0..<fullGroups {
            guard let a = base64URLValue(text[t]), let b = base64URLValue(text[t + 1]),
                  let c = base64URLValue(text[t + 2]), let d = base64URLValue(text[t + 3])
            else { return false }
            let v = a << 18 | b << 12 | c << 6 | d
            out[o] = UInt8(truncatingIfNeeded: v >> 16)
            out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
            out[o + 2] = UInt8(truncatingIfNeeded: v)
            t += 4
            o += 3
        }
        switch rest {
        case 1:
            guard let a = base64URLValue(text[t]), let b = base64URLValue(text[t + 1]), b & 0x0F == 0 else { return false }
            out[o] = UInt8(truncatingIfNeeded: a << 2 | b >> 4)
        case 2:
            guard let a = base64URLValue(text[t]), let b = base64URLValue(text[t + 1]),
                  let c = base64URLValue(text[t + 2]), c & 0x03 == 0
            else { return false }
            let v = a << 12 | b << 6 | c
            out[o] = UInt8(truncatingIfNeeded: v >> 10)
            out[o + 1] = UInt8(truncatingIfNeeded: v >> 2)
        default:
            break
        }
        return true
    }
}

/// ASCII bytes of the cookie syntax.
private enum ASCII {
    static let dot: UInt8 = 0x2E
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let quote: UInt8 = 0x22
}

@inline(__always)
private func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }
