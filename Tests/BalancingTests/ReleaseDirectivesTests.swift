import Testing

@testable import Balancing

/// Two pools, blue (lines 2-4) and green (lines 5-7); what a test adds starts at line 8.
private let twoPools = """
    listen 127.0.0.1:8080
    pool blue {
        server 10.0.1.11:8080
    }
    pool green {
        server 10.0.2.11:8080
    }

    """

private func parse(_ lines: [String], before: [String] = []) throws -> ProxyConfig {
    let head = before.isEmpty ? "" : before.joined(separator: "\n") + "\n"
    return try ConfigParser.parse(head + twoPools + lines.joined(separator: "\n") + "\n", file: "proxy.conf")
}

private func addr(_ s: String) -> SocketAddressSpec {
    guard let a = SocketAddressSpec.parse(s) else { fatalError("bad test address \(s)") }
    return a
}

@Suite struct ReleaseDirectivesValidTests {
    @Test func absentByDefault() throws {
        let c = try parse([])
        #expect(c.sticky == nil && c.accessLog == nil && c.rollouts.isEmpty)
        #expect(c.rolloutPlan(named: "green") == nil)
        let empty = ProxyConfig()
        #expect(empty.sticky == nil && empty.accessLog == nil && empty.rollouts.isEmpty)
    }

    // MARK: sticky

    @Test func stickyEveryOption() throws {
        let c = try parse(["sticky cookie yard_colour key /etc/switchyard/sticky.key max-age 30m"])
        #expect(c.sticky == StickyConfig(cookieName: "yard_colour", keyFile: "/etc/switchyard/sticky.key", maxAgeMS: 1_800_000, line: 8))
    }

    @Test func stickyDefaults() throws {
        let c = try parse(["sticky cookie SY key sticky.key"])
        #expect(c.sticky == StickyConfig(cookieName: "SY", keyFile: "sticky.key", maxAgeMS: 43_200_000, line: 8))
        #expect(StickyConfig.defaultMaxAgeMS == 12 * 60 * 60 * 1000)
        #expect(StickyConfig(cookieName: "a", keyFile: "k").maxAgeMS == StickyConfig.defaultMaxAgeMS)
    }

    @Test func stickyCookieNameTokenCharacters() throws {
        let name = "!$%&'*+-.^_`|~Az09"
        #expect(try parse(["sticky cookie \(name) key k"]).sticky?.cookieName == name)
        let longest = String(repeating: "c", count: 64)
        #expect(try parse(["sticky cookie \(longest) key k"]).sticky?.cookieName == longest)
    }

    @Test(arguments: [("1s", Int64(1000)), ("1000ms", 1000), ("720m", 43_200_000), ("1440m", 86_400_000), ("43200m", 2_592_000_000)])
    func stickyMaxAgeRange(text: String, ms: Int64) throws {
        #expect(try parse(["sticky cookie s key k max-age \(text)"]).sticky?.maxAgeMS == ms)
    }

    // MARK: access-log

    @Test func accessLogEveryOptionInEitherOrder() throws {
        let a = try parse(["access-log /var/log/switchyard/access.log buffer 1m flush 250ms"]).accessLog
        #expect(a == AccessLogConfig(path: "/var/log/switchyard/access.log", bufferBytes: 1 << 20, flushMS: 250, line: 8))
        let b = try parse(["access-log access.log flush 2s buffer 131072"]).accessLog
        #expect(b == AccessLogConfig(path: "access.log", bufferBytes: 131_072, flushMS: 2000, line: 8))
    }

    @Test func accessLogDefaults() throws {
        #expect(try parse(["access-log /tmp/a.log"]).accessLog == AccessLogConfig(path: "/tmp/a.log", bufferBytes: 65_536, flushMS: 1000, line: 8))
        #expect(AccessLogConfig(path: "x") == AccessLogConfig(path: "x", bufferBytes: 64 * 1024, flushMS: 1000, line: 0))
        // An odd count means the first word is the path, even if it reads like a keyword.
        #expect(try parse(["access-log buffer"]).accessLog?.path == "buffer")
        #expect(try parse(["access-log flush flush 1s"]).accessLog == AccessLogConfig(path: "flush", flushMS: 1000, line: 8))
    }

    @Test(arguments: [("4k", 4096), ("4096", 4096), ("64K", 65_536), ("16m", 16_777_216), ("16777216", 16_777_216)])
    func accessLogBufferRange(text: String, bytes: Int) throws {
        #expect(try parse(["access-log a.log buffer \(text)"]).accessLog?.bufferBytes == bytes)
    }

    @Test(arguments: [("10ms", Int64(10)), ("1s", 1000), ("60s", 60_000), ("1m", 60_000), ("60000ms", 60_000)])
    func accessLogFlushRange(text: String, ms: Int64) throws {
        #expect(try parse(["access-log a.log flush \(text)"]).accessLog?.flushMS == ms)
    }

    // MARK: rollout

    @Test func rolloutEverySetting() throws {
        let c = try parse([
            "rollout canary-2 {",  // 8
            "    min-requests 50",
            "    max-p99 1.25x",
            "    max-error-rate 0.5%",
            "    hold 90s",
            "    steps 10,50%,100",
            "    from green",
            "    to blue",
            "}",
        ])
        let spec = try RolloutSpec(newPool: "blue", oldPool: "green", steps: [10, 50, 100], holdMS: 90_000, maxErrorRate: 0.005,
                                   maxP99Ratio: 1.25, minRequests: 50)
        #expect(c.rollouts == [RolloutPlanConfig(name: "canary-2", spec: spec, line: 8)])
        #expect(c.rolloutPlan(named: "canary-2")?.spec == spec)
        #expect(c.rolloutPlan(named: "blue") == nil)
        // The same plan as the admin command would build.
        let command = RolloutSpec.parse(arguments: ["blue", "from", "green", "steps", "10,50%,100", "hold", "90s",
                                                    "max-error-rate", "0.5%", "max-p99", "1.25x", "min-requests", "50"])
        #expect(command == .success(spec))
    }

    @Test func rolloutDefaults() throws {
        let c = try parse(["rollout green {", "}"])
        #expect(c.rollouts == [RolloutPlanConfig(name: "green", spec: try RolloutSpec(newPool: "green", oldPool: "blue"), line: 8)])
        let spec = c.rollouts[0].spec
        #expect(spec.steps == [1, 5, 25, 50, 100] && spec.holdMS == 60_000 && spec.maxErrorRate == 0.01)
        #expect(spec.maxP99Ratio == 1.5 && spec.minRequests == 200)
    }

    @Test func rolloutBlockBeforeThePoolsAndTheSplit() throws {
        let text = """
            rollout blue {
                hold 5s
            }
            rollout green {
            }
            listen 127.0.0.1:8080
            pool blue {
                server 10.0.1.11:8080
            }
            pool green {
                server 10.0.2.11:8080
            }
            split blue=10 green=90

            """
        let c = try ConfigParser.parse(text, file: "p")
        #expect(c.rollouts.map(\.name) == ["blue", "green"])
        #expect(c.rollouts.map(\.line) == [1, 4])
        #expect(c.rollouts[0].spec == (try RolloutSpec(newPool: "blue", oldPool: "green", holdMS: 5000)))
        #expect(c.rollouts[1].spec == (try RolloutSpec(newPool: "green", oldPool: "blue")))
    }

    @Test func fromDefaultsToTheLargestOtherSplitWeightFirstInFileOnTies() throws {
        let pools = ["pool a {", "server 10.0.3.1:80", "}", "pool b {", "server 10.0.3.2:80", "}", "pool c {", "server 10.0.3.3:80", "}"]
        let c = try parse(pools + [
            "split blue=0 green=50 a=10 b=30 c=30",
            "rollout green {", "}",         // green is the largest: the next is b (b and c tie, b first)
            "rollout b {", "}",             // green
            "rollout x {", "to blue", "}",  // green
        ])
        #expect(c.rollouts.map(\.spec.newPool) == ["green", "b", "blue"])
        #expect(c.rollouts.map(\.spec.oldPool) == ["b", "green", "green"])
    }

    @Test func fromDefaultMayBeAPoolWithSplitZero() throws {
        // Without a split line blue (the first pool) gets everything: rolling out blue goes from green.
        let c = try parse(["rollout blue {", "}", "rollout green {", "}"])
        #expect(c.split == [100, 0])
        #expect(c.rollouts.map(\.spec.oldPool) == ["green", "blue"])
    }

    @Test func poolsNamedLikeOptionsAreStillPools() throws {
        // A pool may be called "steps"; only rollout names may not be option words.
        let c = try parse(["pool steps {", "server 10.0.3.1:80", "}", "rollout plan {", "to steps", "from hold", "}",
                           "pool hold {", "server 10.0.3.2:80", "}"])
        #expect(c.rollouts[0].spec.newPool == "steps" && c.rollouts[0].spec.oldPool == "hold")
    }

    @Test func everythingTogetherIsOneValue() throws {
        let c = try parse([
            "sticky cookie yard key /k max-age 1m",
            "access-log /a.log buffer 8k flush 100ms",
            "rollout green {",
            "steps 50,100",
            "}",
        ])
        var expected = ProxyConfig()
        expected.listeners = [addr("127.0.0.1:8080")]
        expected.pools = [
            PoolConfig(name: "blue", servers: [ServerConfig(address: addr("10.0.1.11:8080"), line: 3)], line: 2),
            PoolConfig(name: "green", servers: [ServerConfig(address: addr("10.0.2.11:8080"), line: 6)], line: 5),
        ]
        expected.split = [100, 0]
        expected.sticky = StickyConfig(cookieName: "yard", keyFile: "/k", maxAgeMS: 60_000, line: 8)
        expected.accessLog = AccessLogConfig(path: "/a.log", bufferBytes: 8192, flushMS: 100, line: 9)
        expected.rollouts = [RolloutPlanConfig(name: "green", spec: try RolloutSpec(newPool: "green", oldPool: "blue", steps: [50, 100]), line: 10)]
        #expect(c == expected)
    }

    @Test func durationsKeepTheirDayLimitElsewhere() {
        #expect(ValueParsing.duration("1441m") == .failure("duration '1441m' is too long (max 1440m)"))
        #expect(ValueParsing.duration("1441m", maxMS: 30 * 86_400_000) == .success(86_460_000))
        #expect(ValueParsing.duration("43201m", maxMS: 30 * 86_400_000) == .failure("duration '43201m' is too long (max 43200m)"))
    }
}

/// An invalid config and the exact `ConfigError.description` it must produce.
struct ExactErrorCase: Sendable, CustomTestStringConvertible {
    var text: String
    var expected: String
    var testDescription: String { expected }

    /// After `twoPools`: the first of `lines` is line 8.
    init(_ lines: [String], _ expected: String) {
        text = twoPools + lines.joined(separator: "\n") + "\n"
        self.expected = expected
    }

    /// The whole file.
    init(file lines: [String], _ expected: String) {
        text = lines.joined(separator: "\n") + "\n"
        self.expected = expected
    }
}

private let stickyUsage = "(usage: sticky cookie NAME key FILE [max-age DURATION])"
private let accessLogUsage = "(usage: access-log PATH [buffer SIZE] [flush DURATION])"

@Suite struct ReleaseDirectivesErrorTests {
    static let stickyCases: [ExactErrorCase] = [
        .init(["sticky"], "proxy.conf:8: sticky: missing 'cookie NAME key FILE' \(stickyUsage)"),
        .init(["sticky ip key /k"], "proxy.conf:8: sticky: only 'sticky cookie NAME key FILE' is supported, got 'ip' \(stickyUsage)"),
        .init(["sticky cookie"], "proxy.conf:8: sticky: missing cookie name after 'cookie' \(stickyUsage)"),
        .init(["sticky cookie key /k"], "proxy.conf:8: sticky: missing cookie name after 'cookie' \(stickyUsage)"),
        .init(["sticky cookie a,b key /k"], "proxy.conf:8: sticky: invalid cookie name 'a,b' (use letters, digits and !$%&'*+-.^_`|~)"),
        .init(["sticky cookie a=b key /k"], "proxy.conf:8: sticky: invalid cookie name 'a=b' (use letters, digits and !$%&'*+-.^_`|~)"),
        .init(["sticky cookie colör key /k"], "proxy.conf:8: sticky: invalid cookie name 'colör' (use letters, digits and !$%&'*+-.^_`|~)"),
        .init(["sticky cookie " + String(repeating: "c", count: 65) + " key /k"], "proxy.conf:8: sticky: cookie name is too long (65 bytes, max 64)"),
        .init(["sticky cookie yard"], "proxy.conf:8: sticky: missing 'key FILE' after the cookie name \(stickyUsage)"),
        .init(["sticky cookie yard file /k"], "proxy.conf:8: sticky: expected 'key' after the cookie name, got 'file' \(stickyUsage)"),
        .init(["sticky cookie yard key"], "proxy.conf:8: sticky: missing key file after 'key' \(stickyUsage)"),
        .init(["sticky cookie yard key /k\u{1}"], "proxy.conf:8: sticky: key file '/k\\u{1}' contains control characters"),
        .init(["sticky cookie yard key /k maxage 1m"], "proxy.conf:8: sticky: unexpected 'maxage' \(stickyUsage)"),
        .init(["sticky cookie yard key /k max-age"], "proxy.conf:8: sticky: missing value after 'max-age' \(stickyUsage)"),
        .init(["sticky cookie yard key /k max-age 1m 2m"], "proxy.conf:8: sticky: unexpected extra argument '2m' \(stickyUsage)"),
        .init(["sticky cookie yard key /k max-age 999ms"], "proxy.conf:8: sticky max-age must be 1s...43200m (30 days), got '999ms'"),
        .init(["sticky cookie yard key /k max-age 43201m"], "proxy.conf:8: sticky max-age: duration '43201m' is too long (max 43200m)"),
        .init(["sticky cookie yard key /k max-age 12d"], "proxy.conf:8: sticky max-age: unknown duration unit 'd' in '12d' (use ms, s, m or h)"),
        .init(["sticky cookie yard key /k max-age 0s"], "proxy.conf:8: sticky max-age: must be positive, got '0s'"),
        .init(["sticky cookie a key /a", "sticky cookie b key /b"], "proxy.conf:9: duplicate 'sticky' (first at line 8)"),
        .init(["pool red {", "sticky cookie a key /a", "}"],
              "proxy.conf:9: 'sticky' is not allowed inside pool 'red' (opened at line 8); close the pool with '}' first"),
        .init(["stiky cookie a key /a"], "proxy.conf:8: unknown directive 'stiky' (did you mean 'sticky'?)"),
    ]

    static let accessLogCases: [ExactErrorCase] = [
        .init(["access-log"], "proxy.conf:8: access-log: missing path \(accessLogUsage)"),
        .init(["access-log buffer 64k"], "proxy.conf:8: access-log: missing path before 'buffer' \(accessLogUsage)"),
        .init(["access-log flush 1s buffer 8k"], "proxy.conf:8: access-log: missing path before 'flush' \(accessLogUsage)"),
        .init(["access-log /a\u{7F}.log"], "proxy.conf:8: access-log: path '/a\\u{7f}.log' contains control characters"),
        .init(["access-log /a.log size 8k"], "proxy.conf:8: access-log: unexpected 'size' \(accessLogUsage)"),
        .init(["access-log /a.log buffer 8k buffer 16k"], "proxy.conf:8: access-log: 'buffer' given twice"),
        .init(["access-log /a.log flush 1s flush 2s"], "proxy.conf:8: access-log: 'flush' given twice"),
        .init(["access-log /a.log buffer"], "proxy.conf:8: access-log: missing value after 'buffer' \(accessLogUsage)"),
        .init(["access-log /a.log buffer 8k flush"], "proxy.conf:8: access-log: missing value after 'flush' \(accessLogUsage)"),
        .init(["access-log /a.log buffer 1k"], "proxy.conf:8: access-log buffer must be 4k...16m, got '1k'"),
        .init(["access-log /a.log buffer 4095"], "proxy.conf:8: access-log buffer must be 4k...16m, got 4095"),
        .init(["access-log /a.log buffer 17m"], "proxy.conf:8: access-log buffer must be 4k...16m, got '17m'"),
        .init(["access-log /a.log buffer 64kb"], "proxy.conf:8: access-log buffer: unknown size suffix 'kb' in '64kb' (use k, m or g)"),
        .init(["access-log /a.log flush 9ms"], "proxy.conf:8: access-log flush must be 10ms...60s, got '9ms'"),
        .init(["access-log /a.log flush 60001ms"], "proxy.conf:8: access-log flush must be 10ms...60s, got '60001ms'"),
        .init(["access-log /a.log flush 1"], "proxy.conf:8: access-log flush: duration needs a unit (ms, s, m or h), got '1'"),
        .init(["access-log /a.log", "access-log /b.log"], "proxy.conf:9: duplicate 'access-log' (first at line 8)"),
    ]

    static let rolloutBlockCases: [ExactErrorCase] = [
        .init(["rollout"], "proxy.conf:8: rollout: missing rollout name (usage: rollout NAME {)"),
        .init(["rollout {", "}"], "proxy.conf:8: rollout: missing rollout name (usage: rollout NAME {)"),
        .init(["rollout green", "}"], "proxy.conf:8: rollout: expected '{' after the rollout name on the same line (usage: rollout NAME {)"),
        .init(["rollout green now {", "}"], "proxy.conf:8: rollout: expected '{' after the rollout name, got 'now' (usage: rollout NAME {)"),
        .init(["rollout green { hold 1s }"], "proxy.conf:8: rollout: unexpected 'hold' after '{'; put each setting and the closing '}' on its own line"),
        .init(["rollout a.b {", "}"], "proxy.conf:8: rollout: invalid rollout name 'a.b' (use letters, digits, '_' and '-')"),
        .init(["rollout " + String(repeating: "r", count: 65) + " {", "}"], "proxy.conf:8: rollout: rollout name is too long (max 64 characters)"),
        .init(["rollout hold {", "to green", "}"], "proxy.conf:8: rollout: 'hold' cannot be a rollout name: it is an option of 'rollout start'"),
        .init(["rollout green {", "}", "rollout green {", "}"], "proxy.conf:10: duplicate rollout 'green' (first at line 8)"),
        .init(["rollout green {", "hold 1s"], "proxy.conf:8: rollout 'green' is not closed: missing '}' before end of file"),
        .init(["rollout green {", "} hold"], "proxy.conf:9: '}' must be on its own line, unexpected 'hold'"),
        .init(["}"], "proxy.conf:8: unexpected '}': no pool or rollout is open"),
        .init(["rollout green {", "{"], "proxy.conf:9: unexpected '{': it must follow 'pool NAME' or 'rollout NAME' on the same line"),
        .init(["rollout green {", "pool red {", "}", "}"],
              "proxy.conf:9: cannot open a pool inside rollout 'green' (opened at line 8); close the rollout with '}' first"),
        .init(["pool red {", "rollout green {", "}", "}"],
              "proxy.conf:9: cannot open a rollout inside pool 'red' (opened at line 8); close the pool with '}' first"),
        .init(["rollout green {", "rollout blue {", "}", "}"],
              "proxy.conf:9: nested rollout: cannot open a rollout inside rollout 'green' (opened at line 8); close it with '}' first"),
        .init(["rollout green {", "server 10.0.3.1:80", "}"],
              "proxy.conf:9: 'server' is not allowed inside rollout 'green' (opened at line 8): it belongs inside 'pool NAME { ... }'"),
        .init(["rollout green {", "health", "}"],
              "proxy.conf:9: 'health' is not allowed inside rollout 'green' (opened at line 8): it belongs inside 'pool NAME { ... }'"),
        .init(["rollout green {", "split green=1", "}"],
              "proxy.conf:9: 'split' is not allowed inside rollout 'green' (opened at line 8); close the rollout with '}' first"),
        .init(["rollout green {", "sticky cookie a key /a", "}"],
              "proxy.conf:9: 'sticky' is not allowed inside rollout 'green' (opened at line 8); close the rollout with '}' first"),
        .init(["rollout green {", "stepz 1,100", "}"],
              "proxy.conf:9: unknown setting 'stepz' in rollout 'green' (expected to, from, steps, hold, max-error-rate, max-p99, min-requests); did you mean 'steps'?"),
        .init(["rollout green {", "colour blue", "}"],
              "proxy.conf:9: unknown setting 'colour' in rollout 'green' (expected to, from, steps, hold, max-error-rate, max-p99, min-requests)"),
        .init(["hold 60s"], "proxy.conf:8: 'hold' outside of a rollout: it is a rollout setting and belongs inside 'rollout NAME { ... }'"),
        .init(["to green"], "proxy.conf:8: 'to' outside of a rollout: it is a rollout setting and belongs inside 'rollout NAME { ... }'"),
        .init(["pool red {", "server 10.0.3.1:80", "steps 1,100", "}"],
              "proxy.conf:10: 'steps' is a rollout setting, not allowed inside pool 'red' (opened at line 8); it belongs inside 'rollout NAME { ... }'"),
        .init(["rolout green {", "}"], "proxy.conf:8: unknown directive 'rolout' (did you mean 'rollout'?)"),
    ]

    static let rolloutSettingCases: [ExactErrorCase] = [
        .init(["rollout green {", "hold", "}"], "proxy.conf:9: rollout green: hold: missing value (usage: hold DURATION)"),
        .init(["rollout green {", "hold 1s 2s", "}"], "proxy.conf:9: rollout green: hold: unexpected extra argument '2s' (usage: hold DURATION)"),
        .init(["rollout green {", "to", "}"], "proxy.conf:9: rollout green: to: missing value (usage: to POOL)"),
        .init(["rollout green {", "from blue green", "}"], "proxy.conf:9: rollout green: from: unexpected extra argument 'green' (usage: from POOL)"),
        .init(["rollout green {", "hold 1s", "steps 50,100", "hold 2s", "}"], "proxy.conf:11: duplicate 'hold' in rollout 'green' (first at line 9)"),
        .init(["rollout green {", "to green", "to green", "}"], "proxy.conf:10: duplicate 'to' in rollout 'green' (first at line 9)"),
        .init(["rollout green {", "steps hold", "}"], "proxy.conf:9: rollout green: steps: missing value before 'hold' (usage: steps P,P,...,100)"),
        .init(["rollout green {", "steps 1,5,5,100", "}"], "proxy.conf:9: rollout green: steps: 5 after 5 does not increase (steps must strictly increase)"),
        .init(["rollout green {", "to green", "hold 5s", "steps 1,50", "}"],
              "proxy.conf:11: rollout green: steps: the last step must be 100, got 50 (a rollout ends with all traffic on the new pool)"),
        .init(["rollout green {", "steps 1,,100", "}"], "proxy.conf:9: rollout green: steps: empty step in '1,,100' (expected e.g. 1,5,25,50,100)"),
        .init(["rollout green {", "steps 0,100", "}"], "proxy.conf:9: rollout green: steps: '0' in '0,100' is not a percentage 1...100"),
        .init(["rollout green {", "hold 0s", "}"], "proxy.conf:9: rollout green: hold: must be positive, got '0s'"),
        .init(["rollout green {", "hold 90", "}"], "proxy.conf:9: rollout green: hold: duration needs a unit (ms, s, m or h), got '90'"),
        .init(["rollout green {", "max-error-rate 1", "}"],
              "proxy.conf:9: rollout green: max-error-rate: must be a percentage 0%...100% such as 1% or 0.5%, got '1'"),
        .init(["rollout green {", "max-error-rate 100.5%", "}"],
              "proxy.conf:9: rollout green: max-error-rate: must be a percentage 0%...100% such as 1% or 0.5%, got '100.5%'"),
        .init(["rollout green {", "max-p99 0.9x", "}"], "proxy.conf:9: rollout green: max-p99: must be at least 1x, got '0.9x'"),
        .init(["rollout green {", "max-p99 2", "}"],
              "proxy.conf:9: rollout green: max-p99: must be a ratio to the old pool's p99 such as 1.5x, got '2'"),
        .init(["rollout green {", "min-requests 0", "}"], "proxy.conf:9: rollout green: min-requests: must be a count 1...10000000, got 0"),
    ]

    static let rolloutPoolCases: [ExactErrorCase] = [
        .init(["rollout canary {", "hold 5s", "}"], "proxy.conf:8: rollout canary: missing 'to POOL' (no pool is called 'canary')"),
        .init(["rollout green {", "to purple", "}"], "proxy.conf:9: rollout green: to: unknown pool 'purple'"),
        .init(["rollout green {", "hold 5s", "from purple", "}"], "proxy.conf:10: rollout green: from: unknown pool 'purple'"),
        .init(["rollout green {", "from green", "}"], "proxy.conf:9: rollout green: new and old pool are both 'green': a rollout needs two pools"),
        .init(["rollout x {", "to blue", "from blue", "}"], "proxy.conf:10: rollout x: new and old pool are both 'blue': a rollout needs two pools"),
        // The pools come after the block: the error still points at the 'to' line.
        .init(file: ["rollout r {", "to purple", "}", "listen 127.0.0.1:8080", "pool blue {", "server 10.0.1.11:8080", "}"],
              "proxy.conf:2: rollout r: to: unknown pool 'purple'"),
        .init(file: ["listen 127.0.0.1:8080", "rollout blue {", "}", "pool blue {", "server 10.0.1.11:8080", "}"],
              "proxy.conf:2: rollout blue: missing 'from POOL' (no pool other than 'blue' to roll out from)"),
        // File-level problems come first.
        .init(file: ["rollout r {", "to purple", "}", "pool blue {", "server 10.0.1.11:8080", "}"], "proxy.conf: no 'listen' directive (at least one is required)"),
    ]

    private func check(_ c: ExactErrorCase) {
        do {
            let config = try ConfigParser.parse(c.text, file: "proxy.conf")
            Issue.record("expected \(c.expected), parsed \(config)")
        } catch let error as ConfigError {
            #expect(error.description == c.expected)
        } catch {
            Issue.record("unexpected error type \(error)")
        }
    }

    @Test(arguments: stickyCases) func sticky(_ c: ExactErrorCase) { check(c) }
    @Test(arguments: accessLogCases) func accessLog(_ c: ExactErrorCase) { check(c) }
    @Test(arguments: rolloutBlockCases) func rolloutBlock(_ c: ExactErrorCase) { check(c) }
    @Test(arguments: rolloutSettingCases) func rolloutSetting(_ c: ExactErrorCase) { check(c) }
    @Test(arguments: rolloutPoolCases) func rolloutPools(_ c: ExactErrorCase) { check(c) }
}
