import Testing

@testable import Balancing
import TestSupport

private func picks(_ picker: inout SmoothWeightedPicker, _ n: Int) -> [Int?] {
    (0..<n).map { _ in picker.next() }
}

@Suite struct SmoothWeightedPickerTests {
    /// [90, 10] behaves exactly like [9, 1]; worked by hand:
    /// currents (0,0) -> a(-1,1) a(-2,2) a(-3,3) a(-4,4) a(-5,5)[tie -> lower index]
    /// b(4,-4) a(3,-3) a(2,-2) a(1,-1) a(0,0), and the cycle repeats.
    @Test func ninetyTenExactSequence() {
        var p = SmoothWeightedPicker(weights: [90, 10])
        let got = picks(&p, 100)
        let cycle: [Int?] = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
        #expect(got == Array((0..<10).map { _ in cycle }.joined()))
        for start in stride(from: 0, to: 100, by: 10) {
            let window = got[start..<start + 10]
            #expect(window.filter { $0 == 0 }.count == 9, "window at \(start)")
            #expect(window.filter { $0 == 1 }.count == 1, "window at \(start)")
        }
    }

    /// Worked by hand (total 10):
    /// add (1,2,7)  -> pick 2 -> (1,2,-3)
    /// add (2,4,4)  -> tie 1/2, pick 1 -> (2,-6,4)
    /// add (3,-4,11) -> pick 2 -> (3,-4,1)
    /// add (4,-2,8) -> pick 2 -> (4,-2,-2)
    /// add (5,0,5)  -> tie 0/2, pick 0 -> (-5,0,5)
    /// add (-4,2,12) -> pick 2 -> (-4,2,2)
    /// add (-3,4,9) -> pick 2 -> (-3,4,-1)
    /// add (-2,6,6) -> tie 1/2, pick 1 -> (-2,-4,6)
    /// add (-1,-2,13) -> pick 2 -> (-1,-2,3)
    /// add (0,0,10) -> pick 2 -> (0,0,0)
    @Test func oneTwoSevenExactSequence() {
        var p = SmoothWeightedPicker(weights: [1, 2, 7])
        let expected: [Int?] = [2, 1, 2, 2, 0, 2, 2, 1, 2, 2]
        #expect(picks(&p, 10) == expected)
        #expect(picks(&p, 10) == expected, "back at all-zero currents, so the cycle repeats")
    }

    /// The sequence from nginx's commit introducing smooth weighted round robin.
    @Test func nginxFiveOneOne() {
        var p = SmoothWeightedPicker(weights: [5, 1, 1])
        let a = 0, b = 1, c = 2
        #expect(picks(&p, 7) == [a, a, b, a, c, a, a])
    }

    @Test func zeroWeightsAreNeverPicked() {
        var p = SmoothWeightedPicker(weights: [0, 3, 0, 1])
        let got = picks(&p, 100)
        #expect(got.allSatisfy { $0 == 1 || $0 == 3 })
        #expect(got.filter { $0 == 1 }.count == 75)
        #expect(got.filter { $0 == 3 }.count == 25)
    }

    @Test(arguments: [[Int](), [0], [0, 0, 0], [-5, 0]])
    func nothingPickable(weights: [Int]) {
        var p = SmoothWeightedPicker(weights: weights)
        #expect(p.next() == nil)
        #expect(p.next(where: { _ in true }) == nil)
    }

    @Test func negativeWeightsCountAsZeroAndHugeAreClamped() {
        var p = SmoothWeightedPicker(weights: [-3, 2, Int.max, Int.max])
        #expect(p.weights == [0, 2, SmoothWeightedPicker.maxWeight, SmoothWeightedPicker.maxWeight])
        for _ in 0..<1000 { #expect(p.next() != 0) }
    }

    @Test func singlePeer() {
        var p = SmoothWeightedPicker(weights: [7])
        #expect(picks(&p, 5) == [0, 0, 0, 0, 0])
    }

    /// Over one full cycle (sum of weights picks) each peer is picked exactly its weight.
    @Test(arguments: [[1, 1], [2, 1], [3, 5, 2], [1, 0, 9], [10, 20, 30, 40], [1000, 1, 999], [7, 7, 7, 7, 7, 7, 7]])
    func exactProportionsPerCycle(weights: [Int]) {
        var p = SmoothWeightedPicker(weights: weights)
        let total = weights.reduce(0, +)
        for _ in 0..<3 {
            var counts = [Int](repeating: 0, count: weights.count)
            for _ in 0..<total { counts[p.next()!] += 1 }
            #expect(counts == weights)
        }
    }

    @Test func skippingRunsTheAlgorithmOnTheSubset() {
        // Without peer 0, [5,1,1] is [1,1] on peers 1 and 2: b c b c.
        var p = SmoothWeightedPicker(weights: [5, 1, 1])
        #expect((0..<4).map { _ in p.next(where: { $0 != 0 }) } == [1, 2, 1, 2])
    }

    /// Mixed, worked by hand; skipped peers keep their current:
    /// next()         add (5,1,1) -> a -> (-2,1,1)
    /// next(not a)    add b,c -> (-2,2,2), tie b -> b -= 2 -> (-2,0,2)
    /// next()         add -> (3,1,3), tie a/c -> a -> (-4,1,3)
    /// next()         add -> (1,2,4) -> c -> (1,2,-3)
    /// next()         add -> (6,3,-2) -> a -> (-1,3,-2)
    @Test func skippingMixedWithNormalPicks() {
        var p = SmoothWeightedPicker(weights: [5, 1, 1])
        var got: [Int?] = []
        got.append(p.next())
        got.append(p.next(where: { $0 != 0 }))
        got.append(p.next())
        got.append(p.next())
        got.append(p.next())
        #expect(got == [0, 1, 0, 2, 0])
    }

    @Test func skippingEverythingOrOnlyZeroWeights() {
        var p = SmoothWeightedPicker(weights: [0, 4, 0])
        #expect(p.next(where: { _ in false }) == nil)
        #expect(p.next(where: { $0 != 1 }) == nil)
        #expect(p.next(where: { $0 == 1 }) == 1)
        // A failed pick must not disturb the state: the plain sequence is still all 1s.
        #expect(picks(&p, 3) == [1, 1, 1])
    }

    @Test func resetRestartsTheSequence() {
        var p = SmoothWeightedPicker(weights: [1, 2, 7])
        let first = picks(&p, 3)
        _ = picks(&p, 4)
        p.reset()
        #expect(picks(&p, 3) == first)
    }

    /// Large weights with random skipping: no overflow trap, and every pick is
    /// an allowed peer with weight > 0 (nil only when none is allowed).
    @Test func randomSkippingPicksOnlyAllowedPeers() {
        var rng = SplitMix64(seed: 42)
        let weights = [1_000_000, 1, 999_999, 500_000, 0]
        var p = SmoothWeightedPicker(weights: weights)
        for _ in 0..<20_000 {
            let mask = rng.next()
            let allowed = { (i: Int) in mask >> UInt64(i) & 1 == 1 }
            let pick = p.next(where: allowed)
            let anyAllowed = weights.indices.contains { weights[$0] > 0 && allowed($0) }
            if let pick {
                #expect(allowed(pick) && weights[pick] > 0)
            } else {
                #expect(!anyAllowed)
            }
        }
    }
}


/// `credit`: picks decided elsewhere (sticky sessions) count towards the shares, so the free
/// picks make up for them, and the imbalance they may build is bounded.
@Suite struct SmoothWeightedPickerCreditTests {
    /// 100 shoppers stuck to blue when the step began; every 5th request is a new shopper
    /// (picked, and replacing an old one), the rest follow their cookie (credited). Without
    /// `credit` green gets 2% here (the sticky traffic is all blue for a while, and which
    /// shopper comes back aliases with the picks); with it, the free picks make up for the
    /// forced ones and green's share is the split's 10%.
    @Test func forcedPicksAreCompensatedByFreePicks() {
        var p = SmoothWeightedPicker(weights: [90, 10])
        var counts = [0, 0]
        var shoppers = [Int](repeating: 0, count: 100)
        var next = 0
        for i in 0..<3000 {
            let c: Int
            if i % 5 == 0 {
                c = p.next()!
                shoppers[next % 100] = c
                next += 1
            } else {
                c = shoppers[(i * 7) % 100]
                p.credit(c)
            }
            counts[c] += 1
        }
        let share = Double(counts[1]) / 3000
        #expect(share >= 0.095 && share <= 0.105, "green got \(share)")
    }

    /// Without free picks to compensate, the debt stops growing at the bound, so the next free
    /// picks go to the starved peer only for a bounded number of picks.
    @Test func creditDebtIsBounded() {
        var p = SmoothWeightedPicker(weights: [90, 10])
        for _ in 0..<100_000 { p.credit(0) }
        var run = 0
        while p.next() == 1 { run += 1 }
        #expect(run > 0)
        #expect(run <= 2 * SmoothWeightedPicker.creditBound + 2, "green got \(run) picks in a row")
        // Weight-0 or out-of-range credits change nothing.
        var q = SmoothWeightedPicker(weights: [1, 0])
        q.credit(1)
        q.credit(7)
        #expect(q.next() == 0)
    }
}
