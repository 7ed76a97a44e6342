import AdminProtocol
import EventLoop
import Glibc

/// One admin client. Commands run strictly in order: the next line is looked at only once the
/// previous command's reply is queued, so a controller can pipeline and still read replies in
/// the order it sent commands. Nothing here blocks: reads and writes are non-blocking, output
/// waits in a per-connection buffer.
final class AdminConnection: StreamSocket {
    private weak var server: AdminServer?
    private let limits: AdminServer.Limits
    let peer: AdminPeer

    /// Bytes received and not yet taken as lines. `input` (the loop's pooled buffer) is emptied
    /// into it at once: a line may be longer than a pooled buffer, and the connection holds no
    /// pooled buffer while it waits for its client.
    private var received: [UInt8] = []
    private var output: [UInt8] = []
    private var outputSent = 0
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

    init(server: AdminServer, socket: Socket, peer: AdminPeer) {
        self.server = server
        self.limits = server.limits
        self.peer = peer
        super.init(loop: server.loop, socket: socket)
    }

    func start() {
        canRead = true   // a client may have sent its first line before the loop knew this socket
        loop.setTimeout(self, ms: limits.idleTimeoutMs)
        pump()
    }

    override func handleEvents(_ events: UInt32) {
        if events & (Events.hangup | Events.error) != 0 { peerGone = true }
        noteReadiness(events)
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
        input.release(loop.buffers)
        release()
    }

    /// Closes the connection; a reply still to come is ignored.
    func shutdown() {
        guard !isClosed else { return }
        closeSocket()
        release()
    }

    private func release() {
        received = []
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
                received = []
                closing = true
                queue(AdminReply.error(AdminError(code: AdminError.Code.lineTooLong,
                    message: "line longer than \(limits.maxLineBytes) bytes; closing the connection")))
                continue
            case .none:
                break
            }
            if canRead && !inputEnded {
                readSome()
                continue
            }
            if inputEnded {
                // A last line without "\n" still counts (`printf status | socat ...`).
                if !received.isEmpty {
                    let rest = received
                    received = []
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
        let scan = min(received.count, max + 2)   // room for "\r\n" after a maximal line
        if let nl = received[0..<scan].firstIndex(of: 0x0A) {
            var end = nl
            if end > 0 && received[end - 1] == 0x0D { end -= 1 }
            if end > max { return .tooLong }
            let line = Array(received[0..<end])
            received.removeSubrange(0...nl)
            return .line(line)
        }
        if received.count > max + 1 || (received.count == max + 1 && received.last != 0x0D) { return .tooLong }
        return .none
    }

    private func readSome() {
        guard server != nil else { shutdown(); return }
        switch receive() {
        case .bytes:
            received.append(contentsOf: input.readBytes)
            input.consume(input.readable)
            input.releaseIfEmpty(loop.buffers)
            loop.setTimeout(self, ms: limits.idleTimeoutMs)
        case .end, .failed(ECONNRESET):
            inputEnded = true
        case .wouldBlock:
            break   // the socket is empty: the next readiness edge resumes
        case .failed:
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
        sending: while !isClosed && outputSent < output.count {
            switch output.withUnsafeBytes({ self.send($0.baseAddress! + outputSent, count: output.count - outputSent) }) {
            case .bytes(let n):
                outputSent += n
                loop.setTimeout(self, ms: limits.idleTimeoutMs)
            case .wouldBlock:
                break sending   // EPOLLOUT resumes
            case .end, .failed:
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

    /// At most this much of what the client still sent is read and discarded before closing.
    private static let discardLimit = 256 * 1024

    /// Reads and discards what the client still sent before closing (up to `discardLimit`), so
    /// the close is a clean end-of-stream for it rather than a reset that could hide the last
    /// reply.
    private func finishClosing() {
        if server != nil && !inputEnded && !peerGone {
            canRead = true   // whatever arrived since the last edge, too
            var discarded = 0
            while discarded < Self.discardLimit, case .bytes(let n) = receive() {
                discarded += n
                input.consume(n)
            }
        }
        shutdown()
    }
}
