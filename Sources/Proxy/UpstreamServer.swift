import EventLoop

/// One upstream server as seen by one loop: its idle keep-alive connections and counters.
/// Survives snapshot changes (matched by key) so a weight change costs no reconnects.
final class UpstreamServer {
    let key: String
    var address: SocketAddress
    var description: String
    /// Idle keep-alive connections, most recently used last (LIFO keeps the warmest in use).
    var idle: [UpstreamConnection] = []
    var inFlight = 0
    var openConnections = 0
    /// False once removed from the configuration: no new requests; idle connections are closed.
    var active = true
    /// Being drained: no new requests, idle connections closed, in-flight ones finish.
    var draining = false
    let poolName: String
    var poolIndex = 0
    var counters = WindowedCounters()
    /// This loop's share of the server's `max-conn` (nil = unlimited).
    var maxConn: Int?
    /// On probation and this loop may send the one trial request.
    var probationPending = false
    /// Consecutive failures seen by this loop (reported to the health monitor).
    var localFailures = 0

    init(key: String, pool: String, address: SocketAddress, description: String) {
        self.key = key
        self.poolName = pool
        self.address = address
        self.description = description
    }

    func removeIdle(_ c: UpstreamConnection) {
        let i = c.idleIndex
        guard i >= 0, i < idle.count, idle[i] === c else { return }
        let last = idle.removeLast()
        if i < idle.count { idle[i] = last; last.idleIndex = i }
        c.idleIndex = -1
    }

    func pushIdle(_ c: UpstreamConnection) {
        c.idleIndex = idle.count
        idle.append(c)
    }

    func popIdle() -> UpstreamConnection? {
        guard let c = idle.popLast() else { return nil }
        c.idleIndex = -1
        return c
    }
}
