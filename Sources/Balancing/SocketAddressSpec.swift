/// An IP literal + port from the config. `host` is "127.0.0.1" or "::1"
/// (no brackets). "localhost" is accepted and means 127.0.0.1; other
/// hostnames are rejected because the proxy does not resolve names (a DNS
/// lookup at startup would silently pin whatever the resolver said).
public struct SocketAddressSpec: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    public var isIPv6: Bool

    /// Does not validate `host`; `isIPv6` is true when it contains a ':'.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
        self.isIPv6 = host.utf8.contains(UInt8(ascii: ":"))
    }

    /// "10.0.1.11:8080", "[::1]:8080", "localhost:8080", "*:8080" or
    /// "0.0.0.0:8080" (IPv4 any-address), "[::]:8080". Port 0 is allowed
    /// (ephemeral; tests use it). The host is stored in canonical form, so
    /// "[0:0::1]:80" and "[::1]:80" compare equal.
    public static func parse(_ s: String) -> SocketAddressSpec? {
        if case .success(let a) = parseDetailed(s) { return a }
        return nil
    }

    /// "10.0.1.11:8080" or "[::1]:8080".
    public var description: String {
        isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The host as bytes; nil only if `host` was set to something that is not an IP literal.
    public var ipAddress: IPAddress? { IPAddress.parse(host) }

    /// 0.0.0.0 or ::, i.e. "all interfaces" — fine to listen on, never a valid upstream.
    public var isAnyAddress: Bool {
        switch ipAddress {
        case .v4(0)?, .v6(0, 0)?: return true
        default: return false
        }
    }

    /// Why an address string was rejected; the config parser turns this into a message.
    enum Problem: Error, Equatable {
        case empty
        case missingPort
        case badPort(String)
        case hostname(String)
        case badIPv4(String)
        case badIPv6(String)
        case unbracketedIPv6
        case bracketedIPv4(String)
        case badHost(String)

        /// `role` is "server" or "listen", so hostnames get "server addresses must be IP literals".
        func message(role: String, input: String) -> String {
            let q = quoted(input)
            switch self {
            case .empty: return "\(role): empty address"
            case .missingPort: return "\(role): missing port in \(q) (expected HOST:PORT, e.g. 10.0.0.1:8080 or [::1]:8080)"
            case .badPort(let p): return "\(role): port must be a number 0...65535, got \(quoted(p))"
            case .hostname(let h):
                return "\(role) addresses must be IP literals (or 'localhost'), got \(quoted(h)); hostnames are not resolved"
            case .badIPv4(let h): return "\(role): invalid IPv4 address \(quoted(h))"
            case .badIPv6(let h): return "\(role): invalid IPv6 address \(quoted(h))"
            case .unbracketedIPv6: return "\(role): IPv6 addresses need brackets, e.g. [::1]:8080, got \(q)"
            case .bracketedIPv4(let h): return "\(role): brackets are only for IPv6 addresses, got [\(h)]"
            case .badHost(let h): return "\(role): invalid host \(quoted(h)) in \(q)"
            }
        }
    }

    static func parseDetailed(_ s: String) -> Result<SocketAddressSpec, Problem> {
        guard !s.isEmpty else { return .failure(.empty) }
        let hostPart: Substring
        let portPart: Substring
        let bracketed = s.hasPrefix("[")
        if bracketed {
            guard let close = s.firstIndex(of: "]") else { return .failure(.badHost(s)) }
            hostPart = s[s.index(after: s.startIndex)..<close]
            let rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(rest.isEmpty ? .missingPort : .badHost(s)) }
            portPart = rest.dropFirst()
        } else {
            guard let colon = s.lastIndex(of: ":") else { return .failure(.missingPort) }
            hostPart = s[..<colon]
            portPart = s[s.index(after: colon)...]
            if hostPart.contains(":") { return .failure(.unbracketedIPv6) }
        }
        // At most 5 digits so the conversion cannot overflow.
        guard !portPart.isEmpty, portPart.utf8.count <= 5, portPart.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let portValue = Int(portPart), portValue <= 65535
        else { return .failure(.badPort(String(portPart))) }
        let port = UInt16(portValue)
        let host = String(hostPart)
        guard !host.isEmpty else { return .failure(.badHost(host)) }

        if bracketed {
            switch IPAddress.parse(host) {
            case .v6?: break
            case .v4?: return .failure(.bracketedIPv4(host))
            case nil: return .failure(.badIPv6(host))
            }
        }
        if host == "*" { return .success(SocketAddressSpec(host: "0.0.0.0", port: port)) }
        if host.lowercased() == "localhost" { return .success(SocketAddressSpec(host: "127.0.0.1", port: port)) }
        if let ip = IPAddress.parse(host) {
            return .success(SocketAddressSpec(host: ip.description, port: port))
        }
        if host.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") }) {
            return .failure(.badIPv4(host))
        }
        let looksLikeName = host.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F
        }
        return .failure(looksLikeName ? .hostname(host) : .badHost(host))
    }
}
