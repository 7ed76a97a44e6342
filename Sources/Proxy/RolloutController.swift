import Balancing
import EventLoop

/// Runs a rollout inside the proxy, on the control loop: every `tickMS` it collects the two
/// pools' totals from the workers, judges the new pool against the old one over the window
/// since the step began (its last `maxWindowMS` once the step is older: recent traffic, yet
/// long enough for a quiet step to reach min-requests whatever the hold), and applies what
/// the `Rollout` state machine decides — the next step, completion, or a rollback, which
/// publishes the old pool's 100% before the tick returns.
///
/// The window is a difference of cumulative per-pool totals (kept once a second), so the
/// workers keep no rollout state and the request path is unchanged.
public final class RolloutController: @unchecked Sendable {
    unowned let control: ProxyControl
    public private(set) var rollout: Rollout?
    /// The config block the rollout came from (`rollout start PLAN`), if any.
    public private(set) var planName: String?
    /// Why an operator-ended rollout ended (abort, superseded); the state machine has no reason for those.
    public private(set) var endNote: String?
    public private(set) var events: [(atMS: Int64, event: String, percent: Int)] = []
    /// Finished rollouts by outcome, for metrics.
    public private(set) var outcomes: [String: UInt64] = [:]
    /// The last judged window, for status.
    public private(set) var lastWindow: (old: PoolWindow, new: PoolWindow, seconds: Double)?

    public static let tickMS: Int64 = 250
    public static let maxWindowMS: Int64 = 60_000
    public static let outcomeNames = ["completed", "promoted", "rolled-back", "aborted"]

    private struct Sample {
        var ms: Int64
        var old: TrafficCounters
        var new: TrafficCounters
    }
    private var samples: [Sample] = []
    /// Bumped whenever the window must start over (new rollout, new step, resume): a gather
    /// that began before is discarded.
    private var epoch: UInt64 = 0
    private var gathering = false
    private var timer: LoopTimer?
    private var lastID: UInt64 = 0

    init(control: ProxyControl) {
        self.control = control
    }

    static var nowMS: Int64 { Int64(MonotonicClock.now() / 1_000_000) }

    /// The id cookies carry: the current (or last) rollout's, 0 before any.
    public var stickyEpoch: UInt64 { rollout?.id ?? 0 }

    public var isActive: Bool { rollout.map { !$0.isFinished } ?? false }

    // MARK: commands

    /// `rollout start TARGET [options]`: TARGET is a `rollout NAME {}` plan of the config file
    /// (options override its settings) or the new pool. The old pool defaults to the pool with
    /// the largest split other than the new one.
    public func start(arguments: [String]) throws(ControlError) {
        if let r = rollout, !r.isFinished {
            throw ControlError("rollout_active", "rollout \(r.id) (\(r.spec.newPool) from \(r.spec.oldPool)) is \(r.state.name); pause, promote or abort it first")
        }
        guard let target = arguments.first else { throw ControlError("bad_rollout", "missing the new pool (usage: \(RolloutSpec.usage))") }
        let config = control.config
        var args = arguments
        var plan: String?
        if let p = config.rolloutPlan(named: target) {
            plan = p.name
            args = Self.arguments(of: p.spec) + Array(arguments.dropFirst())
            args = Self.lastWins(args)
        }
        let newPool = args[0]
        guard let newIndex = config.poolIndex(named: newPool) else {
            let known = config.pools.map(\.name).joined(separator: ", ")
            throw ControlError("unknown_pool", "no pool or rollout plan named '\(newPool)' (pools: \(known))")
        }
        let old = config.pools.indices.filter { $0 != newIndex }.max { config.split[$0] < config.split[$1] }
            .map { config.pools[$0].name }
        let spec: RolloutSpec
        switch RolloutSpec.parse(arguments: args, oldPool: old) {
        case .success(let s): spec = s
        case .failure(let e): throw ControlError("bad_rollout", e.message)
        }
        guard let oldIndex = config.poolIndex(named: spec.oldPool) else {
            throw ControlError("unknown_pool", "no pool named '\(spec.oldPool)' (the pool to roll back to)")
        }
        guard !config.pools[newIndex].servers.isEmpty else {
            throw ControlError("bad_rollout", "pool '\(newPool)' has no servers")
        }
        guard !config.pools[oldIndex].servers.isEmpty else {
            throw ControlError("bad_rollout", "pool '\(spec.oldPool)' has no servers to roll back to")
        }
        // The first step hands the old pool 100 - p percent at once: a pool with no traffic now
        // (a colour scaled down after the last release) must not get nearly all of it by surprise.
        guard config.split[oldIndex] > 0 else {
            throw ControlError("bad_rollout", "pool '\(spec.oldPool)' has no traffic now (split 0): the first step would move \(100 - spec.steps[0])% of the traffic onto it at once; name the pool that carries the traffic with 'from POOL'")
        }
        let now = Self.nowMS
        // Unique across restarts too (cookies carry it): wall-clock milliseconds, strictly increasing.
        let wall = WallClock.now()
        let id = max(lastID + 1, UInt64(max(0, wall.seconds)) * 1000 + UInt64(wall.nanoseconds / 1_000_000))
        lastID = id
        let next = Rollout(id: id, spec: spec, nowMS: now)
        try control.applyRolloutSplit(old: spec.oldPool, new: spec.newPool, percent: next.newPercent, rolloutID: id)
        rollout = next
        planName = plan
        endNote = nil
        events = [(now, "started", next.newPercent)]
        lastWindow = nil
        restartWindow()
        Log.info("rollout \(id): started, \(spec.newPool) from \(spec.oldPool), steps \(spec.steps.map(String.init).joined(separator: ",")), hold \(spec.holdMS)ms; \(spec.newPool) at \(next.newPercent)%")
        scheduleTick()
    }

    public func pause() throws(ControlError) {
        try command("paused") { (r: inout Rollout, now: Int64) in r.pause(nowMS: now) }
    }

    public func resume() throws(ControlError) {
        try command("resumed") { (r: inout Rollout, now: Int64) in r.resume(nowMS: now) }
        restartWindow()
        scheduleTick()
    }

    public func promote() throws(ControlError) {
        try command("promoted") { (r: inout Rollout, now: Int64) in r.promote(nowMS: now) }
    }

    public func abort() throws(ControlError) {
        try command("aborted") { (r: inout Rollout, now: Int64) in r.abort(nowMS: now) }
        endNote = "aborted by the operator"
    }

    private func command(_ event: String, _ body: (inout Rollout, Int64) -> Result<RolloutAction, RolloutCommandError>) throws(ControlError) {
        guard var r = rollout else { throw ControlError("no_rollout", "no rollout has been started") }
        let now = Self.nowMS
        switch body(&r, now) {
        case .failure(let e):
            throw ControlError(r.isFinished ? "rollout_ended" : "bad_rollout", e.message)
        case .success(let action):
            if case .setSplit(let p) = action, p != rollout?.newPercent {
                try control.applyRolloutSplit(old: r.spec.oldPool, new: r.spec.newPool, percent: p, rolloutID: r.id)
            }
            rollout = r
            events.append((now, event, r.newPercent))
            if r.isFinished { finished(outcome: event == "promoted" ? "promoted" : "aborted") }
            Log.info("rollout \(r.id): \(event) by the operator; \(r.spec.newPool) at \(r.newPercent)%")
        }
    }

    /// A manual `split`, `undo` or `reload` replaced the split a running rollout manages: the
    /// rollout ends as aborted (the operator's change stands).
    func supersede(by what: String) {
        guard var r = rollout, !r.isFinished else { return }
        _ = r.abort(nowMS: Self.nowMS)
        rollout = r
        endNote = "superseded by '\(what)'"
        events.append((Self.nowMS, "aborted", r.newPercent))
        finished(outcome: "aborted")
        Log.warn("rollout \(r.id): superseded by '\(what)'; the rollout is aborted and the new split stands")
    }

    private func finished(outcome: String) {
        outcomes[outcome, default: 0] += 1
        timer?.cancel()
        timer = nil
        restartWindow()
    }

    // MARK: judging

    private func restartWindow() {
        epoch &+= 1
        samples = []
    }

    private func scheduleTick() {
        timer?.cancel()
        timer = control.control.schedule(afterMS: Self.tickMS) { [weak self] in self?.tick() }
    }

    private func tick() {
        timer = nil
        guard let r = rollout, !r.isFinished else { return }
        scheduleTick()
        guard !gathering else { return }
        gathering = true
        let started = epoch
        control.proxy.gatherPoolTotals(on: control.control) { [weak self] totals in
            guard let self else { return }
            gathering = false
            guard started == epoch else { return }
            judge(totals)
        }
    }

    private func judge(_ totals: [String: TrafficCounters]) {
        guard var r = rollout, !r.isFinished else { return }
        let now = Self.nowMS
        let current = Sample(ms: now, old: totals[r.spec.oldPool] ?? TrafficCounters(), new: totals[r.spec.newPool] ?? TrafficCounters())
        guard let first = samples.first else {
            samples = [current]   // the baseline of this step's window
            return
        }
        var base = first
        var baseIndex = 0
        for (i, s) in samples.enumerated() where s.ms <= now - Self.maxWindowMS { base = s; baseIndex = i }
        if baseIndex > 0 { samples.removeFirst(baseIndex) }
        if now - samples[samples.count - 1].ms >= 1000 { samples.append(current) }

        let oldWindow = Self.window(current.old, since: base.old)
        let newWindow = Self.window(current.new, since: base.new)
        lastWindow = (oldWindow, newWindow, Double(now - base.ms) / 1000)

        let judge = r.judge
        var verdict = judge.verdict(old: oldWindow, new: newWindow)
        let snapshot = control.proxy.store.snapshot
        if let i = snapshot.pools.firstIndex(where: { $0.name == r.spec.newPool }), snapshot.failedOver.contains(i) {
            verdict = .breach(reason: "pool \(r.spec.newPool) has no usable server (its share failed over to the other pools)",
                              figures: judge.figures(old: oldWindow, new: newWindow))
        }
        let percentBefore = r.newPercent
        let action = r.tick(nowMS: now, verdict: verdict)
        rollout = r
        guard let action else { return }
        apply(action, r, now: now, percentBefore: percentBefore)
        // A new step's window starts from these totals (taken under the previous split, so at
        // most the requests in flight at the change are counted in the new step).
        if case .setSplit = action, rollout?.isFinished == false { samples = [current] }
    }

    private func apply(_ action: RolloutAction, _ r: Rollout, now: Int64, percentBefore: Int) {
        switch action {
        case .setSplit(let p):
            do {
                try control.applyRolloutSplit(old: r.spec.oldPool, new: r.spec.newPool, percent: p, rolloutID: r.id)
            } catch {
                Log.error("rollout \(r.id): cannot set \(r.spec.newPool) to \(p)%: \(error.message); aborting the rollout")
                supersede(by: "a failed step")
                return
            }
            events.append((now, "step", p))
            restartWindow()
            Log.info("rollout \(r.id): step \((r.step ?? 0) + 1) of \(r.spec.steps.count): \(r.spec.newPool) at \(p)%")
        case .rollBack(let reason):
            do {
                try control.applyRolloutSplit(old: r.spec.oldPool, new: r.spec.newPool, percent: 0, rolloutID: r.id)
            } catch {
                Log.error("rollout \(r.id): could not publish the rollback split: \(error.message)")
            }
            events.append((now, "rolled-back", 0))
            finished(outcome: "rolled-back")
            var figures = ""
            if case .rolledBack(_, let f) = r.state { figures = "; \(f)" }
            Log.warn("rollout \(r.id) rolled back to \(r.spec.oldPool) (\(r.spec.newPool) was at \(percentBefore)%): \(reason)\(figures)")
        case .complete:
            events.append((now, "completed", 100))
            finished(outcome: "completed")
            Log.info("rollout \(r.id): completed; \(r.spec.newPool) at 100%")
        }
    }

    static func window(_ now: TrafficCounters, since base: TrafficCounters) -> PoolWindow {
        let requests = now.completed &- base.completed
        let errors = now.failed &- base.failed
        // Totals never go backwards; a wrap would mean a bug, so it reads as "no data".
        guard requests < UInt64(Int.max), errors <= requests else { return PoolWindow(requests: 0, errors: 0) }
        let latency = now.latency.minus(base.latency)
        return PoolWindow(requests: Int(requests), errors: Int(errors),
                          p99MS: latency.total > 0 ? latency.percentileMS(0.99) : nil)
    }

    /// A spec as `rollout start` arguments (a plan's settings, before command-line overrides).
    static func arguments(of s: RolloutSpec) -> [String] {
        [s.newPool, "from", s.oldPool, "steps", s.steps.map(String.init).joined(separator: ","),
         "hold", "\(s.holdMS)ms", "max-error-rate", decimalText(s.maxErrorRate * 100) + "%",
         "max-p99", decimalText(s.maxP99Ratio) + "x", "min-requests", "\(s.minRequests)"]
    }

    /// "1.5", "0.25", "2": up to six decimals, the form `RolloutSpec.parse` reads back.
    static func decimalText(_ v: Double) -> String {
        let micro = Int64((v * 1_000_000).rounded())
        var fraction = String(micro % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(micro / 1_000_000)" + (fraction.isEmpty ? "" : ".\(fraction)")
    }

    /// Keeps the last value of each option (command-line options override a plan's).
    static func lastWins(_ args: [String]) -> [String] {
        var out = [args[0]]
        var values: [(String, String)] = []
        var i = 1
        while i + 1 < args.count {
            if let j = values.firstIndex(where: { $0.0 == args[i] }) { values[j].1 = args[i + 1] } else { values.append((args[i], args[i + 1])) }
            i += 2
        }
        if i < args.count { out.append(args[i]) }   // a dangling keyword: let the parser report it
        for (k, v) in values { out += [k, v] }
        return out
    }
}
