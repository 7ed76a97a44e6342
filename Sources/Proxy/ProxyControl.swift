import Balancing
import EventLoop
import Glibc

/// An admin-visible failure with a stable code (controllers match on `code`).
public struct ControlError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    public init(_ code: String, _ message: String) { self.code = code; self.message = message }
    public var description: String { "\(code): \(message)" }
}

/// The running configuration as operators change it: the file's config plus runtime changes
/// (split, weights, added/removed/drained servers). Lives on the control thread; every change is
/// validated first and then published to the workers as one snapshot, so an invalid command
/// changes nothing and a valid one is visible to the next request on every loop once it returns.
public final class ProxyControl: @unchecked Sendable {
    public let proxy: ProxyServer
    public let control: EventLoop
    public let version: String
    public private(set) var fileConfig: ProxyConfig
    public private(set) var config: ProxyConfig
    public private(set) var draining: Set<String> = []
    private let startedAt: UInt64
    public let health: HealthMonitor
    private var drainTimers: [String: LoopTimer] = [:]
    /// Rollouts the proxy runs itself (`rollout start ...`).
    public private(set) var rollouts: RolloutController!
    /// Published with every snapshot: the rollout id sticky cookies must carry.
    private var stickyEpoch: UInt64 = 0
    /// `sticky cookie ...` with its key loaded (replaced by a reload that changes it).
    public private(set) var sticky: StickySessions?

    /// Call on the control loop's thread (or before it runs). Starts health checking and
    /// publishes the first snapshot that carries it.
    public init(proxy: ProxyServer, control: EventLoop, version: String) {
        self.proxy = proxy
        self.control = control
        self.version = version
        self.fileConfig = proxy.store.snapshot.config
        self.config = fileConfig
        self.sticky = proxy.store.snapshot.sticky
        self.startedAt = MonotonicClock.now()
        self.health = HealthMonitor(loop: control)
        self.rollouts = nil
        self.rollouts = RolloutController(control: self)
        health.onChange = { [unowned self] in republishHealth() }
        proxy.healthSink.attach(loop: control) { [unowned self] event in health.handle(event) }
        health.sync(config)
        republishHealth()
    }

    /// The configuration's generation: every accepted change (admin command, reload) increments
    /// it; health-driven republishes (a server going down, slow start) do not, so a controller
    /// can use it to detect concurrent configuration changes.
    public private(set) var generation: UInt64 = 1
    public var uptimeSeconds: Double { Double(MonotonicClock.now() - startedAt) / 1e9 }

    /// Publishes a configuration change (a new generation); the previous values are kept for `undo`.
    private func publish(_ next: ProxyConfig, draining nextDraining: Set<String>) throws(ControlError) {
        let previous = (config, draining)
        try publishSnapshot(next, draining: nextDraining)
        generation += 1
        history.append(previous)
        if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
    }

    static let historyLimit = 64
    private var history: [(ProxyConfig, Set<String>)] = []

    /// Returns to the previous generation's configuration in one step, as a new generation.
    public func undo() throws(ControlError) {
        guard let (previous, previousDraining) = history.popLast() else {
            throw ControlError("nothing_to_undo", "no earlier configuration to return to")
        }
        try publishSnapshot(previous, draining: previousDraining)
        generation += 1
        rollouts.supersede(by: "undo")
    }

    /// A compact view of what a change can touch (split, weights, drained servers), for the audit log.
    public var auditView: [String: String] {
        var v: [String: String] = [:]
        v["split"] = zip(config.pools, config.split).map { "\($0.name)=\($1)" }.joined(separator: " ")
        v["servers"] = config.pools.flatMap { p in
            p.servers.map { s in Self.key(p.name, s.address) + " w\(s.weight)" + (draining.contains(Self.key(p.name, s.address)) ? " draining" : "") }
        }.joined(separator: ", ")
        return v
    }

    /// Publishes the current configuration with fresh health views (no new generation).
    private func republishHealth() {
        try? publishSnapshot(config, draining: draining)
    }

    private func publishSnapshot(_ next: ProxyConfig, draining nextDraining: Set<String>) throws(ControlError) {
        if next != config { health.sync(next) }
        do {
            let before = proxy.store.snapshot.failedOver.map { proxy.store.snapshot.pools[$0].name }
            let snap = try proxy.store.publish(next, draining: nextDraining, health: health.publishedViews(),
                                               stickyEpoch: stickyEpoch, sticky: sticky)
            let after = snap.failedOver.map { snap.pools[$0].name }
            if before != after {
                for name in after where !before.contains(name) {
                    Log.warn("failover: pool \(name) has no usable server; its share goes to the other pools")
                }
                for name in before where !after.contains(name) {
                    Log.info("failover: pool \(name) is serving again")
                }
            }
        } catch {
            throw ControlError("internal", "could not publish the new configuration: \(error)")
        }
        config = next
        draining = nextDraining
    }

    func poolIndex(_ name: String) throws(ControlError) -> Int {
        guard let i = config.poolIndex(named: name) else {
            let known = config.pools.map(\.name).joined(separator: ", ")
            throw ControlError("unknown_pool", "no pool named '\(name)' (pools: \(known))")
        }
        return i
    }

    func parseAddress(_ s: String) throws(ControlError) -> SocketAddressSpec {
        guard let a = SocketAddressSpec.parse(s), a.port != 0, SocketAddress(ip: a.host, port: a.port) != nil else {
            throw ControlError("bad_address", "'\(s)' is not an IP:PORT address (e.g. 10.0.1.11:8080 or [::1]:8080)")
        }
        return a
    }

    func serverIndex(pool: Int, _ address: String) throws(ControlError) -> Int {
        let spec = try parseAddress(address)
        guard let i = config.pools[pool].servers.firstIndex(where: { $0.address == spec }) else {
            throw ControlError("unknown_server", "pool '\(config.pools[pool].name)' has no server \(spec)")
        }
        return i
    }

    static func key(_ pool: String, _ spec: SocketAddressSpec) -> String { ServerSnapshot.key(pool: pool, address: spec) }

    // MARK: changing commands

    /// Sets the named pools' split weights at once (others keep theirs). Returns the new split.
    @discardableResult
    public func setSplit(_ assignments: [(pool: String, weight: Int)]) throws(ControlError) -> [(String, Int)] {
        guard !assignments.isEmpty else { throw ControlError("missing_argument", "split needs at least one POOL=WEIGHT") }
        var next = config
        var seen = Set<String>()
        for a in assignments {
            guard seen.insert(a.pool).inserted else { throw ControlError("bad_argument", "pool '\(a.pool)' is named twice") }
            guard (0...1_000_000).contains(a.weight) else {
                throw ControlError("bad_number", "split weight \(a.weight) for '\(a.pool)' is out of range (0...1000000)")
            }
            next.split[try poolIndex(a.pool)] = a.weight
        }
        guard next.split.contains(where: { $0 > 0 }) else {
            throw ControlError("all_zero_split", "every pool would have split 0; at least one must be above 0")
        }
        for (i, w) in next.split.enumerated() where w > 0 && next.pools[i].servers.isEmpty {
            throw ControlError("bad_argument", "pool '\(next.pools[i].name)' has no servers and cannot take a non-zero split")
        }
        try publish(next, draining: draining)
        rollouts.supersede(by: "split " + assignments.map { "\($0.pool)=\($0.weight)" }.joined(separator: " "))
        return zip(config.pools, config.split).map { ($0.name, $1) }
    }

    /// A rollout's step: the new pool gets `percent`, the old pool the rest (other pools keep
    /// their weights); a new generation, like any split change.
    func applyRolloutSplit(old: String, new: String, percent: Int, rolloutID: UInt64) throws(ControlError) {
        let (oldWeight, newWeight) = Rollout.split(percent: percent)
        var next = config
        next.split[try poolIndex(old)] = oldWeight
        next.split[try poolIndex(new)] = newWeight
        guard next.split.contains(where: { $0 > 0 }) else {
            throw ControlError("all_zero_split", "every pool would have split 0")
        }
        let previousEpoch = stickyEpoch
        stickyEpoch = rolloutID
        do {
            try publish(next, draining: draining)
        } catch {
            stickyEpoch = previousEpoch
            throw error
        }
    }

    public func setWeight(pool: String, address: String, weight: Int) throws(ControlError) {
        guard (0...1000).contains(weight) else { throw ControlError("bad_number", "server weight \(weight) is out of range (0...1000)") }
        let p = try poolIndex(pool)
        let s = try serverIndex(pool: p, address)
        var next = config
        next.pools[p].servers[s].weight = weight
        try publish(next, draining: draining)
    }

    public func drain(pool: String, address: String) throws(ControlError) {
        let p = try poolIndex(pool)
        let s = try serverIndex(pool: p, address)
        var d = draining
        let key = Self.key(pool, config.pools[p].servers[s].address)
        let fresh = !d.contains(key)
        d.insert(key)
        try publish(config, draining: d)
        if fresh { scheduleDrainCut(key) }
    }

    /// After `timeout drain`, whatever a drained server still has in flight is cut (counted in
    /// `stats` as drain_cut), so a stuck request cannot hold a release forever.
    private func scheduleDrainCut(_ key: String) {
        drainTimers[key]?.cancel()
        drainTimers[key] = control.schedule(afterMS: config.timeouts.drain) { [weak self] in
            guard let self else { return }
            drainTimers[key] = nil
            guard draining.contains(key) else { return }
            Log.warn("drain: \(key) still busy after 'timeout drain'; cutting its remaining requests")
            proxy.cutDrained(key)
        }
    }

    public func ready(pool: String, address: String) throws(ControlError) {
        let p = try poolIndex(pool)
        let s = try serverIndex(pool: p, address)
        var d = draining
        d.remove(Self.key(pool, config.pools[p].servers[s].address))
        try publish(config, draining: d)
    }

    public func addServer(pool: String, address: String, weight: Int?) throws(ControlError) {
        let p = try poolIndex(pool)
        let spec = try parseAddress(address)
        let w = weight ?? 1
        guard (1...1000).contains(w) else { throw ControlError("bad_number", "server weight \(w) is out of range (1...1000)") }
        guard !config.pools[p].servers.contains(where: { $0.address == spec }) else {
            throw ControlError("duplicate_server", "pool '\(pool)' already has server \(spec)")
        }
        var next = config
        next.pools[p].servers.append(ServerConfig(address: spec, weight: w, line: 0))
        try publish(next, draining: draining)
    }

    /// Removes a server: it gets no new requests at once; requests in flight on it finish (it is
    /// reported as draining until they have).
    public func removeServer(pool: String, address: String) throws(ControlError) {
        let p = try poolIndex(pool)
        let s = try serverIndex(pool: p, address)
        var next = config
        let removed = next.pools[p].servers.remove(at: s)
        if next.split[p] > 0 && next.pools[p].servers.isEmpty {
            throw ControlError("bad_argument", "pool '\(pool)' has split \(next.split[p]); removing its last server would leave it unable to serve (set its split to 0 first)")
        }
        var d = draining
        d.remove(Self.key(pool, removed.address))
        try publish(next, draining: d)
    }

    /// What differs from the configuration file, for `status`.
    public var overrides: [String] {
        var out: [String] = []
        if config.split != fileConfig.split { out.append("split") }
        for pool in config.pools {
            let filePool = fileConfig.pools.first { $0.name == pool.name }
            for s in pool.servers {
                let key = Self.key(pool.name, s.address)
                if let f = filePool?.servers.first(where: { $0.address == s.address }) {
                    if f.weight != s.weight { out.append("\(key) weight") }
                } else {
                    out.append("\(key) added")
                }
                if draining.contains(key) { out.append("\(key) draining") }
            }
            for f in filePool?.servers ?? [] where !pool.servers.contains(where: { $0.address == f.address }) {
                out.append("\(Self.key(pool.name, f.address)) removed")
            }
        }
        return out
    }

    /// The weight the config file gives a server, if it is in the file.
    public func fileWeight(pool: String, address: SocketAddressSpec) -> Int? {
        fileConfig.pools.first { $0.name == pool }?.servers.first { $0.address == address }?.weight
    }

    // MARK: log rotation

    /// SIGUSR1: reopens the access log at its configured path (after logrotate moved it),
    /// touching nothing else — unlike a reload, a running rollout and runtime changes stay.
    public func reopenLogs() throws(ControlError) {
        guard let c = fileConfig.accessLog else { return }
        do { try proxy.reopenAccessLog(c) } catch {
            throw ControlError("reopen_failed", "access-log: \(error); still writing to the previous file")
        }
    }

    // MARK: reload

    /// Re-reads and validates the whole file, then applies it as one snapshot (servers added and
    /// removed — removed ones finish their requests —, split, timeouts, listeners). Runtime changes
    /// made over the admin socket are replaced by the file's values; the result lists them.
    /// An invalid file changes nothing.
    public func reload(text: String, file: String) throws(ControlError) -> (replaced: [String], notes: [String]) {
        let next: ProxyConfig
        do {
            next = try ConfigParser.parse(text, file: file)
        } catch let e as ConfigError {
            throw ControlError("invalid_config", e.description)
        } catch {
            throw ControlError("invalid_config", "\(file): \(error)")
        }
        var notes: [String] = []
        if next.workers != fileConfig.workers {
            notes.append("'workers' changed: takes effect at the next restart")
        }
        if next.ioUring != fileConfig.ioUring {
            notes.append("'io-uring' changed: takes effect at the next restart")
        }
        if next.adminSocket != fileConfig.adminSocket || next.adminGroup != fileConfig.adminGroup {
            notes.append("'admin' changed: takes effect at the next restart")
        }
        let maxHead = ProxyServer.bufferSize(for: fileConfig.limits) - 4096
        if next.limits.headerBytes > maxHead {
            notes.append("'limit header-bytes' above \(maxHead) takes effect at the next restart")
        }
        if next.limits.connections != fileConfig.limits.connections {
            notes.append("'limit connections' changed: takes effect at the next restart")
        }
        // The key is re-read at every reload, so a rotated key takes effect without a restart.
        let nextSticky: StickySessions?
        do {
            nextSticky = try next.sticky.map { c throws(ConfigError) in try StickySessions.load(c, file: file) }
        } catch {
            throw ControlError("invalid_config", error.description)
        }
        if next.accessLog != fileConfig.accessLog {
            do { try proxy.reopenAccessLog(next.accessLog) } catch {
                throw ControlError("invalid_config", "\(file):\(next.accessLog?.line ?? 0): access-log: \(error); configuration unchanged")
            }
        }
        do {
            try proxy.updateListeners(next.listeners)
        } catch {
            throw ControlError("listen_failed", "\(error); configuration unchanged")
        }
        let replaced = overrides
        fileConfig = next
        sticky = nextSticky
        try publish(next, draining: [])
        rollouts.supersede(by: "reload")
        return (replaced, notes)
    }
}
