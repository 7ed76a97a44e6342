import AdminProtocol
import AdminSocket
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
    /// Blocking, close-on-exec; nil once closed.
    private var socket: Socket?
    private var buffered: [UInt8] = []

    public init(path: String, timeout: Double = 5) throws {
        self.path = path
        self.timeout = timeout
        let s: Socket
        do throws(SocketError) {
            s = try Socket.unixStream(blocking: true)
        } catch {
            throw AdminClientError(.connect, SocketError.text(error.errno))
        }
        do {
            try s.connect(to: UnixSocket.address(path))
        } catch let e as SocketError {
            s.close()
            throw AdminClientError(.connect, SocketError.text(e.errno))
        } catch {
            s.close()
            throw AdminClientError(.connect, "\(error)")
        }
        socket = s
    }

    deinit { self.close() }

    public func close() {
        socket?.close()
        socket = nil
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
            let s = try wait(for: .writable, until: deadline)
            switch bytes.withUnsafeBytes({ s.send($0.baseAddress! + sent, count: bytes.count - sent) }) {
            case .bytes(let n): sent += n
            case .wouldBlock: continue
            case .failed(let e): throw AdminClientError(.io, "send: \(SocketError.text(e))")
            case .end: throw AdminClientError(.closed, "connection closed before a reply arrived")
            }
        }
    }

    /// Half-closes: the server still answers what was sent, then closes.
    public func finishSending() {
        socket?.shutdownWrite()
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
            let s = try wait(for: .readable, until: deadline)
            switch chunk.withUnsafeMutableBytes({ s.receive(into: $0.baseAddress!, count: $0.count) }) {
            case .bytes(let n): buffered.append(contentsOf: chunk[0..<n])
            case .wouldBlock: continue
            case .end: throw AdminClientError(.closed, "connection closed before a reply arrived")
            case .failed(let e): throw AdminClientError(.io, "receive: \(SocketError.text(e))")
            }
        }
    }

    /// Sends one command line and parses its reply.
    public func request(_ line: String) throws -> JSONValue {
        try self.send(line)
        let reply = try readLine()
        do {
            return try JSONValue.parse(reply)
        } catch {
            throw AdminClientError(.badReply, "unreadable reply (\(error)): \(reply.prefix(200))")
        }
    }

    /// Waits until the socket is ready for `readiness` or `deadline` passes; the socket.
    private func wait(for readiness: Readiness, until deadline: UInt64) throws -> Socket {
        guard let socket else { throw AdminClientError(.io, "the connection is closed") }
        while true {
            let now = MonotonicClock.now()
            guard now < deadline else { throw AdminClientError(.timeout, "no reply within \(formatSeconds(timeout)) s") }
            let ms = Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
            do throws(SocketError) {
                if try socket.wait(for: readiness, timeoutMS: ms) { return socket }
            } catch {
                throw AdminClientError(.io, "poll: \(SocketError.text(error.errno))")
            }
        }
    }

    private func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? String(Int(s)) : String(s)
    }
}
