import Balancing
import EventLoop
import HTTP1

/// One request and its response on a client connection. The connection replaces it with a
/// fresh value for each request (never resets it field by field), so nothing of one exchange
/// can leak into the next.
struct Exchange {
    // The request.
    var method = HTTPMethod.get
    var clientMinor: UInt8 = 1
    var clientKeepAlive = true
    var isUpgradeRequest = false
    var request = BodyFramer()
    /// Stickiness: -1 not active; -2 active, no valid cookie (the response sets one);
    /// otherwise the pool the cookie named.
    var stickyPool: Int32 = -1
    /// When the request was dispatched (the loop's clock), for latency and the access log.
    var start: UInt64 = 0

    // Where it goes.
    var poolIndex = Int.max
    var server: UpstreamServer?
    var upstream: UpstreamConnection?
    /// Servers that failed this request, excluded from its retries (empty, and unallocated,
    /// for a request that needs none).
    var tried: [UpstreamServer] = []
    var retriesUsed = 0
    var attempts = 0
    /// This request is the single trial request of a server on probation.
    var isProbe = false
    /// The rewritten request head (a pooled buffer), its length, and how much of it went out.
    var forwardedHead: UnsafeMutableRawPointer?
    var forwardedHeadLength = 0
    var forwardedHeadSent = 0

    // The response.
    var responseHeadDone = false
    var response = BodyFramer()
    var status = 0
    var upstreamKeepAlive = true
    /// The client connection closes after this response.
    var closeAfter = false
    /// Response body bytes sent to the client (for the access log).
    var bytesOut: UInt64 = 0

    // After a 101: which halves of the tunnel are shut.
    var shutUpstreamWrite = false
    var shutClientWrite = false

    init() {}

    @inline(__always)
    init(method: HTTPMethod, clientMinor: UInt8, clientKeepAlive: Bool, isUpgradeRequest: Bool, start: UInt64) {
        self.method = method
        self.clientMinor = clientMinor
        self.clientKeepAlive = clientKeepAlive
        self.isUpgradeRequest = isUpgradeRequest
        self.start = start
    }

    var forwardedHeadPending: Bool { forwardedHeadSent < forwardedHeadLength }
}

/// Starting, retrying and ending an exchange: pool and server choice, attempts on upstream
/// connections, and what happens when one fails.
extension ClientConnection {
    // MARK: dispatch

    /// A complete request head is at the front of `input`: validate, choose pool and server,
    /// build the forwarded head, and start the exchange.
    func dispatch() {
        worker.refreshSnapshot()
        requestsServed += 1
        if worker.accessLog != nil { captureRequestLine() }
        // Fields of the parsed head are read in place (a copy would retain its field list).
        exchange = Exchange(method: worker.requestHead.method, clientMinor: worker.requestHead.versionMinor,
                            clientKeepAlive: worker.requestHead.keepAlive,
                            isUpgradeRequest: worker.requestHead.connectionUpgrade && worker.requestHead.upgradeField >= 0,
                            start: worker.loop.now)
        if exchange.method == .connect {
            respondError(405, "CONNECT is not supported by this reverse proxy")
            return
        }
        let framing = worker.requestHead.framing
        switch framing {
        case .contentLength(let n) where n > worker.limits.bodyBytes:
            respondError(413, "the request body is larger than the limit")
            return
        case .contentLength, .chunked:
            exchange.request = BodyFramer(framing, limit: worker.limits.bodyBytes)
        case .none, .untilClose:
            break   // a request without Content-Length or chunked has no body
        }
        guard let p = choosePool() else { return }
        exchange.poolIndex = p
        guard let first = worker.pools[p].first else {
            respondError(503, "pool \(worker.poolName(p)) has no usable server")
            return
        }
        guard buildForwardedHead(fallbackHost: first.description) else {
            respondError(431, "the forwarded request head would exceed the header limit")
            return
        }
        input.consume(worker.requestHead.headLength)
        scanFrom = 0
        if worker.poolIsFull(p) {
            // Every server is at its max-conn: wait in the pool's queue for a free slot.
            guard worker.enqueue(self, pool: p) else {
                respondError(503, "pool \(worker.poolName(p)) is at its connection limit and its queue is full")
                return
            }
            state = .queued
            worker.loop.setTimeout(self, ms: worker.timeouts.queue)
            return
        }
        startForwarding()
    }

    /// The pool for this request: the sticky cookie's (during a rollout), else the split's.
    private func choosePool() -> Int? {
        var picked: Int?
        if worker.stickyRouter.active, let sticky = worker.snapshot.sticky {
            let choice = worker.pickStickyPool(sticky, head: worker.requestHead, bytes: input.readBytes)
            picked = choice.pool
            exchange.stickyPool = choice.stuck ? Int32(choice.pool ?? 0) : -2
        } else {
            picked = worker.pickPool()
        }
        if picked == nil { respondError(503, "no pool has a non-zero split") }
        return picked
    }

    /// Picks a server of the chosen pool and sends the request its way.
    private func startForwarding() {
        var probe = false
        guard let s = worker.pickServer(pool: exchange.poolIndex, excluding: exchange.tried, probe: &probe) else {
            respondError(503, "pool \(worker.poolName(exchange.poolIndex)) has no usable server")
            return
        }
        exchange.isProbe = probe
        state = .forwarding
        worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
        attach(s)
    }

    /// A server slot freed up for this queued request.
    func dequeued() {
        startForwarding()
        drive()
    }

    /// Keeps the request line (at most 1 KiB of it) for the access log line written at the end.
    private func captureRequestLine() {
        requestLine.removeAll(keepingCapacity: true)
        let bytes = input.readBytes
        var end = 0
        while end < bytes.count && end < 1024 && bytes[end] != 0x0D && bytes[end] != 0x0A { end += 1 }
        requestLine.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<end]))
    }

    private func buildForwardedHead(fallbackHost: String) -> Bool {
        let buf = pool.take()
        exchange.forwardedHead = buf
        var w = ByteWriter(buf, capacity: pool.bufferSize)
        let upgrade = exchange.isUpgradeRequest
        let ok = peerIP.withUnsafeBytes { ip in
            fallbackHost.utf8.withContiguousStorageIfAvailable { host in
                let ctx = HeadRewriter.RequestContext(clientIP: ip, trusted: trusted, upgrade: upgrade,
                                                      fallbackHost: UnsafeRawBufferPointer(host))
                return HeadRewriter.writeRequest(worker.requestHead, from: input.readBytes, context: ctx, into: &w)
            } ?? false
        }
        exchange.forwardedHeadLength = w.count
        exchange.forwardedHeadSent = 0
        return ok
    }

    func releaseForwardedHead() {
        if let p = exchange.forwardedHead { pool.give(p); exchange.forwardedHead = nil }
        exchange.forwardedHeadLength = 0
        exchange.forwardedHeadSent = 0
    }

    // MARK: attempts

    /// Puts the request on a connection to `s` (pooled, or a new connect).
    func attach(_ s: UpstreamServer) {
        exchange.attempts += 1
        exchange.server = s
        s.counters.request(now: worker.loop.now)
        if exchange.attempts > 1 { s.counters.retry(now: worker.loop.now) }
        let up: UpstreamConnection
        do { up = try worker.acquireUpstream(s) } catch {
            connectFailed(nil, reason: "connect failed: \(SocketError.text(error.errno))", timedOut: false)
            return
        }
        up.client = self
        exchange.upstream = up
        s.inFlight += 1
        exchange.forwardedHeadSent = 0
        if !up.connecting {
            up.canWrite = true
            worker.loop.setTimeout(up, ms: worker.timeouts.upstream)
        }
    }

    /// Nothing was sent: always safe to try another server of the pool (within `retries`).
    func connectFailed(_ up: UpstreamConnection?, reason: String, timedOut: Bool) {
        let failed = exchange.server
        log("upstream \(failed?.description ?? "?") (pool \(worker.poolName(exchange.poolIndex))): \(reason)")
        if let failed { worker.reportOutcome(failed, failure: reason, startedNS: exchange.start, probe: exchange.isProbe) }
        if up != nil { detachUpstream(reusable: false) }
        if retryElsewhere(sameServer: nil) { return }
        respondError(timedOut ? 504 : 502, timedOut ? "no upstream server answered in time" : "no upstream server could be reached")
    }

    /// Starts another attempt on a server of the pool not tried yet (or on `sameServer` with a
    /// fresh connection when there is none), within the pool's `retries`. False: give up.
    func retryElsewhere(sameServer: UpstreamServer?) -> Bool {
        let p = exchange.poolIndex
        let budget = p < worker.poolRetries.count ? worker.poolRetries[p] : 0
        guard exchange.retriesUsed < budget else { return false }
        if let failed = exchange.server, !exchange.tried.contains(where: { $0 === failed }) { exchange.tried.append(failed) }
        var probe = false
        var next = worker.pickServer(pool: p, excluding: exchange.tried, probe: &probe)
        if next == nil, let other = worker.failoverPool(from: p) {
            // Every server of this pool failed for this request: fail over (failover on).
            next = worker.pickServer(pool: other, excluding: exchange.tried, probe: &probe)
            if next != nil { exchange.poolIndex = other }
        }
        if next == nil, let same = sameServer, same.active { next = same }
        guard let n = next else { return false }
        exchange.retriesUsed += 1
        exchange.isProbe = probe
        attach(n)
        return true
    }

    /// The upstream failed before sending any response byte.
    func upstreamFailed(_ up: UpstreamConnection, reason: String) {
        worker.reportOutcome(up.server, failure: reason, startedNS: exchange.start, probe: exchange.isProbe)
        // An idempotent request without a body is safe to send again: elsewhere if the pool has
        // another server, else (the keep-alive race: the server closed a pooled connection just
        // as we sent) on a fresh connection to the same server. A request with a body (a POST,
        // a checkout) is never sent twice.
        if !exchange.responseHeadDone && exchange.method.isIdempotentForRetry && exchange.request.kind == .none {
            let same = up.reused ? up.server : nil
            detachUpstream(reusable: false)
            if retryElsewhere(sameServer: same) { return }
        }
        respondError(502, "the upstream closed the connection before answering", upstreamNote: reason)
    }

    func detachUpstream(reusable: Bool, abortive: Bool = false) {
        guard let up = exchange.upstream else { return }
        exchange.upstream = nil
        up.server.inFlight -= 1
        if reusable {
            worker.releaseUpstream(up)
        } else {
            up.close(abortive: abortive)
        }
        worker.serverFreed(up.server)
    }

    // MARK: upstream events

    func upstreamEvent(_ up: UpstreamConnection) {
        if up.connecting {
            guard up.canWrite || up.canRead else { return }
            let e = up.finishConnect()
            if e != 0 {
                connectFailed(up, reason: SocketError.text(e), timedOut: false)
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
        } else if !exchange.responseHeadDone {
            worker.reportOutcome(up.server, failure: "timed out", startedNS: exchange.start, probe: exchange.isProbe)
            respondError(504, "the upstream did not answer in time", upstreamNote: "timed out after \(worker.timeouts.upstream) ms")
        } else {
            worker.reportOutcome(up.server, failure: "stalled mid-response", startedNS: exchange.start, probe: exchange.isProbe)
            log("upstream \(up.server.description) stalled mid-response; closing the client connection")
            abort()
            return
        }
        drive()
    }

    /// True when the exchange is stalled on the client rather than on the upstream.
    private func waitingOnClient(_ up: UpstreamConnection) -> Bool {
        if exchange.responseHeadDone { return !canWrite }
        return !exchange.request.done && input.readable == 0 && up.canWrite
    }

    /// Progress on the exchange: push both inactivity deadlines out.
    @inline(__always)
    func touch(_ up: UpstreamConnection) {
        worker.loop.setTimeout(up, ms: worker.timeouts.upstream)
        worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
    }

    // MARK: the end

    /// The response is complete: return the upstream connection to its pool if it is clean,
    /// then either wait for the next request or close.
    func finishExchange() {
        if let s = exchange.server {
            let now = worker.loop.now
            let status = exchange.status
            s.counters.response(status: status, latencyUS: (now &- exchange.start) / 1000, now: now)
            let p = exchange.poolIndex
            let on5xx = p < worker.poolEjectOn5xx.count && worker.poolEjectOn5xx[p]
            worker.reportOutcome(s, failure: on5xx && status >= 500 ? "HTTP \(status)" : nil,
                                 startedNS: exchange.start, probe: exchange.isProbe)
            if worker.accessLog != nil { logAccess(status: status, bytes: exchange.bytesOut, server: s) }
        }
        if let up = exchange.upstream {
            let reusable = exchange.upstreamKeepAlive && exchange.response.kind != .untilClose && exchange.request.done
                && !exchange.forwardedHeadPending && up.input.readable == 0 && !up.eof
            detachUpstream(reusable: reusable)
        }
        releaseForwardedHead()
        // The exchange stays until the next request replaces it: a closing connection's
        // `closesAtOnce` still asks what it was.
        state = exchange.closeAfter || !exchange.request.done || worker.draining ? .closing : .idle
        worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
    }
}
