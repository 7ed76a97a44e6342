import EventLoop
import Glibc

/// One active health check: connect, send a small GET (with `Connection: close`), read the
/// status line, judge it against the expected range. Runs on the control loop as a normal
/// edge-triggered Selectable, so checks cost no thread per server and never touch the workers.
final class HealthProbe: Selectable {
    enum Outcome { case passed(status: Int), failed(String) }

    private let loop: EventLoop
    private let request: [UInt8]
    private let expect: ClosedRange<Int>
    private var done: ((Outcome) -> Void)?
    private var sent = 0
    private var connecting = true
    private var response = [UInt8]()

    init(loop: EventLoop, address: SocketAddress, method: String, path: String, hostHeader: String,
         timeoutMS: Int64, expect: ClosedRange<Int>, done: @escaping (Outcome) -> Void) {
        self.loop = loop
        self.request = Array("\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: switchyard-health\r\nConnection: close\r\n\r\n".utf8)
        self.expect = expect
        self.done = done
        super.init()
        let (fd, inProgress) = Sys.connect(address)
        if fd < 0 {
            finish(.failed("connect: \(Sys.errorString(-fd))"))
            return
        }
        self.fd = fd
        connecting = inProgress
        do { try loop.register(self) } catch {
            Sys.close(fd)
            self.fd = -1
            finish(.failed("register: \(error)"))
            return
        }
        loop.setTimeout(self, ms: timeoutMS)
        if !inProgress { advance() }
    }

    override func handleEvents(_ events: UInt32) {
        advance()
    }

    override func handleTimeout() {
        finish(.failed(connecting ? "connect timed out" : "timed out"))
    }

    private func advance() {
        guard done != nil else { return }
        if connecting {
            let e = Sys.socketError(fd)
            if e == EINPROGRESS || e == EALREADY { return }
            if e != 0 { finish(.failed("connect: \(Sys.errorString(e))")); return }
            connecting = false
        }
        while sent < request.count {
            let n = request.withUnsafeBytes { Sys.write(fd, $0.baseAddress! + sent, request.count - sent) }
            if n == -Int(EAGAIN) { return }
            if n < 0 { finish(.failed("send: \(Sys.errorString(Int32(-n)))")); return }
            sent += n
        }
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            let n = chunk.withUnsafeMutableBytes { Sys.read(fd, $0.baseAddress!, $0.count) }
            if n == -Int(EAGAIN) { return }
            if n <= 0 {
                judge(eof: true)
                return
            }
            response.append(contentsOf: chunk[0..<n])
            if judge(eof: false) { return }
            if response.count > 4096 { finish(.failed("response head too long")); return }
        }
    }

    /// Judges once the status line is complete. Returns true when finished.
    @discardableResult
    private func judge(eof: Bool) -> Bool {
        guard let lf = response.firstIndex(of: 0x0A) else {
            if eof { finish(.failed(response.isEmpty ? "connection closed without a response" : "truncated status line")) }
            return eof
        }
        let line = response[..<lf]
        // "HTTP/1.x NNN ..."
        guard line.count >= 12, line.starts(with: Array("HTTP/1.".utf8)), line[line.startIndex + 8] == 0x20 else {
            finish(.failed("malformed status line"))
            return true
        }
        let d = line[(line.startIndex + 9)..<(line.startIndex + 12)]
        guard d.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { finish(.failed("malformed status code")); return true }
        let status = d.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        finish(expect.contains(status) ? .passed(status: status) : .failed("status \(status)"))
        return true
    }

    private func finish(_ outcome: Outcome) {
        guard let d = done else { return }
        done = nil
        if fd >= 0 { loop.close(self) }
        d(outcome)
    }
}
