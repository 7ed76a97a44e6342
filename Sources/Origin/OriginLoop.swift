import EventLoop

/// Everything one event loop owns: its SO_REUSEPORT listener, its open connections (so `stop`
/// can close them) and an idle sweep. Touched only on the loop's thread once the loop runs.
final class OriginLoop: @unchecked Sendable {
    let loop: EventLoop
    let responses: Responses
    let idleTimeoutNS: UInt64
    private let listener: OriginListener
    private let sweeper: IdleSweeper
    private var connections: [OriginConnection] = []

    /// When this throws, `listening` is still the caller's to close.
    init(loop: EventLoop, listening: Socket, responses: Responses, idleTimeoutSeconds: Int) throws {
        self.loop = loop
        self.responses = responses
        self.idleTimeoutNS = UInt64(max(idleTimeoutSeconds, 1)) * 1_000_000_000
        listener = OriginListener(loop: loop, socket: listening)
        sweeper = IdleSweeper()
        listener.owner = self
        sweeper.owner = self
        try loop.register(listener, events: Events.readable | Events.edgeTriggered)
        loop.setTimeout(sweeper, ms: sweepIntervalMS)
    }

    /// A quarter of the idle timeout, at least a second: closes happen within 125% of it.
    var sweepIntervalMS: Int64 { max(1000, Int64(idleTimeoutNS / 4_000_000)) }

    func add(_ c: OriginConnection) {
        c.slot = connections.count
        connections.append(c)
    }

    func remove(_ c: OriginConnection) {
        let i = c.slot
        guard i < connections.count, connections[i] === c else { return }
        let last = connections.removeLast()
        if i < connections.count {
            connections[i] = last
            last.slot = i
        }
    }

    func sweep() {
        let cutoff = loop.now &- idleTimeoutNS
        var i = connections.count - 1
        while i >= 0 {
            if i < connections.count { connections[i].closeIfIdle(before: cutoff) }
            i -= 1
        }
        loop.setTimeout(sweeper, ms: sweepIntervalMS)
    }

    /// Closes the listener and every connection (on the loop's thread).
    func shutdown() {
        loop.close(listener)
        sweeper.isClosed = true
        while let c = connections.last { c.close() }
    }
}

/// The loop's listener: `Acceptor` accepts until EAGAIN and backs off when out of descriptors;
/// this registers each connection with the loop.
final class OriginListener: Acceptor {
    unowned var owner: OriginLoop! = nil

    override func accepted(_ socket: Socket, peer: SocketAddress) {
        let c = OriginConnection(socket: socket, owner: owner)
        do {
            try loop.register(c)
        } catch {
            socket.close()
            return
        }
        c.lastActive = loop.now
        owner.add(c)
    }
}

/// A descriptor-less timer target that runs the loop's idle sweep. One periodic sweep instead
/// of a deadline per connection: the loop's timer heap keeps a closed target alive until its
/// entry pops, which with per-connection deadlines would pin every short-lived connection.
final class IdleSweeper: Selectable {
    unowned var owner: OriginLoop! = nil
    override func handleTimeout() { owner.sweep() }
}
