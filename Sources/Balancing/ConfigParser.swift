/// Parses the proxy config text (the caller reads the file). Every problem
/// is a `ConfigError` with the 1-based line and a specific reason; parsing
/// stops at the first one. Pure and linear in the input size, so it is safe
/// on arbitrary (fuzzed) input.
///
/// Defaults worth knowing:
/// - Without a `split` directive the first pool gets weight 100 and all
///   other pools 0 (blue/green: the first pool listed is live).
/// - File-level problems (no `listen`, no `pool`) are reported at line 0.
/// - An unclosed `pool` or `rollout` block is reported at the line that opened it.
public enum ConfigParser {
    public static func parse(_ text: String, file: String) throws -> ProxyConfig {
        var state = ConfigParserState(file: file)
        for line in ConfigLexer.lines(text) {
            try state.apply(line)
        }
        return try state.finish()
    }

    /// Parses the arguments of a `split` line ("blue=90 green=10", with or
    /// without the leading word `split`) against existing pools, with the
    /// same rules as the directive, for changing the split at runtime (e.g.
    /// from the admin socket). Errors are reported as `source: message`.
    public static func parseSplit(_ text: String, pools: [PoolConfig], source: String = "split") throws -> [Int] {
        var tokens = ConfigLexer.lines(text).flatMap(\.tokens)
        if tokens.first == "split" { tokens.removeFirst() }
        let fail = { (message: String) in ConfigError(file: source, line: 0, message: message) }
        guard !tokens.isEmpty else { throw fail("split: missing pool weights (usage: \(ConfigDirective.usage(of: "split")))") }
        let entries: [SplitEntry]
        switch SplitEntry.parse(tokens[...]) {
        case .success(let e): entries = e
        case .failure(let reason): throw fail(reason.description)
        }
        switch SplitEntry.resolve(entries, pools: pools) {
        case .success(let weights): return weights
        case .failure(let problem): throw fail(problem.message)
        }
    }
}

/// Mutable state while walking the lines; `finish` does the whole-file checks.
struct ConfigParserState {
    static let timeoutKinds = ["connect", "client-header", "client-idle", "upstream", "upstream-idle", "drain", "queue"]
    static let limitKinds = ["header-bytes", "body-bytes", "connections"]
    static let maxPoolNameLength = 64
    /// sun_path is 108 bytes including the terminating NUL.
    static let maxSocketPathBytes = 107
    static let maxConnections: UInt64 = 10_000_000
    static let maxServerConnections = 100_000

    let file: String
    var config = ProxyConfig()
    /// The pool whose `{` has not been closed yet.
    var openPool: PoolConfig?
    var openPoolServerLines: [SocketAddressSpec: Int] = [:]
    /// Pool-level directives of the open pool ("health", "retries") -> first line.
    var openPoolSeen: [String: Int] = [:]
    /// Single-valued directives ("workers", "timeout connect") -> first line.
    var seen: [String: Int] = [:]
    var poolLines: [String: Int] = [:]
    var listenLines: [SocketAddressSpec: Int] = [:]
    var cidrLines: [CIDR: Int] = [:]
    var split: (entries: [SplitEntry], line: Int)?
    /// The rollout block whose `{` has not been closed yet.
    var openRollout: RolloutBlock?
    /// Closed rollout blocks, resolved against the pools by `finish`.
    var rolloutBlocks: [RolloutBlock] = []
    var rolloutLines: [String: Int] = [:]

    init(file: String) {
        self.file = file
    }

    func error(_ line: Int, _ message: String) -> ConfigError {
        ConfigError(file: file, line: line, message: message)
    }

    mutating func apply(_ line: ConfigLine) throws {
        let n = line.number
        guard let word = line.tokens.first else { return }
        let args = line.tokens.dropFirst()
        switch word {
        case "}":
            try closeBlock(args, n)
        case "{":
            throw error(n, "unexpected '{': it must follow 'pool NAME' or 'rollout NAME' on the same line")
        default:
            try dispatch(word, args, n)
        }
    }

    /// `}`: closes the open rollout or pool block.
    mutating func closeBlock(_ args: ArraySlice<String>, _ n: Int) throws {
        if openRollout != nil { return try closeRollout(args, n) }
        guard let pool = openPool else { throw error(n, "unexpected '}': no pool or rollout is open") }
        if let extra = args.first { throw error(n, "'}' must be on its own line, unexpected \(quoted(extra))") }
        config.pools.append(pool)
        openPool = nil
        openPoolServerLines = [:]
        openPoolSeen = [:]
    }

    mutating func finish() throws -> ProxyConfig {
        if let pool = openPool {
            throw error(pool.line, "pool '\(pool.name)' is not closed: missing '}' before end of file")
        }
        if let rollout = openRollout {
            throw error(rollout.line, "rollout '\(rollout.name)' is not closed: missing '}' before end of file")
        }
        guard !config.listeners.isEmpty else {
            throw error(0, "no 'listen' directive (at least one is required)")
        }
        guard !config.pools.isEmpty else {
            throw error(0, "no 'pool' defined (at least one 'pool NAME { server ... }' is required)")
        }
        if let split {
            switch SplitEntry.resolve(split.entries, pools: config.pools) {
            case .success(let weights): config.split = weights
            case .failure(let problem): throw error(split.line, problem.message)
            }
        } else {
            config.split = config.pools.indices.map { $0 == 0 ? 100 : 0 }
            if config.pools[0].servers.isEmpty {
                let pool = config.pools[0]
                throw error(pool.line, "pool '\(pool.name)' has no servers, but without a 'split' directive the first pool receives all traffic")
            }
        }
        try resolveRollouts()
        return config
    }

    // MARK: - Directives

    mutating func listen(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "address")
        let text = args[args.startIndex]
        let address: SocketAddressSpec
        switch SocketAddressSpec.parseDetailed(text) {
        case .success(let a): address = a
        case .failure(let problem): throw error(n, problem.message(role: "listen", input: text))
        }
        if let first = listenLines[address] {
            throw error(n, "duplicate listen address \(address) (first at line \(first))")
        }
        listenLines[address] = n
        config.listeners.append(address)
    }

    /// `audit-log PATH`.
    mutating func auditLog(_ call: DirectiveCall) throws {
        try expectArguments(call, count: 1, missing: "path")
        try claim(call)
        config.auditLog = call.args[call.args.startIndex]
    }

    /// `metrics 127.0.0.1:9100`: the Prometheus endpoint (and /ready, /live).
    mutating func metrics(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "address")
        try claim(call)
        let text = args[args.startIndex]
        guard let a = SocketAddressSpec.parse(text), a.port != 0 else {
            throw error(n, "metrics: \(quoted(text)) is not an IP:PORT address (e.g. 127.0.0.1:9100)")
        }
        if let clash = config.listeners.first(where: { $0 == a }) {
            throw error(n, "metrics: \(clash) is also a 'listen' address")
        }
        config.metrics = a
    }

    mutating func workers(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "count")
        try claim(call)
        let text = args[args.startIndex]
        if text == "auto" {
            config.workers = nil
            return
        }
        guard let v = ValueParsing.unsigned(text), (1...256).contains(v) else {
            throw error(n, "workers must be 'auto' or 1...256, got \(ValueParsing.shown(text))")
        }
        config.workers = Int(v)
    }

    mutating func ioUring(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "'on' or 'off'")
        try claim(call)
        switch args[args.startIndex] {
        case "on": config.ioUring = true
        case "off": config.ioUring = false
        case let value: throw error(n, "io-uring must be 'on' or 'off', got \(ValueParsing.shown(value))")
        }
    }

    mutating func admin(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        guard let path = args.first else {
            throw error(n, "admin: missing socket path (usage: \(call.usage))")
        }
        var group: String?
        if args.count > 1 {
            let keyword = args[args.startIndex + 1]
            guard keyword == "group" else {
                throw error(n, "admin: unexpected \(quoted(keyword)), expected 'group' (usage: \(call.usage))")
            }
            guard args.count > 2 else { throw error(n, "admin: missing group name after 'group' (usage: \(call.usage))") }
            guard args.count == 3 else {
                throw error(n, "admin: unexpected extra argument \(quoted(args[args.startIndex + 3])) (usage: \(call.usage))")
            }
            group = args[args.startIndex + 2]
        }
        try claim(call)
        guard path.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw error(n, "admin: socket path \(quoted(path)) contains control characters")
        }
        guard path.utf8.count <= Self.maxSocketPathBytes else {
            throw error(n, "admin: socket path is too long (\(path.utf8.count) bytes, max \(Self.maxSocketPathBytes))")
        }
        if let group {
            let valid = group.utf8.count <= 32 && !group.hasPrefix("-") && group.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F
            }
            guard valid else { throw error(n, "admin: invalid group name \(quoted(group))") }
        }
        config.adminSocket = path
        config.adminGroup = group
    }

    /// The NAME of `KIND NAME {` (a pool or rollout block), after checking the line's shape.
    func blockName(_ kind: String, _ args: ArraySlice<String>, _ n: Int, usage: String, contents: String) throws -> String {
        guard let name = args.first, name != "{" else {
            throw error(n, "\(kind): missing \(kind) name (usage: \(usage))")
        }
        guard args.count > 1 else {
            throw error(n, "\(kind): expected '{' after the \(kind) name on the same line (usage: \(usage))")
        }
        let brace = args[args.startIndex + 1]
        guard brace == "{" else {
            throw error(n, "\(kind): expected '{' after the \(kind) name, got \(quoted(brace)) (usage: \(usage))")
        }
        if args.count > 2 {
            throw error(n, "\(kind): unexpected \(quoted(args[args.startIndex + 2])) after '{'; put each \(contents) and the closing '}' on its own line")
        }
        return name
    }

    mutating func pool(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        let name = try blockName("pool", args, n, usage: call.usage, contents: "server")
        let validName = name.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x5F
        }
        guard validName else {
            throw error(n, "pool: invalid pool name \(quoted(name)) (use letters, digits, '_' and '-')")
        }
        guard name.utf8.count <= Self.maxPoolNameLength else {
            throw error(n, "pool: pool name is too long (max \(Self.maxPoolNameLength) characters)")
        }
        if let first = poolLines[name] {
            throw error(n, "duplicate pool '\(name)' (first at line \(first))")
        }
        poolLines[name] = n
        openPool = PoolConfig(name: name, servers: [], line: n)
    }

    mutating func server(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        guard let text = args.first else {
            throw error(n, "server: missing address (usage: \(call.usage))")
        }
        let address: SocketAddressSpec
        switch SocketAddressSpec.parseDetailed(text) {
        case .success(let a): address = a
        case .failure(let problem): throw error(n, problem.message(role: "server", input: text))
        }
        guard address.port != 0 else { throw error(n, "server: port must be 1...65535, got 0") }
        guard !address.isAnyAddress else {
            throw error(n, "server: \(quoted(text)) is the any-address, not a reachable upstream")
        }
        var weight = 1
        var maxConn: Int?
        var given: Set<String> = []
        var i = args.startIndex + 1
        while i < args.endIndex {
            let keyword = args[i]
            guard keyword == "weight" || keyword == "max-conn" else {
                throw error(n, "server: unexpected \(quoted(keyword)) (usage: \(call.usage))")
            }
            guard given.insert(keyword).inserted else {
                throw error(n, "server: '\(keyword)' given twice (usage: \(call.usage))")
            }
            guard i + 1 < args.endIndex else {
                throw error(n, "server: missing value after '\(keyword)' (usage: \(call.usage))")
            }
            let value = args[i + 1]
            if keyword == "weight" {
                guard let w = ValueParsing.unsigned(value), (1...1000).contains(w) else {
                    throw error(n, "server weight must be 1...1000, got \(ValueParsing.shown(value))")
                }
                weight = Int(w)
            } else {
                guard let m = ValueParsing.unsigned(value), (1...UInt64(Self.maxServerConnections)).contains(m) else {
                    throw error(n, "server max-conn must be 1...\(Self.maxServerConnections), got \(ValueParsing.shown(value))")
                }
                maxConn = Int(m)
            }
            i += 2
        }
        if let first = openPoolServerLines[address] {
            throw error(n, "duplicate server \(address) in pool '\(openPool?.name ?? "")' (first at line \(first))")
        }
        openPoolServerLines[address] = n
        openPool?.servers.append(ServerConfig(address: address, weight: weight, maxConn: maxConn, line: n))
    }

    mutating func splitDirective(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        guard !args.isEmpty else { throw error(n, "split: missing pool weights (usage: \(call.usage))") }
        try claim(call)
        switch SplitEntry.parse(args) {
        case .success(let entries): split = (entries, n)
        case .failure(let reason): throw error(n, reason.description)
        }
    }

    mutating func timeout(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        try expectArguments(call, count: 2, missing: args.isEmpty ? "kind and duration" : "duration")
        let kind = args[args.startIndex]
        let value = args[args.startIndex + 1]
        guard Self.timeoutKinds.contains(kind) else {
            throw error(n, "timeout: unknown kind \(quoted(kind)) (expected one of \(Self.timeoutKinds.joined(separator: ", ")))")
        }
        try claim(call, kind: kind)
        let ms: Int64
        switch ValueParsing.duration(value) {
        case .success(let v): ms = v
        case .failure(let reason): throw error(n, "timeout \(kind): \(reason)")
        }
        switch kind {
        case "connect": config.timeouts.connect = ms
        case "client-header": config.timeouts.clientHeader = ms
        case "client-idle": config.timeouts.clientIdle = ms
        case "upstream": config.timeouts.upstream = ms
        case "upstream-idle": config.timeouts.upstreamIdle = ms
        case "queue": config.timeouts.queue = ms
        default: config.timeouts.drain = ms
        }
    }

    /// `shutdown-delay 5s`: how long to keep serving while reporting not-ready before a graceful
    /// shutdown stops accepting. 0 (or 0s) is allowed and is the default.
    mutating func shutdownDelay(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "duration")
        try claim(call)
        let value = args[args.startIndex]
        if value == "0" || value == "0s" || value == "0ms" {
            config.timeouts.shutdownDelay = 0
            return
        }
        switch ValueParsing.duration(value) {
        case .success(let v): config.timeouts.shutdownDelay = v
        case .failure(let reason): throw error(n, "shutdown-delay: \(reason)")
        }
    }

    mutating func limit(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        try expectArguments(call, count: 2, missing: args.isEmpty ? "kind and value" : "value")
        let kind = args[args.startIndex]
        let value = args[args.startIndex + 1]
        guard Self.limitKinds.contains(kind) else {
            throw error(n, "limit: unknown kind \(quoted(kind)) (expected one of \(Self.limitKinds.joined(separator: ", ")))")
        }
        try claim(call, kind: kind)
        if kind == "connections" {
            guard let v = ValueParsing.unsigned(value), (1...Self.maxConnections).contains(v) else {
                throw error(n, "limit connections must be a number 1...\(Self.maxConnections), got \(ValueParsing.shown(value))")
            }
            config.limits.connections = Int(v)
            return
        }
        let bytes: UInt64
        switch ValueParsing.size(value) {
        case .success(let v): bytes = v
        case .failure(let reason): throw error(n, "limit \(kind): \(reason)")
        }
        if kind == "header-bytes" {
            guard (1024...1024 * 1024).contains(bytes) else {
                throw error(n, "limit header-bytes must be 1k...1m, got \(ValueParsing.shown(value))")
            }
            config.limits.headerBytes = Int(bytes)
        } else {
            config.limits.bodyBytes = bytes
        }
    }

    mutating func trustedProxies(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        guard !args.isEmpty else {
            throw error(n, "trusted-proxies: missing CIDR (usage: \(call.usage))")
        }
        for text in args {
            let cidr: CIDR
            switch CIDR.parseDetailed(text) {
            case .success(let c): cidr = c
            case .failure(.badAddress):
                throw error(n, "trusted-proxies: invalid CIDR \(quoted(text)) (bad IP address)")
            case .failure(.badPrefix):
                throw error(n, "trusted-proxies: invalid CIDR \(quoted(text)) (prefix length must be 0...32 for IPv4, 0...128 for IPv6)")
            case .failure(.hostBitsSet(let network)):
                throw error(n, "trusted-proxies: invalid CIDR \(quoted(text)) has host bits set; did you mean \(network)?")
            }
            if let first = cidrLines[cidr] {
                throw error(n, "trusted-proxies: duplicate CIDR \(cidr) (first at line \(first))")
            }
            cidrLines[cidr] = n
            config.trustedProxies.append(cidr)
        }
    }

    // MARK: - Helpers

    /// The directive's arguments are exactly `count`; `missing` names what is missing.
    func expectArguments(_ call: DirectiveCall, count: Int, missing: String) throws {
        try expectArguments(call.name, call.args, count: count, missing: missing, usage: call.usage, call.line)
    }

    func expectArguments(_ directive: String, _ args: ArraySlice<String>, count: Int, missing: String,
                         usage: String, _ n: Int) throws {
        if args.count < count {
            throw error(n, "\(directive): missing \(missing) (usage: \(usage))")
        }
        if args.count > count {
            throw error(n, "\(directive): unexpected extra argument \(quoted(args[args.startIndex + count])) (usage: \(usage))")
        }
    }

    /// The closest known directive within edit distance 2, for typos like "listn".
    static func suggestion(for word: String, among candidates: [String] = ConfigDirective.outsideRolloutNames) -> String? {
        let a = Array(word.utf8)
        guard a.count <= 32 else { return nil }  // keep fuzzed giant tokens cheap
        var best: (String, Int)?
        for candidate in candidates {
            let d = editDistance(a, Array(candidate.utf8))
            if d <= 2, d < (best?.1 ?? .max) { best = (candidate, d) }
        }
        return best?.0
    }

    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1..<(b.count + 1) {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
