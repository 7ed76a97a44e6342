/// What `rollout start` asked for. Always valid: the initializer and `parse` reject anything
/// else, so `Rollout` can rely on a non-empty, increasing step list that ends at 100.
public struct RolloutSpec: Hashable, Sendable {
    /// The pool traffic moves to (green).
    public let newPool: String
    /// The pool traffic moves from and goes back to on a rollback (blue).
    public let oldPool: String
    /// Percent of the traffic on the new pool at each step: strictly increasing, 1...100, last 100.
    public let steps: [Int]
    /// Minimum time at each step before it may advance.
    public let holdMS: Int64
    /// Absolute error-rate ceiling for the new pool, 0...1.
    public let maxErrorRate: Double
    /// The new pool's p99 may be at most this times the old pool's (>= 1).
    public let maxP99Ratio: Double
    /// No judgement (and so no step advance) before the new pool has this many requests in the window.
    public let minRequests: Int

    public static let defaultSteps = [1, 5, 25, 50, 100]
    public static let defaultHoldMS: Int64 = 60_000
    public static let defaultMaxErrorRate = 0.01
    public static let defaultMaxP99Ratio = 1.5
    public static let defaultMinRequests = 200
    public static let maxMinRequests = 10_000_000
    public static let usage = "rollout start POOL [from POOL] [steps P,P,...,100] [hold DURATION] [max-error-rate PERCENT%] [max-p99 RATIOx] [min-requests N]"

    public init(newPool: String, oldPool: String, steps: [Int] = RolloutSpec.defaultSteps,
                holdMS: Int64 = RolloutSpec.defaultHoldMS, maxErrorRate: Double = RolloutSpec.defaultMaxErrorRate,
                maxP99Ratio: Double = RolloutSpec.defaultMaxP99Ratio,
                minRequests: Int = RolloutSpec.defaultMinRequests) throws(RolloutSpecError) {
        guard !newPool.isEmpty, !oldPool.isEmpty else { throw RolloutSpecError("missing pool name (usage: \(Self.usage))") }
        guard newPool != oldPool else {
            throw RolloutSpecError("new and old pool are both \(quoted(newPool)): a rollout needs two pools")
        }
        guard let last = steps.last else { throw RolloutSpecError("steps: no steps given") }
        for (i, step) in steps.enumerated() {
            guard (1...100).contains(step) else { throw RolloutSpecError("steps: \(step) is not a percentage 1...100") }
            if i > 0, step <= steps[i - 1] {
                throw RolloutSpecError("steps: \(step) after \(steps[i - 1]) does not increase (steps must strictly increase)")
            }
        }
        guard last == 100 else {
            throw RolloutSpecError("steps: the last step must be 100, got \(last) (a rollout ends with all traffic on the new pool)")
        }
        guard holdMS > 0, holdMS <= ValueParsing.maxDurationMs else {
            throw RolloutSpecError("hold: must be 1ms...1440m, got \(holdMS)ms")
        }
        guard maxErrorRate >= 0, maxErrorRate <= 1 else {
            throw RolloutSpecError("max-error-rate: must be 0%...100%, got \(RolloutFormat.percent(maxErrorRate))")
        }
        guard maxP99Ratio >= 1, maxP99Ratio.isFinite else {
            throw RolloutSpecError("max-p99: must be at least 1x (a ratio to the old pool's p99), got \(RolloutFormat.fixed(maxP99Ratio, 2))x")
        }
        guard (1...Self.maxMinRequests).contains(minRequests) else {
            throw RolloutSpecError("min-requests: must be 1...\(Self.maxMinRequests), got \(minRequests)")
        }
        self.newPool = newPool
        self.oldPool = oldPool
        self.steps = steps
        self.holdMS = holdMS
        self.maxErrorRate = maxErrorRate
        self.maxP99Ratio = maxP99Ratio
        self.minRequests = minRequests
    }

    static let keywords = ["from", "steps", "hold", "max-error-rate", "max-p99", "min-requests"]

    /// Parses what follows `rollout start`, e.g.
    /// `green steps 1,5,25,50,100 hold 60s max-error-rate 1% max-p99 1.5x min-requests 200`.
    /// The first argument is the new pool; every keyword is optional, at most once, in any order,
    /// with the defaults above. The old pool is `from POOL` if given, else `oldPool` (the caller's
    /// choice, e.g. the pool live now). Errors name the keyword and the offending token.
    public static func parse(arguments: [String], oldPool: String? = nil) -> Result<RolloutSpec, RolloutSpecError> {
        guard let newPool = arguments.first, !keywords.contains(newPool) else {
            return .failure(RolloutSpecError("missing the new pool (usage: \(usage))"))
        }
        var values: [String: String] = [:]
        var i = 1
        while i < arguments.count {
            let keyword = arguments[i]
            guard keywords.contains(keyword) else {
                return .failure(RolloutSpecError("unknown option \(quoted(keyword)) (expected from, steps, hold, max-error-rate, max-p99 or min-requests)"))
            }
            guard values[keyword] == nil else { return .failure(RolloutSpecError("\(keyword): given twice")) }
            guard i + 1 < arguments.count, !keywords.contains(arguments[i + 1]) else {
                return .failure(RolloutSpecError("\(keyword): missing value (usage: \(usage))"))
            }
            values[keyword] = arguments[i + 1]
            i += 2
        }
        guard let old = values["from"] ?? oldPool else {
            return .failure(RolloutSpecError("no old pool: add 'from POOL' (usage: \(usage))"))
        }
        var steps = defaultSteps, holdMS = defaultHoldMS, maxErrorRate = defaultMaxErrorRate
        var maxP99Ratio = defaultMaxP99Ratio, minRequests = defaultMinRequests
        if let text = values["steps"] {
            switch parseSteps(text) {
            case .success(let s): steps = s
            case .failure(let e): return .failure(e)
            }
        }
        if let text = values["hold"] {
            switch ValueParsing.duration(text) {
            case .success(let ms): holdMS = ms
            case .failure(let reason): return .failure(RolloutSpecError("hold: \(reason)"))
            }
        }
        if let text = values["max-error-rate"] {
            guard text.hasSuffix("%"), let v = decimal(text.dropLast()), v <= 100 else {
                return .failure(RolloutSpecError("max-error-rate: must be a percentage 0%...100% such as 1% or 0.5%, got \(quoted(text))"))
            }
            maxErrorRate = v / 100
        }
        if let text = values["max-p99"] {
            guard text.hasSuffix("x"), let v = decimal(text.dropLast()) else {
                return .failure(RolloutSpecError("max-p99: must be a ratio to the old pool's p99 such as 1.5x, got \(quoted(text))"))
            }
            guard v >= 1 else { return .failure(RolloutSpecError("max-p99: must be at least 1x, got \(quoted(text))")) }
            maxP99Ratio = v
        }
        if let text = values["min-requests"] {
            guard let v = ValueParsing.unsigned(text), v >= 1, v <= UInt64(maxMinRequests) else {
                return .failure(RolloutSpecError("min-requests: must be a count 1...\(maxMinRequests), got \(ValueParsing.shown(text))"))
            }
            minRequests = Int(v)
        }
        do {
            return .success(try RolloutSpec(newPool: newPool, oldPool: old, steps: steps, holdMS: holdMS,
                                            maxErrorRate: maxErrorRate, maxP99Ratio: maxP99Ratio, minRequests: minRequests))
        } catch {
            return .failure(error)
        }
    }

    /// "1,5,25,50,100" (a '%' after a number is allowed); order and range are the initializer's.
    static func parseSteps(_ text: String) -> Result<[Int], RolloutSpecError> {
        var steps: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let digits = part.hasSuffix("%") ? part.dropLast() : part
            guard let v = ValueParsing.unsigned(digits), (1...100).contains(v) else {
                if part.isEmpty { return .failure(RolloutSpecError("steps: empty step in \(quoted(text)) (expected e.g. 1,5,25,50,100)")) }
                return .failure(RolloutSpecError("steps: \(quoted(part)) in \(quoted(text)) is not a percentage 1...100"))
            }
            steps.append(Int(v))
        }
        return .success(steps)
    }

    /// "1", "0.5", "12.25": digits with an optional fraction, nothing else (no sign, exponent,
    /// "inf" or "nan", which Double's own parser would accept).
    static func decimal(_ s: Substring) -> Double? {
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
              s.utf8.count <= 20, let v = Double(s), v.isFinite else { return nil }
        return v
    }
}

/// Why a rollout spec was rejected: the text for the admin reply.
public struct RolloutSpecError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// What the caller must do to the split after a rollout call.
public enum RolloutAction: Hashable, Sendable {
    /// Give the new pool `newPercent` percent of the traffic and the old pool the rest
    /// (`Rollout.split(percent:)`).
    case setSplit(newPercent: Int)
    /// A breach: all traffic back to the old pool now (new 0%).
    case rollBack(reason: String)
    /// The last step held healthy: the rollout is over with all traffic on the new pool.
    case complete
}

/// A rollout command that does not apply in the rollout's state (e.g. resume when not paused).
public struct RolloutCommandError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// One rollout: a value-type state machine that never reads a clock. The caller starts it with
/// the split at `newPercent` (the first step), calls `tick` periodically (every second or so)
/// with the judge's verdict on the current window, and applies the actions it returns.
///
/// - A step advances at the first tick at which the step has been held for `holdMS` AND the
///   verdict is `.healthy`. `.insufficientData` never advances: without min-requests in the
///   window the step holds, indefinitely. Advancing blind would ramp a low-traffic service to
///   100% without ever judging it; a stalled rollout is safe and visible (`isWaitingForData`),
///   and the operator can `promote`, `abort`, or start again with a lower min-requests.
/// - The last step (100) is held and judged like the others (the old pool is still there to go
///   back to); when it has held healthy, the rollout completes.
/// - A breach at any tick, also while paused (the new pool still has its share), rolls back.
/// - rolled-back, aborted, promoted and completed are terminal: later ticks do nothing and
///   commands fail.
public struct Rollout: Hashable, Sendable {
    public enum State: Hashable, Sendable {
        /// At `steps[step]`, advancing when the hold is over and the verdict is healthy.
        case running(step: Int)
        /// At `steps[step]`, not advancing (breaches still roll back).
        case paused(step: Int)
        /// The operator jumped to 100%: the rollout ended, nothing is judged any more.
        case promoted
        /// Every step held healthy: 100% on the new pool.
        case completed
        /// A breach sent the traffic back to the old pool.
        case rolledBack(reason: String, figures: RolloutFigures)
        /// The operator sent the traffic back to the old pool.
        case aborted

        /// For status replies and logs.
        public var name: String {
            switch self {
            case .running: return "running"
            case .paused: return "paused"
            case .promoted: return "promoted"
            case .completed: return "completed"
            case .rolledBack: return "rolled-back"
            case .aborted: return "aborted"
            }
        }
    }

    public let id: UInt64
    public let spec: RolloutSpec
    public private(set) var state: State
    public let startedMS: Int64
    /// When the current step began (or was resumed); its hold ends `spec.holdMS` later.
    public private(set) var stepStartedMS: Int64
    /// When the rollout reached a terminal state.
    public private(set) var endedMS: Int64?
    /// The verdict of the last tick, for status.
    public private(set) var lastVerdict: RolloutVerdict?

    /// Starts at the first step: the caller sets the split to `newPercent`.
    public init(id: UInt64, spec: RolloutSpec, nowMS: Int64) {
        self.id = id
        self.spec = spec
        state = .running(step: 0)
        startedMS = nowMS
        stepStartedMS = nowMS
    }

    /// The judge with this rollout's thresholds.
    public var judge: RolloutJudge { RolloutJudge(spec: spec) }

    /// The index into `spec.steps` while running or paused.
    public var step: Int? {
        switch state {
        case .running(let s), .paused(let s): return s
        default: return nil
        }
    }

    /// The new pool's share of the traffic the split should have now.
    public var newPercent: Int {
        switch state {
        case .running(let s), .paused(let s): return spec.steps[s]
        case .promoted, .completed: return 100
        case .rolledBack, .aborted: return 0
        }
    }

    public var isFinished: Bool { step == nil }

    /// When the running step's hold ends (it advances at the first healthy tick from then on).
    public var holdEndsMS: Int64? {
        guard case .running = state else { return nil }
        let (end, overflow) = stepStartedMS.addingReportingOverflow(spec.holdMS)
        return overflow ? .max : end
    }

    /// The hold is over but the last verdict had too few requests to judge: the step is stuck
    /// until the window reaches min-requests.
    public func isWaitingForData(nowMS: Int64) -> Bool {
        guard let end = holdEndsMS else { return false }
        return nowMS >= end && lastVerdict == .insufficientData
    }

    /// One step of the rollout with the judge's verdict on the current window.
    public mutating func tick(nowMS: Int64, verdict: RolloutVerdict) -> RolloutAction? {
        guard let s = step else { return nil }
        lastVerdict = verdict
        if case .breach(let reason, let figures) = verdict {
            state = .rolledBack(reason: reason, figures: figures)
            endedMS = nowMS
            return .rollBack(reason: reason)
        }
        guard verdict == .healthy, let end = holdEndsMS, nowMS >= end else { return nil }
        if s + 1 == spec.steps.count {
            state = .completed
            endedMS = nowMS
            return .complete
        }
        state = .running(step: s + 1)
        stepStartedMS = nowMS
        return .setSplit(newPercent: spec.steps[s + 1])
    }

    /// Stops advancing; the split stays (returned unchanged so every command has an action).
    public mutating func pause(nowMS: Int64) -> Result<RolloutAction, RolloutCommandError> {
        switch state {
        case .running(let s):
            state = .paused(step: s)
            return .success(.setSplit(newPercent: spec.steps[s]))
        case .paused: return .failure(RolloutCommandError("rollout \(id) is already paused"))
        default: return .failure(ended)
        }
    }

    /// Advances again. The hold starts over, so the step is watched for a full hold after
    /// whatever made the operator pause.
    public mutating func resume(nowMS: Int64) -> Result<RolloutAction, RolloutCommandError> {
        switch state {
        case .paused(let s):
            state = .running(step: s)
            stepStartedMS = nowMS
            return .success(.setSplit(newPercent: spec.steps[s]))
        case .running: return .failure(RolloutCommandError("rollout \(id) is not paused"))
        default: return .failure(ended)
        }
    }

    /// All traffic to the new pool now; the rollout ends (the operator overrides the judge).
    public mutating func promote(nowMS: Int64) -> Result<RolloutAction, RolloutCommandError> {
        guard step != nil else { return .failure(ended) }
        state = .promoted
        endedMS = nowMS
        return .success(.setSplit(newPercent: 100))
    }

    /// All traffic back to the old pool now; the rollout ends.
    public mutating func abort(nowMS: Int64) -> Result<RolloutAction, RolloutCommandError> {
        guard step != nil else { return .failure(ended) }
        state = .aborted
        endedMS = nowMS
        return .success(.setSplit(newPercent: 0))
    }

    private var ended: RolloutCommandError {
        RolloutCommandError("rollout \(id) has ended (\(state.name))")
    }

    /// Split weights for a new-pool percentage: old = 100 - p, new = p, with p clamped to 0...100.
    public static func split(percent: Int) -> (old: Int, new: Int) {
        let p = min(max(0, percent), 100)
        return (100 - p, p)
    }
}
