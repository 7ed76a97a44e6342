import Glibc

/// A listening socket registered with a loop: the one accept loop. It accepts until EAGAIN
/// (edge-triggered), backs off for 100 ms when the process is out of descriptors or memory
/// (no new edge comes while the queue stays full, so a timer retries), and pauses while its
/// owner says it may not take more (a connection limit) until `resume()`.
open class Acceptor: Selectable {
    public unowned(unsafe) let loop: EventLoop
    /// TCP: accepted sockets get TCP_NODELAY (responses are written whole, never dribbled).
    private let noDelay: Bool
    public private(set) final var paused = false
    /// An edge arrived and the queue has not been found empty since.
    private var pending = false
    private var ignoringLimit = false

    public init(loop: EventLoop, socket: Socket, noDelay: Bool = true) {
        self.loop = loop
        self.noDelay = noDelay
        super.init()
        self.fd = socket.descriptor
    }

    /// Takes one accepted connection (already non-blocking and close-on-exec).
    open func accepted(_ socket: Socket, peer: SocketAddress) {}

    /// False to stop accepting for now (the owner calls `resume()` when it may take more).
    open var mayAccept: Bool { true }

    /// An accept failed with `errno`; `backingOff`: out of descriptors or memory, retried in 100 ms.
    open func acceptFailed(_ errno: Int32, backingOff: Bool) {}

    public final override func handleEvents(_ events: UInt32) {
        pending = true
        acceptAll()
    }

    public final override func handleTimeout() {
        paused = false   // the back-off ended
        acceptAll()
    }

    /// Accepting may go on (after `mayAccept` was false).
    public final func resume() {
        guard paused, deadline == 0 else { return }
        paused = false
        acceptAll()
    }

    /// Accepts whatever is queued, then closes: the kernel resets connections still queued on a
    /// closed SO_REUSEPORT listener, so they are taken first (and served).
    ///
    /// Linux resets a connection that completes its handshake between the last accept and the
    /// close, and offers no way to close a listener without that race. Shrinking the backlog to
    /// 0 first makes it at most one connection: further SYNs are dropped, and their clients
    /// retry a second later and find the port closed (refused, not reset).
    public final func closeAfterSweep() {
        guard !isClosed else { return }
        socket.setBacklog(0)
        pending = true
        paused = false
        ignoringLimit = true
        acceptAll()
        loop.close(self)
    }

    private func acceptAll() {
        while !isClosed && pending && !paused {
            if !ignoringLimit && !mayAccept {
                paused = true
                return
            }
            switch socket.accept() {
            case .connection(let s, let peer):
                if noDelay { s.setNoDelay() }
                accepted(s, peer: peer)
            case .wouldBlock:
                pending = false
            case .failed(let e):
                let outOfResources = e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM
                acceptFailed(e, backingOff: outOfResources)
                if outOfResources {
                    paused = true
                    loop.setTimeout(self, ms: 100)
                    return
                }
                pending = false
            }
        }
    }
}
