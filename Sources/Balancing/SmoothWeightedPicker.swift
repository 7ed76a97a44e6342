/// Smooth weighted round robin as in nginx: every pick adds each peer's
/// weight to its `current`, takes the peer with the largest `current` (ties
/// go to the lowest index) and subtracts the total weight from the winner.
///
/// Unlike "random by weight" it is deterministic and spreads picks evenly:
/// weights [90, 10] give exactly 9:1 in every 10 consecutive picks, and
/// [5, 1, 1] gives a a b a c a a rather than a a a a a b c. The state is a
/// value: each worker owns its own picker, so no locking on the request path.
public struct SmoothWeightedPicker: Sendable {
    /// Cap per weight so the total cannot overflow however many peers there are
    /// (config weights are at most 1_000_000).
    public static let maxWeight = Int(UInt32.max)

    public private(set) var weights: [Int]
    /// nginx's `current_weight`; sums to zero after every pick over all peers.
    private var current: [Int]

    /// Negative weights count as 0 and weights above `maxWeight` are clamped.
    public init(weights: [Int]) {
        self.weights = weights.map { min(max($0, 0), SmoothWeightedPicker.maxWeight) }
        self.current = [Int](repeating: 0, count: weights.count)
    }

    /// Next peer index, or nil when all weights are 0 (or there are none).
    public mutating func next() -> Int? {
        // Same loop as next(where:) without the per-peer closure call: this runs per request.
        var best = -1
        var bestCurrent = Int.min
        var total = 0
        for i in weights.indices {
            let w = weights[i]
            guard w > 0 else { continue }
            current[i] += w
            total += w
            if current[i] > bestCurrent {
                best = i
                bestCurrent = current[i]
            }
        }
        guard best >= 0 else { return nil }
        current[best] -= total
        return best
    }

    /// Pick while skipping candidates (e.g. servers that already failed for
    /// this request). Runs the same algorithm over the allowed subset, as
    /// nginx does for tried peers: skipped peers keep their `current`
    /// untouched. Nil if no allowed peer has weight > 0.
    public mutating func next(where allowed: (Int) -> Bool) -> Int? {
        var best = -1
        var bestCurrent = Int.min
        var total = 0
        for i in weights.indices {
            let w = weights[i]
            guard w > 0, allowed(i) else { continue }
            current[i] += w
            total += w
            if current[i] > bestCurrent {
                best = i
                bestCurrent = current[i]
            }
        }
        guard best >= 0 else { return nil }
        current[best] -= total
        return best
    }

    /// Counts a pick of `index` that was decided elsewhere (a sticky session going to its
    /// colour) as if the picker had made it, so the picks it does make (new sessions) make up
    /// for the forced ones and the overall shares still follow the weights. Each `current` is
    /// kept within ±`creditBound` x total, so a long run of forced picks cannot build a debt
    /// that would send every later pick to one peer for minutes.
    public mutating func credit(_ index: Int) {
        guard index >= 0, index < weights.count, weights[index] > 0 else { return }
        var total = 0
        for i in weights.indices where weights[i] > 0 {
            current[i] += weights[i]
            total += weights[i]
        }
        current[index] -= total
        let bound = total * Self.creditBound
        for i in current.indices where current[i] > bound || current[i] < -bound {
            current[i] = min(max(current[i], -bound), bound)
        }
    }

    /// How many picks' worth of imbalance `credit` may carry.
    public static let creditBound = 32

    /// Currents back to zero: the sequence starts over.
    public mutating func reset() {
        for i in current.indices { current[i] = 0 }
    }
}
