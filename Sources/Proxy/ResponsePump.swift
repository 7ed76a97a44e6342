import EventLoop
import HTTP1

/// The response direction: the upstream's head (parsed, rewritten into `output`), then its
/// body, relayed to the client as far as both sides allow.
extension ClientConnection {
    /// Response bodies up to this size (available at once after the head) are copied behind the
    /// head and sent with it in one plain send.
    static let coalesceLimit = 2048

    func pumpResponse() -> Bool {
        guard let up = exchange.upstream, !up.connecting else { return false }
        var progress = false
        while state == .forwarding {
            switch exchange.responseHeadDone ? relayResponseBody(up) : readResponseHead(up) {
            case .moved: progress = true
            case .blocked: return progress
            case .ended: return true
            }
        }
        return progress
    }

    // MARK: head

    private func readResponseHead(_ up: UpstreamConnection) -> PumpStep {
        if up.input.readable > 0 {
            let bytes = up.input.readBytes
            if worker.parser.findHeadEnd(bytes, from: up.scanFrom) != nil {
                switch worker.parser.parseResponse(bytes, requestMethod: exchange.method, into: &worker.responseHead) {
                case .complete:
                    handleResponseHead(up)
                    return .moved
                case .error(let e):
                    respondError(502, "the upstream sent a malformed response: \(e.reason.description)")
                case .incomplete:
                    respondError(502, "the upstream sent a malformed response head")
                }
                return .ended
            }
            up.scanFrom = max(0, bytes.count - 3)
            if bytes.count >= worker.limits.headerBytes {
                respondError(502, "the upstream response head is larger than the limit")
                return .ended
            }
        }
        if let step = receiveResponse(up) { return step }
        if up.input.readable == 0 {
            upstreamFailed(up, reason: "connection closed")
        } else {
            respondError(502, "the upstream closed the connection inside the response head")
        }
        return .ended
    }

    /// Reads more of the response from the upstream; nil once its stream ended (what that means
    /// depends on where in the response it happened).
    @inline(__always)
    private func receiveResponse(_ up: UpstreamConnection) -> PumpStep? {
        switch up.receive() {
        case .bytes:
            touch(up)
            return .moved
        case .wouldBlock:
            return .blocked
        case .end, .failed:
            return nil
        }
    }

    private func handleResponseHead(_ up: UpstreamConnection) {
        let status = worker.responseHead.status
        let length = worker.responseHead.headLength
        if status >= 100 && status < 200 && status != 101 {
            // Interim response (100 Continue, 103 Early Hints): relay to HTTP/1.1 clients.
            if output.readable + length > pool.bufferSize {
                respondError(502, "the upstream sent more interim responses than the client reads")
                return
            }
            if exchange.clientMinor >= 1 {
                output.append(up.input.readPointer, length, pool: pool)
            }
            up.input.consume(length)
            up.scanFrom = 0
            return
        }
        if status == 101 {
            guard exchange.isUpgradeRequest else {
                respondError(502, "the upstream switched protocols without an upgrade request")
                return
            }
            guard writeClientHead(up, connection: .upgrade) else { return }
            up.input.consume(length)
            up.scanFrom = 0
            releaseForwardedHead()
            exchange.responseHeadDone = true
            state = .tunnel
            return
        }
        exchange.responseHeadDone = true
        exchange.status = status
        exchange.upstreamKeepAlive = worker.responseHead.keepAlive
        let framing = worker.responseHead.framing
        // An HTTP/1.0 client cannot take chunked framing: the body goes out bare, delimited by close.
        let dechunk = framing == .chunked && exchange.clientMinor == 0
        exchange.response = BodyFramer(framing, dechunk: dechunk)
        exchange.closeAfter = dechunk || framing == .untilClose
            || !exchange.clientKeepAlive || !exchange.request.done || eof || worker.draining
        let conn: HeadRewriter.ConnectionHeader = exchange.closeAfter ? .close : (exchange.clientMinor == 0 ? .keepAlive : .none)
        guard writeClientHead(up, connection: conn) else { return }
        up.input.consume(length)
        up.scanFrom = 0
        if !exchange.forwardedHeadPending { releaseForwardedHead() }
    }

    private func writeClientHead(_ up: UpstreamConnection, connection: HeadRewriter.ConnectionHeader) -> Bool {
        output.ensure(pool)
        output.compact()
        var w = ByteWriter(output.base! + output.writeIndex, capacity: pool.bufferSize - output.writeIndex)
        // A shopper not (or no longer) stuck to the pool that answered gets a cookie for it.
        var setCookie: [UInt8]?
        let p = exchange.poolIndex
        if exchange.stickyPool != -1, Int(exchange.stickyPool) != p, connection != .upgrade, let sticky = worker.snapshot.sticky {
            setCookie = worker.stickyRouter.setCookieLine(sticky, pool: p, poolName: worker.poolName(p),
                                                          epoch: worker.snapshot.stickyEpoch)
        }
        let ok = HeadRewriter.writeResponse(worker.responseHead, from: up.input.readBytes, connection: connection,
                                            dropTransferEncoding: exchange.response.dechunk, extraLine: setCookie, into: &w)
        guard ok else {
            exchange.responseHeadDone = false
            respondError(502, "the upstream response head is too large to forward")
            return false
        }
        output.writeIndex += w.count
        return true
    }

    // MARK: body

    /// Generated bytes (the head) go first; the first body bytes share its syscall.
    private func relayResponseBody(_ up: UpstreamConnection) -> PumpStep {
        if exchange.response.done {
            finishExchange()
            return .ended
        }
        let avail: Int
        switch exchange.response.available(in: &up.input) {
        case .bytes(let n):
            avail = n
        case .malformed(let e):
            log("upstream \(up.server.description) sent a malformed chunked body: \(e.reason.description)")
            abort()
            return .ended
        case .tooLarge:
            abort()   // responses have no limit; kept for completeness
            return .ended
        }
        if avail == 0 { return awaitResponseBody(up) }
        guard canWrite else { return .blocked }
        return sendResponseBody(up, avail)
    }

    /// Nothing of the body to send: flush the head, or read more from the upstream.
    private func awaitResponseBody(_ up: UpstreamConnection) -> PumpStep {
        if exchange.response.done { return .moved }
        if output.readable > 0 {
            if !canWrite { return .blocked }
            switch flushOut() {
            case .bytes(let n): return n > 0 ? .moved : .blocked
            case .wouldBlock: return .blocked
            case .end, .failed:
                abort()
                return .ended
            }
        }
        if let step = receiveResponse(up) { return step }
        if exchange.response.kind == .untilClose && !up.receiveFailed {
            exchange.response.endedByClose()   // a clean close ends a close-delimited body
            return .moved
        }
        up.server.counters.abort(now: worker.loop.now)
        worker.reportOutcome(up.server, failure: "closed mid-response", startedNS: exchange.start, probe: exchange.isProbe)
        log("upstream \(up.server.description) closed the connection mid-response; cutting the client connection")
        abort()
        return .ended
    }

    private func sendResponseBody(_ up: UpstreamConnection, _ avail: Int) -> PumpStep {
        let pending = output.readable
        if pending > 0 && avail <= Self.coalesceLimit && pending + avail <= pool.bufferSize - output.readIndex {
            // A small body joins the head in one buffer: one send(2) with one region is
            // measurably cheaper than sendmsg(2) with two (most responses of a shop's API
            // are a few hundred bytes).
            (output.base! + output.writeIndex).copyMemory(from: up.input.readPointer, byteCount: avail)
            output.writeIndex += avail
            responseBodyMoved(up, avail)
            if flushOut().isFinal {
                abort()
                return .ended
            }
            touch(up)
            return .moved
        }
        let result = pending > 0
            ? self.send(output.readPointer, count: pending, then: up.input.readPointer, count: avail)
            : self.send(up.input.readPointer, count: avail)
        switch result {
        case .bytes(let n):
            let headPart = min(n, pending)
            output.consume(headPart)
            responseBodyMoved(up, n - headPart)
            touch(up)
            return .moved
        case .wouldBlock:
            return .blocked
        case .end, .failed:
            log("client write failed: \(result.reason)")
            abort()
            return .ended
        }
    }

    @inline(__always)
    private func responseBodyMoved(_ up: UpstreamConnection, _ n: Int) {
        guard n > 0 else { return }
        up.input.consume(n)
        exchange.response.moved(n)
        exchange.bytesOut &+= UInt64(n)
    }
}
