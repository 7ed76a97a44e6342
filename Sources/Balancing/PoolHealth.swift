/// The pool-wide cap of passive detection (`max-eject P%`).
public enum EjectionPolicy {
    /// May passive detection eject one more server, with `ejectedNow` servers of a pool of
    /// `poolSize` already ejected? At most floor(poolSize x maxPercent / 100) servers are ejected
    /// at a time, with no "at least one" rounding: with 50 % a pool of 2 or 3 may lose one
    /// server and a pool of 1 none (ejecting the only server would turn every request into an
    /// error, or fail the whole pool over, on passive evidence alone; active checks can still
    /// take it down). `max-eject 100%` allows ejecting every server, 0% disables ejection.
    /// Servers taken down by active checks are not counted: the cap is on passive detection.
    public static func mayEject(ejectedNow: Int, poolSize: Int, maxPercent: Int) -> Bool {
        guard poolSize > 0, maxPercent > 0 else { return false }
        let allowed = poolSize * min(maxPercent, 100) / 100
        return max(0, ejectedNow) < allowed
    }
}

/// The health of every server of one pool, with `max-eject` enforced: `ServerHealth` values
/// aligned with the pool's servers. Pure like its parts; the index-based methods ignore indices
/// out of range (a server removed meanwhile) and return nil.
public struct PoolHealth: Hashable, Sendable {
    /// One server's change, for logging.
    public struct Change: Hashable, Sendable {
        public var server: Int
        public var transition: ServerHealth.Transition

        public init(server: Int, transition: ServerHealth.Transition) {
            self.server = server
            self.transition = transition
        }
    }

    /// Aligned with the pool's servers. Mutable so servers can be added or removed at runtime
    /// (append `ServerHealth(policy: policy, nowMS:)` / remove at the same index).
    public var servers: [ServerHealth]
    public var policy: HealthPolicy
    public var maxEjectPercent: Int

    public init(policy: HealthPolicy, serverCount: Int, maxEjectPercent: Int, nowMS: Int64) {
        self.policy = policy
        self.maxEjectPercent = maxEjectPercent
        servers = (0..<max(0, serverCount)).map { _ in ServerHealth(policy: policy, nowMS: nowMS) }
    }

    public init(pool: PoolConfig, nowMS: Int64) {
        self.init(policy: HealthPolicy(pool: pool), serverCount: pool.servers.count,
                  maxEjectPercent: pool.maxEjectPercent, nowMS: nowMS)
    }

    /// Servers out of rotation because of passive detection (ejected, awaiting a check, probation).
    public var ejectedCount: Int { servers.reduce(0) { $0 + ($1.isEjected ? 1 : 0) } }

    public var usable: [Bool] { servers.map(\.isUsable) }

    /// For `Failover.effectiveSplit`.
    public var hasUsableServer: Bool { servers.contains { $0.isUsable } }

    /// The earliest end of an ejection period, for a timer that calls `tick`.
    public var nextEjectionEndMS: Int64? { servers.compactMap(\.ejectedUntilMS).min() }

    @discardableResult
    public mutating func checkResult(server: Int, passed: Bool, nowMS: Int64, detail: String = "") -> ServerHealth.Transition? {
        guard servers.indices.contains(server) else { return nil }
        return servers[server].checkResult(passed: passed, nowMS: nowMS, detail: detail)
    }

    /// `ServerHealth.passiveFailure` with `mayEject` from `EjectionPolicy` and this pool's
    /// `maxEjectPercent` (a failed probation request re-ejects regardless: that server is
    /// already counted among the ejected).
    @discardableResult
    public mutating func passiveFailure(server: Int, nowMS: Int64, startedMS: Int64? = nil,
                                        detail: String = "") -> ServerHealth.Transition? {
        guard servers.indices.contains(server) else { return nil }
        let allowed = EjectionPolicy.mayEject(ejectedNow: ejectedCount, poolSize: servers.count, maxPercent: maxEjectPercent)
        return servers[server].passiveFailure(nowMS: nowMS, startedMS: startedMS, detail: detail, mayEject: allowed)
    }

    @discardableResult
    public mutating func passiveSuccess(server: Int, nowMS: Int64, startedMS: Int64? = nil) -> ServerHealth.Transition? {
        guard servers.indices.contains(server) else { return nil }
        return servers[server].passiveSuccess(nowMS: nowMS, startedMS: startedMS)
    }

    /// See `ServerHealth.requestStarted()`: true if this request is the server's probation probe.
    @discardableResult
    public mutating func requestStarted(server: Int) -> Bool {
        guard servers.indices.contains(server) else { return false }
        return servers[server].requestStarted()
    }

    public mutating func probeAbandoned(server: Int) {
        guard servers.indices.contains(server) else { return }
        servers[server].probeAbandoned()
    }

    /// `ServerHealth.tick` for every server; the changes in server order.
    public mutating func tick(nowMS: Int64) -> [Change] {
        var changes: [Change] = []
        for i in servers.indices {
            if let t = servers[i].tick(nowMS: nowMS) { changes.append(Change(server: i, transition: t)) }
        }
        return changes
    }

    /// A reload changed the pool's settings (same servers): every server is reconfigured.
    public mutating func reconfigure(pool: PoolConfig, nowMS: Int64) {
        policy = HealthPolicy(pool: pool)
        maxEjectPercent = pool.maxEjectPercent
        for i in servers.indices { servers[i].reconfigure(policy, nowMS: nowMS) }
    }
}
