import EventLoop
import HTTP1

/// The request direction: the forwarded head, then the request body, from the client's
/// `input` to the upstream, as far as both sides allow.
extension ClientConnection {
    func pumpRequest() -> Bool {
        // The body keeps flowing after the response head (full duplex: echo and streaming
        // endpoints answer before reading everything); a response that completes first ends
        // the exchange and the connection (finishExchange), which stops this direction.
        guard let up = exchange.upstream, !up.connecting else { return false }
        var progress = false
        if exchange.forwardedHeadPending {
            guard up.canWrite else { return false }
            switch sendForwardedHead(up) {
            case .moved: progress = true
            case .blocked: return false
            case .ended: return true
            }
            if exchange.forwardedHeadPending { return true }
        }
        return forwardRequestBody(up) || progress
    }

    /// What one step of moving bytes did.
    enum PumpStep {
        /// Bytes moved: try again.
        case moved
        /// Waiting for readiness (or a batched send's result).
        case blocked
        /// The exchange ended or changed (an error answered, a retry started, the connection cut).
        case ended
    }

    /// Sends (the rest of) the forwarded head, with the first body bytes when some are ready.
    /// A head alone may join the loop's batch (`requestHeadSent` continues).
    private func sendForwardedHead(_ up: UpstreamConnection) -> PumpStep {
        guard case .bytes(let body) = requestBodyAvailable() else { return .ended }
        let head = exchange.forwardedHead! + exchange.forwardedHeadSent
        let headLeft = exchange.forwardedHeadLength - exchange.forwardedHeadSent
        let result = body > 0
            ? up.send(head, count: headLeft, then: input.readPointer, count: body)
            : up.send(head, count: headLeft, batched: true)
        switch result {
        case .bytes(let n):
            let headPart = min(n, headLeft)
            exchange.forwardedHeadSent += headPart
            requestBodyMoved(n - headPart)
            touch(up)
            return .moved
        case .wouldBlock:
            return .blocked
        case .end, .failed:
            upstreamFailed(up, reason: "write failed: \(result.reason)")
            return .ended
        }
    }

    private func forwardRequestBody(_ up: UpstreamConnection) -> Bool {
        var progress = false
        while !exchange.request.done {
            guard case .bytes(let avail) = requestBodyAvailable() else { return true }
            if avail == 0 {
                switch receive() {
                case .bytes:
                    progress = true
                    continue
                case .end, .failed:
                    log("client closed the connection during the request body")
                    abort()
                    return true
                case .wouldBlock:
                    return progress
                }
            }
            guard up.canWrite else { break }
            let result = up.send(input.readPointer, count: avail)
            switch result {
            case .bytes(let n):
                requestBodyMoved(n)
                progress = true
                touch(up)
                if n < avail { return progress }
            case .wouldBlock:
                return progress
            case .end, .failed:
                upstreamFailed(up, reason: "write failed: \(result.reason)")
                return true
            }
        }
        return progress
    }

    /// Validated request-body bytes at the front of `input`, ready to forward; a framing error
    /// or an oversized body is answered here (then not `.bytes`).
    private func requestBodyAvailable() -> IOResult {
        switch exchange.request.available(in: &input) {
        case .bytes(let n):
            return .bytes(n)
        case .malformed(let e):
            respondError(e.status, "request body: \(e.reason.description)")
        case .tooLarge:
            respondError(413, "the request body is larger than the limit")
        }
        return .end
    }

    private func requestBodyMoved(_ n: Int) {
        guard n > 0 else { return }
        input.consume(n)
        exchange.request.moved(n)
    }

    /// The result of `sendForwardedHead`'s batched send of the head.
    func requestHeadSent(_ up: UpstreamConnection, _ result: IOResult) {
        guard up === exchange.upstream else { return }
        switch result {
        case .bytes(let n):
            exchange.forwardedHeadSent += n
            touch(up)
        case .wouldBlock:
            break
        case .end, .failed:
            upstreamFailed(up, reason: "write failed: \(result.reason)")
        }
        drive()
    }
}
