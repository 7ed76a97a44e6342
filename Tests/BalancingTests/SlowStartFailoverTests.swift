import Testing

@testable import Balancing

@Suite struct SlowStartTests {
    @Test func rampAtZeroHalfAndFullPeriod() {
        let period: Int64 = 30_000
        #expect(SlowStart.weight(configured: 100, sinceUpMS: 0, slowStartMS: period) == 10)        // 10 %
        #expect(SlowStart.weight(configured: 100, sinceUpMS: 15_000, slowStartMS: period) == 55)   // 10 + 90/2
        #expect(SlowStart.weight(configured: 100, sinceUpMS: 29_999, slowStartMS: period) == 99)   // 10 + 89.997
        #expect(SlowStart.weight(configured: 100, sinceUpMS: 30_000, slowStartMS: period) == 100)
        #expect(SlowStart.weight(configured: 100, sinceUpMS: 1_000_000, slowStartMS: period) == 100)
    }

    @Test func offMeansFullWeight() {
        #expect(SlowStart.weight(configured: 7, sinceUpMS: 0, slowStartMS: 0) == 7)
        #expect(SlowStart.weight(configured: 7, sinceUpMS: 0, slowStartMS: -5) == 7)
    }

    @Test func smallWeights() {
        #expect(SlowStart.weight(configured: 1, sinceUpMS: 0, slowStartMS: 1000) == 1)   // cannot go lower
        #expect(SlowStart.weight(configured: 0, sinceUpMS: 0, slowStartMS: 1000) == 0)   // zero stays zero
        #expect(SlowStart.weight(configured: -3, sinceUpMS: 0, slowStartMS: 1000) == -3)
        #expect(SlowStart.weight(configured: 10, sinceUpMS: 0, slowStartMS: 1000) == 1)
        #expect(SlowStart.weight(configured: 10, sinceUpMS: 500, slowStartMS: 1000) == 5)  // 1 + 4.5
        #expect(SlowStart.weight(configured: 19, sinceUpMS: 0, slowStartMS: 1000) == 1)
        #expect(SlowStart.weight(configured: 20, sinceUpMS: 0, slowStartMS: 1000) == 2)
    }

    @Test func negativeElapsedCountsAsZero() {
        #expect(SlowStart.weight(configured: 100, sinceUpMS: -10_000, slowStartMS: 1000) == 10)
    }

    @Test func scaledWeightsLetWeightOneRamp() {
        #expect(SlowStart.scale == 100)
        #expect(SlowStart.scaledWeight(configured: 1, sinceUpMS: 0, slowStartMS: 30_000) == 10)
        #expect(SlowStart.scaledWeight(configured: 1, sinceUpMS: 15_000, slowStartMS: 30_000) == 55)
        #expect(SlowStart.scaledWeight(configured: 1, sinceUpMS: 30_000, slowStartMS: 30_000) == 100)
        #expect(SlowStart.scaledWeight(configured: 3, sinceUpMS: 0, slowStartMS: 0) == 300)
        #expect(SlowStart.scaledWeight(configured: Int.max, sinceUpMS: 0, slowStartMS: 0) == Int.max)
    }

    /// Scaling every weight of a pool by the same factor gives the picker the same sequence,
    /// so servers outside slow start behave as before.
    @Test func scalingKeepsThePickerSequence() {
        var plain = SmoothWeightedPicker(weights: [5, 1, 3])
        var scaled = SmoothWeightedPicker(weights: [5, 1, 3].map { SlowStart.scaledWeight(configured: $0, sinceUpMS: 0, slowStartMS: 0) })
        #expect((0..<90).map { _ in plain.next() } == (0..<90).map { _ in scaled.next() })
    }

    @Test func rampIsMonotonicAndBounded() {
        for configured in [1, 2, 9, 10, 11, 100, 1000, 100_000] {
            var previous = 0
            for t in stride(from: Int64(0), through: 10_000, by: 37) {
                let w = SlowStart.weight(configured: configured, sinceUpMS: t, slowStartMS: 10_000)
                #expect(w >= previous && w >= 1 && w <= configured, "configured \(configured) at \(t)")
                previous = w
            }
            #expect(previous < configured || configured == 1)  // 9990 ms is not the end yet
            #expect(SlowStart.weight(configured: configured, sinceUpMS: 10_000, slowStartMS: 10_000) == configured)
        }
    }

    @Test func extremeValuesDoNotOverflow() {
        let w = SlowStart.weight(configured: Int.max, sinceUpMS: Int64.max - 1, slowStartMS: Int64.max)
        #expect(w > Int.max / 10 && w < Int.max)
        #expect(SlowStart.weight(configured: 1_000_000, sinceUpMS: Int64.max / 2, slowStartMS: Int64.max) == 100_000 + 450_000 - 1)
    }

    /// With a ServerHealth: the ramp starts when the server comes into rotation.
    @Test func rampFollowsInRotationSince() {
        var h = ServerHealth(policy: HealthPolicy(activeChecks: true, rise: 1), nowMS: 0)
        #expect(h.inRotationSinceMS == nil)
        h.checkResult(passed: true, nowMS: 60_000)
        let since = try! #require(h.inRotationSinceMS)
        #expect(SlowStart.weight(configured: 200, sinceUpMS: 60_000 - since, slowStartMS: 20_000) == 20)
        #expect(SlowStart.weight(configured: 200, sinceUpMS: 70_000 - since, slowStartMS: 20_000) == 110)
        #expect(SlowStart.weight(configured: 200, sinceUpMS: 80_000 - since, slowStartMS: 20_000) == 200)
    }
}

@Suite struct FailoverTests {
    @Test func unusablePoolFailsOver() {
        let r = Failover.effectiveSplit(split: [90, 10], poolHasUsableServer: [false, true], failover: [true, true])
        #expect(r.split == [0, 10])
        #expect(r.failedOver == [0])
    }

    @Test func failoverOffKeepsTheShare() {
        let r = Failover.effectiveSplit(split: [90, 10], poolHasUsableServer: [false, true], failover: [false, true])
        #expect(r.split == [90, 10])
        #expect(r.failedOver.isEmpty)
    }

    @Test func everythingUsableChangesNothing() {
        let r = Failover.effectiveSplit(split: [90, 10, 0], poolHasUsableServer: [true, true, true], failover: [true, true, true])
        #expect(r.split == [90, 10, 0] && r.failedOver.isEmpty)
    }

    /// Traffic never moves to a pool the operator gave 0: with blue=100 green=0 and blue down,
    /// the split stays and blue's requests get 503s.
    @Test func noFailoverIntoZeroSplitPools() {
        let r = Failover.effectiveSplit(split: [100, 0], poolHasUsableServer: [false, true], failover: [true, true])
        #expect(r.split == [100, 0])
        #expect(r.failedOver.isEmpty)
    }

    @Test func allUnusableReturnsOriginal() {
        let r = Failover.effectiveSplit(split: [60, 40], poolHasUsableServer: [false, false], failover: [true, true])
        #expect(r.split == [60, 40] && r.failedOver.isEmpty)
    }

    @Test func zeroSplitUnusablePoolIsNotReported() {
        let r = Failover.effectiveSplit(split: [50, 50, 0], poolHasUsableServer: [true, false, false], failover: [true, true, true])
        #expect(r.split == [50, 0, 0])
        #expect(r.failedOver == [1])
    }

    @Test func threePoolsMixed() {
        let r = Failover.effectiveSplit(split: [50, 30, 20], poolHasUsableServer: [false, true, false], failover: [true, true, false])
        #expect(r.split == [0, 30, 20])
        #expect(r.failedOver == [0])
        let s = Failover.effectiveSplit(split: [50, 30, 20], poolHasUsableServer: [false, false, true], failover: [true, true, true])
        #expect(s.split == [0, 0, 20])
        #expect(s.failedOver == [0, 1])
    }

    /// The only pool left with a split has failover off and no server: it keeps the traffic
    /// (503s), and the others' zeroing still stands since a non-zero split remains.
    @Test func remainingPoolWithFailoverOff() {
        let r = Failover.effectiveSplit(split: [90, 10], poolHasUsableServer: [false, false], failover: [true, false])
        #expect(r.split == [0, 10])
        #expect(r.failedOver == [0])
    }

    @Test func missingEntriesAndNegativeWeights() {
        // Missing usability counts as usable, missing failover as on.
        let r = Failover.effectiveSplit(split: [10, 20, 30], poolHasUsableServer: [false], failover: [])
        #expect(r.split == [0, 20, 30] && r.failedOver == [0])
        let n = Failover.effectiveSplit(split: [-5, 10], poolHasUsableServer: [false, true], failover: [true, true])
        #expect(n.split == [0, 10] && n.failedOver.isEmpty)
        let e = Failover.effectiveSplit(split: [], poolHasUsableServer: [], failover: [])
        #expect(e.split.isEmpty && e.failedOver.isEmpty)
    }

    /// End to end with the picker: the failed-over split sends every request to green.
    @Test func pickerWithFailedOverSplit() {
        let r = Failover.effectiveSplit(split: [90, 10], poolHasUsableServer: [false, true], failover: [true, true])
        var picker = SplitPicker(split: r.split, serverWeights: [[1], [1, 1]])
        let pools = (0..<20).compactMap { _ in picker.next()?.pool }
        #expect(pools == [Int](repeating: 1, count: 20))
    }
}
