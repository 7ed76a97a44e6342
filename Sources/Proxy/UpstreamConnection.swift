import EventLoop
import HTTP1
import Glibc

/// A connection to an upstream server. While a request is on it, every event goes to its
/// client's state machine; while idle in the server's keep-alive pool, any readability means the
/// server closed it (or misbehaved), so it is closed and dropped from the pool.
final class UpstreamConnection: Selectable {
    unowned(unsafe) let worker: Worker
    let server: UpstreamServer
    var inBuf = IOBuffer()
    var canRead = false
    var canWrite = false
    var connecting = true
    var eof = false
    /// A batched receive's end of stream or error (`recvCompleted`), for the next `readSome`.
    var pendingRecv = Int.min
    /// The connection ended with an error (e.g. a reset) rather than a clean FIN.
    var failed = false
    /// Served at least one request before: a failure before any response byte may be the
    /// keep-alive race (server closed it just as we sent), which is safe to retry for idempotent requests.
    var reused = false
    var client: ClientConnection?
    var idleIndex = -1
    /// Where findHeadEnd should resume.
    var scanFrom = 0

    init(worker: Worker, server: UpstreamServer, fd: Int32, connecting: Bool) {
        self.worker = worker
        self.server = server
        self.connecting = connecting
        self.canWrite = !connecting
        super.init()
        self.fd = fd
        server.openConnections += 1
    }

    override func handleEvents(_ events: UInt32) {
        if events & (Events.readable | Events.readHangup | Events.hangup | Events.error) != 0 { canRead = true }
        // While a send is queued nothing else may be written: its result decides canWrite.
        if events & (Events.writable | Events.error | Events.hangup) != 0 && !sendQueued { canWrite = true }
        if let c = client {
            c.upstreamEvent(self)
        } else {
            // Idle in the pool: the server closed it, sent garbage, or errored. Drop it.
            if events & (Events.readable | Events.readHangup | Events.hangup | Events.error) != 0 {
                worker.discardIdle(self)
            }
        }
    }

    override func handleTimeout() {
        if let c = client {
            c.upstreamTimeout(self)
        } else {
            worker.discardIdle(self)   // idle longer than `timeout upstream-idle`
        }
    }

    /// Batched receives only for a response awaited with nothing buffered (the hot path).
    override func recvTarget() -> UnsafeMutableRawBufferPointer? {
        guard let c = client, c.state == .forwarding, !connecting, !eof, pendingRecv == Int.min,
              inBuf.readable == 0 else { return nil }
        let space = inBuf.prepareForRead(worker.loop.buffers)   // empty: the whole buffer
        return UnsafeMutableRawBufferPointer(start: inBuf.base! + inBuf.writeIndex, count: space)
    }

    override func recvCompleted(_ n: Int, requested: Int) -> Bool {
        let drained = applyBatchedReceive(n, requested: requested, to: &inBuf, canRead: &canRead, pending: &pendingRecv)
        if n == -Int(EAGAIN) { inBuf.releaseIfEmpty(worker.loop.buffers) }   // as readSome does
        return drained
    }

    override func sendCompleted(_ n: Int, requested: Int) {
        client?.requestHeadSent(self, n, requested: requested)
    }

    /// Completes a non-blocking connect once writable; returns 0 or the socket error.
    func finishConnect() -> Int32 {
        let e = Sys.socketError(fd)
        if e == 0 { connecting = false }
        return e
    }

    /// Reads into inBuf when there is room; returns bytes read (0 if none), -1 on EOF/error.
    func readSome() -> Int {
        guard canRead, !eof else { return 0 }
        let pool = worker.loop.buffers
        let space = inBuf.prepareForRead(pool)
        guard let n = nextReceive(fd, inBuf, space: space, pending: &pendingRecv) else { return 0 }
        if n > 0 {
            inBuf.writeIndex += n
            if n < space { canRead = false }
            return n
        }
        if n == -Int(EAGAIN) { canRead = false; inBuf.releaseIfEmpty(pool); return 0 }
        if n < 0 { failed = true }   // reset or error: not a clean end of a close-delimited body
        eof = true
        canRead = false
        inBuf.releaseIfEmpty(pool)
        return -1
    }

    override func loopWillClose() {
        server.removeIdle(self)
        inBuf.release(worker.loop.buffers)
        client = nil
    }

    func close(abortive: Bool = false) {
        if isClosed { return }
        server.openConnections -= 1
        server.removeIdle(self)
        inBuf.release(worker.loop.buffers)
        client = nil
        worker.loop.close(self, abortive: abortive)
    }
}

/// A batched receive's result (`Selectable.recvCompleted`) applied to a connection's read state,
/// as its own recv(2) would have: bytes join the buffer; a short read or EAGAIN means the socket
/// is empty (true: its event needs no readable bit); an end of stream or an error is kept in
/// `pending` for the connection's next read, so it is reported in order.
@inline(__always)
func applyBatchedReceive(_ n: Int, requested: Int, to buffer: inout IOBuffer, canRead: inout Bool, pending: inout Int) -> Bool {
    if n > 0 {
        buffer.writeIndex += n
        canRead = n == requested
        return n < requested
    }
    if n == -Int(EAGAIN) {
        canRead = false
        return true
    }
    pending = n
    return false
}

/// The next read's result, as recv(2) gives it: first an end or error a batched receive kept in
/// `pending`, else a recv(2) into the buffer's free space (nil when it has none).
@inline(__always)
func nextReceive(_ fd: Int32, _ buffer: IOBuffer, space: Int, pending: inout Int) -> Int? {
    if pending != Int.min {
        defer { pending = Int.min }
        return pending
    }
    if space == 0 { return nil }
    return Sys.recv(fd, buffer.base! + buffer.writeIndex, space)
}
