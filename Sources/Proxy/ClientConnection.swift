import Balancing
import EventLoop
import HTTP1
import Glibc

/// One client connection: its socket, what it has generated to send (`output`), and the
/// request/response `Exchange` in progress. Requests are handled one at a time: the next
/// pipelined request is parsed only when the current response is complete, so responses go
/// out in order (as HAProxy does) and the bytes of a waiting request are simply left in `input`.
///
/// Bytes are moved without copies where possible: body bytes are written to the other side
/// straight from the buffer they were read into; a partial write leaves the rest there and
/// stops reading from that side (backpressure) until the writable edge arrives.
///
/// The request path: this file (events, the state machine, request heads, closing, errors) ->
/// Exchange.swift (pool and server, attempts and retries, the end of an exchange) ->
/// BodyFramer (what of a buffer is body) -> RequestPump / ResponsePump / Tunnel (moving bytes).
final class ClientConnection: StreamSocket {
    enum State { case idle, readingHead, queued, forwarding, tunnel, closing, lingering }

    unowned(unsafe) let worker: Worker
    let trusted: Bool
    /// The peer's IP as text, for X-Forwarded-For and logs (built once per connection; the
    /// sockaddr itself is not kept, so an idle connection stays small).
    let peerIP: [UInt8]
    let peerPort: UInt16

    /// Bytes generated here (response heads, small coalesced bodies, errors) not sent yet.
    var output = IOBuffer()
    var state = State.idle
    /// Where the search for the end of the request head resumes.
    var scanFrom = 0
    /// The request in progress (or the last one, between requests).
    var exchange = Exchange()
    var requestsServed = 0
    /// Position in the worker's client list.
    var clientIndex = -1
    /// A proxy-made error went out: its connection always closes with a lingering close.
    var errorSent = false
    /// For the access log (only when it is on): the request line of the exchange (at most 1 KiB),
    /// kept here so its storage is reused from request to request.
    var requestLine: [UInt8] = []

    var pool: BufferPool { loop.buffers }

    /// Between requests with nothing buffered.
    var isIdle: Bool { state == .idle && input.readable == 0 && output.readable == 0 }

    private init(worker: Worker, socket: Socket, peer: SocketAddress) {
        self.worker = worker
        self.peerPort = peer.port
        var ip = [UInt8](repeating: 0, count: 64)
        let n = ip.withUnsafeMutableBytes { peer.writeIP(to: $0.baseAddress!, capacity: 64) }
        self.peerIP = Array(ip[0..<n])   // exact size: every idle connection carries it
        self.trusted = worker.isTrusted(peer)
        super.init(loop: worker.loop, socket: socket)
    }

    static func start(worker: Worker, socket: Socket, peer: SocketAddress) {
        let c = ClientConnection(worker: worker, socket: socket, peer: peer)
        do { try worker.loop.register(c) } catch {
            socket.close()
            return
        }
        worker.clientOpened(c)
        worker.loop.setTimeout(c, ms: worker.timeouts.clientHeader)
    }

    /// A drain began: serve a request that already arrived (with `Connection: close`); close a
    /// kept-alive connection with nothing pending gently (FIN, then discard, so a request that
    /// crosses our close is not answered with a reset). A connection that has not sent its
    /// first request yet (e.g. just taken from the accept queue) is left to send it.
    func drainIfIdle() {
        guard state == .idle else { return }
        canRead = true      // accepted in the final sweep: its bytes may not have been announced yet
        drive()
        if !isClosed && isIdle && requestsServed > 0 {
            startLingeringClose()
        }
    }

    // MARK: events

    override func handleEvents(_ events: UInt32) {
        noteReadiness(events)
        drive()
    }

    /// The result of `flushOut`'s batched send.
    override func sent(_ result: IOResult, requested: Int) {
        switch result {
        case .bytes(let n): output.consume(n)
        case .wouldBlock: break
        case .end, .failed:
            abort()   // the client is gone
            return
        }
        drive()
    }

    override func handleTimeout() {
        switch state {
        case .idle:
            disconnect()
        case .readingHead:
            respondError(408, "the request head was not received in time")
            drive()
        case .forwarding:
            forwardingTimedOut()
        case .queued:
            respondError(503, "no server slot became free within 'timeout queue'")
            drive()
        case .tunnel, .closing, .lingering:
            abort()
        }
    }

    private func forwardingTimedOut() {
        if exchange.request.done && !exchange.responseHeadDone {
            // Waiting for the upstream: its own timer (`timeout upstream`) governs.
            worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
        } else if !exchange.responseHeadDone && !exchange.request.done {
            respondError(408, "the request body stalled")
            drive()
        } else {
            log("client stalled while receiving the response; closing")
            abort()
        }
    }

    /// Batched receives only where a request head is awaited, the hot path of keep-alive
    /// traffic; bodies, tunnels and closing connections read as they always did.
    override var acceptsBatchedReceive: Bool {
        (state == .idle || state == .readingHead) && output.readable == 0
    }

    // MARK: the state machine

    /// Runs every direction that can make progress until none can. Called after any event on
    /// this connection or its upstream.
    func drive() {
        while !isClosed {
            var progress = false
            if output.readable > 0 && canWrite {
                switch flushOut() {
                case .bytes(let n): progress = n > 0
                case .wouldBlock: break
                case .end, .failed: abort(); return
                }
            }
            switch state {
            case .idle, .readingHead:
                progress = readHead() || progress
            case .forwarding:
                progress = pumpRequest() || progress
                if state == .forwarding { progress = pumpResponse() || progress }
            case .tunnel:
                progress = pumpTunnel() || progress
            case .queued:
                break
            case .closing:
                guard output.readable == 0 else { break }
                if closesAtOnce {
                    disconnect()   // the client asked to close and sent all of its request: nothing can race our FIN
                } else {
                    startLingeringClose()
                }
                return
            case .lingering:
                progress = discardUntilEOF()
            }
            if !progress { break }
        }
        if !isClosed && worker.draining && state == .idle && isIdle && requestsServed > 0 {
            // Its last response was still going out when the drain began (a full socket, or a
            // send in the loop's batch): close it now that it is idle, as beginDrain would have.
            startLingeringClose()
            return
        }
        if !isClosed {
            input.releaseIfEmpty(pool)
            output.releaseIfEmpty(pool)
        }
    }

    /// Sends pending generated bytes (heads, errors). With batched I/O the send joins the loop's
    /// batch (`.wouldBlock`, as for a full socket) and `sent` continues.
    func flushOut() -> IOResult {
        guard canWrite, output.readable > 0 else { return .wouldBlock }
        let result = self.send(output.readPointer, count: output.readable, batched: true)
        if case .bytes(let n) = result { output.consume(n) }
        return result
    }

    private func readHead() -> Bool {
        // The previous response is still going out: parse the next pipelined request only once
        // it has, so generated bytes never pile up behind a client that does not read.
        if output.readable > 0 { return false }
        if input.readable > 0 {
            if state == .idle {
                state = .readingHead
                worker.loop.setTimeout(self, ms: worker.timeouts.clientHeader)
            }
            let bytes = input.readBytes
            if worker.parser.findHeadEnd(bytes, from: scanFrom) != nil {
                switch worker.parser.parseRequest(bytes, into: &worker.requestHead) {
                case .complete:
                    dispatch()
                case .error(let e):
                    respondError(e.status, e.reason.description)
                case .incomplete:
                    respondError(400, "malformed request head")
                }
                return true
            }
            scanFrom = max(0, bytes.count - 3)
            if bytes.count >= worker.limits.headerBytes {
                respondError(431, "the request head is larger than the limit")
                return true
            }
        }
        switch receive() {
        case .bytes:
            return true
        case .end, .failed:
            // The client went away between requests (or mid-head): nothing to answer.
            disconnect()
            return false
        case .wouldBlock:
            return false
        }
    }

    // MARK: closing

    /// Closes with FIN.
    func disconnect() {
        if isClosed { return }
        detachUpstream(reusable: false)
        releaseForwardedHead()
        output.release(pool)
        closeSocket()
        worker.clientClosed(self)
    }

    /// Cuts the connection with a reset, so a client never mistakes a truncated response for a
    /// complete one.
    func abort() {
        if isClosed { return }
        detachUpstream(reusable: false, abortive: true)
        releaseForwardedHead()
        output.release(pool)
        closeSocket(abortive: true)
        worker.clientClosed(self)
    }

    /// The response just finished went to a client that asked to close (`Connection: close`, or
    /// HTTP/1.0 without keep-alive) and whose request was read completely, with nothing after
    /// it: it sends nothing more (RFC 9112 9.6), so a plain close cannot reset our response, and
    /// the lingering close (shutdown, wait for its FIN, read, close) is not needed.
    var closesAtOnce: Bool {
        !exchange.clientKeepAlive && exchange.request.done && input.readable == 0 && !eof && requestsServed > 0 && !errorSent
    }

    /// After a final response with `Connection: close`: stop sending, then read and discard what
    /// the client still sends for a moment before closing, so our response is not destroyed by a
    /// reset (the client may still be uploading a body we refused).
    func startLingeringClose() {
        detachUpstream(reusable: false)
        releaseForwardedHead()
        shutdownWrite()
        state = .lingering
        input.release(pool)
        worker.loop.setTimeout(self, ms: 2000)
        _ = discardUntilEOF()
    }

    private func discardUntilEOF() -> Bool {
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while canRead {
            let result = withUnsafeMutableBytes(of: &scratch) { socket.receive(into: $0.baseAddress!, count: $0.count) }
            if case .bytes = result { continue }
            canRead = false
            if result != .wouldBlock { disconnect(); return false }
        }
        return false
    }

    override func loopWillClose() {
        exchange.upstream?.client = nil
        exchange.upstream = nil
        releaseForwardedHead()
        input.release(pool)
        output.release(pool)
    }

    // MARK: errors

    var peerDescription: String {
        let ip = String(decoding: peerIP, as: UTF8.self)
        return ip.contains(":") ? "[\(ip)]:\(peerPort)" : "\(ip):\(peerPort)"
    }

    func log(_ message: String) {
        Log.warn("worker \(worker.loop.index) client \(peerDescription): \(message)")
    }

    /// Answers with a proxy-made error (when no response head went out yet) and closes after it;
    /// otherwise cuts the connection.
    func respondError(_ status: Int, _ why: String, upstreamNote: String? = nil) {
        countProxyError(status)
        var line = "\(status) \(why)"
        if let s = exchange.server, state == .forwarding {
            line += " (pool \(worker.poolName(exchange.poolIndex)), server \(s.description)" + (upstreamNote.map { ": \($0)" } ?? "") + ")"
        }
        log(line)
        if worker.accessLog != nil { logAccess(status: status, bytes: 0, server: state == .forwarding ? exchange.server : nil) }
        // A response head already went out for this request (not for a finished one: the next
        // request's 400/408/431 is still answered).
        if (state == .forwarding && exchange.responseHeadDone) || state == .tunnel {
            abort()
            return
        }
        detachUpstream(reusable: false, abortive: true)
        releaseForwardedHead()
        input.release(pool)
        if sendQueued {
            // Whatever was queued (an interim response) is replaced by the error.
            worker.loop.cancelQueuedSend(self)
            canWrite = true
        }
        errorSent = true
        let bytes = ErrorResponse.bytes(status: status)
        output.release(pool)
        bytes.withUnsafeBytes { output.append($0.baseAddress!, $0.count, pool: pool) }
        state = .closing
        worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
    }

    /// A proxy-made 502/503/504 counts against the server tried, or else the pool chosen.
    private func countProxyError(_ status: Int) {
        guard status == 502 || status == 503 || status == 504 else { return }
        if state == .forwarding, let s = exchange.server {
            s.counters.proxyError(status, now: worker.loop.now)
        } else if state != .forwarding, exchange.poolIndex < worker.snapshot.pools.count, exchange.server == nil {
            worker.poolCounters[worker.poolName(exchange.poolIndex)]?.proxyError(status, now: worker.loop.now)
        }
    }

    /// One access-log line for the request that just ended (access log on). A request that
    /// failed before dispatch (a malformed head) has no request line and no duration.
    func logAccess(status: Int, bytes: UInt64, server: UpstreamServer?) {
        guard let accessLog = worker.accessLog else { return }
        let p = exchange.poolIndex
        accessLog.record(client: peerIP, requestLine: requestLine, status: status, bytes: bytes,
                         pool: p < worker.snapshot.pools.count ? worker.poolName(p) : "-",
                         server: server?.description, durationNS: requestLine.isEmpty ? 0 : worker.loop.now &- exchange.start)
        requestLine.removeAll(keepingCapacity: true)
    }

    /// The request's server was drained and `timeout drain` ran out.
    func cutForDrain() {
        respondError(503, "the server was drained and did not finish this request within 'timeout drain'")
        drive()
    }
}
