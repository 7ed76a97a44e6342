/// One directive of the config file, in the spirit of nginx's `ngx_command_t`: its name, where
/// it may appear, how often, its usage text and its handler. `ConfigDirective.table` is the only
/// list of directives: the parser's unknown and misplaced directive errors, its duplicate checks
/// and every "(usage: ...)" come from it, and a test holds `proxy.conf.example` to it.
struct ConfigDirective: Sendable {
    /// Where a directive may appear.
    enum Scope: Sendable, Equatable {
        case topLevel
        /// Inside `pool NAME { }`.
        case pool
        /// Inside `rollout NAME { }`.
        case rollout

        /// The block's keyword, as error messages name it.
        var word: String {
            switch self {
            case .topLevel: "top level"
            case .pool: "pool"
            case .rollout: "rollout"
            }
        }
    }

    /// How often a directive may appear in its scope: the file for top-level directives, one
    /// block for the others.
    enum Repeats: Sendable, Equatable {
        /// Any number of times (`listen`, `server`, ...; what each names must differ).
        case allowed
        case once
        /// Once per KIND, its first argument (`timeout connect`, `limit body-bytes`).
        case oncePerKind
    }

    typealias Handler = @Sendable (inout ConfigParserState, DirectiveCall) throws -> Void

    let name: String
    let scope: Scope
    let repeats: Repeats
    /// The block that this directive opens (`pool NAME {`), if any.
    var opens: Scope? = nil
    let usage: String
    let handler: Handler
}

/// A directive's line, as its handler sees it.
struct DirectiveCall {
    let directive: ConfigDirective
    let args: ArraySlice<String>
    /// 1-based.
    let line: Int

    var name: String { directive.name }
    var usage: String { directive.usage }
}

extension ConfigDirective {
    /// Every directive. The order is the one typo suggestions are tried in (the first of equally
    /// close names wins) and the one "expected ..." lists rollout settings in.
    static let table: [ConfigDirective] = [
        .init(name: "listen", scope: .topLevel, repeats: .allowed, usage: "listen ADDRESS:PORT") { try $0.listen($1) },
        .init(name: "workers", scope: .topLevel, repeats: .once, usage: "workers auto|N") { try $0.workers($1) },
        .init(name: "admin", scope: .topLevel, repeats: .once, usage: "admin PATH [group NAME]") { try $0.admin($1) },
        .init(name: "pool", scope: .topLevel, repeats: .allowed, opens: .pool, usage: "pool NAME {") { try $0.pool($1) },
        .init(name: "server", scope: .pool, repeats: .allowed,
              usage: "server ADDRESS:PORT [weight N] [max-conn N]") { try $0.server($1) },
        .init(name: "split", scope: .topLevel, repeats: .once, usage: "split POOL=WEIGHT ...") { try $0.splitDirective($1) },
        .init(name: "timeout", scope: .topLevel, repeats: .oncePerKind, usage: "timeout KIND DURATION") { try $0.timeout($1) },
        .init(name: "limit", scope: .topLevel, repeats: .oncePerKind, usage: "limit KIND VALUE") { try $0.limit($1) },
        .init(name: "trusted-proxies", scope: .topLevel, repeats: .allowed, usage: "trusted-proxies CIDR ...") {
            try $0.trustedProxies($1)
        },
        .init(name: "shutdown-delay", scope: .topLevel, repeats: .once, usage: "shutdown-delay DURATION") {
            try $0.shutdownDelay($1)
        },
        .init(name: "health", scope: .pool, repeats: .once,
              usage: "health [GET|HEAD|OPTIONS PATH] [interval DURATION] [timeout DURATION] [rise N] [fall N] [expect NNN[-NNN]] [initial up|down]") {
            let check = try $0.health($1)
            $0.openPool?.health = check
        },
        .init(name: "eject-after", scope: .pool, repeats: .once, usage: "eject-after N|off") {
            let count = try $0.ejectAfter($1)
            $0.openPool?.ejectAfter = count
        },
        .init(name: "eject-on", scope: .pool, repeats: .once, usage: "eject-on 5xx") {
            let on5xx = try $0.ejectOn($1)
            $0.openPool?.ejectOn5xx = on5xx
        },
        .init(name: "max-eject", scope: .pool, repeats: .once, usage: "max-eject PERCENT%") {
            let percent = try $0.maxEject($1)
            $0.openPool?.maxEjectPercent = percent
        },
        .init(name: "slow-start", scope: .pool, repeats: .once, usage: "slow-start DURATION|off") {
            let ms = try $0.slowStart($1)
            $0.openPool?.slowStartMS = ms
        },
        .init(name: "retries", scope: .pool, repeats: .once, usage: "retries N") {
            let count = try $0.retries($1)
            $0.openPool?.retries = count
        },
        .init(name: "failover", scope: .pool, repeats: .once, usage: "failover on|off") {
            let on = try $0.failover($1)
            $0.openPool?.failover = on
        },
        .init(name: "metrics", scope: .topLevel, repeats: .once, usage: "metrics ADDRESS:PORT") { try $0.metrics($1) },
        .init(name: "audit-log", scope: .topLevel, repeats: .once, usage: "audit-log PATH") { try $0.auditLog($1) },
        .init(name: "sticky", scope: .topLevel, repeats: .once, usage: "sticky cookie NAME key FILE [max-age DURATION]") {
            try $0.sticky($1)
        },
        .init(name: "access-log", scope: .topLevel, repeats: .once, usage: "access-log PATH [buffer SIZE] [flush DURATION]") {
            try $0.accessLog($1)
        },
        .init(name: "rollout", scope: .topLevel, repeats: .allowed, opens: .rollout, usage: "rollout NAME {") {
            try $0.rollout($1)
        },
        .init(name: "io-uring", scope: .topLevel, repeats: .once, usage: "io-uring on|off") { try $0.ioUring($1) },
        // The settings of a rollout block; all but `to` are also options of the admin command
        // `rollout start`.
        .init(name: "to", scope: .rollout, repeats: .once, usage: "to POOL") { try $0.rolloutPool($1) },
        .init(name: "from", scope: .rollout, repeats: .once, usage: "from POOL") { try $0.rolloutPool($1) },
        .init(name: "steps", scope: .rollout, repeats: .once, usage: "steps P,P,...,100") { try $0.rolloutOption($1) },
        .init(name: "hold", scope: .rollout, repeats: .once, usage: "hold DURATION") { try $0.rolloutOption($1) },
        .init(name: "max-error-rate", scope: .rollout, repeats: .once, usage: "max-error-rate PERCENT%") {
            try $0.rolloutOption($1)
        },
        .init(name: "max-p99", scope: .rollout, repeats: .once, usage: "max-p99 RATIOx") { try $0.rolloutOption($1) },
        .init(name: "min-requests", scope: .rollout, repeats: .once, usage: "min-requests N") { try $0.rolloutOption($1) },
    ]

    /// The table by name (the first entry wins should a name repeat; a test rules that out).
    static let named: [String: ConfigDirective] = Dictionary(table.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

    /// What a typo outside a rollout block is compared with.
    static let outsideRolloutNames = table.filter { $0.scope != .rollout }.map(\.name)
    /// What a typo inside a rollout block is compared with, and the list its error shows.
    static let rolloutNames = table.filter { $0.scope == .rollout }.map(\.name)

    static func usage(of name: String) -> String {
        named[name]?.usage ?? name
    }
}

extension ConfigParserState {
    /// Where the next line is: inside the open rollout or pool block, or at the top level.
    var currentScope: ConfigDirective.Scope {
        if openRollout != nil { return .rollout }
        if openPool != nil { return .pool }
        return .topLevel
    }

    /// Runs one directive line (not `{` or `}`) through the table.
    mutating func dispatch(_ word: String, _ args: ArraySlice<String>, _ n: Int) throws {
        guard let directive = ConfigDirective.named[word] else { throw unknownDirective(word, n) }
        guard directive.scope == currentScope else { throw misplaced(directive, n) }
        let call = DirectiveCall(directive: directive, args: args, line: n)
        // Pool settings are checked for repeats before their arguments; the other directives
        // claim their line where their handler has checked the arguments' shape.
        if directive.scope == .pool, directive.repeats == .once { try claim(call) }
        try directive.handler(&self, call)
    }

    /// Records the directive's line, or throws if its scope has seen it already: the duplicate
    /// check of every directive whose `repeats` is not `.allowed`. `kind` is the KIND of a
    /// `.oncePerKind` directive.
    mutating func claim(_ call: DirectiveCall, kind: String? = nil) throws {
        let name = call.name
        switch call.directive.scope {
        case .topLevel:
            let key = kind.map { "\(name) \($0)" } ?? name
            if let first = seen[key] { throw error(call.line, "duplicate '\(key)' (first at line \(first))") }
            seen[key] = call.line
        case .pool:
            guard let pool = openPool else { return }
            if let first = openPoolSeen[name] {
                throw error(call.line, "duplicate '\(name)' in pool '\(pool.name)' (first at line \(first))")
            }
            openPoolSeen[name] = call.line
        case .rollout:
            // The block records the line together with the value (`RolloutBlock.settings`).
            guard let block = openRollout else { return }
            if let first = block.settings[name] {
                throw error(call.line, "duplicate '\(name)' in rollout '\(block.name)' (first at line \(first.line))")
            }
        }
    }

    func unknownDirective(_ word: String, _ n: Int) -> ConfigError {
        if let block = openRollout {
            let names = ConfigDirective.rolloutNames
            var message = "unknown setting \(quoted(word)) in rollout '\(block.name)' (expected \(names.joined(separator: ", ")))"
            if let guess = Self.suggestion(for: word, among: names) { message += "; did you mean '\(guess)'?" }
            return error(n, message)
        }
        var message = "unknown directive \(quoted(word))"
        if let guess = Self.suggestion(for: word) { message += " (did you mean '\(guess)'?)" }
        return error(n, message)
    }

    /// A known directive outside the scope it belongs to.
    func misplaced(_ directive: ConfigDirective, _ n: Int) -> ConfigError {
        let name = directive.name
        let home = directive.scope.word
        let open: (name: String, line: Int)? = openRollout.map { ($0.name, $0.line) } ?? openPool.map { ($0.name, $0.line) }
        guard let open else {
            if directive.repeats == .allowed {
                return error(n, "'\(name)' outside of a \(home): \(name)s belong inside '\(home) NAME { ... }'")
            }
            return error(n, "'\(name)' outside of a \(home): it is a \(home) setting and belongs inside '\(home) NAME { ... }'")
        }
        let here = currentScope.word
        let inside = "\(here) '\(open.name)' (opened at line \(open.line))"
        if let opens = directive.opens {
            if opens == currentScope {
                return error(n, "nested \(here): cannot open a \(here) inside \(inside); close it with '}' first")
            }
            return error(n, "cannot open a \(opens.word) inside \(inside); close the \(here) with '}' first")
        }
        switch directive.scope {
        case .topLevel:
            return error(n, "'\(name)' is not allowed inside \(inside); close the \(here) with '}' first")
        case .rollout:
            return error(n, "'\(name)' is a rollout setting, not allowed inside \(inside); it belongs inside 'rollout NAME { ... }'")
        case .pool:
            return error(n, "'\(name)' is not allowed inside \(inside): it belongs inside 'pool NAME { ... }'")
        }
    }
}
