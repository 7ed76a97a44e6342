import Balancing
import EventLoop
import HTTP1
import Glibc

/// One event loop's share of the proxy: its listeners, its client connections, its view of the
/// upstream servers (keep-alive pools) and its pickers. Touched only from its own thread.
final class Worker: @unchecked Sendable {
    let loop: EventLoop
    let store: SnapshotStore
    private(set) var snapshot: ProxySnapshot
    var listeners: [Listener] = []
    let maxClients: Int
    var clientCount = 0
    private(set) var parser: HTTPHeadParser
    /// Every open client connection (swap-remove by index), so a drain can close the idle ones.
    var clients: [ClientConnection] = []
    /// Set during a graceful shutdown: responses carry `Connection: close`.
    var draining = false

    /// Per-pool server lists for the current snapshot, and the per-loop state for each server key.
    private(set) var pools: [[UpstreamServer]] = []
    private var servers: [String: UpstreamServer] = [:]
    /// Servers removed from the configuration that still had requests or connections.
    private var retiring: [UpstreamServer] = []
    /// Per-pool counters for errors made before a server was chosen (503: no usable server).
    var poolCounters: [String: WindowedCounters] = [:]
    /// Totals of servers removed from the configuration (and done), per pool, so per-pool
    /// totals never go backwards (a rollout's window is a difference of totals).
    private var retiredTotals: [String: TrafficCounters] = [:]
    private var splitPicker = SmoothWeightedPicker(weights: [])
    private var serverPickers: [SmoothWeightedPicker] = []
    private var poolHasLimits: [Bool] = []
    /// Per-pool settings the request path reads, flattened (no struct copies per request).
    private(set) var poolEjectOn5xx: [Bool] = []
    private(set) var poolRetries: [Int] = []
    private(set) var poolFailover: [Bool] = []

    /// For a request whose pool has no server left to try (and `failover on`): the other pool
    /// with the largest non-zero split, so a dying colour costs no request.
    func failoverPool(from pool: Int) -> Int? {
        guard pool < poolFailover.count, poolFailover[pool] else { return nil }
        var best: Int?
        for (i, w) in snapshot.configuredSplit.enumerated() where i != pool && w > 0 {
            if best == nil || w > snapshot.configuredSplit[best!] { best = i }
        }
        return best
    }
    /// `access-log`: this loop's buffer (nil when off).
    var accessLog: AccessLogWriter?
    private var accessLogTimer: LoopTimer?

    /// Starts, replaces or (nil) stops access logging on this loop; on its own thread, or before
    /// the loop runs.
    func setAccessLog(_ file: AccessLogFile?, capacity: Int, flushMS: Int64) {
        accessLog?.flush()
        accessLogTimer?.cancel()
        accessLogTimer = nil
        guard let file else { accessLog = nil; return }
        accessLog = AccessLogWriter(file: file, capacity: capacity)
        scheduleAccessLogFlush(max(10, flushMS))
    }

    private func scheduleAccessLogFlush(_ ms: Int64) {
        accessLogTimer = loop.schedule(afterMS: ms) { [weak self] in
            guard let self, let log = accessLog else { return }
            log.flush()
            scheduleAccessLogFlush(ms)
        }
    }

    /// Colour stickiness (`sticky cookie`): whether it applies now, and cached Set-Cookie lines.
    var stickyRouter = StickyRouter()
    private var poolIndexByName: [String: Int] = [:]

    /// The pool for a request while stickiness is active: the one its cookie names if the
    /// cookie is valid (our key, not expired, this rollout) and that pool has traffic now —
    /// counted as a pick, so new shoppers make up for sticky ones and the split holds — else
    /// the picker's choice. `stuck` tells whether the cookie decided.
    func pickStickyPool(_ sticky: StickySessions, head: MessageHead, bytes: UnsafeRawBufferPointer) -> (pool: Int?, stuck: Bool) {
        for f in head.fields where f.name == .cookie {
            let value = UnsafeRawBufferPointer(rebasing: bytes[Int(f.valueStart)..<Int(f.valueEnd)])
            guard let (name, id) = sticky.decode(cookieHeader: value, nowS: wallClockSeconds()),
                  id == snapshot.stickyEpoch, let i = poolIndexByName[name], snapshot.split[i] > 0
            else { continue }
            splitPicker.credit(i)
            return (i, true)
        }
        return (splitPicker.next(), false)
    }

    /// Requests waiting for a `max-conn` slot, per pool.
    private var queues: [WaitQueue] = []
    let healthSink: HealthSink
    let workerCount: Int

    /// Parsed heads, shared by the loop's connections: a head is parsed and acted on within one
    /// call (dispatch, or handling a response head), so no connection needs its own copy —
    /// which keeps an idle keep-alive connection small.
    var requestHead = MessageHead()
    var responseHead = MessageHead()

    init(loop: EventLoop, store: SnapshotStore, maxClients: Int, workerCount: Int, healthSink: HealthSink) {
        self.loop = loop
        self.workerCount = workerCount
        self.healthSink = healthSink
        self.store = store
        self.snapshot = store.snapshot
        self.maxClients = maxClients
        let limits = snapshot.config.limits
        self.parser = HTTPHeadParser(limits: HTTPLimits(maxHeadBytes: min(limits.headerBytes, loop.buffers.bufferSize - 4096)))
        apply(snapshot)
    }


    var timeouts: Timeouts { snapshot.config.timeouts }
    var limits: Limits { snapshot.config.limits }

    /// Called at each request head: adopts a newer snapshot if one was published.
    @inline(__always)
    func refreshSnapshot() {
        if store.version != snapshot.version {
            let s = store.snapshot
            snapshot = s
            apply(s)
        }
    }

    private func apply(_ s: ProxySnapshot) {
        // A reload may change the head limit; the loop's buffers (sized at start) bound it.
        parser = HTTPHeadParser(limits: HTTPLimits(maxHeadBytes: min(s.config.limits.headerBytes, loop.buffers.bufferSize - 4096)))
        var next: [String: UpstreamServer] = [:]
        pools = s.pools.map { pool in
            pool.servers.map { spec in
                let server = servers[spec.key]
                    ?? UpstreamServer(key: spec.key, pool: pool.name, address: spec.address, description: spec.spec.description)
                server.active = true
                server.draining = spec.draining
                if spec.draining { while let c = server.popIdle() { c.close() } }
                next[spec.key] = server
                return server
            }
        }
        for (key, old) in servers where next[key] == nil {
            // Removed: in-flight requests finish on their connections; it is reported as retiring
            // until they have.
            old.active = false
            while let c = old.popIdle() { c.close() }
            retiring.append(old)
        }
        retiring.removeAll { next[$0.key] != nil }
        pruneRetiring()
        servers = next
        let workerCount = max(1, workerCount)
        for (pi, pool) in s.pools.enumerated() {
            for (si, spec) in pool.servers.enumerated() {
                let server = pools[pi][si]
                server.poolIndex = pi
                // Probation (one trial request after an ejection): only worker 0 sends it.
                server.probationPending = spec.health.probation && loop.index == 0
                // max-conn is split between the loops (no shared counter on the request path).
                server.maxConn = spec.maxConn.map { max(1, ($0 + workerCount - 1) / workerCount) }
            }
        }
        splitPicker = SmoothWeightedPicker(weights: s.split)
        poolIndexByName = Dictionary(s.pools.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        stickyRouter.reset(active: s.sticky != nil && s.split.filter { $0 > 0 }.count >= 2)
        serverPickers = s.pools.indices.map { pickerWeights(pool: $0) }
        poolHasLimits = pools.map { $0.contains { $0.maxConn != nil } }
        poolEjectOn5xx = s.pools.map(\.config.ejectOn5xx)
        poolRetries = s.pools.map(\.config.retries)
        poolFailover = s.pools.map(\.config.failover)
        for p in s.pools where poolCounters[p.name] == nil { poolCounters[p.name] = WindowedCounters() }
        if queues.count != pools.count { queues = Array(repeating: WaitQueue(), count: pools.count) }
    }

    private func pickerWeights(pool: Int) -> SmoothWeightedPicker {
        let specs = snapshot.pools[pool].servers
        return SmoothWeightedPicker(weights: specs.indices.map { i in
            specs[i].health.probation && !pools[pool][i].probationPending ? 0 : specs[i].effectiveWeight
        })
    }

    /// Picks the pool for a new request by split weight. nil: every split weight is zero.
    @inline(__always)
    func pickPool() -> Int? { splitPicker.next() }

    /// Picks a server in `pool`, skipping those already tried for this request and those at
    /// their `max-conn`. `probe` is set when the pick is a probation trial request.
    @inline(__always)
    func pickServer(pool: Int, excluding tried: [UpstreamServer], probe: inout Bool) -> UpstreamServer? {
        guard pool < pools.count, !pools[pool].isEmpty else { return nil }
        let list = pools[pool]
        let idx: Int?
        if tried.isEmpty && !poolHasLimits[pool] {
            idx = serverPickers[pool].next()
        } else {
            idx = serverPickers[pool].next(where: { i in
                let s = list[i]
                if let m = s.maxConn, s.inFlight >= m { return false }
                return !tried.contains { $0 === s }
            })
        }
        guard let i = idx else { return nil }
        let s = list[i]
        if s.probationPending {
            // The one trial request: no more until the monitor decides.
            s.probationPending = false
            serverPickers[pool] = pickerWeights(pool: pool)
            healthSink.send(HealthEvent(key: s.key, kind: .probeStarted, startedMS: Int64(loop.now / 1_000_000)))
            probe = true
        }
        return s
    }

    /// Whether every server of `pool` with a weight is at its `max-conn` (so a request waits).
    func poolIsFull(_ pool: Int) -> Bool {
        guard poolHasLimits[pool] else { return false }
        let specs = snapshot.pools[pool].servers
        var any = false
        for (i, s) in pools[pool].enumerated() where specs[i].effectiveWeight > 0 {
            any = true
            guard let m = s.maxConn, s.inFlight >= m else { return false }
        }
        return any
    }

    /// Passive health: a request to `server` failed (`failure` set) or succeeded. Failures are
    /// always reported to the monitor (they are rare); a success only when it ends a run of
    /// failures or answers a probation probe, so the steady state sends nothing across threads.
    func reportOutcome(_ server: UpstreamServer, failure: String?, startedNS: UInt64, probe: Bool) {
        let started = Int64(startedNS / 1_000_000)
        if let failure {
            server.localFailures += 1
            healthSink.send(HealthEvent(key: server.key, kind: .failure(failure), startedMS: started))
        } else if server.localFailures > 0 || probe {
            server.localFailures = 0
            healthSink.send(HealthEvent(key: server.key, kind: .success, startedMS: started))
        }
    }

    /// A request on `server` ended: hand its slot to the first request waiting in the pool's queue.
    func serverFreed(_ server: UpstreamServer) {
        guard server.maxConn != nil, server.poolIndex < queues.count else { return }
        while let c = queues[server.poolIndex].pop() {
            if c.isClosed || c.state != .queued { continue }
            c.dequeued()
            return
        }
    }

    func enqueue(_ c: ClientConnection, pool: Int) -> Bool {
        guard pool < queues.count, queues[pool].count < WaitQueue.limit else { return false }
        queues[pool].push(c)
        return true
    }

    func poolName(_ i: Int) -> String { i < snapshot.pools.count ? snapshot.pools[i].name : "?" }

    // MARK: upstream connections

    /// A pooled keep-alive connection to `server`, or a new connection being established.
    func acquireUpstream(_ server: UpstreamServer) throws(SocketError) -> UpstreamConnection {
        while let c = server.popIdle() {
            if c.isClosed { continue }
            loop.setDeadline(c, 0)
            return c
        }
        let (socket, inProgress) = try Socket.connecting(to: server.address)
        let c = UpstreamConnection(worker: self, server: server, socket: socket, connecting: inProgress)
        do { try loop.register(c) } catch {
            c.close()
            throw error
        }
        loop.setTimeout(c, ms: timeouts.connect)
        return c
    }

    /// Returns a connection whose exchange completed cleanly to its server's idle pool.
    func releaseUpstream(_ c: UpstreamConnection) {
        c.client = nil
        c.reused = true
        c.scanFrom = 0
        c.canRead = false
        c.input.release(loop.buffers)
        // A server that already hung up (its FIN came with the response) would fail the next
        // request sent on this connection: do not pool it.
        guard c.server.active, !c.server.draining, !c.eof, !c.peerHungUp else { c.close(); return }
        c.server.pushIdle(c)
        loop.setTimeout(c, ms: timeouts.upstreamIdle)
    }

    func discardIdle(_ c: UpstreamConnection) {
        c.close()
    }

    // MARK: clients

    func clientOpened(_ c: ClientConnection) {
        c.clientIndex = clients.count
        clients.append(c)
        clientCount += 1
    }

    func clientClosed(_ c: ClientConnection) {
        let i = c.clientIndex
        if i >= 0, i < clients.count, clients[i] === c {
            let last = clients.removeLast()
            if i < clients.count { clients[i] = last; last.clientIndex = i }
        }
        c.clientIndex = -1
        clientCount -= 1
        if draining { return }
        if clientCount < maxClients {
            for l in listeners where l.paused { l.resume() }
        }
    }
}

extension Worker {
    /// Whether X-Forwarded-* from this peer are kept (appended to) rather than replaced.
    func isTrusted(_ peer: SocketAddress) -> Bool {
        let cidrs = snapshot.config.trustedProxies
        if cidrs.isEmpty { return false }
        let ip: IPAddress
        if let v4 = peer.ipv4 { ip = .v4(v4) } else if let v6 = peer.ipv6 { ip = .v6(v6.0, v6.1) } else { return false }
        return cidrs.contains { $0.contains(ip) }
    }
}

/// What one worker reports to `status` and `stats`: copied out on the worker's own thread.
public struct ServerReport: Sendable {
    public var key: String
    public var pool: String
    public var address: String
    public var inFlight: Int
    public var connections: Int
    public var total: TrafficCounters
    public var window: TrafficCounters
    /// Removed from the configuration, still finishing requests.
    public var retiring: Bool
}

public struct PoolReport: Sendable {
    public var pool: String
    public var total: TrafficCounters
    public var window: TrafficCounters
}

public struct WorkerReport: Sendable {
    public var servers: [ServerReport]
    public var pools: [PoolReport]
    public var clients: Int
    public var snapshotVersion: UInt64
}

extension Worker {
    func report(withCounters: Bool) -> WorkerReport {
        refreshSnapshot()   // report against the newest configuration, even on an idle loop
        let now = loop.now
        func server(_ s: UpstreamServer, retiring: Bool) -> ServerReport {
            ServerReport(key: s.key, pool: s.poolName, address: s.description, inFlight: s.inFlight,
                         connections: s.openConnections,
                         total: withCounters ? s.counters.total : TrafficCounters(),
                         window: withCounters ? s.counters.window(now: now) : TrafficCounters(),
                         retiring: retiring)
        }
        pruneRetiring()
        var servers = pools.flatMap { $0.map { server($0, retiring: false) } }
        servers += retiring.map { server($0, retiring: true) }
        let pools = withCounters
            ? poolCounters.map { PoolReport(pool: $0.key, total: $0.value.total, window: $0.value.window(now: now)) }
            : []
        return WorkerReport(servers: servers, pools: pools, clients: clientCount, snapshotVersion: snapshot.version)
    }
}

extension Worker {
    /// Drops removed servers that have finished, keeping their totals in `retiredTotals`.
    func pruneRetiring() {
        retiring.removeAll { s in
            guard s.inFlight == 0 && s.openConnections == 0 else { return false }
            retiredTotals[s.poolName, default: TrafficCounters()].add(s.counters.total)
            return true
        }
    }

    /// Per-pool totals since start (servers, removed servers, errors made before a server was
    /// chosen), by pool name: what a rollout judges, as differences between two calls.
    func poolTotals() -> [String: TrafficCounters] {
        var out = retiredTotals
        for (name, c) in poolCounters { out[name, default: TrafficCounters()].add(c.total) }
        for list in pools { for s in list { out[s.poolName, default: TrafficCounters()].add(s.counters.total) } }
        for s in retiring { out[s.poolName, default: TrafficCounters()].add(s.counters.total) }
        return out
    }
}

// MARK: drain and listeners

extension Worker {
    /// Graceful shutdown, on this worker's thread: stop accepting (after taking what is already
    /// queued, since closing a SO_REUSEPORT listener resets its queue), close idle keep-alive
    /// clients and idle upstream connections; requests in flight finish and their connections
    /// close after the response.
    func beginDrain() {
        draining = true
        for l in listeners { l.closeAfterSweep() }
        listeners.removeAll()
        for c in clients { c.drainIfIdle() }
        for pool in pools { for s in pool { while let c = s.popIdle() { c.close() } } }
    }

    /// `timeout drain` ran out for a drained server: cut what is still in flight on it and
    /// close its connections, counting each cut request.
    func cutDrained(_ key: String) {
        guard let s = servers[key], s.draining else { return }
        for c in clients where c.exchange.server === s && c.exchange.upstream != nil {
            s.counters.total.drainCut &+= 1
            c.cutForDrain()
        }
        while let c = s.popIdle() { c.close() }
    }

    /// Adds a listener (reload added a `listen`); the socket is already bound.
    func addListener(_ socket: Socket, address: SocketAddress) {
        let l = Listener(worker: self, socket: socket, address: address)
        do {
            try loop.register(l, events: Events.readable | Events.edgeTriggered)
            listeners.append(l)
        } catch {
            socket.close()
            Log.error("worker \(loop.index): cannot register listener \(address.description): \(error)")
        }
    }

    /// Closes the listener on `address` (reload removed its `listen`).
    func removeListener(_ address: SocketAddress) {
        listeners.removeAll { l in
            guard l.address.description == address.description else { return false }
            l.closeAfterSweep()
            return true
        }
    }
}

/// FIFO of requests waiting for a server slot (`max-conn`), bounded so a stalled pool cannot
/// pile up memory: beyond `limit` a request gets 503 at once.
struct WaitQueue {
    static let limit = 4096
    private var items: [ClientConnection] = []
    private var head = 0
    var count: Int { items.count - head }

    mutating func push(_ c: ClientConnection) { items.append(c) }

    mutating func pop() -> ClientConnection? {
        guard head < items.count else { return nil }
        let c = items[head]
        head += 1
        if head > 64 && head * 2 > items.count { items.removeFirst(head); head = 0 }
        if head == items.count { items.removeAll(keepingCapacity: true); head = 0 }
        return c
    }
}
