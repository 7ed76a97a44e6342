import EventLoop
import Glibc
@testable import Origin

/// A blocking test client with a 5 s receive timeout: sends raw bytes and parses responses
/// (Content-Length, chunked, or close-delimited bodies).
final class RawClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var sawEOF = false

    struct Response {
        var status = 0
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else { close(fd); throw SocketError("connect", errno) }
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads more bytes; false on EOF, error or timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 65536, 0) }
        if n <= 0 { if n == 0 { sawEOF = true }; return false }
        buffer += chunk[0..<n]
        return true
    }

    private func line() -> String? {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                var l = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if l.last == 13 { l.removeLast() }
                return String(decoding: l, as: UTF8.self)
            }
            guard fill() else { return nil }
        }
    }

    private func take(_ n: Int) -> [UInt8]? {
        while buffer.count < n { guard fill() else { return nil } }
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        return out
    }

    /// Reads one response; `head` = true for a response to HEAD (no body).
    func response(head: Bool = false) -> Response? {
        guard let status = line(), status.hasPrefix("HTTP/1.") else { return nil }
        var r = Response()
        r.status = Int(status.split(separator: " ")[1]) ?? 0
        while let l = line(), !l.isEmpty {
            let parts = l.split(separator: ":", maxSplits: 1)
            r.headers.append((String(parts[0]), parts.count > 1 ? parts[1].trimmingCharacters() : ""))
        }
        if head || r.status == 100 { return r }
        if r.header("transfer-encoding")?.lowercased() == "chunked" {
            while let sizeLine = line(), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) {
                if size == 0 {
                    while let t = line(), !t.isEmpty {}
                    return r
                }
                guard let data = take(size), line() != nil else { return nil }
                r.body += data
            }
            return nil
        }
        if let cl = r.header("content-length").flatMap({ Int($0) }) {
            guard let data = take(cl) else { return nil }
            r.body = data
            return r
        }
        while fill() {}
        r.body = buffer
        buffer.removeAll()
        return r
    }

    /// True when the server closed the connection (reads EOF within the timeout).
    func closedByServer() -> Bool {
        if !buffer.isEmpty { return false }
        return !fill() && sawEOF
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// Starts a server for the duration of `body`.
func withServer<T>(_ config: OriginConfig, _ body: (OriginServer) throws -> T) throws -> T {
    let server = try OriginServer(config: config)
    server.start()
    defer { server.stop() }
    return try body(server)
}

func localConfig(threads: Int = 1, routes: [OriginRoute] = OriginConfig.benchmark(port: 0, threads: 1).routes) -> OriginConfig {
    OriginConfig(address: SocketAddress(ip: "127.0.0.1", port: 0)!, threads: threads, routes: routes,
                 extraHeaders: [("X-Served-By", "test")])
}
