import EventLoop
import Glibc

/// Why talking to the admin socket failed. `yardctl` maps every kind to "switchyard is not
/// reachable" (exit 2), as opposed to a refused command (exit 1).
public struct AdminClientError: Error, CustomStringConvertible {
    public enum Kind: Sendable { case connect, timeout, closed, io, badReply }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }
}

/// A blocking client for the admin socket: one request line, one reply line, with a deadline.
/// For `yardctl` and tests; the proxy never uses it.
public final class AdminClient {
    public let path: String
    public let timeout: Double
    private var fd: Int32 = -1
    private var buffered: [UInt8] = []

    public init(path: String, timeout: Double = 5) throws {
        self.path = path
        self.timeout = timeout
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw AdminClientError(.connect, Sys.errorString(errno)) }
        let e: Int32
        do {
            e = try UnixSocket.connect(s, path)
        } catch {
            Sys.close(s)
            throw AdminClientError(.connect, "\(error)")
        }
        guard e == 0 else {
            Sys.close(s)
            throw AdminClientError(.connect, Sys.errorString(e))
        }
        fd = s
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Sys.close(fd); fd = -1 }
    }

    /// Sends `line` plus "\n".
    public func send(_ line: String) throws {
        try sendRaw(Array(line.utf8) + [0x0A])
    }

    /// Sends bytes as they are (tests use it for oversized or invalid lines).
    public func sendRaw(_ bytes: [UInt8]) throws {
        var sent = 0
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        while sent < bytes.count {
            try wait(for: Int16(POLLOUT), until: deadline)
            let n = bytes.withUnsafeBytes { Sys.write(fd, $0.baseAddress! + sent, bytes.count - sent) }
            if n < 0 { throw AdminClientError(.io, "send: \(Sys.errorString(Int32(-n)))") }
            sent += n
        }
    }

    /// Half-closes: the server still answers what was sent, then closes.
    public func finishSending() {
        if fd >= 0 { Sys.shutdownWrite(fd) }
    }

    /// The next reply line, without "\n".
    public func readLine(maxBytes: Int = 16 << 20) throws -> String {
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if let nl = buffered.firstIndex(of: 0x0A) {
                let line = String(decoding: buffered[..<nl], as: UTF8.self)
                buffered.removeSubrange(...nl)
                return line
            }
            guard buffered.count <= maxBytes else { throw AdminClientError(.badReply, "reply longer than \(maxBytes) bytes") }
            try wait(for: Int16(POLLIN), until: deadline)
            let n = chunk.withUnsafeMutableBytes { Sys.read(fd, $0.baseAddress!, $0.count) }
            if n == 0 { throw AdminClientError(.closed, "connection closed before a reply arrived") }
            if n < 0 { throw AdminClientError(.io, "receive: \(Sys.errorString(Int32(-n)))") }
            buffered.append(contentsOf: chunk[0..<n])
        }
    }

    /// Sends one command line and parses its reply.
    public func request(_ line: String) throws -> JSONValue {
        try send(line)
        let reply = try readLine()
        do {
            return try JSONValue.parse(reply)
        } catch {
            throw AdminClientError(.badReply, "unreadable reply (\(error)): \(reply.prefix(200))")
        }
    }

    private func wait(for events: Int16, until deadline: UInt64) throws {
        while true {
            let now = MonotonicClock.now()
            guard now < deadline else { throw AdminClientError(.timeout, "no reply within \(formatSeconds(timeout)) s") }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let ms = Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
            let r = poll(&p, 1, ms)
            if r > 0 { return }
            if r < 0 && errno != EINTR { throw AdminClientError(.io, "poll: \(Sys.errorString(errno))") }
        }
    }

    private func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? String(Int(s)) : String(s)
    }
}
