import EventLoop
import Glibc

/// One active health check: connect, send a small GET (with `Connection: close`), read the
/// status line, judge it against the expected range. Runs on the control loop as a normal
/// edge-triggered stream socket, so checks cost no thread per server and never touch the workers.
final class HealthProbe: StreamSocket {
    enum Outcome { case passed(status: Int), failed(String) }

    /// A status line must end within this many bytes (or the loop's buffer size, if smaller).
    static let maxStatusLine = 4096

    private let request: [UInt8]
    private let expect: ClosedRange<Int>
    private var done: ((Outcome) -> Void)?
    private var sent = 0
    private var connecting = true

    init(loop: EventLoop, address: SocketAddress, method: String, path: String, hostHeader: String,
         timeoutMS: Int64, expect: ClosedRange<Int>, done: @escaping (Outcome) -> Void) {
        self.request = Array("\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: switchyard-health\r\nConnection: close\r\n\r\n".utf8)
        self.expect = expect
        self.done = done
        var connected: (socket: Socket, inProgress: Bool)?
        var failure: SocketError?
        do { connected = try Socket.connecting(to: address) } catch { failure = error }
        // Not connected: descriptor -1, and `finish` below reports why.
        super.init(loop: loop, socket: connected?.socket ?? Socket(descriptor: -1), writable: !(connected?.inProgress ?? false))
        guard let connected else {
            finish(.failed("connect: \(SocketError.text(failure!.errno))"))
            return
        }
        connecting = connected.inProgress
        do { try loop.register(self) } catch {
            finish(.failed("register: \(error)"))
            return
        }
        loop.setTimeout(self, ms: timeoutMS)
        if !connecting { advance() }
    }

    override func handleEvents(_ events: UInt32) {
        noteReadiness(events)
        advance()
    }

    override func handleTimeout() {
        finish(.failed(connecting ? "connect timed out" : "timed out"))
    }

    private func advance() {
        guard done != nil else { return }
        if connecting {
            let e = socket.connectError()
            if e == EINPROGRESS || e == EALREADY { return }
            if e != 0 { finish(.failed("connect: \(SocketError.text(e))")); return }
            connecting = false
        }
        while sent < request.count {
            let result = request.withUnsafeBytes { self.send($0.baseAddress! + sent, count: request.count - sent) }
            switch result {
            case .bytes(let n): sent += n
            case .wouldBlock: return
            case .failed(let e): finish(.failed("send: \(SocketError.text(e))")); return
            case .end: finish(.failed("send: end of stream")); return
            }
        }
        while true {
            switch receive() {
            case .wouldBlock:
                return
            case .end, .failed:
                judge(eof: true)
                return
            case .bytes:
                if judge(eof: false) { return }
                if input.readable >= min(Self.maxStatusLine, loop.buffers.bufferSize) { finish(.failed("response head too long")); return }
            }
        }
    }

    /// Judges once the status line is complete. Returns true when finished.
    @discardableResult
    private func judge(eof: Bool) -> Bool {
        let all = input.hasStorage ? input.readBytes : UnsafeRawBufferPointer(start: nil, count: 0)
        let response = all.prefix(Self.maxStatusLine)
        guard let lf = response.firstIndex(of: 0x0A) else {
            if eof { finish(.failed(response.isEmpty ? "connection closed without a response" : "truncated status line")) }
            return eof
        }
        let line = response[..<lf]
        // "HTTP/1.x NNN ..."
        guard line.count >= 12, line.starts(with: "HTTP/1.".utf8), line[8] == 0x20 else {
            finish(.failed("malformed status line"))
            return true
        }
        let d = line[9..<12]
        guard d.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { finish(.failed("malformed status code")); return true }
        let status = d.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        finish(expect.contains(status) ? .passed(status: status) : .failed("status \(status)"))
        return true
    }

    private func finish(_ outcome: Outcome) {
        guard let d = done else { return }
        done = nil
        closeSocket()
        d(outcome)
    }
}
