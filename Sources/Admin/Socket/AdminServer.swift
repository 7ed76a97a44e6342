import AdminProtocol
import EventLoop
import Glibc

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
    private var identity: FileIdentity?

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
        let address = try UnixSocket.address(path)
        let gid = try group.map(UnixSocket.groupID)
        try UnixSocket.clearStale(address)
        let socket = try UnixSocket.newSocket()
        var bound = false
        do {
            try bindAndListen(socket, at: address, group: group, gid: gid, bound: &bound)
            let l = AdminListener(server: self, socket: socket)
            try loop.register(l, events: Events.readable | Events.edgeTriggered)
            listener = l
        } catch {
            if bound { unlinkIfOurs() }
            identity = nil
            socket.close()
            throw error
        }
    }

    /// Binds `socket` at `address` with the final mode (and group) and listens; `bound` once the
    /// file exists (so a failure removes it).
    private func bindAndListen(_ socket: Socket, at address: UnixSocketAddress, group: String?, gid: UInt32?,
                               bound: inout Bool) throws(AdminSocketError) {
        let mode: UInt32 = gid == nil ? 0o600 : 0o660
        // The mode set before bind keeps the file from ever being more open than intended; the
        // chmod after bind makes it exact whatever the umask was. Nobody can connect before
        // listen(), so that step opens no window either.
        try? socket.setMode(mode)
        try AdminSocketError.on(try socket.bind(to: address)) {
            $0.errno == EADDRINUSE
                ? "admin socket \(path): another process created it while starting; refusing to replace it"
                : "admin socket \(path): bind: \(SocketError.text($0.errno))"
        }
        bound = true
        identity = UnixSocket.identity(path)
        if let gid {
            try AdminSocketError.on(try Files.setGroup(path, gid)) {
                "admin socket \(path): cannot give it to group '\(group!)': \(SocketError.text($0.errno))"
            }
        }
        try AdminSocketError.on(try Files.setMode(path, mode)) { "admin socket \(path): chmod: \(SocketError.text($0.errno))" }
        try AdminSocketError.on(try socket.listen(backlog: 64)) { "admin socket \(path): listen: \(SocketError.text($0.errno))" }
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
        if let now = UnixSocket.identity(path), now == id { try? Files.remove(path) }
    }

    func accepted(_ socket: Socket) {
        let c = AdminConnection(server: self, socket: socket, peer: UnixSocket.peer(socket))
        do {
            try loop.register(c)
        } catch {
            socket.close()
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

/// Takes admin clients off the listening socket (EventLoop's accept loop does the accepting).
final class AdminListener: Acceptor {
    /// Strong until `close()`: a registered server stays alive even if its creator drops it.
    var server: AdminServer?

    init(server: AdminServer, socket: Socket) {
        self.server = server
        super.init(loop: server.loop, socket: socket, noDelay: false)
    }

    override func accepted(_ socket: Socket, peer: SocketAddress) {
        guard let server else {
            socket.close()
            return
        }
        server.accepted(socket)
    }

    override func loopWillClose() {
        server?.loopClosing()
        server = nil
    }
}
