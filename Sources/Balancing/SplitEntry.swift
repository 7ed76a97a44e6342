/// One `POOL=WEIGHT` argument of `split`. Entries are resolved against the
/// pools only at the end of the file, so `split` may come before the pools.
struct SplitEntry: Equatable {
    var name: String
    var weight: Int

    static let maxWeight = 1_000_000

    /// Syntax, range and repeated names; does not know the pools yet.
    static func parse(_ args: ArraySlice<String>) -> Result<[SplitEntry], Reason> {
        var entries: [SplitEntry] = []
        var names: Set<String> = []
        for arg in args {
            let parts = arg.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                return .failure("split: expected POOL=WEIGHT, got \(quoted(arg)) (usage: \(ConfigDirective.usage(of: "split")))")
            }
            let name = String(parts[0])
            let text = String(parts[1])
            guard let w = ValueParsing.unsigned(text), w <= UInt64(maxWeight) else {
                return .failure("split: weight of pool \(quoted(name)) must be 0...\(maxWeight), got \(ValueParsing.shown(text))")
            }
            guard names.insert(name).inserted else {
                return .failure("split: pool \(quoted(name)) is listed twice")
            }
            entries.append(SplitEntry(name: name, weight: Int(w)))
        }
        return .success(entries)
    }

    enum Problem: Error, Equatable {
        case unknownPool(String)
        case allZero
        case emptyPool(String, weight: Int)

        var message: String {
            switch self {
            case .unknownPool(let name): return "split: unknown pool \(quoted(name))"
            case .allZero: return "split: all weights are zero"
            case .emptyPool(let name, let weight):
                return "split: pool '\(name)' has no servers but its split weight is \(weight)"
            }
        }
    }

    /// Weights aligned with `pools`; pools not named get 0.
    static func resolve(_ entries: [SplitEntry], pools: [PoolConfig]) -> Result<[Int], Problem> {
        var weights = [Int](repeating: 0, count: pools.count)
        var index: [String: Int] = [:]
        for (i, pool) in pools.enumerated() where index[pool.name] == nil { index[pool.name] = i }
        for entry in entries {
            guard let i = index[entry.name] else {
                return .failure(.unknownPool(entry.name))
            }
            weights[i] = entry.weight
        }
        guard weights.contains(where: { $0 > 0 }) else { return .failure(.allZero) }
        for (i, pool) in pools.enumerated() where weights[i] > 0 && pool.servers.isEmpty {
            return .failure(.emptyPool(pool.name, weight: weights[i]))
        }
        return .success(weights)
    }
}
