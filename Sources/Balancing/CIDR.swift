/// A network prefix such as 10.0.0.0/8 or fd00::/8.
///
/// Host bits must be zero: "10.0.0.1/8" is rejected rather than silently
/// masked, because it usually means the operator typed the wrong prefix
/// length and silently widening a trust list is the dangerous direction.
///
/// An IPv4 address and its IPv4-mapped IPv6 form (::ffff:a.b.c.d, which is
/// what a dual-stack socket reports) are the same address to `contains`:
/// IPv4 prefixes match mapped peers, and IPv6 prefixes see IPv4 peers as
/// mapped (so ::ffff:0:0/96 and ::/0 include every IPv4 address).
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    /// The network address (host bits zero).
    public let address: IPAddress
    public let prefixLength: Int

    /// Nil if the prefix length is out of range for the family or host bits are set.
    public init?(address: IPAddress, prefixLength: Int) {
        switch address {
        case .v4(let v):
            guard (0...32).contains(prefixLength), v & CIDR.mask32(prefixLength) == v else { return nil }
        case .v6(let hi, let lo):
            guard (0...128).contains(prefixLength) else { return nil }
            let m = UInt128Parts.highMask(prefixLength)
            guard hi & m.hi == hi, lo & m.lo == lo else { return nil }
        }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// "10.0.0.0/8", "192.168.1.7" (= /32), "::1/128", "fd00::/8".
    /// Nil for a bad address, a bad prefix length, or host bits set.
    public static func parse(_ s: String) -> CIDR? {
        if case .success(let c) = parseDetailed(s) { return c }
        return nil
    }

    public var description: String { "\(address)/\(prefixLength)" }

    public func contains(_ a: IPAddress) -> Bool {
        switch address {
        case .v4(let net):
            guard case .v4(let v) = a.unmapped else { return false }
            return v & CIDR.mask32(prefixLength) == net
        case .v6(let netHi, let netLo):
            let (hi, lo) = a.mappedToIPv6
            let m = UInt128Parts.highMask(prefixLength)
            return hi & m.hi == netHi && lo & m.lo == netLo
        }
    }

    @inline(__always)
    static func mask32(_ n: Int) -> UInt32 {
        n <= 0 ? 0 : ~UInt32(0) << UInt32(32 - n)
    }

    /// Why a CIDR string was rejected, so the config parser can say so.
    enum Problem: Error, Equatable {
        case badAddress
        case badPrefix
        /// Carries the network the operator probably meant.
        case hostBitsSet(CIDR)
    }

    static func parseDetailed(_ s: String) -> Result<CIDR, Problem> {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let ip = IPAddress.parse(String(parts[0])) else { return .failure(.badAddress) }
        let maxLength = ip.isIPv6 ? 128 : 32
        var length = maxLength
        if parts.count == 2 {
            let p = parts[1]
            // Digits only, no sign, no leading zeros ("/08" is more likely a typo than 8).
            guard !p.isEmpty, p.count <= 3, p.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  p == "0" || !p.hasPrefix("0"), let n = Int(p), n <= maxLength
            else { return .failure(.badPrefix) }
            length = n
        }
        if let c = CIDR(address: ip, prefixLength: length) { return .success(c) }
        let network: IPAddress
        switch ip {
        case .v4(let v): network = .v4(v & mask32(length))
        case .v6(let hi, let lo):
            let m = UInt128Parts.highMask(length)
            network = .v6(hi & m.hi, lo & m.lo)
        }
        // Cannot fail: the host bits are now clear and the length was checked.
        return CIDR(address: network, prefixLength: length).map { .failure(.hostBitsSet($0)) } ?? .failure(.badPrefix)
    }
}
