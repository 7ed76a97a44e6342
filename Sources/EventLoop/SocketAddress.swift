import CSystemShims
import Glibc

/// A resolved IPv4/IPv6 socket address, stored inline (no heap) so it can be copied freely.
public struct SocketAddress: Sendable {
    public var storage: sockaddr_storage
    public var length: socklen_t

    public init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// From an IP literal ("127.0.0.1", "::1") and a port; nil when the literal is invalid.
    public init?(ip: String, port: UInt16) {
        var st = sockaddr_storage()
        if ip.contains(":") {
            var a6 = sockaddr_in6()
            a6.sin6_family = sa_family_t(AF_INET6)
            a6.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1 else { return nil }
            withUnsafeMutableBytes(of: &st) { dst in withUnsafeBytes(of: a6) { dst.copyMemory(from: $0) } }
            self.init(storage: st, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
        } else {
            var a4 = sockaddr_in()
            a4.sin_family = sa_family_t(AF_INET)
            a4.sin_port = port.bigEndian
            guard inet_pton(AF_INET, ip, &a4.sin_addr) == 1 else { return nil }
            withUnsafeMutableBytes(of: &st) { dst in withUnsafeBytes(of: a4) { dst.copyMemory(from: $0) } }
            self.init(storage: st, length: socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }

    public var family: Int32 { Int32(storage.ss_family) }
    public var isIPv6: Bool { family == AF_INET6 }

    public var port: UInt16 {
        var s = storage
        return withUnsafeBytes(of: &s) { raw in
            if family == AF_INET6 {
                return UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
            }
            return UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
        }
    }

    /// IPv4 address in host byte order, or nil for IPv6.
    public var ipv4: UInt32? {
        guard family == AF_INET else { return nil }
        var s = storage
        return withUnsafeBytes(of: &s) { UInt32(bigEndian: $0.load(fromByteOffset: 4, as: UInt32.self)) }
    }

    /// IPv6 address as (high, low) in host order, or nil for IPv4.
    public var ipv6: (UInt64, UInt64)? {
        guard family == AF_INET6 else { return nil }
        var s = storage
        return withUnsafeBytes(of: &s) { raw in
            (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
             UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        }
    }

    /// Writes the textual IP (no port) into `out`, returning the byte count. For X-Forwarded-For
    /// without creating a String per request.
    public func writeIP(to out: UnsafeMutableRawPointer, capacity: Int) -> Int {
        var s = storage
        var text = [CChar](repeating: 0, count: 64)
        let ok: Bool = withUnsafeBytes(of: &s) { raw in
            let src = raw.baseAddress! + (family == AF_INET6 ? 8 : 4)
            return inet_ntop(family, src, &text, 64) != nil
        }
        guard ok else { return 0 }
        let n = min(strlen(text), capacity)
        text.withUnsafeBytes { out.copyMemory(from: $0.baseAddress!, byteCount: n) }
        return n
    }

    public var ipString: String {
        var buf = [UInt8](repeating: 0, count: 64)
        let n = buf.withUnsafeMutableBytes { writeIP(to: $0.baseAddress!, capacity: 64) }
        return String(decoding: buf[0..<n], as: UTF8.self)
    }

    public var description: String {
        isIPv6 ? "[\(ipString)]:\(port)" : "\(ipString):\(port)"
    }
}
