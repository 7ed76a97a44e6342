/// `failover on|off`: what happens to a pool's share of the traffic when none of its servers is
/// usable (all down, ejected or drained).
public enum Failover {
    /// The split to pick pools with, given which pools can serve right now.
    ///
    /// A pool with a non-zero split, no usable server and failover on gets 0: the remaining
    /// pools with a non-zero split then share all the traffic in proportion to their own
    /// weights (blue=90 green=10 with blue failed over: green gets 10 of 10). A pool with
    /// failover off keeps its split, so its share gets 503s. Pools with split 0 never receive
    /// traffic this way. If zeroing would leave no pool with a non-zero split, nothing fails
    /// over and the original split is returned (every pool is unusable: better 503s than
    /// traffic to a pool the operator gave 0).
    ///
    /// Missing entries of `poolHasUsableServer` count as usable and missing entries of `failover`
    /// as on; the result has the length of `split`, with negative weights as 0.
    /// - Returns: the effective split and the indices of the pools that failed over.
    public static func effectiveSplit(split: [Int], poolHasUsableServer: [Bool], failover: [Bool])
        -> (split: [Int], failedOver: [Int]) {
        let original = split.map { max(0, $0) }
        var result = original
        var failedOver: [Int] = []
        for i in result.indices where result[i] > 0 {
            let usable = i < poolHasUsableServer.count ? poolHasUsableServer[i] : true
            let enabled = i < failover.count ? failover[i] : true
            if !usable && enabled {
                result[i] = 0
                failedOver.append(i)
            }
        }
        guard result.contains(where: { $0 > 0 }) else { return (original, []) }
        return (result, failedOver)
    }
}
