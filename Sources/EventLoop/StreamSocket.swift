import Glibc

/// A connected, non-blocking stream socket registered with a loop: its receive buffer, its
/// readiness (edge-triggered, so remembered here until a call finds EAGAIN), and the loop's
/// batched receives and sends. The proxy's client and upstream connections and the origin's
/// connections are subclasses; they decide what to do with the bytes, this decides how they move.
open class StreamSocket: Selectable {
    public unowned(unsafe) let loop: EventLoop
    /// Bytes received and not consumed yet (a pooled buffer, taken only while it holds some).
    public final var input = IOBuffer()
    /// The last readiness edge said readable, and no receive has found the socket empty since.
    public final var canRead = false
    /// The socket takes bytes: no send has come back short or with EAGAIN since the last
    /// writable edge, and no send of the loop's batch is queued for it.
    public final var canWrite: Bool
    /// The stream ended (the peer's FIN) or failed; no receive will give bytes again.
    public final var eof = false
    /// It ended with an error (a reset, ...) rather than a clean FIN.
    public final var receiveFailed = false
    /// An event said the peer hung up (or the socket errored): after the bytes still queued, a
    /// receive finds the end, and no further edge will announce it, so a short read does not
    /// end reading.
    public final var peerHungUp = false
    /// A batched receive's end or error, kept for the next `receive()` so it comes in order.
    private final var pendingReceive = Int.min

    /// `writable`: false for a connect still in progress.
    public init(loop: EventLoop, socket: Socket, writable: Bool = true) {
        self.loop = loop
        self.canWrite = writable
        super.init()
        self.fd = socket.descriptor
    }

    /// Records an epoll event's readiness (a queued send decides `canWrite` by its result).
    /// Inlinable: it runs on every event of every connection.
    @inlinable
    public final func noteReadiness(_ events: UInt32) {
        if events & (Events.readable | Events.readHangup | Events.hangup | Events.error) != 0 { canRead = true }
        if events & (Events.readHangup | Events.hangup | Events.error) != 0 { peerHungUp = true }
        if events & (Events.writable | Events.error | Events.hangup) != 0 && !sendQueued { canWrite = true }
    }

    // MARK: receiving

    /// Whether a readable event may receive into `input` at once, in the loop's batch: true
    /// where the next bytes are awaited on the hot path (a request head, a response).
    open var acceptsBatchedReceive: Bool { false }

    public final override func recvTarget() -> UnsafeMutableRawBufferPointer? {
        guard acceptsBatchedReceive, !eof, pendingReceive == Int.min else { return nil }
        let space = input.prepareForRead(loop.buffers)
        return space == 0 ? nil : UnsafeMutableRawBufferPointer(start: input.base! + input.writeIndex, count: space)
    }

    /// A batched receive's result applied as `receive()` would have: bytes join `input`; a short
    /// read or EAGAIN means the socket is empty (true: its event needs no readable bit); an end
    /// or error waits in `pendingReceive` for the next `receive()`.
    public final override func recvCompleted(_ n: Int, requested: Int) -> Bool {
        if n > 0 {
            input.writeIndex += n
            canRead = n == requested
            return n < requested
        }
        if n == -Int(EAGAIN) {
            canRead = false
            input.releaseIfEmpty(loop.buffers)
            return true
        }
        pendingReceive = n
        return false
    }

    /// Receives into `input` while readable and with room: `.bytes`; `.wouldBlock` when the
    /// socket is empty (or not readable, or `input` is full); `.end` or `.failed` once the
    /// stream is over (`eof` set; every later call gives `.end`). An empty `input` goes back to
    /// the pool when nothing came. A short read ends `canRead` (edge-triggered: the next arrival
    /// brings an event), unless the peer hung up: then the next call finds the end.
    public final func receive() -> IOResult {
        if eof { return .end }
        guard canRead else { return .wouldBlock }
        let space = input.prepareForRead(loop.buffers)
        let result: IOResult
        if pendingReceive != Int.min {
            result = IOResult(read: pendingReceive)
            pendingReceive = Int.min
        } else if space == 0 {
            return .wouldBlock
        } else {
            result = socket.receive(into: input.base! + input.writeIndex, count: space)
        }
        switch result {
        case .bytes(let n):
            input.writeIndex += n
            if n < space && !peerHungUp { canRead = false }
        case .wouldBlock:
            canRead = false
            input.releaseIfEmpty(loop.buffers)
        case .end, .failed:
            if case .failed = result { receiveFailed = true }
            eof = true
            canRead = false
            input.releaseIfEmpty(loop.buffers)
        }
        return result
    }

    // MARK: sending

    /// Sends `count` bytes at `bytes`. With `batched`, the send may join the loop's batch
    /// instead: then the answer is `.wouldBlock`, the bytes must stay put, nothing else may be
    /// written, and the result comes to `sent(_:requested:)`. `canWrite` follows the result.
    @inline(__always)
    public final func send(_ bytes: UnsafeRawPointer, count: Int, batched: Bool = false) -> IOResult {
        if batched && loop.queueSend(self, bytes, count) {
            canWrite = false
            return .wouldBlock
        }
        return noteSent(socket.send(bytes, count: count), requested: count)
    }

    /// One gathering send of two regions (generated bytes, then bytes relayed from the peer).
    @inline(__always)
    public final func send(_ first: UnsafeRawPointer, count firstCount: Int, then second: UnsafeRawPointer, count secondCount: Int) -> IOResult {
        noteSent(socket.send(first, count: firstCount, then: second, count: secondCount), requested: firstCount + secondCount)
    }

    @inline(__always)
    private func noteSent(_ result: IOResult, requested: Int) -> IOResult {
        switch result {
        case .bytes(let n): if n < requested { canWrite = false }
        case .wouldBlock, .failed, .end: canWrite = false
        }
        return result
    }

    public final override func sendCompleted(_ n: Int, requested: Int) {
        let result = IOResult(write: n)
        switch result {
        case .bytes(let k): canWrite = k == requested
        case .wouldBlock: canWrite = false
        case .end, .failed: break
        }
        sent(result, requested: requested)
    }

    /// The result of a batched send (`send(_:count:batched: true)`), `canWrite` already updated.
    open func sent(_ result: IOResult, requested: Int) {}

    /// Sends FIN; receiving goes on.
    public final func shutdownWrite() { socket.shutdownWrite() }

    /// Closes the socket and leaves the loop (`abortive`: with a reset); returns `input`.
    public final func closeSocket(abortive: Bool = false) {
        input.release(loop.buffers)
        loop.close(self, abortive: abortive)
    }
}
