/// The pool-level directives (`health`, `eject-after`, `eject-on`, `max-eject`, `slow-start`,
/// `retries`, `failover`): valid only inside `pool NAME { }`, each at most once per pool.
extension ConfigParserState {
    static let healthMethods = ["GET", "HEAD", "OPTIONS"]
    static let healthKeywords = ["interval", "timeout", "rise", "fall", "expect", "initial"]
    static let maxHealthPathBytes = 1024
    static let maxEjectAfter: UInt64 = 1000
    static let maxRetries: UInt64 = 10

    /// `health [METHOD PATH] [KEYWORD VALUE]...`; see its usage in `ConfigDirective.table`.
    func health(_ call: DirectiveCall) throws -> HealthCheckConfig {
        let args = call.args, n = call.line
        var check = HealthCheckConfig()
        var i = args.startIndex
        if i < args.endIndex, !Self.healthKeywords.contains(args[i]) {
            let method = args[i]
            if method.hasPrefix("/") {
                throw error(n, "health: missing method before path \(quoted(method)) (expected GET, HEAD or OPTIONS; usage: \(call.usage))")
            }
            guard Self.healthMethods.contains(method) else {
                throw error(n, "health: method must be GET, HEAD or OPTIONS, got \(quoted(method)) (usage: \(call.usage))")
            }
            i += 1
            guard i < args.endIndex, !Self.healthKeywords.contains(args[i]) else {
                throw error(n, "health: missing path after '\(method)' (usage: \(call.usage))")
            }
            let path = args[i]
            guard path.hasPrefix("/") else {
                throw error(n, "health: path must start with '/', got \(quoted(path))")
            }
            guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw error(n, "health: path \(quoted(path)) must be printable ASCII without spaces or control characters")
            }
            guard path.utf8.count <= Self.maxHealthPathBytes else {
                throw error(n, "health: path is too long (\(path.utf8.count) bytes, max \(Self.maxHealthPathBytes))")
            }
            check.method = method
            check.path = path
            i += 1
        }
        var given: Set<String> = []
        while i < args.endIndex {
            let keyword = args[i]
            guard Self.healthKeywords.contains(keyword) else {
                if Self.healthMethods.contains(keyword) || keyword.hasPrefix("/") {
                    throw error(n, "health: unexpected \(quoted(keyword)): the method and path come first, right after 'health' (usage: \(call.usage))")
                }
                throw error(n, "health: unexpected \(quoted(keyword)) (usage: \(call.usage))")
            }
            guard given.insert(keyword).inserted else {
                throw error(n, "health: '\(keyword)' given twice")
            }
            guard i + 1 < args.endIndex else {
                throw error(n, "health: missing value after '\(keyword)' (usage: \(call.usage))")
            }
            let value = args[i + 1]
            i += 2
            switch keyword {
            case "interval", "timeout":
                let ms: Int64
                switch ValueParsing.duration(value) {
                case .success(let v): ms = v
                case .failure(let reason): throw error(n, "health \(keyword): \(reason)")
                }
                if keyword == "interval" { check.intervalMS = ms } else { check.timeoutMS = ms }
            case "rise", "fall":
                guard let v = ValueParsing.unsigned(value), (1...100).contains(v) else {
                    throw error(n, "health \(keyword) must be 1...100, got \(ValueParsing.shown(value))")
                }
                if keyword == "rise" { check.rise = Int(v) } else { check.fall = Int(v) }
            case "expect":
                let range = try expectRange(value, n)
                check.expectLow = range.lowerBound
                check.expectHigh = range.upperBound
            default:  // initial
                switch value {
                case "up": check.initialUp = true
                case "down": check.initialUp = false
                default: throw error(n, "health initial must be 'up' or 'down', got \(quoted(value))")
                }
            }
        }
        guard check.timeoutMS < check.intervalMS else {
            throw error(n, "health: timeout \(ValueParsing.formatted(ms: check.timeoutMS)) must be shorter than interval \(ValueParsing.formatted(ms: check.intervalMS))")
        }
        return check
    }

    /// "200" or "200-399", within 100...599, low <= high.
    func expectRange(_ value: String, _ n: Int) throws -> ClosedRange<Int> {
        let parts = value.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        let codes = parts.map { part -> Int? in
            guard part.utf8.count == 3, let v = ValueParsing.unsigned(part), (100...599).contains(v) else { return nil }
            return Int(v)
        }
        guard let low = codes.first ?? nil, let high = codes.last ?? nil else {
            throw error(n, "health expect must be a status NNN or a range NNN-NNN within 100...599, got \(quoted(value))")
        }
        guard low <= high else {
            throw error(n, "health expect: range \(quoted(value)) is reversed (write \(high)-\(low))")
        }
        return low...high
    }

    func ejectAfter(_ call: DirectiveCall) throws -> Int? {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "count")
        let value = args[args.startIndex]
        if value == "off" { return nil }
        guard let v = ValueParsing.unsigned(value), (1...Self.maxEjectAfter).contains(v) else {
            throw error(n, "eject-after must be 1...\(Self.maxEjectAfter) or 'off', got \(ValueParsing.shown(value))")
        }
        return Int(v)
    }

    func ejectOn(_ call: DirectiveCall) throws -> Bool {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "'5xx'")
        let value = args[args.startIndex]
        guard value == "5xx" else {
            throw error(n, "eject-on: expected '5xx', got \(quoted(value)) (connect errors, resets and timeouts always count)")
        }
        return true
    }

    func maxEject(_ call: DirectiveCall) throws -> Int {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "percentage")
        let value = args[args.startIndex]
        guard value.hasSuffix("%"), let v = ValueParsing.unsigned(value.dropLast()), v <= 100 else {
            throw error(n, "max-eject must be a percentage 0%...100%, got \(quoted(value))")
        }
        return Int(v)
    }

    func slowStart(_ call: DirectiveCall) throws -> Int64 {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "duration")
        let value = args[args.startIndex]
        if value == "off" { return 0 }
        switch ValueParsing.duration(value) {
        case .success(let ms): return ms
        case .failure(let reason):
            if ValueParsing.unsigned(value.prefix { $0 >= "0" && $0 <= "9" }) == 0 {
                throw error(n, "slow-start: must be positive, got \(ValueParsing.shown(value)) (use 'off' to disable slow start)")
            }
            throw error(n, "slow-start: \(reason)")
        }
    }

    func retries(_ call: DirectiveCall) throws -> Int {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "count")
        let value = args[args.startIndex]
        guard let v = ValueParsing.unsigned(value), v <= Self.maxRetries else {
            throw error(n, "retries must be 0...\(Self.maxRetries), got \(ValueParsing.shown(value))")
        }
        return Int(v)
    }

    func failover(_ call: DirectiveCall) throws -> Bool {
        let args = call.args, n = call.line
        try expectArguments(call, count: 1, missing: "'on' or 'off'")
        switch args[args.startIndex] {
        case "on": return true
        case "off": return false
        case let value: throw error(n, "failover must be 'on' or 'off', got \(quoted(value))")
        }
    }
}
