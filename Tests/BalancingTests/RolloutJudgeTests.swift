import Foundation
import Testing

@testable import Balancing
import TestSupport

@Suite struct RolloutJudgeTests {
    let judge = RolloutJudge(maxErrorRate: 0.01, maxP99Ratio: 1.5, minRequests: 200)
    /// A large, precise old pool at 0.5% errors and 40 ms p99.
    let blue = PoolWindow(requests: 60_000, errors: 300, p99MS: 40)

    @Test func wilsonBoundsMatchPublishedValues() {
        // 10 of 100 at 95% two-sided: 5.52%...17.44%; 0 of 100: 0...3.70%.
        let ten = RolloutJudge.wilsonBounds(errors: 10, requests: 100, z: 1.96)
        #expect(abs(ten.lower - 0.05523) < 1e-4 && abs(ten.upper - 0.17437) < 1e-4)
        let zero = RolloutJudge.wilsonBounds(errors: 0, requests: 100, z: 1.96)
        #expect(zero.lower == 0 && abs(zero.upper - 0.03699) < 1e-4)
        let none = RolloutJudge.wilsonBounds(errors: 0, requests: 0, z: 2.33)
        #expect(none.lower == 0 && none.upper == 1)
    }

    @Test func errorRateNeedsEvidenceNotARatio() {
        // 1% max: a bare ratio would trip at 3 of 200; the 99% bound needs 6 of 200, 18 of 1000.
        // (An old pool without errors, so the comparison with it stays out of this.)
        let blue = PoolWindow(requests: 60_000, errors: 0, p99MS: 40)
        for (requests, healthyAt, breachAt) in [(200, 5, 6), (1000, 17, 18), (20_000, 232, 233)] {
            #expect(judge.verdict(old: blue, new: PoolWindow(requests: requests, errors: healthyAt, p99MS: 40)) == .healthy,
                    "\(healthyAt) of \(requests)")
            guard case .breach(let reason, let f) = judge.verdict(old: blue, new: PoolWindow(requests: requests, errors: breachAt, p99MS: 40)) else {
                Issue.record("\(breachAt) of \(requests) should breach")
                continue
            }
            #expect(f.tripped == .errorRate && f.newErrorRateLowerBound > 0.01)
            #expect(reason.contains("above max-error-rate 1.00%"), "\(reason)")
        }
    }

    @Test func nothingIsJudgedBelowMinRequests() {
        #expect(judge.verdict(old: blue, new: PoolWindow(requests: 199, errors: 199, p99MS: 9999)) == .insufficientData)
        #expect(judge.verdict(old: blue, new: PoolWindow(requests: 0, errors: 0)) == .insufficientData)
        // Figures are still there for status.
        #expect(judge.figures(old: blue, new: PoolWindow(requests: 199, errors: 199)).newErrorRate == 1)
    }

    /// (a) at 1000 req/s with a 1% step, green gets ~10 req/s; a window that just reached
    /// min-requests holds about 200 of them, 40 failed at a 20% error rate. Even a very unlucky
    /// window (20 failed, P < 1e-6) trips, so the first verdict with enough data is a breach.
    @Test func twentyPercentErrorsTripAtMinRequests() {
        for errors in [40, 20] {
            guard case .breach(_, let f) = judge.verdict(old: blue, new: PoolWindow(requests: 200, errors: errors, p99MS: 40)) else {
                Issue.record("\(errors) of 200 should breach")
                continue
            }
            #expect(f.tripped == .errorRate && f.newErrorRateLowerBound > 0.05)
        }
    }

    @Test func comparisonWithTheOldPoolCatchesWhatTheBoundCannotYet() {
        let green = PoolWindow(requests: 3000, errors: 40, p99MS: 40)  // 1.33%, bound 0.93%
        guard case .breach(let reason, let f) = judge.verdict(old: blue, new: green) else {
            Issue.record("1.33% against 0.5% over 3000 requests should breach")
            return
        }
        #expect(f.tripped == .errorRateVersusOld && f.newErrorRateLowerBound < 0.01 && (f.errorRateZ ?? 0) > 4)
        #expect(reason.contains("far above the old pool's 0.50% (300 of 60000"), "\(reason)")
        // Without errors on the old pool there is no comparison; the bound alone is not enough.
        #expect(judge.verdict(old: PoolWindow(requests: 60_000, errors: 0, p99MS: 40), new: green) == .healthy)
        // Far worse than the old pool but under max-error-rate: not a breach (the threshold is absolute).
        #expect(judge.verdict(old: blue, new: PoolWindow(requests: 3000, errors: 29, p99MS: 40)) == .healthy)
        // The old pool needs min-requests too.
        #expect(judge.figures(old: PoolWindow(requests: 199, errors: 1), new: green).errorRateZ == nil)
        // Too few expected errors for the normal approximation (500 x 0.06% = 0.3): not compared,
        // although z would be 14.
        let quietBlue = PoolWindow(requests: 100_000, errors: 50, p99MS: 40)
        let small = PoolWindow(requests: 500, errors: 8, p99MS: 40)
        #expect(judge.figures(old: quietBlue, new: small).errorRateZ == nil)
        #expect((RolloutJudge.twoProportionZ(errorsA: 8, requestsA: 500, errorsB: 50, requestsB: 100_000) ?? 0) > 14)
        var ungated = judge
        ungated.comparisonMinExpectedErrors = 0
        #expect(ungated.figures(old: quietBlue, new: small).tripped == .errorRateVersusOld)
    }

    @Test func p99IsJudgedRelativeToTheOldPoolWithAFloor() {
        let big = 1_000_000
        // 3x slower at any sample size a step produces.
        let slow = judge.verdict(old: PoolWindow(requests: big, errors: 0, p99MS: 40), new: PoolWindow(requests: 200, errors: 0, p99MS: 120))
        guard case .breach(let reason, let f) = slow else {
            Issue.record("3x p99 should breach")
            return
        }
        #expect(f.tripped == .p99 && reason.contains("p99 120.0ms") && reason.contains("40.0ms"), "\(reason)")
        // Microsecond-fast pools: 1 ms -> 4 ms is 4x but under the 5 ms floor; 7 ms is over it.
        #expect(judge.verdict(old: PoolWindow(requests: big, errors: 0, p99MS: 1), new: PoolWindow(requests: big, errors: 0, p99MS: 4)) == .healthy)
        #expect(judge.figures(old: PoolWindow(requests: big, errors: 0, p99MS: 1), new: PoolWindow(requests: big, errors: 0, p99MS: 7)).tripped == .p99)
        // Not judged when either pool lacks min-requests (the old pool at a 100% step) or a p99.
        let noOld = judge.figures(old: PoolWindow(requests: 150, errors: 0, p99MS: 40), new: PoolWindow(requests: big, errors: 0, p99MS: 400))
        #expect(noOld.p99LimitMS == nil && noOld.tripped == nil)
        #expect(judge.figures(old: PoolWindow(requests: big, errors: 0, p99MS: nil), new: PoolWindow(requests: big, errors: 0, p99MS: 400)).tripped == nil)
    }

    /// A p99 over 200 requests rests on 2 of them: the same 2x is noise there and a breach
    /// over 20000.
    @Test func p99MarginShrinksWithTheSample() {
        let old = PoolWindow(requests: 60_000, errors: 0, p99MS: 100)
        #expect(judge.verdict(old: old, new: PoolWindow(requests: 200, errors: 0, p99MS: 200)) == .healthy)
        #expect(judge.figures(old: old, new: PoolWindow(requests: 20_000, errors: 0, p99MS: 200)).tripped == .p99)
        var bare = judge
        bare.p99MarginScale = 0
        #expect(bare.figures(old: old, new: PoolWindow(requests: 200, errors: 0, p99MS: 151)).tripped == .p99)
        #expect(abs(RolloutJudge.p99Margin(requests: 200, scale: 1) - 1.7071) < 1e-3)
        #expect(RolloutJudge.p99Margin(requests: 200, scale: 0) == 1)
    }

    @Test func arbitraryInputGivesFiniteFigures() {
        let f = judge.figures(old: PoolWindow(requests: -5, errors: 9, p99MS: .nan),
                              new: PoolWindow(requests: 300, errors: 1000, p99MS: -.infinity))
        #expect(f.new.errors == 300 && f.old.requests == 0 && f.old.errors == 0)
        #expect(f.newErrorRate == 1 && f.oldErrorRate == 0 && f.new.p99MS == nil && f.old.p99MS == nil)
        #expect(f.newErrorRateLowerBound.isFinite && f.errorRateZ == nil)
        #expect(!f.description.isEmpty)
        #expect(RolloutJudge.twoProportionZ(errorsA: 0, requestsA: 10, errorsB: 0, requestsB: 10) == nil)
        let huge = PoolWindow(requests: .max, errors: .max, p99MS: .greatestFiniteMagnitude)
        #expect(judge.figures(old: huge, new: huge).newErrorRate == 1)  // no overflow trap
    }

    @Test func formatting() {
        #expect(RolloutFormat.percent(0.0125) == "1.25%")
        #expect(RolloutFormat.percent(0.005) == "0.50%")
        #expect(RolloutFormat.millis(120) == "120.0ms")
        #expect(RolloutFormat.fixed(-0.004, 2) == "0.00")
        #expect(RolloutFormat.fixed(-1.5, 1) == "-1.5")
        #expect(RolloutFormat.fixed(2.999, 2) == "3.00")
        #expect(RolloutFormat.fixed(7, 0) == "7")
    }
}

/// Whole rollouts against simulated pools, request by request: 1000 req/s split by the current
/// step, each request failing and taking a latency at random (seeded), a 60 s sliding window of
/// per-second buckets, a tick every second.
@Suite struct RolloutSimulationTests {
    static let blue = SimulatedPool(errorRate: 0.005, medianMS: 20, sigma: 0.8)

    /// (a) 20% errors on green, 1% first step: rolled back at the first tick whose window has
    /// min-requests of green traffic (~20 s in), i.e. within the first second of judgeable data.
    @Test func failingGreenIsRolledBackAtTheFirstJudgeableWindow() throws {
        let green = SimulatedPool(errorRate: 0.20, medianMS: 20, sigma: 0.8)
        let run = RolloutSimulation.run(blue: Self.blue, green: green, seed: 1)
        guard case .rolledBack(let reason, let f) = run.rollout.state else {
            Issue.record("not rolled back: \(run.rollout.state.name)")
            return
        }
        let firstJudgeable = try #require(run.firstSecondWithMinRequests)
        #expect(run.endSecond == firstJudgeable, "tripped at \(run.endSecond) s, min-requests reached at \(firstJudgeable) s")
        #expect((15...30).contains(firstJudgeable))
        #expect(f.tripped == .errorRate && f.new.requests >= 200 && f.newErrorRate > 0.1)
        #expect(run.actions.last == .rollBack(reason: reason) && run.rollout.newPercent == 0)
        #expect(run.percents == [1])  // never left the first step
    }

    /// (b) green 3x slower (same errors): rolled back on p99 during the 1% step.
    @Test func slowGreenIsRolledBackOnP99() {
        let green = SimulatedPool(errorRate: 0.005, medianMS: 60, sigma: 0.8)
        let run = RolloutSimulation.run(blue: Self.blue, green: green, seed: 2)
        guard case .rolledBack(let reason, let f) = run.rollout.state else {
            Issue.record("not rolled back: \(run.rollout.state.name)")
            return
        }
        #expect(f.tripped == .p99 && reason.hasPrefix("p99 "), "\(reason)")
        #expect(run.endSecond < 60 && run.percents == [1])
        #expect((f.new.p99MS ?? 0) > 2.5 * (f.old.p99MS ?? .infinity))
    }

    /// (c) a healthy green (same 0.5% errors, same latencies as blue): 10 rollouts through every
    /// step with a 1% first step, no false rollback, each completing at 100%.
    @Test func healthyGreenNeverRollsBack() {
        for seed in UInt64(1)...10 {
            let run = RolloutSimulation.run(blue: Self.blue, green: Self.blue, seed: seed &* 1_000_003)
            #expect(run.rollout.state == .completed, "seed \(seed): \(run.rollout.state)")
            #expect(run.percents == [1, 5, 25, 50, 100], "seed \(seed)")
            #expect(run.actions.last == .complete && run.rollout.newPercent == 100)
        }
    }

    /// The control for (c): the same healthy rollouts with naive settings (comparison with the
    /// old pool at z = 2.33 at any count, bare p99 ratio) do roll back, so (c) can fail: it
    /// catches a judge that flaps.
    @Test func healthyScenarioCatchesAFlappyJudge() {
        var naive = RolloutJudge(spec: RolloutSimulation.spec)
        naive.comparisonZ = 2.33
        naive.comparisonMinExpectedErrors = 0
        naive.p99MarginScale = 0
        var falseRollbacks = 0
        for seed in UInt64(1)...10 {
            let run = RolloutSimulation.run(blue: Self.blue, green: Self.blue, seed: seed &* 1_000_003, judge: naive)
            if case .rolledBack = run.rollout.state { falseRollbacks += 1 }
        }
        #expect(falseRollbacks >= 1, "naive judge: \(falseRollbacks) false rollbacks of 10")
    }
}

/// A pool's behaviour: each request fails with `errorRate`; latencies are lognormal (heavy-ish
/// tailed: with sigma 0.8 the p99 is 6.4x the median).
struct SimulatedPool {
    var errorRate: Double
    var medianMS: Double
    var sigma: Double
}

/// Per-pool counts for one second or a whole window; latencies in log-spaced buckets 5% wide,
/// the way a proxy would keep them.
struct SimulatedCounts {
    static let buckets = 400
    static let growth = 1.05
    static let baseMS = 0.1

    var requests = 0
    var errors = 0
    var histogram = [Int](repeating: 0, count: buckets)

    mutating func add(_ other: SimulatedCounts, sign: Int) {
        requests += sign * other.requests
        errors += sign * other.errors
        for i in histogram.indices { histogram[i] += sign * other.histogram[i] }
    }

    mutating func record(logLatencyMS: Double, failed: Bool) {
        requests += 1
        if failed { errors += 1 }
        let bucket = Int(((logLatencyMS - log(Self.baseMS)) / log(Self.growth)).rounded(.down))
        histogram[min(max(0, bucket), Self.buckets - 1)] += 1
    }

    /// Nearest-rank p99, as the upper edge of its bucket.
    var p99MS: Double? {
        guard requests > 0 else { return nil }
        let rank = (requests * 99 + 99) / 100
        var seen = 0
        for (i, count) in histogram.enumerated() {
            seen += count
            if seen >= rank { return Self.baseMS * pow(Self.growth, Double(i + 1)) }
        }
        return nil
    }

    var window: PoolWindow { PoolWindow(requests: requests, errors: errors, p99MS: p99MS) }
}

enum RolloutSimulation {
    static let spec = try! RolloutSpec(newPool: "green", oldPool: "blue")  // steps 1,5,25,50,100, hold 60s, 1%, 1.5x, 200

    struct Run {
        var rollout: Rollout
        var actions: [RolloutAction] = []
        /// The new pool's share at each step visited.
        var percents: [Int]
        var endSecond = 0
        var firstSecondWithMinRequests: Int?
    }

    static func run(blue: SimulatedPool, green: SimulatedPool, seed: UInt64, judge: RolloutJudge? = nil,
                    requestsPerSecond: Int = 1000, windowSeconds: Int = 60, maxSeconds: Int = 1200) -> Run {
        var rng = SplitMix64(seed: seed)
        let rollout = Rollout(id: seed, spec: spec, nowMS: 0)
        let judge = judge ?? rollout.judge
        var run = Run(rollout: rollout, percents: [rollout.newPercent])
        var newPercent = rollout.newPercent
        var seconds: [(old: SimulatedCounts, new: SimulatedCounts)] = []
        var old = SimulatedCounts(), new = SimulatedCounts()
        for second in 1...maxSeconds {
            var bucket = (old: SimulatedCounts(), new: SimulatedCounts())
            for _ in 0..<requestsPerSecond {
                let toNew = rng.unit() * 100 < Double(newPercent)
                let pool = toNew ? green : blue
                let failed = rng.unit() < pool.errorRate
                let logLatency = log(pool.medianMS) + pool.sigma * rng.normal()
                if toNew { bucket.new.record(logLatencyMS: logLatency, failed: failed) } else { bucket.old.record(logLatencyMS: logLatency, failed: failed) }
            }
            seconds.append(bucket)
            old.add(bucket.old, sign: 1)
            new.add(bucket.new, sign: 1)
            if seconds.count > windowSeconds {
                let gone = seconds.removeFirst()
                old.add(gone.old, sign: -1)
                new.add(gone.new, sign: -1)
            }
            if run.firstSecondWithMinRequests == nil, new.requests >= spec.minRequests { run.firstSecondWithMinRequests = second }
            let verdict = judge.verdict(old: old.window, new: new.window)
            guard let action = run.rollout.tick(nowMS: Int64(second) * 1000, verdict: verdict) else { continue }
            run.actions.append(action)
            switch action {
            case .setSplit(let p):
                newPercent = p
                run.percents.append(p)
            case .rollBack, .complete:
                run.endSecond = second
                return run
            }
        }
        run.endSecond = maxSeconds
        return run
    }
}
