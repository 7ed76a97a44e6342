/// The two-level choice for one request: a pool by the split weights, then
/// a server inside that pool by server weights; both smooth weighted round
/// robin, so a 90/10 split is exact over every 10 requests rather than
/// "about right" on average. A value type; one per worker.
public struct SplitPicker: Sendable {
    public private(set) var pools: SmoothWeightedPicker
    public private(set) var servers: [SmoothWeightedPicker]
    /// Pools that have at least one server with weight > 0; others are never picked.
    private var servable: [Bool]

    /// `split[i]` is the weight of pool i, `serverWeights[i]` its servers'
    /// weights. A pool missing from either side counts as weight 0 / no servers.
    public init(split: [Int], serverWeights: [[Int]]) {
        let count = max(split.count, serverWeights.count)
        var splitWeights = split + [Int](repeating: 0, count: count - split.count)
        let lists = serverWeights + [[Int]](repeating: [], count: count - serverWeights.count)
        servers = lists.map { SmoothWeightedPicker(weights: $0) }
        servable = lists.map { $0.contains { $0 > 0 } }
        for i in 0..<count where !servable[i] { splitWeights[i] = 0 }
        pools = SmoothWeightedPicker(weights: splitWeights)
    }

    public init(config: ProxyConfig) {
        self.init(split: config.split, serverWeights: config.pools.map { $0.servers.map(\.weight) })
    }

    /// Pool and server for the next request; nil if nothing can serve.
    public mutating func next() -> (pool: Int, server: Int)? {
        guard let p = pools.next(), let s = servers[p].next() else { return nil }
        return (p, s)
    }

    /// Like `next()` but only among allowed servers (e.g. not drained, not
    /// already tried); pools with no allowed server are skipped so the
    /// split is kept among the pools that can still serve.
    public mutating func next(where allowed: (_ pool: Int, _ server: Int) -> Bool) -> (pool: Int, server: Int)? {
        let candidates = servers
        guard let p = pools.next(where: { pool in
            candidates[pool].weights.indices.contains { candidates[pool].weights[$0] > 0 && allowed(pool, $0) }
        }) else { return nil }
        guard let s = servers[p].next(where: { allowed(p, $0) }) else { return nil }
        return (p, s)
    }

    /// A server of one given pool (e.g. a retry that must stay in the pool
    /// the request was assigned to).
    public mutating func nextServer(inPool pool: Int, where allowed: (Int) -> Bool = { _ in true }) -> Int? {
        guard servers.indices.contains(pool) else { return nil }
        return servers[pool].next(where: allowed)
    }

    /// Runtime split change (e.g. from the admin socket). Restarts the pool
    /// sequence; per-pool server sequences are kept.
    public mutating func setSplit(_ split: [Int]) {
        var weights = [Int](repeating: 0, count: servers.count)
        for i in weights.indices where i < split.count && servable[i] { weights[i] = split[i] }
        pools = SmoothWeightedPicker(weights: weights)
    }
}
