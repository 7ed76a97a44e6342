import EventLoop
import Glibc

/// What the proxy plugs into the admin socket.
public protocol AdminHandler: AnyObject {
    /// Called on the admin loop's thread. Must call `reply` exactly once, possibly later but on the
    /// same loop thread. The connection reads no further command until then; a call after the
    /// client went away (or a second call) is ignored.
    func handle(_ command: AdminCommand, peer: AdminPeer, reply: @escaping (JSONValue) -> Void)
}

/// The admin socket: a Unix stream socket on one event loop, one command per line, one JSON
/// reply line per command.
///
/// Create it and call `close()` on the loop's thread (or while the loop is not running). It is
/// `@unchecked Sendable` only so it can be handed to `EventLoop.execute`. It stays alive while
/// listening (the loop keeps it) and releases the handler in `close()`.
public final class AdminServer: @unchecked Sendable {
    public struct Limits: Sendable {
        /// Longest accepted line, not counting "\n" or "\r\n".
        public var maxLineBytes = 4096
        /// A client that lets more unread output pile up than this is disconnected.
        public var maxPendingOutput = 1 << 20
        /// A connection with no traffic (and no command in progress) for this long is closed.
        public var idleTimeoutMs: Int64 = 5 * 60 * 1000
        public init() {}
    }

    public let path: String
    public let loop: EventLoop
    public let limits: Limits
    private(set) var handler: AdminHandler?
    private var listener: AdminListener?
    private var connections: [ObjectIdentifier: AdminConnection] = [:]
    private var identity: (dev: UInt64, ino: UInt64)?
    /// Shared by all connections: they only read on the loop thread, one at a time.
    var readBuffer = [UInt8](repeating: 0, count: 16 * 1024)

    /// Binds and listens on `path` with mode 0600, or 0660 owned by `group`, and registers with
    /// `loop`. A stale socket left by a crashed run is replaced; a live one is an error.
    public init(path: String, group: String?, loop: EventLoop, handler: AdminHandler, limits: Limits = Limits()) throws {
        self.path = path
        self.loop = loop
        self.limits = limits
        self.handler = handler
        try start(group: group)
    }

    private func start(group: String?) throws {
        let (addr, len) = try UnixSocket.address(path)
        let gid = try group.map(UnixSocket.groupID)
        try UnixSocket.clearStale(path)
        let mode: mode_t = gid == nil ? 0o600 : 0o660
        let fd = try UnixSocket.newSocket()
        var bound = false
        do {
            // Linux gives the bound file the socket inode's mode (minus umask): set it before
            // bind so the file is never more open than intended, without touching the
            // process-wide umask. chmod after bind makes the mode exact whatever the umask was;
            // nobody can connect before listen(), so that step opens no window either.
            _ = fchmod(fd, mode)
            var a = addr
            let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
            guard r == 0 else {
                let e = errno
                throw AdminSocketError(e == EADDRINUSE
                    ? "admin socket \(path): another process created it while starting; refusing to replace it"
                    : "admin socket \(path): bind: \(Sys.errorString(e))")
            }
            bound = true
            identity = UnixSocket.identity(path)
            if let gid, lchown(path, uid_t.max, gid) != 0 {
                throw AdminSocketError("admin socket \(path): cannot give it to group '\(group!)': \(Sys.errorString(errno))")
            }
            guard chmod(path, mode) == 0 else { throw AdminSocketError("admin socket \(path): chmod: \(Sys.errorString(errno))") }
            guard Glibc.listen(fd, 64) == 0 else { throw AdminSocketError("admin socket \(path): listen: \(Sys.errorString(errno))") }
            let l = AdminListener(server: self, fd: fd)
            try loop.register(l, events: Events.readable | Events.edgeTriggered)
            listener = l
        } catch {
            if bound { unlinkIfOurs() }
            identity = nil
            Sys.close(fd)
            throw error
        }
    }

    /// Closes the listener and every connection (pending replies are dropped) and removes the
    /// socket file if it is still the one this server created.
    public func close() {
        guard let l = listener else { return }
        listener = nil
        l.server = nil
        loop.close(l)
        for c in Array(connections.values) { c.shutdown() }
        handler = nil
        unlinkIfOurs()
    }

    /// Open connections (for tests and status).
    public var connectionCount: Int { connections.count }

    /// Removes the socket file unless someone replaced it since (same device and inode).
    func unlinkIfOurs() {
        guard let id = identity else { return }
        identity = nil
        if let now = UnixSocket.identity(path), now == id { unlink(path) }
    }

    func accepted(fd: Int32) {
        let c = AdminConnection(server: self, fd: fd, peer: UnixSocket.peer(fd))
        do {
            try loop.register(c)
        } catch {
            Sys.close(fd)
            return
        }
        connections[ObjectIdentifier(c)] = c
        c.start()
    }

    func connectionClosed(_ c: AdminConnection) {
        connections[ObjectIdentifier(c)] = nil
    }

    /// The loop is closing everything without `close()` having been called.
    func loopClosing() {
        listener = nil
        handler = nil
        connections.removeAll()
        unlinkIfOurs()
    }
}

/// Accepts admin clients until EAGAIN (edge-triggered).
final class AdminListener: Selectable {
    /// Strong until `close()`: a registered server stays alive even if its creator drops it.
    var server: AdminServer?

    init(server: AdminServer, fd: Int32) {
        self.server = server
        super.init()
        self.fd = fd
    }

    override func handleEvents(_ events: UInt32) { acceptAll() }
    override func handleTimeout() { acceptAll() }

    override func loopWillClose() {
        server?.loopClosing()
        server = nil
    }

    private func acceptAll() {
        var peer = sockaddr_storage()
        while let server, !isClosed {
            let cfd = Sys.accept(fd, &peer)
            if cfd >= 0 { server.accepted(fd: cfd); continue }
            switch -cfd {
            case EAGAIN: return
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                // Out of descriptors: retry shortly rather than spin on a ready listener.
                server.loop.setTimeout(self, ms: 100)
                return
            default: return
            }
        }
    }
}
