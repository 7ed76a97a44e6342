/// A `rollout NAME { ... }` block as written. Its pools are resolved only at the end of the
/// file (`resolveRollouts`), because the pools, and the `split` that picks the default `from`,
/// may come after it.
struct RolloutBlock {
    var name: String
    var line: Int
    /// Setting ("hold") -> its value and line; each setting at most once.
    var settings: [String: (value: String, line: Int)] = [:]
    /// The settings that go to `RolloutSpec.parse`, in file order.
    var specArguments: [String] = []
}

/// The directives for releasing a new colour: `sticky`, `access-log` and `rollout NAME { ... }`.
extension ConfigParserState {
    static let maxCookieNameBytes = 64
    static let stickyMaxAgeMS: ClosedRange<Int64> = 1000...(30 * 24 * 60 * 60 * 1000)
    static let accessLogBufferBytes: ClosedRange<UInt64> = 4096...(16 << 20)
    static let accessLogFlushMS: ClosedRange<Int64> = 10...60_000

    // MARK: - sticky

    /// `sticky cookie NAME key FILE [max-age DURATION]`.
    mutating func sticky(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        guard let kind = args.first else { throw error(n, "sticky: missing 'cookie NAME key FILE' (usage: \(call.usage))") }
        guard kind == "cookie" else {
            throw error(n, "sticky: only 'sticky cookie NAME key FILE' is supported, got \(quoted(kind)) (usage: \(call.usage))")
        }
        let rest = Array(args.dropFirst())
        guard let name = rest.first, !(name == "key" && rest.count == 2) else {
            throw error(n, "sticky: missing cookie name after 'cookie' (usage: \(call.usage))")
        }
        guard name.utf8.allSatisfy(Self.isTokenByte) else {
            throw error(n, "sticky: invalid cookie name \(quoted(name)) (use letters, digits and !$%&'*+-.^_`|~)")
        }
        guard name.utf8.count <= Self.maxCookieNameBytes else {
            throw error(n, "sticky: cookie name is too long (\(name.utf8.count) bytes, max \(Self.maxCookieNameBytes))")
        }
        guard rest.count > 1 else { throw error(n, "sticky: missing 'key FILE' after the cookie name (usage: \(call.usage))") }
        guard rest[1] == "key" else {
            throw error(n, "sticky: expected 'key' after the cookie name, got \(quoted(rest[1])) (usage: \(call.usage))")
        }
        guard rest.count > 2 else { throw error(n, "sticky: missing key file after 'key' (usage: \(call.usage))") }
        let keyFile = rest[2]
        try checkPath("sticky: key file", keyFile, n)
        var maxAgeMS = StickyConfig.defaultMaxAgeMS
        if rest.count > 3 {
            guard rest[3] == "max-age" else { throw error(n, "sticky: unexpected \(quoted(rest[3])) (usage: \(call.usage))") }
            guard rest.count > 4 else { throw error(n, "sticky: missing value after 'max-age' (usage: \(call.usage))") }
            guard rest.count == 5 else { throw error(n, "sticky: unexpected extra argument \(quoted(rest[5])) (usage: \(call.usage))") }
            let value = rest[4]
            switch ValueParsing.duration(value, maxMS: Self.stickyMaxAgeMS.upperBound) {
            case .success(let ms): maxAgeMS = ms
            case .failure(let reason): throw error(n, "sticky max-age: \(reason)")
            }
            guard Self.stickyMaxAgeMS.contains(maxAgeMS) else {
                throw error(n, "sticky max-age must be 1s...43200m (30 days), got \(quoted(value))")
            }
        }
        try claim(call)
        config.sticky = StickyConfig(cookieName: name, keyFile: keyFile, maxAgeMS: maxAgeMS, line: n)
    }

    /// tchar of RFC 9110 (what RFC 6265 allows in a cookie name). '#' is one too, but it starts
    /// a comment in this file and never reaches here.
    static func isTokenByte(_ c: UInt8) -> Bool {
        StickyCookie.isNameByte(c) || "!#$%&'*+.^`|~".utf8.contains(c)
    }

    /// Paths are kept as written; only bytes that would garble a log line or a terminal are refused.
    func checkPath(_ what: String, _ path: String, _ n: Int) throws {
        guard path.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw error(n, "\(what) \(quoted(path)) contains control characters")
        }
    }

    // MARK: - access-log

    /// `access-log PATH [buffer SIZE] [flush DURATION]`, the options in either order.
    mutating func accessLog(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        guard let path = args.first else { throw error(n, "access-log: missing path (usage: \(call.usage))") }
        // PATH plus keyword-value pairs is an odd count; "access-log buffer 64k" forgot the path.
        if args.count % 2 == 0, path == "buffer" || path == "flush" {
            throw error(n, "access-log: missing path before '\(path)' (usage: \(call.usage))")
        }
        try checkPath("access-log: path", path, n)
        var log = AccessLogConfig(path: path, line: n)
        var given: Set<String> = []
        var i = args.startIndex + 1
        while i < args.endIndex {
            let keyword = args[i]
            guard keyword == "buffer" || keyword == "flush" else {
                throw error(n, "access-log: unexpected \(quoted(keyword)) (usage: \(call.usage))")
            }
            guard given.insert(keyword).inserted else { throw error(n, "access-log: '\(keyword)' given twice") }
            guard i + 1 < args.endIndex else {
                throw error(n, "access-log: missing value after '\(keyword)' (usage: \(call.usage))")
            }
            let value = args[i + 1]
            i += 2
            if keyword == "buffer" {
                let bytes: UInt64
                switch ValueParsing.size(value) {
                case .success(let v): bytes = v
                case .failure(let reason): throw error(n, "access-log buffer: \(reason)")
                }
                guard Self.accessLogBufferBytes.contains(bytes) else {
                    throw error(n, "access-log buffer must be 4k...16m, got \(ValueParsing.shown(value))")
                }
                log.bufferBytes = Int(bytes)
            } else {
                switch ValueParsing.duration(value) {
                case .success(let ms): log.flushMS = ms
                case .failure(let reason): throw error(n, "access-log flush: \(reason)")
                }
                guard Self.accessLogFlushMS.contains(log.flushMS) else {
                    throw error(n, "access-log flush must be 10ms...60s, got \(quoted(value))")
                }
            }
        }
        try claim(call)
        config.accessLog = log
    }

    // MARK: - rollout NAME { ... }

    /// `rollout NAME {`: opens a block, with the same rules as `pool NAME {`.
    mutating func rollout(_ call: DirectiveCall) throws {
        let args = call.args, n = call.line
        let name = try blockName("rollout", args, n, usage: call.usage, contents: "setting")
        guard name.utf8.allSatisfy(StickyCookie.isNameByte) else {
            throw error(n, "rollout: invalid rollout name \(quoted(name)) (use letters, digits, '_' and '-')")
        }
        guard name.utf8.count <= Self.maxPoolNameLength else {
            throw error(n, "rollout: rollout name is too long (max \(Self.maxPoolNameLength) characters)")
        }
        // `rollout start NAME hold 60s`: a plan called "hold" would read as an option.
        guard !RolloutSpec.keywords.contains(name) else {
            throw error(n, "rollout: \(quoted(name)) cannot be a rollout name: it is an option of 'rollout start'")
        }
        if let first = rolloutLines[name] {
            throw error(n, "duplicate rollout '\(name)' (first at line \(first))")
        }
        rolloutLines[name] = n
        openRollout = RolloutBlock(name: name, line: n)
    }

    /// `}` of an open rollout block.
    mutating func closeRollout(_ args: ArraySlice<String>, _ n: Int) throws {
        guard let block = openRollout else { return }
        if let extra = args.first { throw error(n, "'}' must be on its own line, unexpected \(quoted(extra))") }
        rolloutBlocks.append(block)
        openRollout = nil
    }

    /// `to POOL` or `from POOL` in a rollout block. The pools are checked at the end of the
    /// file, when every pool is known.
    mutating func rolloutPool(_ call: DirectiveCall) throws {
        let value = try rolloutValue(call)
        openRollout?.settings[call.name] = (value, call.line)
    }

    /// A rollout setting that is also an option of `rollout start`: its value is checked here,
    /// alone, so that the error points at this line.
    mutating func rolloutOption(_ call: DirectiveCall) throws {
        guard let block = openRollout else { return }
        let value = try rolloutValue(call)
        // A keyword as the value would make RolloutSpec.parse report a missing value with
        // the admin command's usage.
        guard !RolloutSpec.keywords.contains(value) else {
            throw error(call.line, "rollout \(block.name): \(call.name): missing value before \(quoted(value)) (usage: \(call.usage))")
        }
        if case .failure(let problem) = RolloutSpec.parse(arguments: ["new", "from", "old", call.name, value]) {
            throw error(call.line, "rollout \(block.name): \(problem.message)")
        }
        openRollout?.specArguments += [call.name, value]
        openRollout?.settings[call.name] = (value, call.line)
    }

    /// The one value of a rollout setting, once it is known not to repeat one.
    mutating func rolloutValue(_ call: DirectiveCall) throws -> String {
        let blockName = openRollout?.name ?? ""
        try expectArguments("rollout \(blockName): \(call.name)", call.args, count: 1, missing: "value", usage: call.usage, call.line)
        try claim(call)
        return call.args[call.args.startIndex]
    }

    /// At the end of the file, when every pool and the final split are known: each block
    /// becomes a `RolloutPlanConfig`. Linear in pools + blocks.
    mutating func resolveRollouts() throws {
        guard !rolloutBlocks.isEmpty else { return }
        var poolIndex: [String: Int] = [:]
        for (i, pool) in config.pools.enumerated() where poolIndex[pool.name] == nil { poolIndex[pool.name] = i }
        // The two pools with the largest split weights, the first in file order on ties: the
        // default `from` is the first of them that is not `to`.
        var top: [Int] = []
        for i in config.split.indices {
            if top.isEmpty || config.split[i] > config.split[top[0]] {
                top.insert(i, at: 0)
            } else if top.count < 2 || config.split[i] > config.split[top[1]] {
                top.insert(i, at: 1)
            }
            if top.count > 2 { top.removeLast() }
        }
        for block in rolloutBlocks {
            let file = file
            let fail = { (line: Int, message: String) in
                ConfigError(file: file, line: line, message: "rollout \(block.name): \(message)")
            }
            let to: String
            if let given = block.settings["to"] {
                guard poolIndex[given.value] != nil else { throw fail(given.line, "to: unknown pool \(quoted(given.value))") }
                to = given.value
            } else if poolIndex[block.name] != nil {
                to = block.name
            } else {
                throw fail(block.line, "missing 'to POOL' (no pool is called '\(block.name)')")
            }
            let from: String
            if let given = block.settings["from"] {
                guard poolIndex[given.value] != nil else { throw fail(given.line, "from: unknown pool \(quoted(given.value))") }
                from = given.value
            } else if let i = top.first(where: { config.pools[$0].name != to }) {
                from = config.pools[i].name
            } else {
                throw fail(block.line, "missing 'from POOL' (no pool other than '\(to)' to roll out from)")
            }
            // Every value was checked on its own line; this only assembles them.
            let values: RolloutSpec
            switch RolloutSpec.parse(arguments: ["new", "from", "old"] + block.specArguments) {
            case .success(let v): values = v
            case .failure(let problem): throw fail(block.line, problem.message)
            }
            let spec: RolloutSpec
            do {
                spec = try RolloutSpec(newPool: to, oldPool: from, steps: values.steps, holdMS: values.holdMS,
                                       maxErrorRate: values.maxErrorRate, maxP99Ratio: values.maxP99Ratio,
                                       minRequests: values.minRequests)
            } catch {
                throw fail(block.settings["from"]?.line ?? block.settings["to"]?.line ?? block.line, error.message)
            }
            config.rollouts.append(RolloutPlanConfig(name: block.name, spec: spec, line: block.line))
        }
    }
}
