import Balancing
import EventLoop
import HTTP1
import Glibc

/// Forwarding one request and its response (see ClientConnection for the overall model).
extension ClientConnection {
    // MARK: dispatch

    /// A complete request head is at the front of inBuf: validate, choose pool and server,
    /// build the forwarded head, and start the exchange.
    func dispatch() {
        worker.refreshSnapshot()
        requestsServed += 1
        if worker.accessLog != nil { captureRequestLine() }
        method = worker.requestHead.method
        clientMinor = worker.requestHead.versionMinor
        clientKeepAlive = worker.requestHead.keepAlive
        isUpgradeRequest = worker.requestHead.connectionUpgrade && worker.requestHead.upgradeField >= 0
        if method == .connect {
            respondError(405, "CONNECT is not supported by this reverse proxy")
            return
        }
        switch worker.requestHead.framing {
        case .contentLength(let n):
            if n > worker.limits.bodyBytes {
                respondError(413, "the request body is larger than the limit")
                return
            }
            reqKind = n == 0 ? .none : .length
            reqRemaining = n
            reqDone = n == 0
        case .chunked:
            reqKind = .chunked
            reqDecoder = ChunkedDecoder()
            reqPending = 0
            reqDone = false
        case .none, .untilClose:
            reqKind = .none
            reqDone = true
        }
        respHeadDone = false
        respDone = false
        respPending = 0
        dechunk = false
        closeAfter = false
        attempts = 0
        if !tried.isEmpty { tried.removeAll() }
        retriesUsed = 0
        isProbe = false
        server = nil
        poolIndex = Int.max
        requestStart = worker.loop.now

        var picked: Int?
        if worker.stickyRouter.active, let sticky = worker.snapshot.sticky {
            let choice = worker.pickStickyPool(sticky, head: worker.requestHead, bytes: inBuf.readBytes)
            picked = choice.pool
            stickyPool = choice.stuck ? Int32(choice.pool ?? 0) : -2
        } else {
            picked = worker.pickPool()
            stickyPool = -1
        }
        guard let p = picked else {
            respondError(503, "no pool has a non-zero split")
            return
        }
        poolIndex = p
        guard let first = worker.pools[p].first else {
            respondError(503, "pool \(worker.poolName(p)) has no usable server")
            return
        }
        guard buildForwardedHead(fallbackHost: first.description) else {
            respondError(431, "the forwarded request head would exceed the header limit")
            return
        }
        inBuf.consume(worker.requestHead.headLength)
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
        var probe = false
        guard let s = worker.pickServer(pool: p, excluding: tried, probe: &probe) else {
            respondError(503, "pool \(worker.poolName(p)) has no usable server")
            return
        }
        isProbe = probe
        state = .forwarding
        worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
        attach(s)
    }

    /// Keeps the request line (at most 1 KiB of it) for the access log line written at the end.
    private func captureRequestLine() {
        requestLine.removeAll(keepingCapacity: true)
        bytesOut = 0
        let bytes = inBuf.readBytes
        var end = 0
        while end < bytes.count && end < 1024 && bytes[end] != 0x0D && bytes[end] != 0x0A { end += 1 }
        requestLine.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<end]))
    }

    /// A server slot freed up for this queued request.
    func dequeued() {
        var probe = false
        guard let s = worker.pickServer(pool: poolIndex, excluding: tried, probe: &probe) else {
            respondError(503, "pool \(worker.poolName(poolIndex)) has no usable server")
            drive()
            return
        }
        isProbe = probe
        state = .forwarding
        worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
        attach(s)
        drive()
    }

    private func buildForwardedHead(fallbackHost: String) -> Bool {
        let buf = pool.take()
        fwdHead = buf
        var w = ByteWriter(buf, capacity: pool.bufferSize)
        let ok = peerIP.withUnsafeBytes { ip in
            fallbackHost.utf8.withContiguousStorageIfAvailable { host in
                let ctx = HeadRewriter.RequestContext(clientIP: ip, trusted: trusted, upgrade: isUpgradeRequest,
                                                      fallbackHost: UnsafeRawBufferPointer(host))
                return HeadRewriter.writeRequest(worker.requestHead, from: inBuf.readBytes, context: ctx, into: &w)
            } ?? false
        }
        fwdHeadLen = w.count
        fwdHeadSent = 0
        return ok
    }

    /// Puts the request on a connection to `s` (pooled, or a new connect).
    func attach(_ s: UpstreamServer) {
        attempts += 1
        server = s
        s.counters.request(now: worker.loop.now)
        if attempts > 1 { s.counters.retry(now: worker.loop.now) }
        guard let up = worker.acquireUpstream(s) else {
            connectFailed(nil, reason: "connect failed: \(Sys.errorString(errno))", timedOut: false)
            return
        }
        up.client = self
        upstream = up
        s.inFlight += 1
        fwdHeadSent = 0
        if !up.connecting {
            up.canWrite = true
            worker.loop.setTimeout(up, ms: worker.timeouts.upstream)
        }
    }

    /// Nothing was sent: always safe to try another server of the pool (within `retries`).
    func connectFailed(_ up: UpstreamConnection?, reason: String, timedOut: Bool) {
        let failed = server
        log("upstream \(failed?.description ?? "?") (pool \(worker.poolName(poolIndex))): \(reason)")
        if let failed { worker.reportOutcome(failed, failure: reason, startedNS: requestStart, probe: isProbe) }
        if up != nil { detachUpstream(reusable: false) }
        if retryElsewhere(sameServer: nil) { return }
        respondError(timedOut ? 504 : 502, timedOut ? "no upstream server answered in time" : "no upstream server could be reached")
    }

    /// Starts another attempt on a server of the pool not tried yet (or on `sameServer` with a
    /// fresh connection when there is none), within the pool's `retries`. False: give up.
    func retryElsewhere(sameServer: UpstreamServer?) -> Bool {
        let budget = poolIndex < worker.poolRetries.count ? worker.poolRetries[poolIndex] : 0
        guard retriesUsed < budget else { return false }
        if let failed = server, !tried.contains(where: { $0 === failed }) { tried.append(failed) }
        var probe = false
        var next = worker.pickServer(pool: poolIndex, excluding: tried, probe: &probe)
        if next == nil, let other = worker.failoverPool(from: poolIndex) {
            // Every server of this pool failed for this request: fail over (failover on).
            next = worker.pickServer(pool: other, excluding: tried, probe: &probe)
            if next != nil { poolIndex = other }
        }
        if next == nil, let same = sameServer, same.active { next = same }
        guard let n = next else { return false }
        retriesUsed += 1
        isProbe = probe
        attach(n)
        return true
    }

    // MARK: request direction

    /// Validated request-body bytes at the front of inBuf, ready to forward.
    private func requestBodyAvailable() -> Int {
        switch reqKind {
        case .none, .untilClose:
            return 0
        case .length:
            return Int(min(UInt64(inBuf.readable), reqRemaining))
        case .chunked:
            if reqPending == 0 && !reqDecoder.isDone && inBuf.readable > 0 {
                let bytes = inBuf.readBytes
                var off = 0
                scan: while off < bytes.count {
                    switch reqDecoder.decode(UnsafeRawBufferPointer(rebasing: bytes[off...])) {
                    case .data(let n), .framing(let n):
                        off += n
                    case .done(let n):
                        off += n
                        break scan
                    case .error(let e):
                        respondError(e.status, "request body: \(e.reason.description)")
                        return -1
                    }
                }
                if reqDecoder.payloadBytes > worker.limits.bodyBytes {
                    respondError(413, "the request body is larger than the limit")
                    return -1
                }
                reqPending = off
            }
            return reqPending
        }
    }

    private func consumeRequestBody(_ n: Int) {
        guard n > 0 else { return }
        inBuf.consume(n)
        switch reqKind {
        case .length:
            reqRemaining -= UInt64(n)
            if reqRemaining == 0 { reqDone = true }
        case .chunked:
            reqPending -= n
            if reqPending == 0 && reqDecoder.isDone { reqDone = true }
        default:
            break
        }
    }

    /// Sends the forwarded head and request body to the upstream as far as both sides allow.
    func pumpRequest() -> Bool {
        // The body keeps flowing after the response head (full duplex: echo and streaming
        // endpoints answer before reading everything); a response that completes first ends
        // the exchange and the connection (finishExchange), which stops this direction.
        guard let up = upstream, !up.connecting else { return false }
        var progress = false
        if fwdHeadSent < fwdHeadLen {
            guard up.canWrite else { return false }
            let body = requestBodyAvailable()
            if body < 0 { return true }
            let headLeft = fwdHeadLen - fwdHeadSent
            if body == 0 && worker.loop.queueSend(up, fwdHead! + fwdHeadSent, headLeft) {
                // Sent with the loop's batch; requestHeadSent continues.
                up.canWrite = false
                return progress
            }
            let n = body > 0
                ? Sys.writev2(up.fd, fwdHead! + fwdHeadSent, headLeft, inBuf.readPointer, body)
                : Sys.write(up.fd, fwdHead! + fwdHeadSent, headLeft)
            if n < 0 {
                up.canWrite = false
                if n == -Int(EAGAIN) { return false }
                upstreamFailed(up, reason: "write failed: \(Sys.errorString(Int32(-n)))")
                return true
            }
            let headPart = min(n, headLeft)
            fwdHeadSent += headPart
            consumeRequestBody(n - headPart)
            if n < headLeft + body { up.canWrite = false }
            progress = true
            touch(up)
            if fwdHeadSent < fwdHeadLen { return true }
        }
        while !reqDone {
            let avail = requestBodyAvailable()
            if avail < 0 { return true }
            if avail == 0 {
                let r = readClient()
                if r > 0 { progress = true; continue }
                if r < 0 {
                    log("client closed the connection during the request body")
                    abort()
                    return true
                }
                break
            }
            guard up.canWrite else { break }
            let n = Sys.write(up.fd, inBuf.readPointer, avail)
            if n < 0 {
                up.canWrite = false
                if n == -Int(EAGAIN) { break }
                upstreamFailed(up, reason: "write failed: \(Sys.errorString(Int32(-n)))")
                return true
            }
            consumeRequestBody(n)
            progress = true
            touch(up)
            if n < avail { up.canWrite = false; break }
        }
        return progress
    }

    /// The result of pumpRequest's batched send of the forwarded head.
    func requestHeadSent(_ up: UpstreamConnection, _ n: Int, requested: Int) {
        guard up === upstream else { return }
        if n >= 0 {
            fwdHeadSent += n
            up.canWrite = n == requested
            touch(up)
        } else if n == -Int(EAGAIN) {
            up.canWrite = false
        } else {
            upstreamFailed(up, reason: "write failed: \(Sys.errorString(Int32(-n)))")
        }
        drive()
    }

    /// Progress on the exchange: push both inactivity deadlines out.
    @inline(__always)
    func touch(_ up: UpstreamConnection) {
        worker.loop.setTimeout(up, ms: worker.timeouts.upstream)
        worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
    }

    /// The upstream failed before sending any response byte.
    func upstreamFailed(_ up: UpstreamConnection, reason: String) {
        worker.reportOutcome(up.server, failure: reason, startedNS: requestStart, probe: isProbe)
        // An idempotent request without a body is safe to send again: elsewhere if the pool has
        // another server, else (the keep-alive race: the server closed a pooled connection just
        // as we sent) on a fresh connection to the same server. A request with a body (a POST,
        // a checkout) is never sent twice.
        if !respHeadDone && method.isIdempotentForRetry && reqKind == .none {
            let same = up.reused ? up.server : nil
            detachUpstream(reusable: false)
            if retryElsewhere(sameServer: same) { return }
        }
        respondError(502, "the upstream closed the connection before answering", upstreamNote: reason)
    }

    // MARK: response direction

    /// Response bodies up to this size (available at once after the head) are copied behind the
    /// head and sent with it in one plain send.
    static let coalesceLimit = 2048

    func pumpResponse() -> Bool {
        guard let up = upstream, !up.connecting else { return false }
        var progress = false
        while state == .forwarding {
            if !respHeadDone {
                if up.inBuf.readable > 0 {
                    let bytes = up.inBuf.readBytes
                    if worker.parser.findHeadEnd(bytes, from: up.scanFrom) != nil {
                        switch worker.parser.parseResponse(bytes, requestMethod: method, into: &worker.responseHead) {
                        case .complete:
                            handleResponseHead(up)
                            progress = true
                            continue
                        case .error(let e):
                            respondError(502, "the upstream sent a malformed response: \(e.reason.description)")
                            return true
                        case .incomplete:
                            respondError(502, "the upstream sent a malformed response head")
                            return true
                        }
                    }
                    up.scanFrom = max(0, bytes.count - 3)
                    if bytes.count >= worker.limits.headerBytes {
                        respondError(502, "the upstream response head is larger than the limit")
                        return true
                    }
                }
                let r = up.readSome()
                if r > 0 { progress = true; touch(up); continue }
                if r < 0 {
                    if up.inBuf.readable == 0 {
                        upstreamFailed(up, reason: "connection closed")
                    } else {
                        respondError(502, "the upstream closed the connection inside the response head")
                    }
                    return true
                }
                return progress
            }
            // Body: generated bytes (the head) go first; the first body bytes share its syscall.
            if respDone {
                finishExchange()
                return true
            }
            let avail = responseBodyAvailable(up)
            if avail < 0 { return true }
            if avail == 0 {
                if respDone { continue }
                if outBuf.readable > 0 {
                    if !canWrite { return progress }
                    let r = flushOut()
                    if r < 0 { abort(); return true }
                    if r > 0 { progress = true; continue }
                    return progress
                }
                let r = up.readSome()
                if r > 0 { progress = true; touch(up); continue }
                if r < 0 {
                    if respKind == .untilClose && !up.failed {
                        respDone = true   // a clean close ends a close-delimited body
                        continue
                    }
                    up.server.counters.abort(now: worker.loop.now)
                    worker.reportOutcome(up.server, failure: "closed mid-response", startedNS: requestStart, probe: isProbe)
                    log("upstream \(up.server.description) closed the connection mid-response; cutting the client connection")
                    abort()
                    return true
                }
                return progress
            }
            guard canWrite else { return progress }
            let n: Int
            let pending = outBuf.readable
            if pending > 0 && avail <= Self.coalesceLimit && pending + avail <= pool.bufferSize - outBuf.readIndex {
                // A small body joins the head in one buffer: one send(2) with one region is
                // measurably cheaper than sendmsg(2) with two (most responses of a shop's API
                // are a few hundred bytes).
                (outBuf.base! + outBuf.writeIndex).copyMemory(from: up.inBuf.readPointer, byteCount: avail)
                outBuf.writeIndex += avail
                consumeResponseBody(up, avail)
                bytesOut &+= UInt64(avail)
                let r = flushOut()
                if r < 0 { abort(); return true }
                progress = true
                touch(up)
                continue
            }
            if pending > 0 {
                n = Sys.writev2(fd, outBuf.readPointer, pending, up.inBuf.readPointer, avail)
            } else {
                n = Sys.write(fd, up.inBuf.readPointer, avail)
            }
            if n < 0 {
                canWrite = false
                if n == -Int(EAGAIN) { return progress }
                log("client write failed: \(Sys.errorString(Int32(-n)))")
                abort()
                return true
            }
            let headPart = min(n, pending)
            outBuf.consume(headPart)
            consumeResponseBody(up, n - headPart)
            bytesOut &+= UInt64(n - headPart)
            if n < pending + avail { canWrite = false }
            progress = true
            touch(up)
        }
        return progress
    }

    /// Response-body bytes at the front of the upstream's buffer that may go to the client now.
    /// In dechunk mode (HTTP/1.0 client, chunked response) framing bytes are dropped here.
    private func responseBodyAvailable(_ up: UpstreamConnection) -> Int {
        switch respKind {
        case .none:
            respDone = true
            return 0
        case .length:
            let n = Int(min(UInt64(up.inBuf.readable), respRemaining))
            return n
        case .untilClose:
            return up.inBuf.readable
        case .chunked:
            if respPending > 0 { return respPending }
            if respDecoder.isDone { respDone = true; return 0 }
            // A read that found nothing returns the buffer to the pool: nothing to decode yet.
            guard up.inBuf.hasStorage else { return 0 }
            var off = 0
            let bytes = up.inBuf.readBytes
            while off < bytes.count {
                switch respDecoder.decode(UnsafeRawBufferPointer(rebasing: bytes[off...])) {
                case .data(let n):
                    if dechunk {
                        if off > 0 { up.inBuf.consume(off) }
                        respPending = n
                        return n
                    }
                    off += n
                case .framing(let n):
                    off += n
                case .done(let n):
                    off += n
                    if dechunk { up.inBuf.consume(off); respDone = true; return 0 }
                    respPending = off
                    return off
                case .error(let e):
                    log("upstream \(up.server.description) sent a malformed chunked body: \(e.reason.description)")
                    abort()
                    return -1
                }
            }
            if dechunk {
                up.inBuf.consume(off)
                return 0
            }
            respPending = off
            return off
        }
    }

    private func consumeResponseBody(_ up: UpstreamConnection, _ n: Int) {
        guard n > 0 else { return }
        up.inBuf.consume(n)
        switch respKind {
        case .length:
            respRemaining -= UInt64(n)
            if respRemaining == 0 { respDone = true }
        case .chunked:
            respPending -= n
            if respPending == 0 && respDecoder.isDone { respDone = true }
        default:
            break
        }
    }

    private func handleResponseHead(_ up: UpstreamConnection) {
        let status = worker.responseHead.status
        let hl = worker.responseHead.headLength
        if status >= 100 && status < 200 && status != 101 {
            // Interim response (100 Continue, 103 Early Hints): relay to HTTP/1.1 clients.
            if outBuf.readable + hl > pool.bufferSize {
                respondError(502, "the upstream sent more interim responses than the client reads")
                return
            }
            if clientMinor >= 1 {
                outBuf.append(up.inBuf.readPointer, hl, pool: pool)
            }
            up.inBuf.consume(hl)
            up.scanFrom = 0
            return
        }
        if status == 101 {
            guard isUpgradeRequest else {
                respondError(502, "the upstream switched protocols without an upgrade request")
                return
            }
            guard writeClientHead(up, connection: .upgrade) else { return }
            up.inBuf.consume(hl)
            up.scanFrom = 0
            releaseFwdHead()
            respHeadDone = true
            state = .tunnel
            shutClientWrite = false
            shutUpstreamWrite = false
            return
        }
        respHeadDone = true
        responseStatus = status
        upstreamKeepAlive = worker.responseHead.keepAlive
        switch worker.responseHead.framing {
        case .none:
            respKind = .none
        case .contentLength(let n):
            respKind = n == 0 ? .none : .length
            respRemaining = n
        case .chunked:
            respKind = .chunked
            respDecoder = ChunkedDecoder()
            respPending = 0
            if clientMinor == 0 { dechunk = true; closeAfter = true }
        case .untilClose:
            respKind = .untilClose
            closeAfter = true
        }
        if !clientKeepAlive || !reqDone || eof || worker.draining { closeAfter = true }
        let conn: HeadRewriter.ConnectionHeader = closeAfter ? .close : (clientMinor == 0 ? .keepAlive : .none)
        guard writeClientHead(up, connection: conn) else { return }
        up.inBuf.consume(hl)
        up.scanFrom = 0
        if fwdHeadSent == fwdHeadLen { releaseFwdHead() }
    }

    private func writeClientHead(_ up: UpstreamConnection, connection: HeadRewriter.ConnectionHeader) -> Bool {
        outBuf.ensure(pool)
        outBuf.compact()
        var w = ByteWriter(outBuf.base! + outBuf.writeIndex, capacity: pool.bufferSize - outBuf.writeIndex)
        // A shopper not (or no longer) stuck to the pool that answered gets a cookie for it.
        var setCookie: [UInt8]?
        if stickyPool != -1, Int(stickyPool) != poolIndex, connection != .upgrade, let sticky = worker.snapshot.sticky {
            setCookie = worker.stickyRouter.setCookieLine(sticky, pool: poolIndex, poolName: worker.poolName(poolIndex),
                                                          epoch: worker.snapshot.stickyEpoch)
        }
        let ok = HeadRewriter.writeResponse(worker.responseHead, from: up.inBuf.readBytes, connection: connection,
                                            dropTransferEncoding: dechunk, extraLine: setCookie, into: &w)
        guard ok else {
            respHeadDone = false
            respondError(502, "the upstream response head is too large to forward")
            return false
        }
        outBuf.writeIndex += w.count
        return true
    }

    /// The response is complete: return the upstream connection to its pool if it is clean,
    /// then either wait for the next request or close.
    func finishExchange() {
        if let s = server {
            let now = worker.loop.now
            s.counters.response(status: responseStatus, latencyUS: (now &- requestStart) / 1000, now: now)
            let on5xx = poolIndex < worker.poolEjectOn5xx.count && worker.poolEjectOn5xx[poolIndex]
            worker.reportOutcome(s, failure: on5xx && responseStatus >= 500 ? "HTTP \(responseStatus)" : nil,
                                 startedNS: requestStart, probe: isProbe)
            if worker.accessLog != nil { logAccess(status: responseStatus, bytes: bytesOut, server: s) }
        }
        if let up = upstream {
            let reusable = upstreamKeepAlive && respKind != .untilClose && reqDone
                && fwdHeadSent == fwdHeadLen && up.inBuf.readable == 0 && !up.eof
            detachUpstream(reusable: reusable)
        }
        releaseFwdHead()
        if closeAfter || !reqDone || worker.draining {
            state = .closing
            worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
            return
        }
        state = .idle
        worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
    }

    // MARK: tunnel (after 101 Switching Protocols)

    func pumpTunnel() -> Bool {
        guard let up = upstream else { close(); return false }
        var progress = false
        // Generated bytes (the 101 head) first.
        if outBuf.readable > 0 {
            let r = flushOut()
            if r < 0 { abort(); return false }
            if outBuf.readable > 0 { return r > 0 }
            progress = true
        }
        // client -> upstream
        while !shutUpstreamWrite {
            if inBuf.readable == 0 {
                let r = readClient()
                if r > 0 { progress = true; continue }
                if r < 0 { Sys.shutdownWrite(up.fd); shutUpstreamWrite = true; progress = true }
                break
            }
            guard up.canWrite else { break }
            let n = Sys.write(up.fd, inBuf.readPointer, inBuf.readable)
            if n < 0 {
                up.canWrite = false
                if n == -Int(EAGAIN) { break }
                abort(); return false
            }
            let wanted = inBuf.readable
            inBuf.consume(n)
            progress = true
            if n < wanted { up.canWrite = false; break }
        }
        // upstream -> client
        while !shutClientWrite {
            if up.inBuf.readable == 0 {
                let r = up.readSome()
                if r > 0 { progress = true; continue }
                if r < 0 { Sys.shutdownWrite(fd); shutClientWrite = true; progress = true }
                break
            }
            guard canWrite else { break }
            let n = Sys.write(fd, up.inBuf.readPointer, up.inBuf.readable)
            if n < 0 {
                canWrite = false
                if n == -Int(EAGAIN) { break }
                abort(); return false
            }
            let wanted = up.inBuf.readable
            up.inBuf.consume(n)
            progress = true
            if n < wanted { canWrite = false; break }
        }
        if shutUpstreamWrite && shutClientWrite {
            close()
            return false
        }
        if progress {
            worker.loop.setTimeout(self, ms: worker.timeouts.clientIdle)
            worker.loop.setTimeout(up, ms: worker.timeouts.clientIdle)
        }
        up.inBuf.releaseIfEmpty(pool)
        return progress
    }
}
