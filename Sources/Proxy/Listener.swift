import EventLoop
import Glibc

/// A loop's own SO_REUSEPORT listening socket. Accepts until EAGAIN (edge-triggered), pauses
/// when the loop is at its connection limit or the process is out of descriptors.
final class Listener: Selectable {
    unowned(unsafe) let worker: Worker
    let address: SocketAddress
    var paused = false
    private var pendingAccept = false
    private var peer = sockaddr_storage()

    init(worker: Worker, fd: Int32, address: SocketAddress) {
        self.worker = worker
        self.address = address
        super.init()
        self.fd = fd
    }

    override func handleEvents(_ events: UInt32) {
        pendingAccept = true
        acceptAll()
    }

    override func handleTimeout() {
        // EMFILE back-off ended.
        paused = false
        acceptAll()
    }

    func resume() {
        guard paused, deadline == 0 else { return }
        paused = false
        acceptAll()
    }

    /// Accepts whatever is queued, then closes: the kernel resets connections still queued on a
    /// closed SO_REUSEPORT listener, so we take them first (they are served, with
    /// `Connection: close` when draining).
    ///
    /// Linux resets a connection that completes its handshake between the last accept and the
    /// close, and offers no way to close a listener without that race. Shrinking the backlog to 0
    /// first makes it at most one connection: further SYNs are dropped, and their clients retry
    /// a second later and find the port closed (refused, not reset).
    func closeAfterSweep() {
        Sys.setBacklog(fd, 0)
        pendingAccept = true
        paused = false
        acceptAll(ignoringLimit: true)
        worker.loop.close(self)
    }

    private func acceptAll(ignoringLimit: Bool = false) {
        guard !isClosed else { return }
        while pendingAccept && !paused {
            if worker.clientCount >= worker.maxClients && !ignoringLimit {
                paused = true   // resumed by Worker.clientClosed
                return
            }
            let cfd = Sys.accept(fd, &peer)
            if cfd >= 0 {
                Sys.setNoDelay(cfd)
                let addr = SocketAddress(storage: peer, length: socklen_t(MemoryLayout<sockaddr_storage>.size))
                ClientConnection.start(worker: worker, fd: cfd, peer: addr)
                continue
            }
            switch -cfd {
            case EAGAIN:
                pendingAccept = false
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                // Out of descriptors or memory: back off instead of spinning on a ready listener.
                Log.warn("worker \(worker.loop.index): accept on \(address.description): \(Sys.errorString(-cfd)); pausing accepts for 100 ms")
                paused = true
                worker.loop.setTimeout(self, ms: 100)
                return
            default:
                Log.warn("worker \(worker.loop.index): accept: \(Sys.errorString(-cfd))")
                pendingAccept = false
            }
        }
    }
}
