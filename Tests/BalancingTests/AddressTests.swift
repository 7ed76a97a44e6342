import Glibc
import Testing

@testable import Balancing
import TestSupport

private func v6(_ s: String) -> IPAddress { IPAddress.parse(s)! }

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("0.0.0.0", UInt32(0)), ("127.0.0.1", 0x7F00_0001), ("10.0.1.11", 0x0A00_010B), ("255.255.255.255", 0xFFFF_FFFF),
        ("192.168.0.1", 0xC0A8_0001),
    ])
    func parsesIPv4(text: String, value: UInt32) {
        #expect(IPAddress.parse(text) == .v4(value))
        #expect(IPAddress.parse(text)?.description == text)
    }

    @Test(arguments: [
        ("::", UInt64(0), UInt64(0), "::"),
        ("::1", 0, 1, "::1"),
        ("1::", 0x0001_0000_0000_0000, 0, "1::"),
        ("2001:db8::1", 0x2001_0DB8_0000_0000, 1, "2001:db8::1"),
        ("2001:DB8:0:0:1:0:0:1", 0x2001_0DB8_0000_0000, 0x0001_0000_0000_0001, "2001:db8::1:0:0:1"),
        ("2001:0:0:1:0:0:0:1", 0x2001_0000_0000_0001, 1, "2001:0:0:1::1"),
        ("1:0:2:3:4:5:6:7", 0x0001_0000_0002_0003, 0x0004_0005_0006_0007, "1:0:2:3:4:5:6:7"),
        ("1:2:3:4:5:6:7:8", 0x0001_0002_0003_0004, 0x0005_0006_0007_0008, "1:2:3:4:5:6:7:8"),
        ("1:2:3:4:5:6:7::", 0x0001_0002_0003_0004, 0x0005_0006_0007_0000, "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", 0x0000_0002_0003_0004, 0x0005_0006_0007_0008, "0:2:3:4:5:6:7:8"),
        ("fd00::", 0xFD00_0000_0000_0000, 0, "fd00::"),
        ("0fd0:0000::00ab", 0x0FD0_0000_0000_0000, 0xAB, "fd0::ab"),
        ("::ffff:1.2.3.4", 0, 0xFFFF_0102_0304, "::ffff:1.2.3.4"),
        ("::FFFF:10.0.0.1", 0, 0xFFFF_0A00_0001, "::ffff:10.0.0.1"),
        ("1:2:3:4:5:6:1.2.3.4", 0x0001_0002_0003_0004, 0x0005_0006_0102_0304, "1:2:3:4:5:6:102:304"),
        ("::1.2.3.4", 0, 0x0102_0304, "::102:304"),
    ])
    func parsesIPv6(text: String, hi: UInt64, lo: UInt64, canonical: String) {
        #expect(IPAddress.parse(text) == .v6(hi, lo))
        #expect(IPAddress.parse(text)?.description == canonical)
        #expect(IPAddress.parse(canonical) == .v6(hi, lo))
    }

    @Test(arguments: [
        "", " ", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.04", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", "a.b.c.d",
        "-1.2.3.4", "1.2.3.4/8", "localhost",
        ":", ":::", "1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8",
        "::1.2.3", "::1.2.3.4.5", "1:2:3:4:5:6:7:1.2.3.4", "::256.1.1.1", "fe80::1%eth0", "[::1]", ":1::", "1::2:", "g::",
        "::ffff:01.2.3.4", "1.2.3.4::", "::1.2.3.4:1",
    ])
    func rejects(text: String) {
        #expect(IPAddress.parse(text) == nil)
    }

    @Test func fromBytes() {
        #expect(IPAddress(bytes: [10, 0, 1, 11]) == .v4(0x0A00_010B))
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 15) + [1]) == .v6(0, 1))
        #expect(IPAddress(bytes: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 12)) == v6("2001:db8::"))
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
    }

    @Test func mapping() {
        let mapped = v6("::ffff:192.168.1.2")
        #expect(mapped.isIPv4Mapped)
        #expect(mapped.unmapped == IPAddress.parse("192.168.1.2"))
        #expect(IPAddress.parse("192.168.1.2")!.mappedToIPv6 == (0, 0xFFFF_C0A8_0102))
        #expect(!v6("::1").isIPv4Mapped)
        #expect(v6("::1").unmapped == v6("::1"))
        #expect(mapped != IPAddress.parse("192.168.1.2"), "equality is representational")
    }

    /// Differential check against glibc's inet_pton on random strings built
    /// from the characters that matter to the grammar.
    @Test func agreesWithInetPton() {
        var rng = SplitMix64(seed: 7)
        let alphabet = Array("0123456789abcdefABCDEFg:.:.::..%".utf8)
        var checked = 0
        for _ in 0..<30_000 {
            let length = Int(rng.next() % 24)
            let bytes = (0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            let text = String(decoding: bytes, as: UTF8.self)
            var a4 = in_addr()
            var a6 = in6_addr()
            let ours = IPAddress.parse(text)
            let theirs: IPAddress?
            if inet_pton(AF_INET, text, &a4) == 1 {
                theirs = withUnsafeBytes(of: &a4) { IPAddress(bytes: $0) }
            } else if inet_pton(AF_INET6, text, &a6) == 1 {
                theirs = withUnsafeBytes(of: &a6) { IPAddress(bytes: $0) }
            } else {
                theirs = nil
            }
            if ours != theirs {
                Issue.record("\(text): ours \(String(describing: ours)), inet_pton \(String(describing: theirs))")
                return
            }
            if ours != nil { checked += 1 }
        }
        #expect(checked > 100, "the generator must produce some valid addresses")
    }

    /// description is parseable and canonical for arbitrary values.
    @Test func descriptionRoundTrips() {
        var rng = SplitMix64(seed: 11)
        for i in 0..<5000 {
            // Bias toward zero groups so "::" compression is exercised.
            var hi: UInt64 = 0, lo: UInt64 = 0
            for g in 0..<8 {
                let word = rng.next() % 3 == 0 ? rng.next() & 0xFFFF : 0
                if g < 4 { hi = hi << 16 | word } else { lo = lo << 16 | word }
            }
            let a: IPAddress = i % 5 == 0 ? .v4(UInt32(truncatingIfNeeded: rng.next())) : .v6(hi, lo)
            let text = a.description
            if IPAddress.parse(text) != a {
                Issue.record("\(text) does not round-trip")
                return
            }
            // inet_ntop agrees except for its legacy ::a.b.c.d form of IPv4-compatible addresses.
            if case .v6(let h, let l) = a, !(h == 0 && l >> 32 == 0 && l > 0xFFFF) {
                var raw = in6_addr()
                withUnsafeMutableBytes(of: &raw) { buf in
                    for k in 0..<8 { buf[k] = UInt8(truncatingIfNeeded: h >> (56 - 8 * UInt64(k))) }
                    for k in 0..<8 { buf[8 + k] = UInt8(truncatingIfNeeded: l >> (56 - 8 * UInt64(k))) }
                }
                var out = [CChar](repeating: 0, count: 64)
                let ntop = inet_ntop(AF_INET6, &raw, &out, 64).map { String(cString: $0) }
                if ntop != text {
                    Issue.record("ours \(text), inet_ntop \(ntop ?? "nil")")
                    return
                }
            }
        }
    }
}

@Suite struct CIDRTests {
    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0/8"), ("192.168.1.7", "192.168.1.7/32"), ("192.168.1.7/32", "192.168.1.7/32"), ("0.0.0.0/0", "0.0.0.0/0"),
        ("::1/128", "::1/128"), ("::1", "::1/128"), ("fd00::/8", "fd00::/8"), ("::/0", "::/0"), ("2001:DB8::/32", "2001:db8::/32"),
        ("::ffff:0:0/96", "::ffff:0.0.0.0/96"), ("128.0.0.0/1", "128.0.0.0/1"), ("8000::/1", "8000::/1"),
        ("ffff:ffff:ffff:ffff:8000::/65", "ffff:ffff:ffff:ffff:8000::/65"),
    ])
    func parses(text: String, canonical: String) {
        #expect(CIDR.parse(text)?.description == canonical)
    }

    @Test(arguments: [
        "10.0.0.1/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/+8", "/8", "10.0.0.0/8/8",
        "fd00::1/8", "10.0.0/8", "", "10.0.0.0/8 ", "10.0.0.0/1000", "0.0.0.1/0", "::1/0", "ffff:ffff:ffff:ffff:8000::/64",
    ])
    func rejects(text: String) {
        #expect(CIDR.parse(text) == nil)
    }

    @Test func hostBitsSuggestion() {
        #expect(CIDR.parseDetailed("10.1.2.3/8") == .failure(.hostBitsSet(CIDR.parse("10.0.0.0/8")!)))
        #expect(CIDR.parseDetailed("10.1.2.3/40") == .failure(.badPrefix))
        #expect(CIDR.parseDetailed("10.1.2/8") == .failure(.badAddress))
    }

    @Test func initValidates() {
        #expect(CIDR(address: .v4(0x0A00_0000), prefixLength: 8) != nil)
        #expect(CIDR(address: .v4(0x0A00_0001), prefixLength: 8) == nil)
        #expect(CIDR(address: .v4(0), prefixLength: 33) == nil)
        #expect(CIDR(address: .v6(0, 0), prefixLength: -1) == nil)
        #expect(CIDR(address: .v6(0, 1), prefixLength: 128) != nil)
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0", true), ("10.0.0.0/8", "10.255.255.255", true), ("10.0.0.0/8", "11.0.0.0", false),
        ("10.0.0.0/8", "9.255.255.255", false),
        ("192.168.1.7", "192.168.1.7", true), ("192.168.1.7/32", "192.168.1.8", false), ("192.168.1.7/32", "192.168.1.6", false),
        ("0.0.0.0/0", "0.0.0.0", true), ("0.0.0.0/0", "255.255.255.255", true), ("0.0.0.0/0", "::1", false),
        ("128.0.0.0/1", "127.255.255.255", false), ("128.0.0.0/1", "128.0.0.0", true),
        // IPv4-mapped IPv6 peers match IPv4 prefixes.
        ("10.0.0.0/8", "::ffff:10.1.2.3", true), ("10.0.0.0/8", "::ffff:11.1.2.3", false), ("0.0.0.0/0", "::ffff:1.2.3.4", true),
        ("10.0.0.0/8", "::10.1.2.3", false), ("10.0.0.0/8", "::a01:203", false),
        // ...and IPv4 peers are seen as mapped by IPv6 prefixes.
        ("::ffff:0:0/96", "1.2.3.4", true), ("::ffff:10.0.0.0/104", "10.9.9.9", true), ("::ffff:10.0.0.0/104", "11.9.9.9", false),
        ("::/0", "1.2.3.4", true), ("fd00::/8", "10.0.0.1", false),
        // IPv6.
        ("::1/128", "::1", true), ("::1/128", "::2", false), ("::1/128", "::", false), ("::/0", "::", true),
        ("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("fd00::/8", "fd12:3456::1", true), ("fd00::/8", "fe00::1", false), ("fd00::/8", "fc00::1", false),
        ("2001:db8::/32", "2001:db8:ffff::1", true), ("2001:db8::/32", "2001:db9::1", false),
        ("2001:db8:1:2::/64", "2001:db8:1:2:ffff::1", true), ("2001:db8:1:2::/64", "2001:db8:1:3::", false),
        ("ffff:ffff:ffff:ffff:8000::/65", "ffff:ffff:ffff:ffff:8000::1", true),
        ("ffff:ffff:ffff:ffff:8000::/65", "ffff:ffff:ffff:ffff:7fff::1", false),
        ("2001:db8::1:0/127", "2001:db8::1:1", true), ("2001:db8::1:0/127", "2001:db8::1:2", false),
    ])
    func contains(cidr: String, address: String, expected: Bool) {
        let c = CIDR.parse(cidr)!
        let a = IPAddress.parse(address)!
        #expect(c.contains(a) == expected)
    }
}

@Suite struct SocketAddressSpecTests {
    @Test(arguments: [
        ("10.0.1.11:8080", "10.0.1.11", UInt16(8080), false, "10.0.1.11:8080"),
        ("[::1]:8080", "::1", 8080, true, "[::1]:8080"),
        ("*:8080", "0.0.0.0", 8080, false, "0.0.0.0:8080"),
        ("0.0.0.0:8080", "0.0.0.0", 8080, false, "0.0.0.0:8080"),
        ("[::]:8080", "::", 8080, true, "[::]:8080"),
        ("localhost:80", "127.0.0.1", 80, false, "127.0.0.1:80"),
        ("LocalHost:80", "127.0.0.1", 80, false, "127.0.0.1:80"),
        ("127.0.0.1:0", "127.0.0.1", 0, false, "127.0.0.1:0"),
        ("127.0.0.1:65535", "127.0.0.1", 65535, false, "127.0.0.1:65535"),
        ("[2001:DB8:0::1]:443", "2001:db8::1", 443, true, "[2001:db8::1]:443"),
        ("[::ffff:1.2.3.4]:80", "::ffff:1.2.3.4", 80, true, "[::ffff:1.2.3.4]:80"),
    ])
    func parses(text: String, host: String, port: UInt16, isIPv6: Bool, description: String) {
        let a = SocketAddressSpec.parse(text)
        #expect(a?.host == host)
        #expect(a?.port == port)
        #expect(a?.isIPv6 == isIPv6)
        #expect(a?.description == description)
        #expect(a.flatMap { SocketAddressSpec.parse($0.description) } == a)
    }

    @Test(arguments: [
        "", ":", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:8o",
        "127.0.0.1:1000000", "::1:80", "[::1]", "[::1]80", "[::1]:", "[1.2.3.4]:80", "[::1:80", "example.com:80",
        "10.0.0.256:80", "[fe80::1%eth0]:80", "[]:80", "[[::1]]:80", " 127.0.0.1:80",
    ])
    func rejects(text: String) {
        #expect(SocketAddressSpec.parse(text) == nil)
    }

    @Test func memberwiseInitComputesFamily() {
        #expect(SocketAddressSpec(host: "::1", port: 1).isIPv6)
        #expect(!SocketAddressSpec(host: "10.0.0.1", port: 1).isIPv6)
        #expect(SocketAddressSpec(host: "10.0.0.1", port: 1) == SocketAddressSpec.parse("10.0.0.1:1"))
        #expect(SocketAddressSpec(host: "::1", port: 1).ipAddress == .v6(0, 1))
        #expect(SocketAddressSpec.parse("*:1")!.isAnyAddress)
        #expect(SocketAddressSpec.parse("[::]:1")!.isAnyAddress)
        #expect(!SocketAddressSpec.parse("127.0.0.1:1")!.isAnyAddress)
    }
}
