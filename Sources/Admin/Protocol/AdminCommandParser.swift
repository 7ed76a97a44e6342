/// Turns one admin line into a command. Pure, so every error path is unit-tested without sockets.
///
/// Tokens are separated by spaces and tabs; one trailing "\r" is ignored; command words are
/// lower-case and exact. A blank line is an error here, but the server skips blank lines without
/// replying (so `socat` users can press Enter freely).
public enum AdminCommandParser {
    public static let maxSplitWeight = 1_000_000
    public static let maxServerWeight = 1000
    public static let maxPoolNameLength = 64

    public static func parse(_ line: String) -> Result<AdminCommand, AdminError> {
        do {
            return .success(try parseTokens(tokenize(line)))
        } catch let e as AdminError {
            return .failure(e)
        } catch {
            return .failure(AdminError(code: AdminError.Code.internal, message: "\(error)"))
        }
    }

    /// Splits on spaces and tabs after dropping one trailing "\r".
    public static func tokenize(_ line: String) -> [String] {
        var s = Substring(line)
        if s.hasSuffix("\r") { s = s.dropLast() }
        return s.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    private static func parseTokens(_ all: [String]) throws -> AdminCommand {
        // `... if-generation N` makes any changing command conditional.
        if all.count >= 2, all[all.count - 2] == "if-generation" {
            let text = all[all.count - 1]
            guard let g = UInt64(text), text.allSatisfy({ $0 >= "0" && $0 <= "9" }) else {
                throw AdminError(code: AdminError.Code.badNumber, message: "bad generation \(quote(text)) after 'if-generation' (expected a number)")
            }
            let inner = try parseTokens(Array(all.dropLast(2)))
            guard inner.isMutating, !(inner == .shutdown) else {
                throw AdminError(code: AdminError.Code.badArgument, message: "'if-generation' applies to commands that change the configuration, not '\(inner.name)'")
            }
            if case .ifGeneration = inner {
                throw AdminError(code: AdminError.Code.badArgument, message: "'if-generation' given twice")
            }
            return .ifGeneration(g, inner)
        }
        if all.last == "if-generation" {
            throw AdminError(code: AdminError.Code.missingArgument, message: "'if-generation' needs a generation number")
        }
        let t = all
        guard let word = t.first else {
            throw AdminError(code: AdminError.Code.missingArgument, message: "empty command (try 'help')")
        }
        let args = Array(t.dropFirst())
        switch word {
        case "status": try noArguments("status", args); return .status
        case "stats": try noArguments("stats", args); return .stats
        case "help": try noArguments("help", args); return .help
        case "reload": try noArguments("reload", args); return .reload
        case "shutdown": try noArguments("shutdown", args); return .shutdown
        case "undo": try noArguments("undo", args); return .undo
        case "split": return try parseSplit(args)
        case "server": return try parseServer(args)
        case "rollout": return try parseRollout(args)
        default:
            throw AdminError(code: AdminError.Code.unknownCommand, message: "unknown command \(quote(word)) (try 'help')")
        }
    }

    private static func noArguments(_ name: String, _ args: [String]) throws {
        if let extra = args.first {
            throw AdminError(code: AdminError.Code.extraArgument,
                             message: "\(name): unexpected argument \(quote(extra)) (expected '\(name)')")
        }
    }

    private static func parseSplit(_ args: [String]) throws -> AdminCommand {
        let usage = "split POOL=WEIGHT [POOL=WEIGHT...]"
        guard !args.isEmpty else {
            throw AdminError(code: AdminError.Code.missingArgument,
                             message: "split: expected '\(usage)', e.g. 'split blue=90 green=10'")
        }
        var parts: [SplitAssignment] = []
        for arg in args {
            guard let eq = arg.firstIndex(of: "=") else {
                throw AdminError(code: AdminError.Code.badArgument,
                                 message: "split: bad assignment \(quote(arg)) (expected POOL=WEIGHT, e.g. blue=90)")
            }
            let pool = try poolName(String(arg[..<eq]))
            let weight = try number(String(arg[arg.index(after: eq)...]), in: 0...maxSplitWeight,
                                    what: "weight of pool '\(pool)'")
            if parts.contains(where: { $0.pool == pool }) {
                throw AdminError(code: AdminError.Code.badArgument, message: "split: pool '\(pool)' is named twice")
            }
            parts.append(SplitAssignment(pool: pool, weight: weight))
        }
        return .split(parts)
    }

    private static func parseServer(_ args: [String]) throws -> AdminCommand {
        guard let sub = args.first else {
            throw AdminError(code: AdminError.Code.missingArgument,
                             message: "server: expected 'server weight|drain|ready|add|remove POOL HOST:PORT ...'")
        }
        let rest = Array(args.dropFirst())
        switch sub {
        case "weight":
            let a = try arity(rest, min: 3, max: 3, usage: "server weight POOL HOST:PORT N")
            return .serverWeight(pool: try poolName(a[0]), address: try address(a[1]),
                                 weight: try number(a[2], in: 0...maxServerWeight, what: "weight"))
        case "drain":
            let a = try arity(rest, min: 2, max: 2, usage: "server drain POOL HOST:PORT")
            return .serverDrain(pool: try poolName(a[0]), address: try address(a[1]))
        case "ready":
            let a = try arity(rest, min: 2, max: 2, usage: "server ready POOL HOST:PORT")
            return .serverReady(pool: try poolName(a[0]), address: try address(a[1]))
        case "remove":
            let a = try arity(rest, min: 2, max: 2, usage: "server remove POOL HOST:PORT")
            return .serverRemove(pool: try poolName(a[0]), address: try address(a[1]))
        case "add":
            let usage = "server add POOL HOST:PORT [weight N]"
            let a = try arity(rest, min: 2, max: 4, usage: usage)
            let pool = try poolName(a[0])
            let addr = try address(a[1])
            guard a.count > 2 else { return .serverAdd(pool: pool, address: addr, weight: nil) }
            guard a[2] == "weight" else {
                throw AdminError(code: AdminError.Code.badArgument,
                                 message: "server add: expected 'weight N' after the address, got \(quote(a[2])) (expected '\(usage)')")
            }
            guard a.count == 4 else {
                throw AdminError(code: AdminError.Code.missingArgument,
                                 message: "server add: 'weight' needs a number (expected '\(usage)')")
            }
            return .serverAdd(pool: pool, address: addr, weight: try number(a[3], in: 1...maxServerWeight, what: "weight"))
        default:
            throw AdminError(code: AdminError.Code.unknownCommand,
                             message: "unknown command \(quote("server " + sub)) (try 'help')")
        }
    }

    private static func parseRollout(_ args: [String]) throws -> AdminCommand {
        guard let sub = args.first else {
            throw AdminError(code: AdminError.Code.missingArgument,
                             message: "rollout: expected 'rollout start|status|pause|resume|promote|abort ...'")
        }
        let rest = Array(args.dropFirst())
        switch sub {
        case "start":
            guard let target = rest.first else {
                throw AdminError(code: AdminError.Code.missingArgument,
                                 message: "rollout start: expected 'rollout start POOL|PLAN [options]', e.g. 'rollout start green steps 1,5,25,50,100 hold 60s'")
            }
            _ = try poolName(target)
            guard rest.count <= 15 else {
                throw AdminError(code: AdminError.Code.extraArgument,
                                 message: "rollout start: too many arguments (each option at most once)")
            }
            return .rolloutStart(rest)
        case "status":
            try noArguments("rollout status", rest)
            return .rolloutStatus
        default:
            guard let verb = RolloutVerb(rawValue: sub) else {
                throw AdminError(code: AdminError.Code.unknownCommand,
                                 message: "unknown command \(quote("rollout " + sub)) (try 'help')")
            }
            try noArguments("rollout \(sub)", rest)
            return .rollout(verb)
        }
    }

    private static func arity(_ a: [String], min: Int, max: Int, usage: String) throws -> [String] {
        let name = usage.split(separator: " ").prefix(2).joined(separator: " ")
        if a.count < min {
            throw AdminError(code: AdminError.Code.missingArgument, message: "\(name): expected '\(usage)'")
        }
        if a.count > max {
            throw AdminError(code: AdminError.Code.extraArgument,
                             message: "\(name): unexpected argument \(quote(a[max])) (expected '\(usage)')")
        }
        return a
    }

    /// `[A-Za-z0-9_-]{1,64}`, the same rule as the config file.
    static func poolName(_ s: String) throws -> String {
        let ok = (1...maxPoolNameLength).contains(s.utf8.count) && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
        }
        guard ok else {
            throw AdminError(code: AdminError.Code.badArgument,
                             message: "bad pool name \(quote(s)) (expected 1-64 characters of A-Z a-z 0-9 _ -)")
        }
        return s
    }

    static func address(_ s: String) throws -> String {
        if let why = AddressSyntax.problem(s) {
            throw AdminError(code: AdminError.Code.badAddress,
                             message: "bad address \(quote(s)): \(why) (\(AddressSyntax.expected))")
        }
        return s
    }

    static func number(_ s: String, in range: ClosedRange<Int>, what: String) throws -> Int {
        guard let v = AddressSyntax.decimal(s.utf8, maxDigits: 18), range.contains(v) else {
            throw AdminError(code: AdminError.Code.badNumber,
                             message: "bad number \(quote(s)) for \(what) (expected \(range.lowerBound)...\(range.upperBound))")
        }
        return v
    }

    /// Echoes user input in messages, shortened so a reply never balloons.
    static func quote(_ s: String) -> String {
        s.count <= 64 ? "'\(s)'" : "'\(s.prefix(61))...'"
    }
}
