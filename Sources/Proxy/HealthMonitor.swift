import Balancing
import EventLoop

/// Health of every upstream server, on the control loop: active checks (`HealthProbe`, spread
/// out in time, one in flight per server), passive outcomes reported by the workers, ejection
/// periods, probation and slow start. Whenever a server's usability or slow-start weight
/// changes, it asks `ProxyControl` to publish a new snapshot, so the workers route by it at
/// their next request.
public final class HealthMonitor {
    struct Entry {
        var health: ServerHealth
        var pool: String
        var address: SocketAddress
        var hostHeader: String
        var check: HealthCheckConfig?
        var maxEjectPercent: Int
        var slowStartMS: Int64
        var weight: Int
        var timer: LoopTimer?
        var probe: HealthProbe?
    }

    private let loop: EventLoop
    private var entries: [String: Entry] = [:]
    private var ticker: LoopTimer?
    private var lastViews: [String: ServerView] = [:]
    /// Called when the views changed (ProxyControl republishes).
    var onChange: (() -> Void)?

    init(loop: EventLoop) {
        self.loop = loop
    }

    static var nowMS: Int64 { Int64(MonotonicClock.now() / 1_000_000) }

    /// Brings the tracked servers in line with `config` (start, reload, admin changes).
    func sync(_ config: ProxyConfig) {
        let now = Self.nowMS
        var seen = Set<String>()
        for pool in config.pools {
            let policy = HealthPolicy(pool: pool)
            for (i, s) in pool.servers.enumerated() {
                let key = ServerSnapshot.key(pool: pool.name, address: s.address)
                seen.insert(key)
                if entries[key] == nil {
                    guard let addr = SocketAddress(ip: s.address.host, port: s.address.port) else { continue }
                    entries[key] = Entry(health: ServerHealth(policy: policy, nowMS: now), pool: pool.name, address: addr,
                                         hostHeader: s.address.description, check: pool.health,
                                         maxEjectPercent: pool.maxEjectPercent, slowStartMS: pool.slowStartMS,
                                         weight: s.weight)
                    // Spread the first checks of a pool over a short window (not a whole
                    // interval), so a fresh start learns its servers' health quickly.
                    if let check = pool.health {
                        let offset = Int64(i) * min(check.intervalMS, 200) / Int64(max(1, pool.servers.count))
                        scheduleCheck(key, afterMS: offset)
                    }
                } else {
                    entries[key]!.health.reconfigure(policy, nowMS: now)
                    let hadCheck = entries[key]!.check != nil
                    entries[key]!.check = pool.health
                    entries[key]!.maxEjectPercent = pool.maxEjectPercent
                    entries[key]!.slowStartMS = pool.slowStartMS
                    entries[key]!.weight = s.weight
                    if !hadCheck, pool.health != nil { scheduleCheck(key, afterMS: 0) }
                }
            }
        }
        for key in entries.keys where !seen.contains(key) {
            entries[key]?.timer?.cancel()
            entries.removeValue(forKey: key)
        }
        if ticker == nil { scheduleTick() }
    }

    /// What the snapshot should say about each server. `scaledWeight` is set only while a
    /// server ramps up after coming into rotation (`slow-start`).
    func views() -> [String: ServerView] {
        let now = Self.nowMS
        var out: [String: ServerView] = [:]
        for (key, e) in entries {
            var view = ServerView(usable: e.health.isUsable)
            if case .probation(inFlight: false) = e.health.ejection { view.probation = true }
            if e.slowStartMS > 0, let since = e.health.inRotationSinceMS, now - since < e.slowStartMS {
                view.scaledWeight = SlowStart.scaledWeight(configured: e.weight, sinceUpMS: now - since, slowStartMS: e.slowStartMS)
            }
            out[key] = view
        }
        return out
    }

    /// `views()`, remembered as what the workers now route by.
    func publishedViews() -> [String: ServerView] {
        lastViews = views()
        return lastViews
    }

    // MARK: passive outcomes from the workers

    func handle(_ event: HealthEvent) {
        guard var e = entries[event.key] else { return }
        let now = Self.nowMS
        var t: ServerHealth.Transition?
        switch event.kind {
        case .failure(let detail):
            let poolKeys = entries.filter { $0.value.pool == e.pool }
            let ejected = poolKeys.values.filter { $0.health.isEjected }.count
            let may = EjectionPolicy.mayEject(ejectedNow: ejected, poolSize: poolKeys.count, maxPercent: e.maxEjectPercent)
            t = e.health.passiveFailure(nowMS: now, startedMS: event.startedMS, detail: detail, mayEject: may)
        case .success:
            t = e.health.passiveSuccess(nowMS: now, startedMS: event.startedMS)
        case .probeStarted:
            _ = e.health.requestStarted()
        case .probeAbandoned:
            e.health.probeAbandoned()
        }
        entries[event.key] = e
        if let t { Log.warn("health: \(event.key) \(t)") }
        changedIfNeeded()
    }

    // MARK: active checks

    private func scheduleCheck(_ key: String, afterMS: Int64) {
        entries[key]?.timer?.cancel()
        entries[key]?.timer = loop.schedule(afterMS: afterMS) { [weak self] in self?.runCheck(key) }
    }

    private func runCheck(_ key: String) {
        guard let e = entries[key], let check = e.check else { return }
        if e.probe == nil {
            let probe = HealthProbe(loop: loop, address: e.address, method: check.method, path: check.path,
                                    hostHeader: e.hostHeader, timeoutMS: check.timeoutMS,
                                    expect: check.expectLow...check.expectHigh) { [weak self] outcome in
                self?.checkDone(key, outcome)
            }
            if entries[key] != nil, !probe.isClosed, probe.fd >= 0 { entries[key]!.probe = probe }
        }
        scheduleCheck(key, afterMS: check.intervalMS)
    }

    private func checkDone(_ key: String, _ outcome: HealthProbe.Outcome) {
        guard var e = entries[key] else { return }
        e.probe = nil
        let t: ServerHealth.Transition?
        switch outcome {
        case .passed(let status):
            t = e.health.checkResult(passed: true, nowMS: Self.nowMS, detail: "HTTP \(status)")
        case .failed(let why):
            t = e.health.checkResult(passed: false, nowMS: Self.nowMS, detail: why)
        }
        entries[key] = e
        if let t { Log.warn("health: \(key) \(t)") }
        changedIfNeeded()
    }

    // MARK: time

    private func scheduleTick() {
        ticker = loop.schedule(afterMS: 100) { [weak self] in
            guard let self else { return }
            let now = Self.nowMS
            for key in entries.keys {
                if let t = entries[key]!.health.tick(nowMS: now) { Log.warn("health: \(key) \(t)") }
            }
            changedIfNeeded()
            scheduleTick()
        }
    }

    private var lastRampPublish: Int64 = 0

    /// Asks for a new snapshot when usability changed, and about once a second while a server
    /// ramps up (each publish restarts the workers' pickers, so not more often).
    private func changedIfNeeded() {
        let before = lastViews
        let now = views()
        var changed = before.count != now.count
        var ramping = false
        for (key, v) in now {
            if v.scaledWeight != nil { ramping = true }
            guard let b = before[key] else { changed = true; continue }
            if b.usable != v.usable || b.probation != v.probation || (b.scaledWeight != nil) != (v.scaledWeight != nil) {
                changed = true
            }
        }
        let t = Self.nowMS
        if changed || (ramping && t - lastRampPublish >= 1000) {
            lastRampPublish = t
            onChange?()     // publishes, which records the views
        }
    }

    // MARK: status

    func health(_ key: String) -> ServerHealth? { entries[key]?.health }
}
