import EventLoop
import Glibc

/// One admin client. Commands run strictly in order: the next line is looked at only once the
/// previous command's reply is queued, so a controller can pipeline and still read replies in
/// the order it sent commands. Nothing here blocks: reads and writes are non-blocking, output
/// waits in a per-connection buffer.
final class AdminConnection: Selectable {
    private weak var server: AdminServer?
    private unowned let loop: EventLoop
    private let limits: AdminServer.Limits
    let peer: AdminPeer

    private var input: [UInt8] = []
    private var output: [UInt8] = []
    private var outputSent = 0
    /// Edge-triggered: true from a readiness event until a read reports EAGAIN.
    private var mayRead = true
    /// The peer shut down its sending side; finish what it sent, then close.
    private var inputEnded = false
    /// The peer closed entirely: what it sent still runs (so the outcome does not depend on
    /// timing), but replies are discarded.
    private var peerGone = false
    /// Close once the output is flushed (after line_too_long, or after the input ended).
    private var closing = false
    /// Token of the command the handler is working on (0 = none); a stale reply does not match.
    private var awaiting: UInt64 = 0
    private var lastToken: UInt64 = 0
    /// Guards against re-entry when the handler replies synchronously.
    private var pumping = false

    init(server: AdminServer, fd: Int32, peer: AdminPeer) {
        self.server = server
        self.loop = server.loop
        self.limits = server.limits
        self.peer = peer
        super.init()
        self.fd = fd
    }

    func start() {
        loop.setTimeout(self, ms: limits.idleTimeoutMs)
        pump()
    }

    override func handleEvents(_ events: UInt32) {
        if events & (Events.hangup | Events.error) != 0 { peerGone = true }
        if events & (Events.readable | Events.readHangup | Events.hangup | Events.error) != 0 { mayRead = true }
        if events & Events.writable != 0 { flush() }
        pump()
    }

    override func handleTimeout() {
        if awaiting != 0 {
            // The handler is still working; the client is waiting for us, not idle.
            loop.setTimeout(self, ms: limits.idleTimeoutMs)
        } else {
            shutdown()
        }
    }

    override func loopWillClose() {
        release()
    }

    /// Closes the connection; a reply still to come is ignored.
    func shutdown() {
        guard !isClosed else { return }
        loop.close(self)
        release()
    }

    private func release() {
        input = []
        output = []
        outputSent = 0
        awaiting = 0
        server?.connectionClosed(self)
        server = nil
    }

    // MARK: input

    private enum NextLine {
        case line([UInt8])
        case tooLong
        case none
    }

    /// Processes complete lines while no command is in progress, reading more when needed.
    private func pump() {
        guard !pumping else { return }
        pumping = true
        defer { pumping = false }
        while !isClosed && !closing && awaiting == 0 {
            switch nextLine() {
            case .line(let bytes):
                process(bytes)
                continue
            case .tooLong:
                input = []
                closing = true
                queue(AdminReply.error(AdminError(code: AdminError.Code.lineTooLong,
                    message: "line longer than \(limits.maxLineBytes) bytes; closing the connection")))
                continue
            case .none:
                break
            }
            if mayRead && !inputEnded {
                readSome()
                continue
            }
            if inputEnded {
                // A last line without "\n" still counts (`printf status | socat ...`).
                if !input.isEmpty {
                    let rest = input
                    input = []
                    process(rest)
                    continue
                }
                closing = true
            }
            break
        }
        if closing && !isClosed && outputSent == output.count { finishClosing() }
    }

    private func nextLine() -> NextLine {
        let max = limits.maxLineBytes
        let scan = min(input.count, max + 2)   // room for "\r\n" after a maximal line
        if let nl = input[0..<scan].firstIndex(of: 0x0A) {
            var end = nl
            if end > 0 && input[end - 1] == 0x0D { end -= 1 }
            if end > max { return .tooLong }
            let line = Array(input[0..<end])
            input.removeSubrange(0...nl)
            return .line(line)
        }
        if input.count > max + 1 || (input.count == max + 1 && input.last != 0x0D) { return .tooLong }
        return .none
    }

    private func readSome() {
        guard let server else { shutdown(); return }
        let n = server.readBuffer.withUnsafeMutableBytes { Sys.read(fd, $0.baseAddress!, $0.count) }
        if n > 0 {
            server.readBuffer.withUnsafeBytes { input.append(contentsOf: $0[0..<n]) }
            loop.setTimeout(self, ms: limits.idleTimeoutMs)
        } else if n == 0 || n == -Int(ECONNRESET) {
            inputEnded = true
            mayRead = false
        } else if n == -Int(EAGAIN) {
            mayRead = false
        } else {
            shutdown()
        }
    }

    private func process(_ line: [UInt8]) {
        guard let text = String(validating: line, as: UTF8.self) else {
            queue(AdminReply.error(AdminError(code: AdminError.Code.badEncoding, message: "the line is not valid UTF-8")))
            return
        }
        if AdminCommandParser.tokenize(text).isEmpty { return }   // blank lines get no reply
        switch AdminCommandParser.parse(text) {
        case .failure(let e):
            queue(AdminReply.error(e))
        case .success(let command):
            guard let handler = server?.handler else { shutdown(); return }
            lastToken &+= 1
            let token = lastToken
            awaiting = token
            handler.handle(command, peer: peer) { [weak self] reply in
                self?.complete(token, reply)
            }
        }
    }

    private func complete(_ token: UInt64, _ reply: JSONValue) {
        guard !isClosed, awaiting == token else { return }
        awaiting = 0
        loop.setTimeout(self, ms: limits.idleTimeoutMs)
        queue(reply)
        pump()   // no-op when the handler replied from inside pump()
    }

    // MARK: output

    private func queue(_ reply: JSONValue) {
        guard !isClosed else { return }
        output.append(contentsOf: reply.encoded().utf8)
        output.append(0x0A)
        if !peerGone && output.count - outputSent > limits.maxPendingOutput {
            shutdown()   // the client is not reading its replies
            return
        }
        flush()
    }

    private func flush() {
        if peerGone {
            output.removeAll()
            outputSent = 0
        }
        while !isClosed && outputSent < output.count {
            let n = output.withUnsafeBytes { Sys.write(fd, $0.baseAddress! + outputSent, output.count - outputSent) }
            if n > 0 {
                outputSent += n
                loop.setTimeout(self, ms: limits.idleTimeoutMs)
            } else if n == -Int(EAGAIN) {
                break   // EPOLLOUT resumes
            } else {
                // EPIPE/ECONNRESET: the client left. Finish what it sent, without replies.
                peerGone = true
                output.removeAll()
                outputSent = 0
            }
        }
        if outputSent == output.count {
            output.removeAll(keepingCapacity: output.count <= 64 * 1024)
            outputSent = 0
            if closing && !pumping { finishClosing() }
        } else if outputSent >= 64 * 1024 {
            output.removeSubrange(0..<outputSent)
            outputSent = 0
        }
    }

    /// Reads and discards what the client still sent before closing, so the close is a clean
    /// end-of-stream for it rather than a reset that could hide the last reply.
    private func finishClosing() {
        if let server, !inputEnded && !peerGone {
            for _ in 0..<16 {
                let n = server.readBuffer.withUnsafeMutableBytes { Sys.read(fd, $0.baseAddress!, $0.count) }
                if n <= 0 { break }
            }
        }
        shutdown()
    }
}
