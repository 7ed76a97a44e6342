/// One pool's traffic in the rollout's sliding window, as the proxy counted it.
public struct PoolWindow: Hashable, Sendable {
    /// Requests that ended in the window, whatever the outcome.
    public var requests: Int
    /// Of those: upstream 5xx, proxy-made 502/503/504 and connection failures.
    public var errors: Int
    /// The window's 99th percentile latency; nil without samples.
    public var p99MS: Double?

    public init(requests: Int, errors: Int, p99MS: Double? = nil) {
        self.requests = requests
        self.errors = errors
        self.p99MS = p99MS
    }

    /// errors / requests; 0 without requests.
    public var errorRate: Double { requests > 0 ? Double(errors) / Double(requests) : 0 }

    /// Counts made consistent (0 <= errors <= requests) and a p99 that is a real latency or nil,
    /// so arbitrary input cannot produce NaN figures or a trap.
    var sanitized: PoolWindow {
        let r = max(0, requests)
        let p = p99MS.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        return PoolWindow(requests: r, errors: min(max(0, errors), r), p99MS: p)
    }
}

/// Which comparison tripped; the raw value is for logs and admin replies.
public enum RolloutCheck: String, Hashable, Sendable {
    /// The new pool's error rate is above max-error-rate with ~99% confidence.
    case errorRate = "error-rate"
    /// The new pool is above max-error-rate and far worse than the old pool.
    case errorRateVersusOld = "error-rate-vs-old"
    /// The new pool's p99 is above max-p99 times the old pool's (beyond the noise allowance).
    case p99
}

/// The numbers behind a verdict, so a rollback can say exactly what tripped it.
public struct RolloutFigures: Hashable, Sendable, CustomStringConvertible {
    public var old: PoolWindow
    public var new: PoolWindow
    public var oldErrorRate: Double
    public var newErrorRate: Double
    /// Wilson lower bound (at `RolloutJudge.z`) on the new pool's true error rate: what the
    /// error-rate check holds against max-error-rate.
    public var newErrorRateLowerBound: Double
    /// Two-proportion z of the new pool's error rate over the old one's; nil when not computed
    /// (the old pool has no errors or too few requests in the window).
    public var errorRateZ: Double?
    /// The p99 the new pool had to stay at or under; nil when p99 was not judged.
    public var p99LimitMS: Double?
    /// The check that tripped; nil if none did.
    public var tripped: RolloutCheck?

    public var description: String {
        var s = "new \(new.errors)/\(new.requests) errors (\(RolloutFormat.percent(newErrorRate)), lower bound \(RolloutFormat.percent(newErrorRateLowerBound)))"
        s += ", old \(old.errors)/\(old.requests) (\(RolloutFormat.percent(oldErrorRate)))"
        if let z = errorRateZ { s += ", z \(RolloutFormat.fixed(z, 2))" }
        s += "; p99 new \(new.p99MS.map { RolloutFormat.millis($0) } ?? "-") old \(old.p99MS.map { RolloutFormat.millis($0) } ?? "-")"
        if let limit = p99LimitMS { s += " limit \(RolloutFormat.millis(limit))" }
        return s
    }
}

public enum RolloutVerdict: Hashable, Sendable {
    /// The new pool has fewer than min-requests requests in the window: no judgement yet.
    case insufficientData
    case healthy
    case breach(reason: String, figures: RolloutFigures)
}

/// Compares the new pool with the old one over the sliding window. Pure statistics: the caller
/// keeps the window (it should be no longer than the hold, so the verdict that advances a step
/// is about that step's traffic) and calls `verdict` at every tick.
///
/// The verdict is looked at every tick, hundreds of times per rollout, so a check that is wrong
/// 1% of the time per look would roll back most healthy rollouts. Each check is therefore built
/// so that a healthy new pool stays far from its boundary. Figures below are from simulated
/// rollouts (1000 req/s, steps 1,5,25,50,100, hold and window 60 s, both pools at 0.5% errors
/// and lognormal latencies, defaults otherwise): the simulation in RolloutJudgeTests, run with
/// 2000 to 4000 seeds.
///
/// - Error rate (absolute): breach when the one-sided Wilson score lower bound (z = 2.33, ~99%)
///   on the new pool's error rate is above max-error-rate. A bare ratio over 1% would trip on
///   3 errors in 200 requests, which a pool at 0.5% produces in 8% of such windows; the bound
///   asks for evidence that shrinks towards the threshold as the sample grows: with max 1% it
///   takes 6 errors of 200 (3%), 18 of 1000 (1.8%), 233 of 20000 (1.17%). Wilson rather than
///   the normal (Wald) interval because it stays sensible at the small counts of a 1% step.
/// - Error rate against the old pool: breach when the new pool's rate is above max-error-rate
///   AND a pooled two-proportion z-test puts it above the old pool's by `comparisonZ` = 4. Only
///   when the old pool has errors and min-requests, and the new pool would have at least
///   `comparisonMinExpectedErrors` = 10 errors at the pooled rate: with fewer, the normal tail
///   is much thinner than the real (Poisson) one, and at a 1% step (300 to 1000 requests)
///   "z > 4" comes up in 1 of 1000 to 4000 healthy windows instead of 1 in 30000. This catches
///   a new pool just over the threshold sooner (1.25% errors: p90 115 s instead of 173 s). Its
///   null hypothesis (new = old) is the healthy case itself, tested at every tick, hence the
///   strict z and the gate: at z 2.33 without the gate 10.7% of healthy rollouts were rolled
///   back; as configured, 0.33% (Wilson and comparison together).
/// - p99: breach when the new pool's p99 is above `limit = max(maxP99Ratio x old p99 x
///   margin(old) x margin(new), old p99 + p99FloorMS)`, judged only when both pools have
///   min-requests in the window. The floor (5 ms) keeps sub-millisecond pools from flapping on
///   jitter. The margin allows for the noise of a p99 estimate, which rests on the slowest 1% of
///   the requests only: margin(n) = 1 + p99MarginScale / sqrt(n / 100), 1.71 at 200 requests,
///   1.18 at 3000, 1.06 at 30000. With the bare ratio, healthy pools were rolled back on p99 in
///   3.75% of rollouts with lognormal sigma 0.8 latencies (p99 = 6.4x median), 9.5% with sigma
///   1, 19% with sigma 1.3; with the margin in 0%, 0.08% and 0.7%. A 3x slower pool is still
///   rolled back at the 1% step (median 22 s, 2 s after min-requests), a 2x slower one at the
///   1% or 5% step. `p99MarginScale` = 0 gives the bare ratio.
public struct RolloutJudge: Hashable, Sendable {
    public var maxErrorRate: Double
    public var maxP99Ratio: Double
    public var minRequests: Int
    /// One-sided confidence of the Wilson bound: 2.33 is ~99%.
    public var z: Double = 2.33
    /// The two-proportion z the comparison with the old pool needs.
    public var comparisonZ: Double = 4
    /// The comparison is made only when the new pool would have this many errors at the
    /// pooled rate: below that the normal approximation's tail is far too thin.
    public var comparisonMinExpectedErrors: Double = 10
    /// p99 differences under this are never a breach.
    public var p99FloorMS: Double = 5
    /// Scale of the p99 noise margin; 0 turns it off.
    public var p99MarginScale: Double = 1

    public init(maxErrorRate: Double, maxP99Ratio: Double, minRequests: Int) {
        self.maxErrorRate = maxErrorRate
        self.maxP99Ratio = maxP99Ratio
        self.minRequests = minRequests
    }

    public init(spec: RolloutSpec) {
        self.init(maxErrorRate: spec.maxErrorRate, maxP99Ratio: spec.maxP99Ratio, minRequests: spec.minRequests)
    }

    public func verdict(old: PoolWindow, new: PoolWindow) -> RolloutVerdict {
        guard new.sanitized.requests >= max(1, minRequests) else { return .insufficientData }
        let f = figures(old: old, new: new)
        switch f.tripped {
        case nil:
            return .healthy
        case .errorRate?:
            return .breach(reason: "error rate \(RolloutFormat.percent(f.newErrorRate)) (\(f.new.errors) of \(f.new.requests) requests) is above max-error-rate \(RolloutFormat.percent(maxErrorRate)) with 99% confidence (lower bound \(RolloutFormat.percent(f.newErrorRateLowerBound)))", figures: f)
        case .errorRateVersusOld?:
            return .breach(reason: "error rate \(RolloutFormat.percent(f.newErrorRate)) (\(f.new.errors) of \(f.new.requests) requests) is above max-error-rate \(RolloutFormat.percent(maxErrorRate)) and far above the old pool's \(RolloutFormat.percent(f.oldErrorRate)) (\(f.old.errors) of \(f.old.requests); z \(RolloutFormat.fixed(f.errorRateZ ?? 0, 1)))", figures: f)
        case .p99?:
            return .breach(reason: "p99 \(RolloutFormat.millis(f.new.p99MS ?? 0)) is above \(RolloutFormat.fixed(maxP99Ratio, 2))x the old pool's \(RolloutFormat.millis(f.old.p99MS ?? 0)) (limit \(RolloutFormat.millis(f.p99LimitMS ?? 0)) with the noise margin)", figures: f)
        }
    }

    /// Every figure and the first check that trips (error rate before p99), whether or not the
    /// new pool has min-requests yet: for status output. `verdict` is what decides.
    public func figures(old: PoolWindow, new: PoolWindow) -> RolloutFigures {
        let old = old.sanitized
        let new = new.sanitized
        let enough = max(1, minRequests)
        var f = RolloutFigures(old: old, new: new, oldErrorRate: old.errorRate, newErrorRate: new.errorRate,
                               newErrorRateLowerBound: Self.wilsonBounds(errors: new.errors, requests: new.requests, z: z).lower,
                               errorRateZ: nil, p99LimitMS: nil, tripped: nil)
        let pooledRate = (Double(old.errors) + Double(new.errors)) / max(1, Double(old.requests) + Double(new.requests))
        if old.errors > 0, old.requests >= enough, Double(new.requests) * pooledRate >= comparisonMinExpectedErrors {
            f.errorRateZ = Self.twoProportionZ(errorsA: new.errors, requestsA: new.requests,
                                               errorsB: old.errors, requestsB: old.requests)
        }
        if old.requests >= enough, new.requests >= enough, let oldP99 = old.p99MS, new.p99MS != nil {
            let relative = maxP99Ratio * oldP99 * Self.p99Margin(requests: old.requests, scale: p99MarginScale)
                * Self.p99Margin(requests: new.requests, scale: p99MarginScale)
            f.p99LimitMS = max(relative, oldP99 + p99FloorMS)
        }
        if f.newErrorRateLowerBound > maxErrorRate {
            f.tripped = .errorRate
        } else if f.newErrorRate > maxErrorRate, let z = f.errorRateZ, z > comparisonZ {
            f.tripped = .errorRateVersusOld
        } else if let limit = f.p99LimitMS, let p99 = new.p99MS, p99 > limit {
            f.tripped = .p99
        }
        return f
    }

    /// Wilson score interval for `errors` of `requests`; (0, 1) without requests.
    public static func wilsonBounds(errors: Int, requests: Int, z: Double) -> (lower: Double, upper: Double) {
        guard requests > 0 else { return (0, 1) }
        let n = Double(requests)
        let p = Double(min(max(0, errors), requests)) / n
        let z2 = z * z
        let denominator = 1 + z2 / n
        let center = (p + z2 / (2 * n)) / denominator
        let half = z / denominator * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
        return (max(0, center - half), min(1, center + half))
    }

    /// Pooled two-proportion z statistic of rate A over rate B (positive: A is worse); nil when
    /// either side has no requests or neither has errors (no variance to compare against).
    public static func twoProportionZ(errorsA: Int, requestsA: Int, errorsB: Int, requestsB: Int) -> Double? {
        guard requestsA > 0, requestsB > 0 else { return nil }
        let nA = Double(requestsA), nB = Double(requestsB)
        let pooled = (Double(min(max(0, errorsA), requestsA)) + Double(min(max(0, errorsB), requestsB))) / (nA + nB)
        let se = (pooled * (1 - pooled) * (1 / nA + 1 / nB)).squareRoot()
        guard se > 0 else { return nil }
        return (Double(min(max(0, errorsA), requestsA)) / nA - Double(min(max(0, errorsB), requestsB)) / nB) / se
    }

    /// How far a p99 measured over `requests` may be off: 1 + scale / sqrt(requests / 100), the
    /// relative error of a tail quantile resting on requests / 100 samples, for heavy tails.
    public static func p99Margin(requests: Int, scale: Double) -> Double {
        guard scale > 0 else { return 1 }
        return 1 + scale / (Double(max(1, requests)) / 100).squareRoot()
    }
}

/// Number formatting for figures and reasons, without Foundation.
enum RolloutFormat {
    /// "1.25%" (two decimals).
    static func percent(_ rate: Double) -> String { fixed(rate * 100, 2) + "%" }

    /// "12.5ms" (one decimal).
    static func millis(_ ms: Double) -> String { fixed(ms, 1) + "ms" }

    /// `value` with `decimals` digits after the point, rounded half away from zero.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        let decimals = min(max(0, decimals), 6)
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * Double(scale)).rounded()
        guard scaled < 9e15 else { return "\(value)" }
        let units = Int64(scaled)
        let fraction = String(units % scale)
        let sign = value < 0 && units != 0 ? "-" : ""
        guard decimals > 0 else { return "\(sign)\(units)" }
        return "\(sign)\(units / scale)." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
}
