import Testing

@testable import Balancing

/// A valid config whose pool `blue` (opened at line 2, its server at line 3) gets `lines` from
/// line 4 on; the pool closes after them.
private func pooled(_ lines: [String]) -> String {
    (["listen 127.0.0.1:8080", "pool blue {", "server 10.0.1.11:8080"] + lines + ["}"]).joined(separator: "\n") + "\n"
}

private func parsePool(_ lines: [String]) throws -> PoolConfig {
    try ConfigParser.parse(pooled(lines), file: "p").pools[0]
}

private func health(_ line: String) throws -> HealthCheckConfig? {
    try parsePool([line]).health
}

extension ErrorCase {
    /// `lines` inside pool blue: the first of them is line 4.
    static func inPool(_ lines: [String], line: Int, _ message: String) -> ErrorCase {
        ErrorCase(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.1.11:8080"] + lines + ["}"], line: line, message)
    }
}

@Suite struct PoolSettingsValidTests {
    @Test func defaultsWithoutPoolSettings() throws {
        let pool = try parsePool([])
        #expect(pool.health == nil)
        #expect(pool.ejectAfter == 5)
        #expect(!pool.ejectOn5xx)
        #expect(pool.maxEjectPercent == 50)
        #expect(pool.slowStartMS == 0)
        #expect(pool.retries == 2)
        #expect(pool.failover)
        #expect(pool.servers[0].maxConn == nil)
        #expect(pool == PoolConfig(name: "blue", servers: [ServerConfig(address: SocketAddressSpec(host: "10.0.1.11", port: 8080), line: 3)], line: 2))
    }

    @Test func bareHealthIsAllDefaults() throws {
        let h = try #require(try health("health"))
        #expect(h == HealthCheckConfig(method: "GET", path: "/healthz", intervalMS: 2000, timeoutMS: 1000, rise: 2, fall: 3,
                                       expectLow: 200, expectHigh: 399, initialUp: false))
        #expect(h == HealthCheckConfig())
    }

    @Test func healthEveryPart() throws {
        let h = try health("health OPTIONS /status?deep=1 interval 10s timeout 9999ms rise 100 fall 1 expect 100-599 initial up")
        #expect(h == HealthCheckConfig(method: "OPTIONS", path: "/status?deep=1", intervalMS: 10_000, timeoutMS: 9999, rise: 100, fall: 1,
                                       expectLow: 100, expectHigh: 599, initialUp: true))
    }

    @Test func healthKeywordsInAnyOrderWithoutMethod() throws {
        let h = try health("health initial down expect 204 fall 5 rise 4 timeout 500ms interval 1m")
        #expect(h == HealthCheckConfig(intervalMS: 60_000, timeoutMS: 500, rise: 4, fall: 5, expectLow: 204, expectHigh: 204))
    }

    @Test func healthMethodAndPathOnly() throws {
        #expect(try health("health HEAD /") == HealthCheckConfig(method: "HEAD", path: "/"))
        #expect(try health("health GET /a/b.json") == HealthCheckConfig(path: "/a/b.json"))
    }

    /// The timeout check uses the defaults of the parts not given.
    @Test func healthTimeoutJustBelowInterval() throws {
        #expect(try health("health interval 1001ms")?.timeoutMS == 1000)
        #expect(try health("health timeout 1999ms")?.intervalMS == 2000)
        #expect(try health("health interval 1s timeout 999ms")?.timeoutMS == 999)
    }

    @Test func expectsStatus() {
        let h = HealthCheckConfig(expectLow: 200, expectHigh: 204)
        #expect(!h.expects(status: 199))
        #expect(h.expects(status: 200))
        #expect(h.expects(status: 204))
        #expect(!h.expects(status: 205))
        #expect(HealthCheckConfig().expects(status: 399) && !HealthCheckConfig().expects(status: 400))
    }

    @Test(arguments: [("eject-after off", Int?.none), ("eject-after 1", 1), ("eject-after 1000", 1000), ("eject-after 5", 5)])
    func ejectAfter(line: String, value: Int?) throws {
        #expect(try parsePool([line]).ejectAfter == value)
    }

    @Test func ejectOn5xx() throws {
        #expect(try parsePool(["eject-on 5xx"]).ejectOn5xx)
    }

    @Test(arguments: [("0%", 0), ("1%", 1), ("50%", 50), ("100%", 100), ("007%", 7)])
    func maxEject(text: String, percent: Int) throws {
        #expect(try parsePool(["max-eject \(text)"]).maxEjectPercent == percent)
    }

    @Test(arguments: [("off", Int64(0)), ("1ms", 1), ("500ms", 500), ("30s", 30_000), ("10m", 600_000)])
    func slowStart(text: String, ms: Int64) throws {
        #expect(try parsePool(["slow-start \(text)"]).slowStartMS == ms)
    }

    @Test(arguments: [0, 1, 10])
    func retries(n: Int) throws {
        #expect(try parsePool(["retries \(n)"]).retries == n)
    }

    @Test func failoverOnOff() throws {
        #expect(try parsePool(["failover on"]).failover)
        #expect(try !parsePool(["failover off"]).failover)
    }

    @Test func serverOptionsInEitherOrder() throws {
        let text = "listen 127.0.0.1:8080\npool blue {\nserver 10.0.0.1:80 max-conn 100 weight 2\nserver 10.0.0.2:80 weight 3 max-conn 1\n"
            + "server 10.0.0.3:80 max-conn 100000\nserver 10.0.0.4:80\n}\n"
        let servers = try ConfigParser.parse(text, file: "p").pools[0].servers
        #expect(servers.map(\.weight) == [2, 3, 1, 1])
        #expect(servers.map(\.maxConn) == [100, 1, 100_000, nil])
        #expect(servers.map(\.line) == [3, 4, 5, 6])
    }

    /// Settings belong to their pool: the same directive in two pools is fine, and each pool
    /// keeps its own values.
    @Test func settingsArePerPool() throws {
        let text = """
            listen 127.0.0.1:8080
            pool blue {
                server 10.0.0.1:80
                retries 1
                health
                failover off
            }
            pool green {
                retries 7
                server 10.0.0.2:80
                slow-start 5s
            }
            """
        let c = try ConfigParser.parse(text, file: "p")
        #expect(c.pools.map(\.retries) == [1, 7])
        #expect(c.pools.map { $0.health != nil } == [true, false])
        #expect(c.pools.map(\.failover) == [false, true])
        #expect(c.pools.map(\.slowStartMS) == [0, 5000])
    }

    @Test func timeoutQueue() throws {
        let text = "timeout queue 250ms\n" + pooled([])
        #expect(try ConfigParser.parse(text, file: "p").timeouts.queue == 250)
        #expect(try ConfigParser.parse(pooled([]), file: "p").timeouts.queue == 5000)
        #expect(Timeouts().queue == 5000)
    }

    /// Types built in code (as the proxy and older tests do) get the documented defaults.
    @Test func codeBuiltValuesUseDefaults() {
        let s = ServerConfig(address: SocketAddressSpec(host: "10.0.0.1", port: 80), weight: 3, line: 9)
        #expect(s.maxConn == nil && s.weight == 3 && s.line == 9)
        let p = PoolConfig(name: "x", servers: [s], line: 1)
        #expect(p.health == nil && p.ejectAfter == 5 && !p.ejectOn5xx && p.maxEjectPercent == 50)
        #expect(p.slowStartMS == 0 && p.retries == 2 && p.failover)
        let t = Timeouts(connect: 1, clientHeader: 2, clientIdle: 3, upstream: 4, upstreamIdle: 5, drain: 6)
        #expect(t.queue == 5000)
    }

    @Test func typoSuggestsPoolDirectives() {
        let cases = [("helth", "health"), ("retris", "retries"), ("failovr", "failover"), ("slowstart", "slow-start"), ("eject-aftr", "eject-after")]
        for (typo, directive) in cases {
            do {
                _ = try ConfigParser.parse(pooled([typo + " 1"]), file: "p")
                Issue.record("\(typo) parsed")
            } catch let e as ConfigError {
                #expect(e.line == 4)
                #expect(e.message == "unknown directive '\(typo)' (did you mean '\(directive)'?)")
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}

@Suite struct PoolSettingsErrorTests {
    static let cases: [ErrorCase] = [
        // Placement and duplicates.
        .init(["listen 127.0.0.1:8080", "health"], line: 2, "'health' outside of a pool: it is a pool setting and belongs inside 'pool NAME { ... }'"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80", "}", "retries 3"], line: 5, "'retries' outside of a pool"),
        .init(["eject-after 3", "listen 127.0.0.1:8080"], line: 1, "'eject-after' outside of a pool"),
        .init(["listen 127.0.0.1:8080", "failover off"], line: 2, "'failover' outside of a pool"),
        .init(["listen 127.0.0.1:8080", "slow-start 1s"], line: 2, "'slow-start' outside of a pool"),
        .init(["listen 127.0.0.1:8080", "max-eject 10%"], line: 2, "'max-eject' outside of a pool"),
        .init(["listen 127.0.0.1:8080", "eject-on 5xx"], line: 2, "'eject-on' outside of a pool"),
        .inPool(["health", "retries 1", "health GET /x"], line: 6, "duplicate 'health' in pool 'blue' (first at line 4)"),
        .inPool(["retries 1", "retries 1"], line: 5, "duplicate 'retries' in pool 'blue' (first at line 4)"),
        .inPool(["eject-after 2", "eject-after off"], line: 5, "duplicate 'eject-after' in pool 'blue' (first at line 4)"),
        .inPool(["eject-on 5xx", "eject-on 5xx"], line: 5, "duplicate 'eject-on' in pool 'blue' (first at line 4)"),
        .inPool(["max-eject 10%", "max-eject 20%"], line: 5, "duplicate 'max-eject' in pool 'blue' (first at line 4)"),
        .inPool(["slow-start off", "slow-start 1s"], line: 5, "duplicate 'slow-start' in pool 'blue' (first at line 4)"),
        .inPool(["failover on", "server 10.0.1.12:8080", "failover off"], line: 6, "duplicate 'failover' in pool 'blue' (first at line 4)"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80", "health", "}", "pool green {", "health", "health", "}"], line: 8,
              "duplicate 'health' in pool 'green' (first at line 7)"),

        // health: method and path.
        .inPool(["health POST /x"], line: 4, "health: method must be GET, HEAD or OPTIONS, got 'POST'"),
        .inPool(["health get /x"], line: 4, "health: method must be GET, HEAD or OPTIONS, got 'get'"),
        .inPool(["health /healthz"], line: 4, "health: missing method before path '/healthz' (expected GET, HEAD or OPTIONS"),
        .inPool(["health GET"], line: 4, "health: missing path after 'GET' (usage: health [GET|HEAD|OPTIONS PATH]"),
        .inPool(["health HEAD interval 2s"], line: 4, "health: missing path after 'HEAD'"),
        .inPool(["health GET healthz"], line: 4, "health: path must start with '/', got 'healthz'"),
        .inPool(["health GET /a\u{1}b"], line: 4, "health: path '/a\\u{1}b' must be printable ASCII without spaces or control characters"),
        .inPool(["health GET /a\u{7F}"], line: 4, "must be printable ASCII"),
        .inPool(["health GET /caf\u{E9}"], line: 4, "health: path '/caf\u{E9}' must be printable ASCII"),
        .inPool(["health GET /" + String(repeating: "a", count: 1024)], line: 4, "health: path is too long (1025 bytes, max 1024)"),
        .inPool(["health interval 2s GET /x"], line: 4, "health: unexpected 'GET': the method and path come first, right after 'health'"),
        .inPool(["health rise 2 /x"], line: 4, "health: unexpected '/x': the method and path come first"),

        // health: keywords.
        .inPool(["health GET /x every 2s"], line: 4, "health: unexpected 'every' (usage: health [GET|HEAD|OPTIONS PATH] [interval DURATION]"),
        .inPool(["health rise 2 rise 3"], line: 4, "health: 'rise' given twice"),
        .inPool(["health GET /x fall"], line: 4, "health: missing value after 'fall'"),
        .inPool(["health interval"], line: 4, "health: missing value after 'interval'"),
        .inPool(["health interval 0s"], line: 4, "health interval: must be positive, got '0s'"),
        .inPool(["health interval 2"], line: 4, "health interval: duration needs a unit (ms, s, m or h), got '2'"),
        .inPool(["health timeout 1d"], line: 4, "health timeout: unknown duration unit 'd' in '1d'"),
        .inPool(["health rise 0"], line: 4, "health rise must be 1...100, got 0"),
        .inPool(["health rise 101"], line: 4, "health rise must be 1...100, got 101"),
        .inPool(["health fall 0"], line: 4, "health fall must be 1...100, got 0"),
        .inPool(["health fall 101"], line: 4, "health fall must be 1...100, got 101"),
        .inPool(["health fall three"], line: 4, "health fall must be 1...100, got 'three'"),
        .inPool(["health rise -1"], line: 4, "health rise must be 1...100, got '-1'"),
        .inPool(["health expect 99"], line: 4, "health expect must be a status NNN or a range NNN-NNN within 100...599, got '99'"),
        .inPool(["health expect 600"], line: 4, "health expect must be a status NNN or a range NNN-NNN within 100...599, got '600'"),
        .inPool(["health expect 2000"], line: 4, "got '2000'"),
        .inPool(["health expect 099"], line: 4, "got '099'"),
        .inPool(["health expect 0200"], line: 4, "got '0200'"),
        .inPool(["health expect 200-0399"], line: 4, "got '200-0399'"),
        .inPool(["health expect 200-"], line: 4, "got '200-'"),
        .inPool(["health expect -399"], line: 4, "got '-399'"),
        .inPool(["health expect 200-600"], line: 4, "got '200-600'"),
        .inPool(["health expect 2xx"], line: 4, "got '2xx'"),
        .inPool(["health expect 200-300-400"], line: 4, "got '200-300-400'"),
        .inPool(["health expect 399-200"], line: 4, "health expect: range '399-200' is reversed (write 200-399)"),
        .inPool(["health initial maybe"], line: 4, "health initial must be 'up' or 'down', got 'maybe'"),
        .inPool(["health timeout 2s"], line: 4, "health: timeout 2s must be shorter than interval 2s"),
        .inPool(["health interval 1s timeout 1000ms"], line: 4, "health: timeout 1s must be shorter than interval 1s"),
        .inPool(["health interval 500ms"], line: 4, "health: timeout 1s must be shorter than interval 500ms"),
        .inPool(["health timeout 1m interval 59s"], line: 4, "health: timeout 1m must be shorter than interval 59s"),

        // Passive detection.
        .inPool(["eject-after 0"], line: 4, "eject-after must be 1...1000 or 'off', got 0"),
        .inPool(["eject-after 1001"], line: 4, "eject-after must be 1...1000 or 'off', got 1001"),
        .inPool(["eject-after never"], line: 4, "eject-after must be 1...1000 or 'off', got 'never'"),
        .inPool(["eject-after"], line: 4, "eject-after: missing count (usage: eject-after N|off)"),
        .inPool(["eject-after 3 5xx"], line: 4, "eject-after: unexpected extra argument '5xx'"),
        .inPool(["eject-on 4xx"], line: 4, "eject-on: expected '5xx', got '4xx'"),
        .inPool(["eject-on"], line: 4, "eject-on: missing '5xx' (usage: eject-on 5xx)"),
        .inPool(["eject-on 5xx 4xx"], line: 4, "eject-on: unexpected extra argument '4xx'"),
        .inPool(["max-eject 50"], line: 4, "max-eject must be a percentage 0%...100%, got '50'"),
        .inPool(["max-eject 101%"], line: 4, "max-eject must be a percentage 0%...100%, got '101%'"),
        .inPool(["max-eject -1%"], line: 4, "got '-1%'"),
        .inPool(["max-eject %"], line: 4, "got '%'"),
        .inPool(["max-eject 50%%"], line: 4, "got '50%%'"),
        .inPool(["max-eject"], line: 4, "max-eject: missing percentage (usage: max-eject PERCENT%)"),

        // Slow start, retries, failover.
        .inPool(["slow-start 0s"], line: 4, "slow-start: must be positive, got '0s' (use 'off' to disable slow start)"),
        .inPool(["slow-start 0"], line: 4, "slow-start: must be positive, got 0 (use 'off' to disable"),
        .inPool(["slow-start 30"], line: 4, "slow-start: duration needs a unit (ms, s, m or h), got '30'"),
        .inPool(["slow-start slowly"], line: 4, "slow-start: invalid duration 'slowly'"),
        .inPool(["slow-start 1441m"], line: 4, "slow-start: duration '1441m' is too long (max 1440m)"),
        .inPool(["slow-start"], line: 4, "slow-start: missing duration (usage: slow-start DURATION|off)"),
        .inPool(["retries 11"], line: 4, "retries must be 0...10, got 11"),
        .inPool(["retries -1"], line: 4, "retries must be 0...10, got '-1'"),
        .inPool(["retries many"], line: 4, "retries must be 0...10, got 'many'"),
        .inPool(["retries"], line: 4, "retries: missing count (usage: retries N)"),
        .inPool(["retries 1 2"], line: 4, "retries: unexpected extra argument '2'"),
        .inPool(["failover yes"], line: 4, "failover must be 'on' or 'off', got 'yes'"),
        .inPool(["failover"], line: 4, "failover: missing 'on' or 'off' (usage: failover on|off)"),
        .inPool(["failover on off"], line: 4, "failover: unexpected extra argument 'off'"),

        // Server max-conn.
        .inPool(["server 10.0.0.2:80 max-conn 0"], line: 4, "server max-conn must be 1...100000, got 0"),
        .inPool(["server 10.0.0.2:80 max-conn 100001"], line: 4, "server max-conn must be 1...100000, got 100001"),
        .inPool(["server 10.0.0.2:80 max-conn lots"], line: 4, "server max-conn must be 1...100000, got 'lots'"),
        .inPool(["server 10.0.0.2:80 weight 2 max-conn"], line: 4, "server: missing value after 'max-conn' (usage: server ADDRESS:PORT [weight N] [max-conn N])"),
        .inPool(["server 10.0.0.2:80 max-conn 5 max-conn 6"], line: 4, "server: 'max-conn' given twice"),
        .inPool(["server 10.0.0.2:80 weight 1 max-conn 5 weight 2"], line: 4, "server: 'weight' given twice"),
        .inPool(["server 10.0.0.2:80 max-conn 5 weight 0"], line: 4, "server weight must be 1...1000, got 0"),
        .inPool(["server 10.0.0.2:80 maxconn 5"], line: 4, "server: unexpected 'maxconn'"),

        // Queue timeout.
        .init(afterPool: ["timeout queue 0s"], line: 5, "timeout queue: must be positive, got '0s'"),
        .init(afterPool: ["timeout queue 1s", "timeout queue 2s"], line: 6, "duplicate 'timeout queue' (first at line 5)"),
        .init(afterPool: ["timeout queue"], line: 5, "timeout: missing duration"),
    ]

    @Test(arguments: cases)
    func error(_ c: ErrorCase) {
        do {
            let config = try ConfigParser.parse(c.text, file: "proxy.conf")
            Issue.record("expected an error, parsed \(config)")
        } catch let e as ConfigError {
            #expect(e.line == c.line, "\(e)")
            #expect(e.message.contains(c.message), "\(e)")
            #expect(e.file == "proxy.conf")
        } catch {
            Issue.record("unexpected error type \(error)")
        }
    }

    /// The lines around the cases are valid, so each case fails only where it says.
    @Test func scaffoldingIsValid() throws {
        _ = try ConfigParser.parse(ErrorCase.inPool([], line: 0, "").text, file: "p")
        _ = try ConfigParser.parse(ErrorCase(afterPool: [], line: 0, "").text, file: "p")
    }
}

extension ErrorCase {
    /// After a valid 4-line config (pool blue closed at line 4): extra lines start at 5.
    init(afterPool lines: [String], line: Int, _ message: String) {
        self.init((["listen 127.0.0.1:8080", "pool blue {", "server 10.0.1.11:8080", "}"] + lines), line: line, message)
    }
}
