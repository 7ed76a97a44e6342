/// What a pool's config says about judging the health of one of its servers, plus the passive
/// ejection timing (not configurable in the file; tests and the proxy may change it).
public struct HealthPolicy: Hashable, Sendable {
    /// The pool has a `health` line: servers start down (unless `initialUp`) and an ejected
    /// server comes back only after a passing check.
    public var activeChecks: Bool
    /// Consecutive passing checks that bring a down server up.
    public var rise: Int
    /// Consecutive failing checks that take an up server down.
    public var fall: Int
    /// With active checks: state of a new server before its first checks.
    public var initialUp: Bool
    /// Consecutive failed requests that eject a server; nil: passive detection off.
    public var ejectAfter: Int?
    /// First ejection of a streak; every further ejection of the streak doubles it...
    public var baseEjectionMS: Int64
    /// ...up to this cap.
    public var maxEjectionMS: Int64
    /// The streak (and so the period) starts over once the server has been back in rotation,
    /// without a new ejection, for this long.
    public var streakResetMS: Int64

    public static let defaultBaseEjectionMS: Int64 = 10_000
    public static let defaultMaxEjectionMS: Int64 = 300_000
    public static let defaultStreakResetMS: Int64 = 300_000

    public init(activeChecks: Bool = false, rise: Int = 2, fall: Int = 3, initialUp: Bool = false,
                ejectAfter: Int? = PoolConfig.defaultEjectAfter,
                baseEjectionMS: Int64 = HealthPolicy.defaultBaseEjectionMS,
                maxEjectionMS: Int64 = HealthPolicy.defaultMaxEjectionMS,
                streakResetMS: Int64 = HealthPolicy.defaultStreakResetMS) {
        self.activeChecks = activeChecks
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        self.initialUp = initialUp
        self.ejectAfter = ejectAfter.map { max(1, $0) }
        self.baseEjectionMS = max(1, baseEjectionMS)
        self.maxEjectionMS = max(1, maxEjectionMS)
        self.streakResetMS = max(1, streakResetMS)
    }

    /// The policy of every server of `pool`.
    public init(pool: PoolConfig) {
        self.init(activeChecks: pool.health != nil, rise: pool.health?.rise ?? 2, fall: pool.health?.fall ?? 3,
                  initialUp: pool.health?.initialUp ?? false, ejectAfter: pool.ejectAfter)
    }

    /// Length of the `streak`-th ejection in a row (1-based): base, 2 x base, 4 x base, ...,
    /// capped at `maxEjectionMS`. With the defaults: 10 s, 20 s, 40 s, 80 s, 160 s, 300 s, 300 s...
    public func ejectionPeriodMS(streak: Int) -> Int64 {
        let doublings = max(0, streak - 1)
        guard doublings < 62 else { return maxEjectionMS }
        let (period, overflow) = baseEjectionMS.multipliedReportingOverflow(by: Int64(1) << Int64(doublings))
        return overflow ? maxEjectionMS : min(period, maxEjectionMS)
    }
}

/// Health of one upstream server: a pure state machine fed with check results, request outcomes
/// and the time; it never reads a clock.
///
/// Two independent judgements decide whether the server takes requests (`isUsable`):
///
/// - `status` (active checks): `rise` consecutive passing checks take a down server up, `fall`
///   consecutive failing checks take an up server down. Without active checks it stays up.
/// - `ejection` (passive outlier detection): `ejectAfter` consecutive failed requests eject the
///   server for `policy.ejectionPeriodMS(streak:)`. When the period is over (`tick`):
///   - with active checks the server waits for one passing check (`awaitingCheck`);
///   - without, it goes on probation: it may take exactly one request (`requestStarted()` takes
///     the slot); success restores it, failure ejects it again for the next, longer period.
///
/// Streak decay: the streak counts ejections in a row; it starts over (so the next ejection is
/// 10 s again) once the server has been in rotation for `streakResetMS` (5 min) without being
/// ejected. A probation failure is not "in rotation", so it always lengthens the period.
///
/// Request outcomes are ignored while the server is out of rotation (down, ejected, awaiting a
/// check) except for the probation request, and so are outcomes of requests that started before
/// the server last left rotation (pass `startedMS`, the time the request was sent): a slow request
/// sent before an ejection must not decide the probation that follows it.
public struct ServerHealth: Hashable, Sendable {
    public enum Status: Hashable, Sendable {
        case up, down
    }

    public enum Ejection: Hashable, Sendable {
        /// Not ejected.
        case none
        /// Out of rotation until `untilMS` (then `tick` moves on).
        case ejected(untilMS: Int64)
        /// Period over; with active checks: back with the next passing check.
        case awaitingCheck
        /// Period over; without active checks: one trial request. `inFlight`: it was sent.
        case probation(inFlight: Bool)
    }

    /// The outcome of the latest active check, for status displays.
    public struct CheckRecord: Hashable, Sendable {
        public var atMS: Int64
        public var passed: Bool
        /// E.g. "HTTP 503" or "connect refused"; whatever the prober reports.
        public var detail: String

        public init(atMS: Int64, passed: Bool, detail: String) {
            self.atMS = atMS
            self.passed = passed
            self.detail = detail
        }
    }

    /// A change worth a log line.
    public enum Transition: Hashable, Sendable, CustomStringConvertible {
        /// Active checks took the server down.
        case down(reason: String)
        /// Active checks brought the server up.
        case up
        /// Passive detection took the server out of rotation until `untilMS`.
        case ejected(untilMS: Int64, reason: String)
        /// Ejection period over; waiting for a passing check (pool with active checks).
        case awaitingCheck
        /// Ejection period over; one trial request allowed (pool without active checks).
        case probation
        /// Back in rotation after an ejection (passing check or successful probation request).
        case restored

        public var description: String {
            switch self {
            case .down(let reason): return "down: \(reason)"
            case .up: return "up"
            case .ejected(let until, let reason): return "ejected until \(until) ms: \(reason)"
            case .awaitingCheck: return "ejection over, waiting for a passing check"
            case .probation: return "ejection over, on probation (one trial request)"
            case .restored: return "restored"
            }
        }
    }

    public private(set) var policy: HealthPolicy
    public private(set) var status: Status
    public private(set) var ejection: Ejection = .none
    /// All ejections of this server so far (statistics; never decays).
    public private(set) var ejections = 0
    /// Ejections in a row; drives the period; see the type's documentation for the decay.
    public private(set) var ejectionStreak = 0
    public private(set) var lastCheck: CheckRecord?
    public private(set) var consecutivePasses = 0
    public private(set) var consecutiveCheckFailures = 0
    /// Consecutive failed requests (passive detection).
    public private(set) var consecutiveFailures = 0
    /// When the server last came into rotation (up and not ejected); nil while out of rotation.
    /// Slow start ramps from here.
    public private(set) var inRotationSinceMS: Int64?
    /// When the server last left rotation; outcomes of requests started before are stale.
    public private(set) var leftRotationAtMS: Int64?

    /// A new server. With active checks it starts down unless `initialUp`; without, up. A server
    /// that starts in rotation counts as in rotation since `nowMS` (slow start ramps it).
    public init(policy: HealthPolicy, nowMS: Int64) {
        self.policy = policy
        status = !policy.activeChecks || policy.initialUp ? .up : .down
        if status == .up { inRotationSinceMS = nowMS }
    }

    /// Up and not ejected. Probation servers are not in rotation (they get one trial request).
    public var isInRotation: Bool { status == .up && ejection == .none }

    /// May the next request go to this server? In rotation, or on probation with the trial
    /// request not yet sent.
    public var isUsable: Bool {
        guard status == .up else { return false }
        switch ejection {
        case .none, .probation(inFlight: false): return true
        case .ejected, .awaitingCheck, .probation(inFlight: true): return false
        }
    }

    /// Out of rotation because of passive detection (ejected, awaiting a check, on probation).
    public var isEjected: Bool { ejection != .none }

    /// End of the current ejection period (for a timer); nil when not in that phase.
    public var ejectedUntilMS: Int64? {
        if case .ejected(let until) = ejection { return until }
        return nil
    }

    /// One word for status displays: up, down, ejected, awaiting-check, probation.
    public var stateName: String {
        switch ejection {
        case .ejected: return "ejected"
        case .awaitingCheck: return status == .up ? "awaiting-check" : "down"
        case .probation: return "probation"
        case .none: return status == .up ? "up" : "down"
        }
    }

    // MARK: - Active checks

    /// One active check finished. Applies rise/fall, and lifts an ejection whose period is over
    /// (`awaitingCheck`) on a pass. Returns `.up`/`.down` when the status changed, else
    /// `.restored` when the pass lifted the ejection and the server is up.
    @discardableResult
    public mutating func checkResult(passed: Bool, nowMS: Int64, detail: String = "") -> Transition? {
        let wasInRotation = isInRotation
        lastCheck = CheckRecord(atMS: nowMS, passed: passed, detail: detail)
        if passed {
            consecutivePasses += 1
            consecutiveCheckFailures = 0
        } else {
            consecutiveCheckFailures += 1
            consecutivePasses = 0
        }
        var lifted = false
        if passed, ejection == .awaitingCheck {
            ejection = .none
            consecutiveFailures = 0
            lifted = true
        }
        var result: Transition?
        switch status {
        case .down where consecutivePasses >= policy.rise:
            status = .up
            consecutiveFailures = 0
            result = .up
        case .up where consecutiveCheckFailures >= policy.fall:
            status = .down
            consecutiveFailures = 0
            let last = detail.isEmpty ? "" : " (last: \(detail))"
            result = .down(reason: "\(consecutiveCheckFailures) consecutive failed checks\(last)")
        default:
            if lifted && status == .up { result = .restored }
        }
        settle(wasInRotation: wasInRotation, nowMS: nowMS)
        return result
    }

    // MARK: - Passive detection

    /// A request to this server failed (connect error, reset, timeout; a 5xx with `eject-on
    /// 5xx`). At `ejectAfter` consecutive failures the server is ejected, unless `mayEject` is
    /// false (the pool's `max-eject` share is used up: see `EjectionPolicy`); the count then
    /// stays at the threshold so the next failure tries again. A failed probation request ejects
    /// again at once (it is already counted as ejected, so `mayEject` does not apply).
    @discardableResult
    public mutating func passiveFailure(nowMS: Int64, startedMS: Int64? = nil, detail: String = "",
                                        mayEject: Bool = true) -> Transition? {
        guard !isStale(startedMS) else { return nil }
        let last = detail.isEmpty ? "" : " (last: \(detail))"
        switch ejection {
        case .ejected, .awaitingCheck:
            return nil
        case .probation:
            guard status == .up else { return nil }
            return eject(nowMS: nowMS, reason: "probation request failed\(last)")
        case .none:
            break
        }
        guard status == .up else { return nil }
        consecutiveFailures += 1
        guard let limit = policy.ejectAfter, consecutiveFailures >= limit, mayEject else { return nil }
        return eject(nowMS: nowMS, reason: "\(consecutiveFailures) consecutive failed requests\(last)")
    }

    /// A request to this server succeeded: the consecutive count starts over; on probation the
    /// server is restored (`.restored`).
    @discardableResult
    public mutating func passiveSuccess(nowMS: Int64, startedMS: Int64? = nil) -> Transition? {
        guard !isStale(startedMS), status == .up else { return nil }
        switch ejection {
        case .none:
            consecutiveFailures = 0
            return nil
        case .probation:
            let wasInRotation = isInRotation
            ejection = .none
            consecutiveFailures = 0
            settle(wasInRotation: wasInRotation, nowMS: nowMS)
            return .restored
        case .ejected, .awaitingCheck:
            return nil
        }
    }

    /// A request is being sent to this server. On probation it takes the one trial slot
    /// (`isUsable` turns false) and returns true: the caller should remember that this request
    /// is the probe (and call `probeAbandoned()` if it ends without an outcome).
    @discardableResult
    public mutating func requestStarted() -> Bool {
        guard ejection == .probation(inFlight: false) else { return false }
        ejection = .probation(inFlight: true)
        return true
    }

    /// The probe request ended without telling anything about the server (e.g. the client went
    /// away before it was sent): the trial slot is free again.
    public mutating func probeAbandoned() {
        if ejection == .probation(inFlight: true) { ejection = .probation(inFlight: false) }
    }

    // MARK: - Time

    /// Ends an ejection period that is over (`.awaitingCheck` or `.probation`), and resets the
    /// streak once the server has been in rotation for `streakResetMS`. Call it when
    /// `ejectedUntilMS` is reached, or periodically; calling it more often changes nothing.
    @discardableResult
    public mutating func tick(nowMS: Int64) -> Transition? {
        decayStreak(nowMS: nowMS)
        guard case .ejected(let until) = ejection, nowMS >= until else { return nil }
        if policy.activeChecks {
            ejection = .awaitingCheck
            return .awaitingCheck
        }
        ejection = .probation(inFlight: false)
        return .probation
    }

    /// A reload changed the pool's settings; the server keeps its state where it still makes
    /// sense. Active checks removed: a down server comes up and one awaiting a check goes on
    /// probation. Passive detection turned off: any ejection ends now. Active checks added: the
    /// current status stays (a serving server is not taken out until checks fail).
    public mutating func reconfigure(_ newPolicy: HealthPolicy, nowMS: Int64) {
        let wasInRotation = isInRotation
        policy = newPolicy
        if !newPolicy.activeChecks {
            status = .up
            if ejection == .awaitingCheck { ejection = .probation(inFlight: false) }
        }
        if newPolicy.ejectAfter == nil {
            ejection = .none
            ejectionStreak = 0
        }
        consecutivePasses = min(consecutivePasses, newPolicy.rise)
        consecutiveCheckFailures = min(consecutiveCheckFailures, newPolicy.fall)
        settle(wasInRotation: wasInRotation, nowMS: nowMS)
    }

    // MARK: - Internals

    /// Started at or before the server last left rotation. "At" counts as before: nothing is
    /// sent to a server out of rotation, and a probe starts only after an ejection period (>= 1 ms).
    private func isStale(_ startedMS: Int64?) -> Bool {
        guard let started = startedMS, let left = leftRotationAtMS else { return false }
        return started <= left
    }

    private mutating func decayStreak(nowMS: Int64) {
        if ejectionStreak > 0, let since = inRotationSinceMS, nowMS - since >= policy.streakResetMS {
            ejectionStreak = 0
        }
    }

    private mutating func eject(nowMS: Int64, reason: String) -> Transition {
        let wasInRotation = isInRotation
        decayStreak(nowMS: nowMS)
        ejectionStreak += 1
        ejections += 1
        let period = policy.ejectionPeriodMS(streak: ejectionStreak)
        let until = nowMS.addingReportingOverflow(period).overflow ? Int64.max : nowMS + period
        ejection = .ejected(untilMS: until)
        consecutiveFailures = 0
        settle(wasInRotation: wasInRotation, nowMS: nowMS)
        if !wasInRotation { leftRotationAtMS = nowMS }  // a failed probe: later probe outcomes start fresh
        return .ejected(untilMS: until, reason: "\(reason); ejection \(ejectionStreak) in a row, for \(ValueParsing.formatted(ms: period))")
    }

    /// Keeps `inRotationSinceMS`/`leftRotationAtMS` in step with `isInRotation`.
    private mutating func settle(wasInRotation: Bool, nowMS: Int64) {
        let now = isInRotation
        if now && !wasInRotation {
            inRotationSinceMS = nowMS
        } else if !now && wasInRotation {
            inRotationSinceMS = nil
            leftRotationAtMS = nowMS
        }
    }
}
