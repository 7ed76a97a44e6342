import EventLoop
import Glibc

/// A blocking-style HTTP/1.1 client with a deadline on every step, for readiness checks and the
/// split check (not for load). One keep-alive connection.
final class Probe {
    let socket: Socket
    var fd: Int32 { socket.descriptor }
    private var buffer: [UInt8] = []
    private var abortive = false

    struct Response {
        let status: Int
        let servedBy: String?
        let bodyLength: Int
    }

    /// Connects to 127.0.0.1:`port` within `timeoutMS`, or returns nil.
    init?(port: UInt16, timeoutMS: Int32 = 1000) {
        guard let (s, inProgress) = try? Socket.connecting(to: SocketAddress(ip: "127.0.0.1", port: port)!) else { return nil }
        socket = s
        if inProgress {
            guard Probe.poll(fd, Int16(POLLOUT), timeoutMS), s.connectError() == 0 else { s.close(); return nil }
        }
    }

    deinit { if abortive { socket.closeAbortively() } else { socket.close() } }

    /// Makes the coming close send a RST (SO_LINGER 0): no TIME_WAIT, so thousands of probe
    /// connections can be opened again right away.
    func resetOnClose() { abortive = true }

    /// True when the peer has closed (or reset) this idle connection: readable with nothing to read.
    var peerClosed: Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&p, 1, 0) > 0
    }

    /// Sends GET `path` and reads one response (Content-Length framing).
    func get(_ path: String, timeoutMS: Int32 = 2000) -> Response? {
        let req = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        var off = 0
        while off < req.count {
            switch req.withUnsafeBytes({ socket.send($0.baseAddress! + off, count: req.count - off) }) {
            case .bytes(let n) where n > 0: off += n
            case .wouldBlock: guard Probe.poll(fd, Int16(POLLOUT), timeoutMS) else { return nil }
            default: return nil
            }
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let (head, text) = headIfComplete(), buffer.count >= head.length + max(head.contentLength, 0) {
                guard head.contentLength >= 0 else { return nil }
                buffer.removeFirst(head.length + head.contentLength)
                return Response(status: head.status, servedBy: Probe.header(text, "x-served-by"), bodyLength: head.contentLength)
            }
            switch chunk.withUnsafeMutableBytes({ socket.read(into: $0.baseAddress!, count: 65536) }) {
            case .bytes(let n): buffer += chunk[0..<n]
            case .wouldBlock: guard Probe.poll(fd, Int16(POLLIN), timeoutMS) else { return nil }
            case .end, .failed: return nil
            }
        }
    }

    private func headIfComplete() -> (ResponseHead, String)? {
        buffer.withUnsafeBytes { raw -> (ResponseHead, String)? in
            guard let h = ResponseHead.parse(raw) else { return nil }
            return (h, String(decoding: raw[0..<h.length], as: UTF8.self))
        }
    }

    private static func header(_ head: String, _ lowerName: String) -> String? {
        for line in head.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == lowerName {
                return line[line.index(after: colon)...].trimmingCharacters(in: " ")
            }
        }
        return nil
    }

    private static func poll(_ fd: Int32, _ events: Int16, _ timeoutMS: Int32) -> Bool {
        var p = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let r = Glibc.poll(&p, 1, timeoutMS)
            if r < 0 && errno == EINTR { continue }
            return r > 0
        }
    }

    /// Polls until something accepts on `port` and answers GET `path` with a 2xx, or gives up.
    static func waitUntilServing(port: UInt16, path: String, timeoutMS: Int, while alive: () -> Bool) -> Bool {
        let deadline = Clock.nowNS() + UInt64(timeoutMS) * 1_000_000
        while Clock.nowNS() < deadline && alive() {
            if let p = Probe(port: port, timeoutMS: 200), let r = p.get(path, timeoutMS: 1000), (200..<300).contains(r.status) {
                return true
            }
            Clock.sleep(ms: 50)
        }
        return false
    }

    /// A free TCP port on 127.0.0.1 right now (bind to port 0, read it, close).
    static func freePort() throws -> UInt16 {
        let s = try Socket.listening(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false)
        defer { s.close() }
        guard let a = s.localAddress else { throw BenchError("getsockname failed") }
        return a.port
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        var s = self
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
