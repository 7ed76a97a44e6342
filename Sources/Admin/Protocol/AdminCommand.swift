/// One pool's share in a `split` command.
public struct SplitAssignment: Equatable, Sendable {
    public var pool: String
    public var weight: Int

    public init(pool: String, weight: Int) {
        self.pool = pool
        self.weight = weight
    }
}

/// `rollout pause|resume|promote|abort`: commands on the running rollout.
public enum RolloutVerb: String, CaseIterable, Equatable, Sendable {
    case pause, resume, promote, abort
}

/// A parsed admin command. Addresses are syntactically valid but not canonical: the proxy side
/// canonicalises them (e.g. `[::1]:80` vs `[0::1]:80`) when it looks servers up.
public enum AdminCommand: Equatable, Sendable {
    case status, stats, help
    /// Pools not named keep their current weight.
    case split([SplitAssignment])
    case serverWeight(pool: String, address: String, weight: Int)
    case serverDrain(pool: String, address: String)
    case serverReady(pool: String, address: String)
    /// `weight` nil: the proxy's default weight.
    case serverAdd(pool: String, address: String, weight: Int?)
    case serverRemove(pool: String, address: String)
    case reload, shutdown
    /// Back to the previous configuration generation's values (as a new generation).
    case undo
    /// `rollout start POOL|PLAN [options]`: the words after `start`, validated by the proxy
    /// (it knows the pools and the plans of the config file).
    case rolloutStart([String])
    case rolloutStatus
    case rollout(RolloutVerb)
    /// A changing command applied only if the configuration is still at `generation`
    /// (`... if-generation N`), so two controllers cannot overwrite each other's changes.
    indirect case ifGeneration(UInt64, AdminCommand)

    /// The command words, e.g. "server weight" (for audit logs and `help`).
    public var name: String {
        switch self {
        case .status: return "status"
        case .stats: return "stats"
        case .help: return "help"
        case .split: return "split"
        case .serverWeight: return "server weight"
        case .serverDrain: return "server drain"
        case .serverReady: return "server ready"
        case .serverAdd: return "server add"
        case .serverRemove: return "server remove"
        case .reload: return "reload"
        case .undo: return "undo"
        case .rolloutStart: return "rollout start"
        case .rolloutStatus: return "rollout status"
        case .rollout(let verb): return "rollout \(verb.rawValue)"
        case .ifGeneration(_, let inner): return inner.name
        case .shutdown: return "shutdown"
        }
    }

    /// Whether the command changes the proxy (audit logs record these).
    public var isMutating: Bool {
        switch self {
        case .status, .stats, .help, .rolloutStatus: return false
        default: return true
        }
    }

    /// Every command's syntax, in the order `help` lists them.
    public static let usage: [String] = [
        "status",
        "stats",
        "split POOL=WEIGHT [POOL=WEIGHT...]",
        "server weight POOL HOST:PORT N",
        "server drain POOL HOST:PORT",
        "server ready POOL HOST:PORT",
        "server add POOL HOST:PORT [weight N]",
        "server remove POOL HOST:PORT",
        "undo",
        "rollout start POOL|PLAN [from POOL] [steps P,P,...,100] [hold DURATION] [max-error-rate PERCENT%] [max-p99 RATIOx] [min-requests N]",
        "rollout status",
        "rollout pause",
        "rollout resume",
        "rollout promote",
        "rollout abort",
        "reload",
        "shutdown",
        "help",
        "(any changing command) ... if-generation N",
    ]

    /// Every command's name, in the order of `usage`.
    public static let names: [String] = usage.map { u in
        let words = u.split(separator: " ")
        if words.first == "(any" { return "if-generation" }
        return words.first == "server" || words.first == "rollout" ? words.prefix(2).joined(separator: " ") : String(words[0])
    }
}

extension AdminCommand: CustomStringConvertible {
    /// The canonical command line; parsing it gives back the same command.
    public var description: String {
        switch self {
        case .status, .stats, .help, .reload, .shutdown, .undo, .rolloutStatus, .rollout:
            return name
        case .rolloutStart(let args):
            return (["rollout", "start"] + args).joined(separator: " ")
        case .ifGeneration(let g, let inner):
            return "\(inner) if-generation \(g)"
        case .split(let parts):
            return (["split"] + parts.map { "\($0.pool)=\($0.weight)" }).joined(separator: " ")
        case .serverWeight(let pool, let address, let weight):
            return "server weight \(pool) \(address) \(weight)"
        case .serverDrain(let pool, let address), .serverReady(let pool, let address),
             .serverRemove(let pool, let address):
            return "\(name) \(pool) \(address)"
        case .serverAdd(let pool, let address, let weight):
            return "server add \(pool) \(address)" + (weight.map { " weight \($0)" } ?? "")
        }
    }
}
