import EventLoop
import HTTP1

/// A connection to an upstream server. While a request is on it, every event goes to its
/// client's state machine; while idle in the server's keep-alive pool, any readability means the
/// server closed it (or misbehaved), so it is closed and dropped from the pool.
final class UpstreamConnection: StreamSocket {
    unowned(unsafe) let worker: Worker
    let server: UpstreamServer
    var connecting: Bool
    /// Served at least one request before: a failure before any response byte may be the
    /// keep-alive race (server closed it just as we sent), which is safe to retry for idempotent requests.
    var reused = false
    var client: ClientConnection?
    var idleIndex = -1
    /// Where findHeadEnd should resume.
    var scanFrom = 0

    init(worker: Worker, server: UpstreamServer, socket: Socket, connecting: Bool) {
        self.worker = worker
        self.server = server
        self.connecting = connecting
        super.init(loop: worker.loop, socket: socket, writable: !connecting)
        server.openConnections += 1
    }

    override func handleEvents(_ events: UInt32) {
        noteReadiness(events)
        if let c = client {
            c.upstreamEvent(self)
        } else if events & (Events.readable | Events.readHangup | Events.hangup | Events.error) != 0 {
            // Idle in the pool: the server closed it, sent garbage, or errored. Drop it.
            worker.discardIdle(self)
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
    override var acceptsBatchedReceive: Bool {
        guard let c = client else { return false }
        return c.state == .forwarding && !connecting && input.readable == 0
    }

    override func sent(_ result: IOResult, requested: Int) {
        client?.requestHeadSent(self, result)
    }

    /// Completes a non-blocking connect once writable; returns 0 or the socket error.
    func finishConnect() -> Int32 {
        let e = socket.connectError()
        if e == 0 { connecting = false }
        return e
    }

    override func loopWillClose() {
        server.removeIdle(self)
        input.release(loop.buffers)
        client = nil
    }

    func close(abortive: Bool = false) {
        if isClosed { return }
        server.openConnections -= 1
        server.removeIdle(self)
        client = nil
        closeSocket(abortive: abortive)
    }
}
