import Balancing
import EventLoop
import HTTP1
import Glibc

/// One client connection and the request/response exchange currently on it. Requests are
/// handled one at a time: the next pipelined request is parsed only when the current response
/// is complete, so responses go out in order (as HAProxy does) and the bytes of a waiting
/// request are simply left in the read buffer.
///
/// Bytes are moved without copies where possible: body bytes are written to the other side
/// straight from the buffer they were read into; a partial write leaves the rest there and
/// stops reading from that side (backpressure) until the writable edge arrives.
final class ClientConnection: Selectable {
    enum State { case idle, readingHead, queued, forwarding, tunnel, closing, lingering }
    enum BodyKind { case none, length, chunked, untilClose }

    unowned(unsafe) let worker: Worker
    let trusted: Bool
    /// The peer's IP as text, for X-Forwarded-For and logs (built once per connection; the
    /// sockaddr itself is not kept, so an idle connection stays small).
    let peerIP: [UInt8]
    let peerPort: UInt16

    var inBuf = IOBuffer()
    var outBuf = IOBuffer()
    var canRead = false
    var canWrite = true
    var eof = false
    /// A batched receive's end of stream or error (`recvCompleted`), for the next `readClient`.
    var pendingRecv = Int.min
    var state = State.idle
    var scanFrom = 0

    // The exchange in progress.
    var upstream: UpstreamConnection?
    var server: UpstreamServer?
    /// Servers that failed this request, excluded from its retries (empty, and unallocated,
    /// for a request that needs none).
    var tried: [UpstreamServer] = []
    var retriesUsed = 0
    /// This request is the single trial request of a server on probation.
    var isProbe = false
    var poolIndex = 0
    var attempts = 0
    var method = HTTPMethod.get
    var clientMinor: UInt8 = 1
    var clientKeepAlive = true
    var isUpgradeRequest = false
    var fwdHead: UnsafeMutableRawPointer?
    var fwdHeadLen = 0
    var fwdHeadSent = 0
    var reqKind = BodyKind.none
    var reqRemaining: UInt64 = 0
    var reqDecoder = ChunkedDecoder()
    var reqPending = 0
    var reqDone = true
    var respHeadDone = false
    var respKind = BodyKind.none
    var respRemaining: UInt64 = 0
    var respDecoder = ChunkedDecoder()
    var respPending = 0
    var respDone = false
    var dechunk = false
    var upstreamKeepAlive = true
    var closeAfter = false
    /// For the access log (only when it is on): the request line, and response body bytes sent.
    var requestLine: [UInt8] = []
    /// A proxy-made error went out: its connection always closes with a lingering close.
    var errorSent = false
    var bytesOut: UInt64 = 0
    /// Stickiness for this request: -1 not active; -2 active, no valid cookie (the response
    /// sets one); otherwise the pool the cookie named.
    var stickyPool: Int32 = -1
    var requestStart: UInt64 = 0
    var responseStatus = 0
    // Tunnel half-close bookkeeping.
    var shutUpstreamWrite = false
    var shutClientWrite = false

    var pool: BufferPool { worker.loop.buffers }
    var clientIndex = -1

    /// Between requests with nothing buffered.
    var isIdle: Bool { state == .idle && inBuf.readable == 0 && outBuf.readable == 0 }
    var requestsServed = 0

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

    private init(worker: Worker, peer: SocketAddress) {
        self.worker = worker
        self.peerPort = peer.port
        var ip = [UInt8](repeating: 0, count: 64)
        let n = ip.withUnsafeMutableBytes { peer.writeIP(to: $0.baseAddress!, capacity: 64) }
        self.peerIP = Array(ip[0..<n])   // exact size: every idle connection carries it
        self.trusted = worker.isTrusted(peer)
        super.init()
    }

    static func start(worker: Worker, fd: Int32, peer: SocketAddress) {
        let c = ClientConnection(worker: worker, peer: peer)
        c.fd = fd
        do { try worker.loop.register(c) } catch {
            Sys.close(fd)
            return
        }
        worker.clientOpened(c)
        worker.loop.setTimeout(c, ms: worker.timeouts.clientHeader)
    }

    // MARK: events

    override func handleEvents(_ events: UInt32) {
        if events & (Events.readable | Events.readHangup | Events.hangup | Events.error) != 0 { canRead = true }
        // While a send is queued nothing else may be written: its result decides canWrite.
        if events & (Events.writable | Events.error | Events.hangup) != 0 && !sendQueued { canWrite = true }
        drive()
    }

    /// The result of `flushOut`'s batched send.
    override func sendCompleted(_ n: Int, requested: Int) {
        if n >= 0 {
            outBuf.consume(n)
            canWrite = n == requested
        } else if n == -Int(EAGAIN) {
            canWrite = false
        } else {
            abort()   // the client is gone
            return
        }
        drive()
    }

    override func handleTimeout() {
        switch state {
        case .idle:
            close()
        case .readingHead:
            respondError(408, "the request head was not received in time")
            drive()
        case .forwarding:
            if reqDone && !respHeadDone {
                // Waiting for the upstream: its own timer (`timeout upstream`) governs.
                worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
            } else if !respHeadDone && !reqDone {
                respondError(408, "the request body stalled")
                drive()
            } else {
                log("client stalled while receiving the response; closing")
                abort()
            }
        case .queued:
            respondError(503, "no server slot became free within 'timeout queue'")
            drive()
        case .tunnel, .closing, .lingering:
            abort()
        }
    }

    /// Batched receives only where a request head is awaited, the hot path of keep-alive
    /// traffic; bodies, tunnels and closing connections read as they always did.
    override func recvTarget() -> UnsafeMutableRawBufferPointer? {
        guard state == .idle || state == .readingHead, outBuf.readable == 0, !eof, pendingRecv == Int.min else { return nil }
        let space = inBuf.prepareForRead(pool)
        return space == 0 ? nil : UnsafeMutableRawBufferPointer(start: inBuf.base! + inBuf.writeIndex, count: space)
    }

    override func recvCompleted(_ n: Int, requested: Int) -> Bool {
        applyBatchedReceive(n, requested: requested, to: &inBuf, canRead: &canRead, pending: &pendingRecv)
    }

    func upstreamEvent(_ up: UpstreamConnection) {
        if up.connecting {
            guard up.canWrite || up.canRead else { return }
            let e = up.finishConnect()
            if e != 0 {
                connectFailed(up, reason: Sys.errorString(e), timedOut: false)
                drive()
                return
            }
            up.canWrite = true
            worker.loop.setTimeout(up, ms: worker.timeouts.upstream)
        }
        drive()
    }

    func upstreamTimeout(_ up: UpstreamConnection) {
        if up.connecting {
            connectFailed(up, reason: "connect timed out", timedOut: true)
        } else if state == .tunnel {
            abort()
            return
        } else if waitingOnClient(up) {
            // The client is the slow side (not sending its body, or not reading the response):
            // the client's own timer governs, not `timeout upstream`.
            worker.loop.setTimeout(up, ms: worker.timeouts.upstream)
            return
        } else if !respHeadDone {
            worker.reportOutcome(up.server, failure: "timed out", startedNS: requestStart, probe: isProbe)
            respondError(504, "the upstream did not answer in time", upstreamNote: "timed out after \(worker.timeouts.upstream) ms")
        } else {
            worker.reportOutcome(up.server, failure: "stalled mid-response", startedNS: requestStart, probe: isProbe)
            log("upstream \(up.server.description) stalled mid-response; closing the client connection")
            abort()
            return
        }
        drive()
    }

    /// True when the exchange is stalled on the client rather than on the upstream.
    private func waitingOnClient(_ up: UpstreamConnection) -> Bool {
        if respHeadDone { return !canWrite }
        return !reqDone && inBuf.readable == 0 && up.canWrite
    }

    // MARK: the state machine

    /// Runs every direction that can make progress until none can. Called after any event on
    /// this connection or its upstream.
    func drive() {
        while !isClosed {
            var progress = false
            if outBuf.readable > 0 && canWrite {
                let r = flushOut()
                if r < 0 { abort(); return }
                progress = r > 0
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
                guard outBuf.readable == 0 else { break }
                if closesAtOnce {
                    close()   // the client asked to close and sent all of its request: nothing can race our FIN
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
            inBuf.releaseIfEmpty(pool)
            outBuf.releaseIfEmpty(pool)
        }
    }

    /// Reads into inBuf when there is room; bytes read, 0 when nothing (yet), -1 on EOF/error.
    func readClient() -> Int {
        guard canRead, !eof else { return eof ? -1 : 0 }
        let space = inBuf.prepareForRead(pool)
        guard let n = nextReceive(fd, inBuf, space: space, pending: &pendingRecv) else { return 0 }
        if n > 0 {
            inBuf.writeIndex += n
            if n < space { canRead = false }
            return n
        }
        canRead = false
        if n == -Int(EAGAIN) { return 0 }
        eof = true
        return -1
    }

    /// Writes pending generated bytes (heads, errors); bytes written, -1 on a dead client.
    /// With batched I/O the send joins the loop's batch: 0 is returned as for a full socket, and
    /// `sendCompleted` continues.
    func flushOut() -> Int {
        guard canWrite, outBuf.readable > 0 else { return 0 }
        if worker.loop.queueSend(self, outBuf.readPointer, outBuf.readable) {
            canWrite = false
            return 0
        }
        let n = Sys.write(fd, outBuf.readPointer, outBuf.readable)
        if n >= 0 {
            if n < outBuf.readable { canWrite = false }
            outBuf.consume(n)
            return n
        }
        canWrite = false
        return n == -Int(EAGAIN) ? 0 : -1
    }

    private func readHead() -> Bool {
        // The previous response is still going out: parse the next pipelined request only once
        // it has, so generated bytes never pile up behind a client that does not read.
        if outBuf.readable > 0 { return false }
        if inBuf.readable > 0 {
            if state == .idle {
                state = .readingHead
                worker.loop.setTimeout(self, ms: worker.timeouts.clientHeader)
            }
            let bytes = inBuf.readBytes
            if worker.parser.findHeadEnd(bytes, from: scanFrom) != nil {
                switch worker.parser.parseRequest(bytes, into: &worker.requestHead) {
                case .complete:
                    dispatch()
                case .error(let e):
                    respondParseError(e)
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
        let r = readClient()
        if r > 0 { return true }
        if r < 0 {
            // The client went away between requests (or mid-head): nothing to answer.
            close()
        }
        return false
    }

    // MARK: closing

    func close() {
        if isClosed { return }
        detachUpstream(reusable: false)
        releaseFwdHead()
        inBuf.release(pool)
        outBuf.release(pool)
        worker.loop.close(self)
        worker.clientClosed(self)
    }

    /// Cuts the connection with a reset, so a client never mistakes a truncated response for a
    /// complete one.
    func abort() {
        if isClosed { return }
        detachUpstream(reusable: false, abortive: true)
        releaseFwdHead()
        inBuf.release(pool)
        outBuf.release(pool)
        worker.loop.close(self, abortive: true)
        worker.clientClosed(self)
    }

    /// The response just finished went to a client that asked to close (`Connection: close`, or
    /// HTTP/1.0 without keep-alive) and whose request was read completely, with nothing after
    /// it: it sends nothing more (RFC 9112 9.6), so a plain close cannot reset our response, and
    /// the lingering close (shutdown, wait for its FIN, read, close) is not needed.
    var closesAtOnce: Bool { !clientKeepAlive && reqDone && inBuf.readable == 0 && !eof && requestsServed > 0 && !errorSent }

    /// After a final response with `Connection: close`: stop sending, then read and discard what
    /// the client still sends for a moment before closing, so our response is not destroyed by a
    /// reset (the client may still be uploading a body we refused).
    func startLingeringClose() {
        detachUpstream(reusable: false)
        releaseFwdHead()
        Sys.shutdownWrite(fd)
        state = .lingering
        inBuf.release(pool)
        worker.loop.setTimeout(self, ms: 2000)
        _ = discardUntilEOF()
    }

    private func discardUntilEOF() -> Bool {
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while canRead {
            let n = withUnsafeMutableBytes(of: &scratch) { Sys.recv(fd, $0.baseAddress!, $0.count) }
            if n > 0 { continue }
            canRead = false
            if n != -Int(EAGAIN) { close(); return false }
        }
        return false
    }

    // MARK: errors

    var peerDescription: String {
        let ip = String(decoding: peerIP, as: UTF8.self)
        return ip.contains(":") ? "[\(ip)]:\(peerPort)" : "\(ip):\(peerPort)"
    }

    func log(_ message: String) {
        Log.warn("worker \(worker.loop.index) client \(peerDescription): \(message)")
    }

    private func respondParseError(_ e: HTTPParseError) {
        respondError(e.status, e.reason.description)
    }

    /// Answers with a proxy-made error (when no response head went out yet) and closes after it;
    /// otherwise cuts the connection.
    func respondError(_ status: Int, _ why: String, upstreamNote: String? = nil) {
        var line = "\(status) \(why)"
        if status == 502 || status == 503 || status == 504 {
            if state == .forwarding, let s = server {
                s.counters.proxyError(status, now: worker.loop.now)
            } else if state != .forwarding, poolIndex < worker.snapshot.pools.count, server == nil {
                worker.poolCounters[worker.poolName(poolIndex)]?.proxyError(status, now: worker.loop.now)
            }
        }
        if let s = server, state == .forwarding { line += " (pool \(worker.poolName(poolIndex)), server \(s.description)" + (upstreamNote.map { ": \($0)" } ?? "") + ")" }
        log(line)
        if worker.accessLog != nil { logAccess(status: status, bytes: 0, server: state == .forwarding ? server : nil) }
        if respHeadDone || state == .tunnel {
            abort()
            return
        }
        detachUpstream(reusable: false, abortive: true)
        releaseFwdHead()
        inBuf.release(pool)
        if sendQueued {
            // Whatever was queued (an interim response) is replaced by the error.
            worker.loop.cancelQueuedSend(self)
            canWrite = true
        }
        errorSent = true
        let bytes = ErrorResponse.bytes(status: status)
        outBuf.release(pool)
        bytes.withUnsafeBytes { outBuf.append($0.baseAddress!, $0.count, pool: pool) }
        state = .closing
        worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
    }

    /// One access-log line for the request that just ended (access log on). A request that
    /// failed before dispatch (a malformed head) has no request line and no duration.
    func logAccess(status: Int, bytes: UInt64, server: UpstreamServer?) {
        guard let accessLog = worker.accessLog else { return }
        accessLog.record(client: peerIP, requestLine: requestLine, status: status, bytes: bytes,
                         pool: poolIndex < worker.snapshot.pools.count ? worker.poolName(poolIndex) : "-",
                         server: server?.description, durationNS: requestLine.isEmpty ? 0 : worker.loop.now &- requestStart)
        requestLine.removeAll(keepingCapacity: true)
    }

    /// The request's server was drained and `timeout drain` ran out.
    func cutForDrain() {
        respondError(503, "the server was drained and did not finish this request within 'timeout drain'")
        drive()
    }

    func detachUpstream(reusable: Bool, abortive: Bool = false) {
        guard let up = upstream else { return }
        upstream = nil
        up.server.inFlight -= 1
        if reusable {
            worker.releaseUpstream(up)
        } else {
            up.close(abortive: abortive)
        }
        worker.serverFreed(up.server)
    }

    func releaseFwdHead() {
        if let p = fwdHead { pool.give(p); fwdHead = nil }
        fwdHeadLen = 0
        fwdHeadSent = 0
    }

    override func loopWillClose() {
        upstream?.client = nil
        upstream = nil
        releaseFwdHead()
        inBuf.release(pool)
        outBuf.release(pool)
    }
}
