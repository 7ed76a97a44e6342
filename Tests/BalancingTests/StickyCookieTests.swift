import Testing

@testable import Balancing
import TestSupport

@Suite struct StickyCookieTests {
    private static let key = Array("0123456789abcdef0123456789abcdef-sticky".utf8)
    private static let otherKey = Array("fedcba9876543210fedcba9876543210-sticky".utf8)
    private static let now: Int64 = 1_715_000_000
    private static let day: Int64 = 86_400

    private let cookie = StickyCookie(key: Self.key)

    private func decode(_ s: String, nowS: Int64 = now, maxAgeS: Int64 = day) -> (pool: String, rolloutID: UInt64)? {
        cookie.decode(s, nowS: nowS, maxAgeS: maxAgeS)
    }

    private func decode(bytes: [UInt8], nowS: Int64 = now, maxAgeS: Int64 = day) -> (pool: String, rolloutID: UInt64)? {
        bytes.withUnsafeBytes { cookie.decode($0, nowS: nowS, maxAgeS: maxAgeS) }
    }

    /// RFC 6265 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
    private static func isCookieOctet(_ c: UInt8) -> Bool {
        c == 0x21 || (0x23...0x2B).contains(c) || (0x2D...0x3A).contains(c) || (0x3C...0x5B).contains(c)
            || (0x5D...0x7E).contains(c)
    }

    @Test func roundTrip() {
        let pools = ["blue", "green", "a", "Blue_Green-2", String(repeating: "x", count: 64)]
        let ids: [UInt64] = [0, 1, 0x2A, 0xFFFF_FFFF, UInt64.max]
        for pool in pools {
            for id in ids {
                let v = cookie.encode(pool: pool, rolloutID: id, issuedAtS: Self.now - 10)
                #expect(v.hasPrefix("v1.\(pool)."))
                #expect(v.utf8.count <= StickyCookie.maxValueLength)
                #expect(v.utf8.allSatisfy(Self.isCookieOctet), "\(v)")
                let got = decode(v)
                #expect(got?.pool == pool)
                #expect(got?.rolloutID == id)
                // Substring and raw-byte inputs agree.
                let inHeader = "x=1; sy=\(v); y=2"
                let sub = StickyCookie.cookieValue(named: "sy", inCookieHeader: inHeader[...])
                #expect(sub.map { String($0) } == v)
                #expect(sub.flatMap { cookie.decode($0, nowS: Self.now, maxAgeS: Self.day) }?.pool == pool)
                #expect(decode(bytes: Array(v.utf8))?.rolloutID == id)
            }
        }
    }

    @Test func formatIsAsDocumented() {
        let v = cookie.encode(pool: "green", rolloutID: 0x2A, issuedAtS: 0x6650_F1C0)
        let parts = v.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 5)
        #expect(Array(parts.prefix(4)) == ["v1", "green", "2a", "6650f1c0"])
        #expect(parts.last?.utf8.count == 43)
        // Same inputs, same value: no randomness, so the proxy can compare cheaply if it wants.
        #expect(cookie.encode(pool: "green", rolloutID: 0x2A, issuedAtS: 0x6650_F1C0) == v)
        // Zero encodes as "0".
        #expect(cookie.encode(pool: "b", rolloutID: 0, issuedAtS: 0).hasPrefix("v1.b.0.0."))
    }

    @Test func everySingleByteChangeIsRejected() {
        let v = Array(cookie.encode(pool: "green", rolloutID: 0x1234, issuedAtS: Self.now - 100).utf8)
        #expect(decode(bytes: v) != nil)
        let replacements: [UInt8] = [0x00, 0x20, 0x22, 0x2E, 0x30, 0x31, 0x41, 0x61, 0x66, 0x2D, 0x5F, 0x3B, 0x7F, 0xFF]
        var tried = 0
        for i in v.indices {
            var candidates = replacements
            candidates += [v[i] ^ 0x01, v[i] ^ 0x02, v[i] ^ 0x04, v[i] ^ 0x08, v[i] ^ 0x10, v[i] ^ 0x20, v[i] &+ 1, v[i] &- 1]
            for r in candidates where r != v[i] {
                var m = v
                m[i] = r
                #expect(decode(bytes: m) == nil, "byte \(i) -> \(r)")
                tried += 1
            }
            // Deleting or duplicating a byte is also a change.
            var d = v
            d.remove(at: i)
            #expect(decode(bytes: d) == nil, "deleted byte \(i)")
            var ins = v
            ins.insert(v[i], at: i)
            #expect(decode(bytes: ins) == nil, "duplicated byte \(i)")
        }
        #expect(tried > v.count * 15)
        // Truncation and extension at the end.
        #expect(decode(bytes: Array(v.dropLast())) == nil)
        #expect(decode(bytes: v + [0x41]) == nil)
        #expect(decode(bytes: v + [0x2E]) == nil)
    }

    /// The last base64url character of a 32-byte MAC carries 2 unused bits; a value differing
    /// only in those must not verify.
    @Test func nonCanonicalBase64IsRejected() {
        let v = Array(cookie.encode(pool: "blue", rolloutID: 7, issuedAtS: Self.now).utf8)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let last = alphabet.firstIndex(of: v.last!)!
        #expect(last & 3 == 0)
        for low in 1...3 {
            var m = v
            m[m.count - 1] = alphabet[last | low]
            #expect(decode(bytes: m) == nil)
        }
    }

    @Test func otherKeyIsRejected() {
        let foreign = StickyCookie(key: Self.otherKey).encode(pool: "green", rolloutID: 1, issuedAtS: Self.now)
        #expect(decode(foreign) == nil)
        #expect(StickyCookie(key: Self.otherKey).decode(foreign, nowS: Self.now, maxAgeS: Self.day)?.pool == "green")
        // A key that differs only in its last byte, or by a trailing byte, is another key. (Not a
        // trailing zero byte: HMAC zero-pads keys to the block size, so K and K+[0] are the same key.)
        var k = Self.key
        k[k.count - 1] ^= 1
        #expect(StickyCookie(key: k).decode(cookie.encode(pool: "g", rolloutID: 1, issuedAtS: Self.now),
                                            nowS: Self.now, maxAgeS: Self.day) == nil)
        #expect(StickyCookie(key: Self.key + [1]).decode(cookie.encode(pool: "g", rolloutID: 1, issuedAtS: Self.now),
                                                         nowS: Self.now, maxAgeS: Self.day) == nil)
    }

    @Test func expiryAndClockSkew() {
        let issued = Self.now - 3600
        let v = cookie.encode(pool: "blue", rolloutID: 9, issuedAtS: issued)
        #expect(decode(v, maxAgeS: 3600)?.pool == "blue")
        #expect(decode(v, maxAgeS: 3599) == nil)
        #expect(decode(v, maxAgeS: 0) == nil)
        #expect(decode(v, maxAgeS: -1) == nil)
        #expect(decode(v, nowS: Self.now + Self.day) == nil)
        // Issued in the future: tolerated up to maxClockSkewS.
        let ahead = cookie.encode(pool: "blue", rolloutID: 9, issuedAtS: Self.now + StickyCookie.maxClockSkewS)
        #expect(decode(ahead)?.pool == "blue")
        let farAhead = cookie.encode(pool: "blue", rolloutID: 9, issuedAtS: Self.now + StickyCookie.maxClockSkewS + 1)
        #expect(decode(farAhead) == nil)
        // Extreme times never trap (overflowing age is a rejection).
        for t in [Int64.min, Int64.min + 1, -1, Int64.max] {
            let x = cookie.encode(pool: "blue", rolloutID: 1, issuedAtS: t)
            for now in [Int64.min, -1, 0, Self.now, Int64.max] {
                _ = decode(x, nowS: now, maxAgeS: Int64.max)
                _ = decode(x, nowS: now, maxAgeS: Int64.min)
            }
        }
        let old = cookie.encode(pool: "blue", rolloutID: 1, issuedAtS: Int64.min)
        #expect(decode(old, nowS: Self.now, maxAgeS: Int64.max) == nil)
        #expect(decode(cookie.encode(pool: "blue", rolloutID: 1, issuedAtS: 0), nowS: Self.now, maxAgeS: Int64.max)?.pool == "blue")
    }

    @Test func garbageIsRejected() {
        let valid = cookie.encode(pool: "green", rolloutID: 5, issuedAtS: Self.now)
        let mac = String(valid.split(separator: ".").last!)
        let bad: [String] = [
            "", ".", "....", ".....", "v1", "v1.", "v1....", "v1.green.5.\(String(Self.now, radix: 16))",
            "v2.green.5.\(String(Self.now, radix: 16)).\(mac)",
            "V1.green.5.\(String(Self.now, radix: 16)).\(mac)",
            "v1..5.\(String(Self.now, radix: 16)).\(mac)",
            "v1.green..\(String(Self.now, radix: 16)).\(mac)",
            "v1.green.05.\(String(Self.now, radix: 16)).\(mac)",  // non-canonical hex
            "v1.green.5.0\(String(Self.now, radix: 16)).\(mac)",
            "v1.green.5.\(String(Self.now, radix: 16).uppercased()).\(mac)",
            "v1.green.10000000000000000.\(String(Self.now, radix: 16)).\(mac)",  // 17 hex digits
            "v1.gr een.5.\(String(Self.now, radix: 16)).\(mac)",
            "v1.green.5.\(String(Self.now, radix: 16)).\(mac)=",
            "v1.green.5.\(String(Self.now, radix: 16)).\(mac).",
            "v1.green.5.\(String(Self.now, radix: 16)).\(mac).\(mac)",
            "\"\(valid)\"", " \(valid)", "\(valid) ", "\(valid)\n",
            "v1.\(String(repeating: "x", count: 65)).5.\(String(Self.now, radix: 16)).\(mac)",
            "v1.grün.5.\(String(Self.now, radix: 16)).\(mac)",
            String(repeating: "A", count: 257), String(repeating: "v1.", count: 100),
            String(repeating: "a", count: 100_000),
        ]
        for s in bad {
            #expect(decode(s) == nil, "\(s.prefix(80))")
        }
        #expect(decode(valid) != nil)
        #expect(decode(valid + String(repeating: "A", count: 300)) == nil)
    }

    /// Random and mutated inputs: decode never traps and never accepts.
    @Test func fuzzNeverTrapsNorAccepts() {
        var rng = SplitMix64(seed: 42)
        let valid = Array(cookie.encode(pool: "blue", rolloutID: 3, issuedAtS: Self.now).utf8)
        let alphabet = Array("v1.abcdefABC0123456789-_.".utf8)
        for round in 0..<20_000 {
            var m: [UInt8]
            switch round % 3 {
            case 0:
                m = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 1:
                m = (0..<Int(rng.next() % 120)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            default:
                m = valid
                for _ in 0..<(1 + Int(rng.next() % 3)) {
                    m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
                if m == valid { continue }
            }
            #expect(decode(bytes: m) == nil)
            _ = StickyCookie.cookieValue(named: "sy", inCookieHeader: String(decoding: m, as: UTF8.self)[...])
            _ = m.withUnsafeBytes { StickyCookie.cookieValue(named: "v1", inCookieHeader: $0) }
        }
    }

    // MARK: - Cookie header

    private func find(_ name: String, _ header: String) -> String? {
        Array(header.utf8).withUnsafeBytes { buf in
            StickyCookie.cookieValue(named: name, inCookieHeader: buf).map {
                String(decoding: UnsafeRawBufferPointer(rebasing: buf[$0]), as: UTF8.self)
            }
        }
    }

    @Test func cookieHeaderParsing() {
        #expect(find("a", "a=1; b=2") == "1")
        #expect(find("b", "a=1; b=2") == "2")
        #expect(find("b", "a=1;b=2") == "2")
        #expect(find("b", "  a = 1 ;\t b =  2  ") == "2")
        #expect(find("c", "a=1; b=2") == nil)
        // Exact name, not a prefix or suffix, case-sensitive.
        #expect(find("sy", "sya=1; xsy=2; SY=3") == nil)
        #expect(find("sy", "sya=1; sy=2") == "2")
        #expect(find("sy", "sy_=1; sy=2") == "2")
        // First occurrence wins.
        #expect(find("sy", "sy=first; sy=second") == "first")
        // Empty and odd values.
        #expect(find("a", "a=") == "")
        #expect(find("a", "a=; b=2") == "")
        #expect(find("a", "a=\"quoted\"") == "quoted")
        #expect(find("a", "a=\"") == "\"")
        #expect(find("a", "a=x=y") == "x=y")
        // Pairs without '=' are skipped; stray separators are harmless.
        #expect(find("a", "a; a=1") == "1")
        #expect(find("a", ";;; ; a=1;;") == "1")
        #expect(find("a", "") == nil)
        #expect(find("a", ";") == nil)
        #expect(find("a", "=1; a") == nil)
        #expect(find("", "=1") == nil)
        // The value of another cookie is not a name.
        #expect(find("b", "a=b=1") == nil)
        // Ranges index the given buffer.
        let header = Array("x=1; sy=v1.a; z=9".utf8)
        header.withUnsafeBytes { buf in
            #expect(StickyCookie.cookieValue(named: "sy", inCookieHeader: buf) == 8..<12)
        }
        // Substring form keeps the offsets of its base string.
        let full = "Cookie: a=1; sy=abc"
        let sub = full.dropFirst(8)
        let found = StickyCookie.cookieValue(named: "sy", inCookieHeader: sub)
        #expect(found == "abc")
        #expect(found.map { full.distance(from: full.startIndex, to: $0.startIndex) } == 16)
        #expect(StickyCookie.cookieValue(named: "é", inCookieHeader: "x=1; é=ü; y=2"[...]) == "ü")
    }

    // MARK: - Key

    @Test func loadKey() {
        let k32 = [UInt8](repeating: 0x41, count: 32)
        #expect(StickyCookie.loadKey(fileContents: k32) == k32)
        #expect(StickyCookie.loadKey(fileContents: k32 + [0x0A]) == k32)
        #expect(StickyCookie.loadKey(fileContents: k32 + [0x0D, 0x0A]) == k32)
        // Only one newline is trimmed; the rest is key material.
        #expect(StickyCookie.loadKey(fileContents: k32 + [0x0A, 0x0A]) == k32 + [0x0A])
        #expect(StickyCookie.loadKey(fileContents: Array(k32.dropLast())) == nil)
        #expect(StickyCookie.loadKey(fileContents: Array(k32.dropLast()) + [0x0A]) == nil)
        #expect(StickyCookie.loadKey(fileContents: []) == nil)
        #expect(StickyCookie.loadKey(fileContents: [0x0A]) == nil)
        let binary = (0..<64).map { UInt8($0 * 5 & 0xFF) }
        #expect(StickyCookie.loadKey(fileContents: binary) == binary)
    }

    // MARK: - Speed

    @Test func speedSanity() {
        let mac = HMACSHA256(key: Self.key)
        let msg = Array("v1.green.2a.6650f1c0".utf8)
        let n = 20_000
        let clock = ContinuousClock()
        var sink: UInt8 = 0
        let macTime = clock.measure {
            msg.withUnsafeBytes { m in
                for _ in 0..<n { sink ^= mac.authenticationCode(for: m).withUnsafeBytes { $0[0] } }
            }
        }
        let v = cookie.encode(pool: "green", rolloutID: 0x2A, issuedAtS: Self.now)
        let bytes = Array(v.utf8)
        var decoded = 0
        let decodeTime = clock.measure {
            bytes.withUnsafeBytes { b in
                for _ in 0..<n where cookie.decode(b, nowS: Self.now, maxAgeS: Self.day) != nil { decoded += 1 }
            }
        }
        #expect(decoded == n)
        func perSecond(_ d: Duration) -> Int {
            let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            return s > 0 ? Int(Double(n) / s) : 0
        }
        print("StickyCookie speed (this build): \(perSecond(macTime)) HMAC-SHA256/s, \(perSecond(decodeTime)) decodes/s [\(sink)]")
    }
}

