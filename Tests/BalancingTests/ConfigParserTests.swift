import Foundation
import Testing

@testable import Balancing

private func addr(_ s: String) -> SocketAddressSpec {
    guard let a = SocketAddressSpec.parse(s) else { fatalError("bad test address \(s)") }
    return a
}

private func cidr(_ s: String) -> CIDR {
    guard let c = CIDR.parse(s) else { fatalError("bad test CIDR \(s)") }
    return c
}

/// Parses and expects failure; returns the error for inspection.
private func parseError(_ text: String, file: String = "proxy.conf") -> ConfigError? {
    do {
        let config = try ConfigParser.parse(text, file: file)
        Issue.record("expected an error, parsed \(config)")
        return nil
    } catch let error as ConfigError {
        return error
    } catch {
        Issue.record("unexpected error type \(error)")
        return nil
    }
}

/// Smallest valid config: 4 lines; error cases append after it (their lines start at 5).
private let base = """
    listen 127.0.0.1:8080
    pool blue {
        server 10.0.1.11:8080
    }

    """

@Suite struct ConfigParserValidTests {
    @Test func fullConfigEveryField() throws {
        let text = """
            # Switchyard test config
            listen 127.0.0.1:8080
            listen [::1]:8443          # IPv6
            workers 8
            admin /run/switchyard/admin.sock group wheel

            pool blue {
                server 10.0.1.11:8080 weight 2
            \tserver 10.0.1.12:8080 max-conn 50
                health HEAD /ready interval 5s timeout 2s rise 1 fall 2 expect 204 initial up
                eject-after 3
                eject-on 5xx
                max-eject 100%
                slow-start 1m
                retries 0
                failover off
            }
            pool green-2 {
                server [fd00::12]:9000 weight 1000
            }
            pool canary_x {
            }
            split blue=90 green-2=10
            timeout connect 1500ms
            timeout client-header 5s
            timeout client-idle 2m
            timeout upstream 45s
            timeout upstream-idle 3s
            timeout drain 1m
            timeout queue 750ms
            limit header-bytes 64k
            limit body-bytes 1g
            limit connections 9000
            trusted-proxies 10.0.0.0/8 192.168.0.0/16
            trusted-proxies fd00::/8 127.0.0.1
            """
        let config = try ConfigParser.parse(text, file: "proxy.conf")

        #expect(config.listeners == [addr("127.0.0.1:8080"), addr("[::1]:8443")])
        #expect(config.listeners[1].host == "::1")
        #expect(config.listeners[1].isIPv6)
        #expect(config.workers == 8)
        #expect(config.adminSocket == "/run/switchyard/admin.sock")
        #expect(config.adminGroup == "wheel")
        #expect(config.pools.map(\.name) == ["blue", "green-2", "canary_x"])
        #expect(config.pools.map(\.line) == [7, 18, 21])
        #expect(config.pools[0].servers == [
            ServerConfig(address: addr("10.0.1.11:8080"), weight: 2, line: 8),
            ServerConfig(address: addr("10.0.1.12:8080"), weight: 1, maxConn: 50, line: 9),
        ])
        #expect(config.pools[1].servers == [ServerConfig(address: addr("[fd00::12]:9000"), weight: 1000, line: 19)])
        let blueHealth = HealthCheckConfig(method: "HEAD", path: "/ready", intervalMS: 5000, timeoutMS: 2000, rise: 1, fall: 2,
                                           expectLow: 204, expectHigh: 204, initialUp: true)
        #expect(config.pools[0].health == blueHealth)
        #expect(config.pools[0].ejectAfter == 3)
        #expect(config.pools[0].ejectOn5xx)
        #expect(config.pools[0].maxEjectPercent == 100)
        #expect(config.pools[0].slowStartMS == 60_000)
        #expect(config.pools[0].retries == 0)
        #expect(!config.pools[0].failover)
        // Pools without settings keep the defaults.
        #expect(config.pools[1].health == nil && config.pools[1].ejectAfter == 5 && !config.pools[1].ejectOn5xx)
        #expect(config.pools[1].maxEjectPercent == 50 && config.pools[1].slowStartMS == 0)
        #expect(config.pools[1].retries == 2 && config.pools[1].failover)
        #expect(config.pools[2].servers.isEmpty)
        #expect(config.split == [90, 10, 0])
        #expect(config.timeouts == Timeouts(connect: 1500, clientHeader: 5000, clientIdle: 120_000,
                                             upstream: 45_000, upstreamIdle: 3000, drain: 60_000, queue: 750))
        #expect(config.limits == Limits(headerBytes: 65536, bodyBytes: 1 << 30, connections: 9000))
        #expect(config.trustedProxies == [cidr("10.0.0.0/8"), cidr("192.168.0.0/16"), cidr("fd00::/8"), cidr("127.0.0.1/32")])
        #expect(config.poolIndex(named: "green-2") == 1)
        #expect(config.poolIndex(named: "purple") == nil)
        #expect(config.isTrustedProxy(IPAddress.parse("::ffff:10.9.8.7")!))
        #expect(!config.isTrustedProxy(IPAddress.parse("11.0.0.1")!))

        // The whole value, so a field added to the parser but not checked above still has to match.
        var expected = ProxyConfig()
        expected.listeners = [addr("127.0.0.1:8080"), addr("[::1]:8443")]
        expected.workers = 8
        expected.adminSocket = "/run/switchyard/admin.sock"
        expected.adminGroup = "wheel"
        expected.pools = [
            PoolConfig(name: "blue", servers: [
                ServerConfig(address: addr("10.0.1.11:8080"), weight: 2, line: 8),
                ServerConfig(address: addr("10.0.1.12:8080"), weight: 1, maxConn: 50, line: 9),
            ], line: 7, health: blueHealth, ejectAfter: 3, ejectOn5xx: true, maxEjectPercent: 100, slowStartMS: 60_000,
                       retries: 0, failover: false),
            PoolConfig(name: "green-2", servers: [ServerConfig(address: addr("[fd00::12]:9000"), weight: 1000, line: 19)], line: 18),
            PoolConfig(name: "canary_x", servers: [], line: 21),
        ]
        expected.split = [90, 10, 0]
        expected.timeouts = Timeouts(connect: 1500, clientHeader: 5000, clientIdle: 120_000, upstream: 45_000, upstreamIdle: 3000, drain: 60_000,
                                     queue: 750)
        expected.limits = Limits(headerBytes: 65536, bodyBytes: 1 << 30, connections: 9000)
        expected.trustedProxies = [cidr("10.0.0.0/8"), cidr("192.168.0.0/16"), cidr("fd00::/8"), cidr("127.0.0.1")]
        #expect(config == expected)
    }

    @Test func defaults() throws {
        let config = try ConfigParser.parse(base, file: "proxy.conf")
        #expect(config.listeners == [SocketAddressSpec(host: "127.0.0.1", port: 8080)])
        #expect(config.workers == nil)
        #expect(config.adminSocket == nil)
        #expect(config.adminGroup == nil)
        #expect(config.pools == [PoolConfig(name: "blue", servers: [ServerConfig(address: addr("10.0.1.11:8080"), weight: 1, line: 3)], line: 2)])
        #expect(config.split == [100])
        #expect(config.trustedProxies.isEmpty)
        #expect(config.timeouts.connect == 2000)
        #expect(config.timeouts.clientHeader == 10_000)
        #expect(config.timeouts.clientIdle == 60_000)
        #expect(config.timeouts.upstream == 30_000)
        #expect(config.timeouts.upstreamIdle == 4000)
        #expect(config.timeouts.drain == 30_000)
        #expect(config.timeouts.queue == 5000)
        #expect(config.limits.headerBytes == 32768)
        #expect(config.limits.bodyBytes == 100 * 1024 * 1024)
        #expect(config.limits.connections == nil)
    }

    @Test func emptyProxyConfig() {
        let c = ProxyConfig()
        #expect(c.listeners.isEmpty && c.pools.isEmpty && c.split.isEmpty && c.trustedProxies.isEmpty)
        #expect(c.workers == nil && c.adminSocket == nil && c.adminGroup == nil)
        #expect(c.timeouts == Timeouts() && c.limits == Limits())
    }

    @Test func withoutSplitFirstPoolGetsEverything() throws {
        let config = try ConfigParser.parse(base + "pool green {\n}\npool canary {\n server 10.0.3.1:80\n}\n", file: "p")
        #expect(config.split == [100, 0, 0])
    }

    @Test func splitMayPrecedePoolsAndUnnamedPoolsGetZero() throws {
        let text = "split green=1\nlisten 127.0.0.1:8080\npool blue {\nserver 10.0.0.1:80\n}\npool green {\nserver 10.0.0.2:80\n}\n"
        #expect(try ConfigParser.parse(text, file: "p").split == [0, 1])
    }

    @Test func zeroWeightPoolMayBeEmpty() throws {
        let config = try ConfigParser.parse(base + "pool green {\n}\nsplit blue=1 green=0\n", file: "p")
        #expect(config.split == [1, 0])
    }

    @Test func workersAutoIsNil() throws {
        #expect(try ConfigParser.parse("workers auto\n" + base, file: "p").workers == nil)
        #expect(try ConfigParser.parse("workers 1\n" + base, file: "p").workers == 1)
        #expect(try ConfigParser.parse("workers 256\n" + base, file: "p").workers == 256)
    }

    @Test func ioUringDefaultsOnAndCanBeTurnedOff() throws {
        #expect(try ConfigParser.parse(base, file: "p").ioUring == true)
        #expect(try ConfigParser.parse("io-uring on\n" + base, file: "p").ioUring == true)
        #expect(try ConfigParser.parse("io-uring off\n" + base, file: "p").ioUring == false)
    }

    @Test func adminWithoutGroup() throws {
        let c = try ConfigParser.parse("admin /tmp/s.sock\n" + base, file: "p")
        #expect(c.adminSocket == "/tmp/s.sock")
        #expect(c.adminGroup == nil)
    }

    @Test(arguments: [
        ("1ms", Int64(1)), ("500ms", 500), ("2s", 2000), ("1m", 60_000), ("1440m", 86_400_000), ("86400000ms", 86_400_000),
    ])
    func durations(text: String, ms: Int64) throws {
        let c = try ConfigParser.parse("timeout upstream \(text)\n" + base, file: "p")
        #expect(c.timeouts.upstream == ms)
    }

    @Test(arguments: [
        ("0", UInt64(0)), ("1", 1), ("1024", 1024), ("32k", 32768), ("32K", 32768), ("100m", 104_857_600), ("2g", 2 << 30),
        ("16777216g", 1 << 54),
    ])
    func sizes(text: String, bytes: UInt64) throws {
        let c = try ConfigParser.parse("limit body-bytes \(text)\n" + base, file: "p")
        #expect(c.limits.bodyBytes == bytes)
    }

    @Test(arguments: [("1k", 1024), ("1024", 1024), ("1m", 1_048_576), ("8k", 8192)])
    func headerBytesRange(text: String, bytes: Int) throws {
        #expect(try ConfigParser.parse("limit header-bytes \(text)\n" + base, file: "p").limits.headerBytes == bytes)
    }

    @Test func lexicalDetails() throws {
        // CRLF, tabs, a BOM, comments glued to tokens, a brace glued to the name, blank and comment-only lines.
        let text = "\u{FEFF}listen\t127.0.0.1:8080#comment\r\n\r\n   # only a comment\r\npool blue{ # opens\r\n\tserver 10.0.0.1:80 weight 3\r\n}# closes\r\n"
        let c = try ConfigParser.parse(text, file: "p")
        #expect(c.listeners == [addr("127.0.0.1:8080")])
        #expect(c.pools == [PoolConfig(name: "blue", servers: [ServerConfig(address: addr("10.0.0.1:80"), weight: 3, line: 5)], line: 4)])
    }

    @Test func addressesAreCanonical() throws {
        let c = try ConfigParser.parse("listen *:8080\nlisten [::]:8080\nlisten localhost:0\n"
            + "pool p {\nserver [2001:DB8:0:0::1]:80\n}\n", file: "p")
        #expect(c.listeners.map(\.description) == ["0.0.0.0:8080", "[::]:8080", "127.0.0.1:0"])
        #expect(c.pools[0].servers[0].address.description == "[2001:db8::1]:80")
    }

    @Test func exampleFileParses() throws {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // BalancingTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
            .appendingPathComponent("proxy.conf.example")
        let text = try String(contentsOf: url, encoding: .utf8)
        let c = try ConfigParser.parse(text, file: "proxy.conf.example")
        #expect(c.listeners == [addr("127.0.0.1:8080")])
        #expect(c.adminSocket == "/tmp/switchyard.sock")
        #expect(c.pools.map(\.name) == ["blue", "green"])
        #expect(c.pools.map { $0.servers.map(\.address) } == [[addr("127.0.0.1:9101")], [addr("127.0.0.1:9102")]])
        #expect(c.pools[0].servers[0].maxConn == 1000)
        #expect(c.pools[0].health == HealthCheckConfig())
        #expect(c.pools[1].health == HealthCheckConfig())
        #expect(c.pools[0].ejectOn5xx && c.pools[0].slowStartMS == 30_000)
        #expect(c.split == [100, 0])
        #expect(c.limits.connections == 9000)
        #expect(c.timeouts == Timeouts())
        #expect(c.auditLog == "/tmp/switchyard-audit.log" && c.metrics == addr("127.0.0.1:9100"))
        #expect(c.accessLog.map { AccessLogConfig(path: $0.path, bufferBytes: $0.bufferBytes, flushMS: $0.flushMS) }
            == AccessLogConfig(path: "/tmp/switchyard-access.log"))
        // sticky needs a key file, so the example shows it commented out (the file must stay
        // usable as is: `switchyard check --config proxy.conf.example`).
        #expect(c.sticky == nil)
        let stickyExample = text.split(separator: "\n").last { $0.hasPrefix("# sticky cookie ") }.map { String($0.dropFirst(2)) }
        let sticky = try ConfigParser.parse("listen 127.0.0.1:1\npool blue {\nserver 127.0.0.1:2\n}\n" + (stickyExample ?? ""), file: "t").sticky
        #expect(sticky?.cookieName == "yard_colour" && sticky?.maxAgeMS == StickyConfig.defaultMaxAgeMS)
        #expect(c.rollouts.map(\.name) == ["green"])
        #expect(c.rolloutPlan(named: "green")?.spec == (try RolloutSpec(newPool: "green", oldPool: "blue")))
        // Every directive is exercised by the example, so the documentation cannot silently fall behind.
        let directives = Set(text.split(separator: "\n").compactMap { line -> String? in
            let t = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = t.first, !first.hasPrefix("#") else { return nil }
            return String(first)
        })
        #expect(directives.union(["sticky"]).isSuperset(of: ConfigDirective.table.map(\.name)))
    }

    @Test func parseSplitAtRuntime() throws {
        let pools = [PoolConfig(name: "blue", servers: [ServerConfig(address: addr("10.0.0.1:80"))]),
                     PoolConfig(name: "green", servers: [ServerConfig(address: addr("10.0.0.2:80"))]),
                     PoolConfig(name: "empty")]
        #expect(try ConfigParser.parseSplit("blue=90 green=10", pools: pools) == [90, 10, 0])
        #expect(try ConfigParser.parseSplit("split green=1", pools: pools) == [0, 1, 0])
        #expect(throws: ConfigError(file: "admin", line: 0, message: "split: unknown pool 'purple'")) {
            try ConfigParser.parseSplit("purple=1", pools: pools, source: "admin")
        }
        #expect(throws: ConfigError(file: "split", line: 0, message: "split: all weights are zero")) {
            try ConfigParser.parseSplit("blue=0", pools: pools)
        }
        #expect(throws: ConfigError(file: "split", line: 0, message: "split: pool 'empty' has no servers but its split weight is 5")) {
            try ConfigParser.parseSplit("empty=5 blue=1", pools: pools)
        }
        #expect(throws: ConfigError.self) { try ConfigParser.parseSplit("", pools: pools) }
    }

    @Test func errorDescription() {
        #expect(ConfigError(file: "proxy.conf", line: 7, message: "unknown directive 'listn'").description
            == "proxy.conf:7: unknown directive 'listn'")
        #expect(ConfigError(file: "proxy.conf", line: 0, message: "no 'listen' directive").description
            == "proxy.conf: no 'listen' directive")
    }

    @Test func errorCarriesFileName() {
        let e = parseError("listn 1.2.3.4:80\n", file: "/etc/switchyard/proxy.conf")
        #expect(e?.description == "/etc/switchyard/proxy.conf:1: unknown directive 'listn' (did you mean 'listen'?)")
    }
}

/// One invalid config, the line the error must point at, and a substring of its message.
struct ErrorCase: Sendable, CustomTestStringConvertible {
    var text: String
    var line: Int
    var message: String
    var testDescription: String { "line \(line): \(message)" }

    init(_ lines: [String], line: Int, _ message: String) {
        text = lines.joined(separator: "\n") + "\n"
        self.line = line
        self.message = message
    }

    /// After the 4-line valid `base`, so line numbers of the extra lines start at 5.
    init(afterBase lines: [String], line: Int, _ message: String) {
        text = base + lines.joined(separator: "\n") + "\n"
        self.line = line
        self.message = message
    }
}

@Suite struct ConfigParserErrorTests {
    static let cases: [ErrorCase] = [
        // Unknown directives.
        .init(["listen 127.0.0.1:8080", "listn 127.0.0.1:8081"], line: 2, "unknown directive 'listn' (did you mean 'listen'?)"),
        .init(afterBase: ["frobnicate 1"], line: 5, "unknown directive 'frobnicate'"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "  sever 10.0.0.1:80", "}"], line: 3, "unknown directive 'sever' (did you mean 'server'?)"),
        .init(afterBase: ["{"], line: 5, "unexpected '{'"),

        // Duplicates of single-valued directives.
        .init(["workers 2", "listen 127.0.0.1:8080", "workers 4"], line: 3, "duplicate 'workers' (first at line 1)"),
        .init(afterBase: ["admin /a.sock", "admin /b.sock"], line: 6, "duplicate 'admin' (first at line 5)"),
        .init(afterBase: ["split blue=1", "split blue=2"], line: 6, "duplicate 'split' (first at line 5)"),
        .init(afterBase: ["timeout connect 1s", "timeout drain 1s", "timeout connect 2s"], line: 7, "duplicate 'timeout connect' (first at line 5)"),
        .init(afterBase: ["limit body-bytes 1m", "limit body-bytes 2m"], line: 6, "duplicate 'limit body-bytes' (first at line 5)"),
        .init(afterBase: ["listen 127.0.0.1:8080"], line: 5, "duplicate listen address 127.0.0.1:8080 (first at line 1)"),
        .init(afterBase: ["listen localhost:8080"], line: 5, "duplicate listen address 127.0.0.1:8080 (first at line 1)"),
        .init(["listen [::1]:80", "listen [0:0::1]:80"], line: 2, "duplicate listen address [::1]:80 (first at line 1)"),
        .init(afterBase: ["pool blue {", "}"], line: 5, "duplicate pool 'blue' (first at line 2)"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80", "server 10.0.0.1:80 weight 2", "}"], line: 4,
              "duplicate server 10.0.0.1:80 in pool 'blue' (first at line 3)"),

        // Durations.
        .init(afterBase: ["timeout connect 2d"], line: 5, "timeout connect: unknown duration unit 'd' in '2d' (use ms, s, m or h)"),
        .init(afterBase: ["timeout drain 30"], line: 5, "timeout drain: duration needs a unit (ms, s, m or h), got '30'"),
        .init(afterBase: ["timeout upstream 0s"], line: 5, "timeout upstream: must be positive, got '0s'"),
        .init(afterBase: ["timeout upstream 0"], line: 5, "timeout upstream: must be positive, got 0"),
        .init(afterBase: ["timeout client-idle -5s"], line: 5, "timeout client-idle: must be positive, got '-5s'"),
        .init(afterBase: ["timeout client-header fast"], line: 5, "timeout client-header: invalid duration 'fast'"),
        .init(afterBase: ["timeout upstream-idle 1.5s"], line: 5, "timeout upstream-idle: unknown duration unit '.5s'"),
        .init(afterBase: ["timeout drain 1441m"], line: 5, "timeout drain: duration '1441m' is too long (max 1440m)"),
        .init(afterBase: ["timeout drain 99999999999999999999999ms"], line: 5, "is too long"),
        .init(afterBase: ["timeout read 2s"], line: 5, "timeout: unknown kind 'read' (expected one of connect, client-header"),

        // Sizes and limits.
        .init(afterBase: ["limit body-bytes 10x"], line: 5, "limit body-bytes: unknown size suffix 'x' in '10x'"),
        .init(afterBase: ["limit body-bytes 10kb"], line: 5, "limit body-bytes: unknown size suffix 'kb'"),
        .init(afterBase: ["limit body-bytes lots"], line: 5, "limit body-bytes: invalid size 'lots'"),
        .init(afterBase: ["limit body-bytes 99999999999g"], line: 5, "limit body-bytes: size '99999999999g' is too large"),
        .init(afterBase: ["limit header-bytes 512"], line: 5, "limit header-bytes must be 1k...1m, got 512"),
        .init(afterBase: ["limit header-bytes 2m"], line: 5, "limit header-bytes must be 1k...1m, got '2m'"),
        .init(afterBase: ["limit connections 0"], line: 5, "limit connections must be a number 1...10000000, got 0"),
        .init(afterBase: ["limit connections 10k"], line: 5, "limit connections must be a number 1...10000000, got '10k'"),
        .init(afterBase: ["limit requests 5"], line: 5, "limit: unknown kind 'requests' (expected one of header-bytes, body-bytes, connections)"),

        // Addresses.
        .init(["listen 127.0.0.1"], line: 1, "listen: missing port in '127.0.0.1'"),
        .init(["listen 127.0.0.1:99999"], line: 1, "listen: port must be a number 0...65535, got '99999'"),
        .init(["listen 127.0.0.1:http"], line: 1, "listen: port must be a number 0...65535, got 'http'"),
        .init(["listen example.com:80"], line: 1, "listen addresses must be IP literals (or 'localhost'), got 'example.com'"),
        .init(["listen ::1:80"], line: 1, "listen: IPv6 addresses need brackets"),
        .init(["listen [1.2.3.4]:80"], line: 1, "listen: brackets are only for IPv6 addresses"),
        .init(["listen 10.0.0.256:80"], line: 1, "listen: invalid IPv4 address '10.0.0.256'"),
        .init(["listen [fe80::1%eth0]:80"], line: 1, "listen: invalid IPv6 address 'fe80::1%eth0'"),
        .init(["listen [::1]"], line: 1, "listen: missing port"),
        .init(["listen [::1:80"], line: 1, "listen: invalid host"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server backend.local:8080", "}"], line: 3,
              "server addresses must be IP literals (or 'localhost'), got 'backend.local'"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:0", "}"], line: 3, "server: port must be 1...65535, got 0"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server *:80", "}"], line: 3, "server: '*:80' is the any-address"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server [::]:80", "}"], line: 3, "is the any-address"),

        // Server weights and arguments.
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80 weight 0", "}"], line: 3, "server weight must be 1...1000, got 0"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80 weight 1001", "}"], line: 3, "server weight must be 1...1000, got 1001"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80 weight -1", "}"], line: 3, "server weight must be 1...1000, got '-1'"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80 weight", "}"], line: 3, "server: missing value after 'weight'"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80 wieght 2", "}"], line: 3, "server: unexpected 'wieght' (usage: server ADDRESS:PORT [weight N] [max-conn N])"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80 weight 2 backup", "}"], line: 3, "server: unexpected 'backup'"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server", "}"], line: 3, "server: missing address (usage: server ADDRESS:PORT [weight N] [max-conn N])"),

        // Split.
        .init(afterBase: ["split blue=1 purple=2"], line: 5, "split: unknown pool 'purple'"),
        .init(afterBase: ["pool green {", "server 10.0.2.1:80", "}", "split blue=0 green=0"], line: 8, "split: all weights are zero"),
        .init(afterBase: ["split blue=1000001"], line: 5, "split: weight of pool 'blue' must be 0...1000000, got 1000001"),
        .init(afterBase: ["split blue=-1"], line: 5, "split: weight of pool 'blue' must be 0...1000000, got '-1'"),
        .init(afterBase: ["split blue:100"], line: 5, "split: expected POOL=WEIGHT, got 'blue:100'"),
        .init(afterBase: ["split blue="], line: 5, "split: expected POOL=WEIGHT, got 'blue='"),
        .init(afterBase: ["split =5"], line: 5, "split: expected POOL=WEIGHT"),
        .init(afterBase: ["split blue=1 blue=2"], line: 5, "split: pool 'blue' is listed twice"),
        .init(afterBase: ["split"], line: 5, "split: missing pool weights (usage: split POOL=WEIGHT ...)"),
        .init(afterBase: ["pool green {", "}", "split blue=1 green=10"], line: 7, "split: pool 'green' has no servers but its split weight is 10"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "}", "pool green {", "server 10.0.0.1:80", "}"], line: 2,
              "pool 'blue' has no servers, but without a 'split' directive the first pool receives all traffic"),

        // Blocks.
        .init(["listen 127.0.0.1:8080", "pool blue {", "  server 10.0.0.1:80", "", "# end"], line: 2, "pool 'blue' is not closed: missing '}' before end of file"),
        .init(afterBase: ["}"], line: 5, "unexpected '}': no pool or rollout is open"),
        .init(["listen 127.0.0.1:8080", "server 10.0.0.1:80"], line: 2, "'server' outside of a pool: servers belong inside 'pool NAME { ... }'"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80", "pool green {", "}", "}"], line: 4,
              "nested pool: cannot open a pool inside pool 'blue' (opened at line 2)"),
        .init(["pool blue {", "server 10.0.0.1:80", "listen 127.0.0.1:8080", "}"], line: 3, "'listen' is not allowed inside pool 'blue' (opened at line 1)"),
        .init(["pool blue {", "server 10.0.0.1:80", "split blue=1", "}"], line: 3, "'split' is not allowed inside pool 'blue'"),
        .init(["listen 127.0.0.1:8080", "pool blue", "server 10.0.0.1:80", "}"], line: 2, "pool: expected '{' after the pool name on the same line"),
        .init(["listen 127.0.0.1:8080", "pool blue extra {", "}"], line: 2, "pool: expected '{' after the pool name, got 'extra'"),
        .init(["listen 127.0.0.1:8080", "pool blue { server 10.0.0.1:80 }"], line: 2, "pool: unexpected 'server' after '{'"),
        .init(["listen 127.0.0.1:8080", "pool blue {", "server 10.0.0.1:80", "} pool"], line: 4, "'}' must be on its own line, unexpected 'pool'"),
        .init(["listen 127.0.0.1:8080", "pool {", "}"], line: 2, "pool: missing pool name"),
        .init(["listen 127.0.0.1:8080", "pool blue.green {", "}"], line: 2, "pool: invalid pool name 'blue.green'"),
        .init(["listen 127.0.0.1:8080", "pool " + String(repeating: "p", count: 65) + " {", "}"], line: 2, "pool: pool name is too long (max 64"),

        // Missing and extra arguments.
        .init(["listen"], line: 1, "listen: missing address (usage: listen ADDRESS:PORT)"),
        .init(["listen 127.0.0.1:8080 127.0.0.1:8081"], line: 1, "listen: unexpected extra argument '127.0.0.1:8081' (usage: listen ADDRESS:PORT)"),
        .init(afterBase: ["workers"], line: 5, "workers: missing count (usage: workers auto|N)"),
        .init(afterBase: ["workers 2 3"], line: 5, "workers: unexpected extra argument '3'"),
        .init(afterBase: ["io-uring"], line: 5, "io-uring: missing 'on' or 'off' (usage: io-uring on|off)"),
        .init(afterBase: ["io-uring yes"], line: 5, "io-uring must be 'on' or 'off', got 'yes'"),
        .init(afterBase: ["io-uring on", "io-uring off"], line: 6, "duplicate 'io-uring' (first at line 5)"),
        .init(afterBase: ["admin"], line: 5, "admin: missing socket path (usage: admin PATH [group NAME])"),
        .init(afterBase: ["admin /a.sock group"], line: 5, "admin: missing group name after 'group'"),
        .init(afterBase: ["admin /a.sock grp wheel"], line: 5, "admin: unexpected 'grp', expected 'group'"),
        .init(afterBase: ["admin /a.sock group wheel x"], line: 5, "admin: unexpected extra argument 'x'"),
        .init(afterBase: ["timeout"], line: 5, "timeout: missing kind and duration (usage: timeout KIND DURATION)"),
        .init(afterBase: ["timeout connect"], line: 5, "timeout: missing duration"),
        .init(afterBase: ["timeout connect 1s 2s"], line: 5, "timeout: unexpected extra argument '2s'"),
        .init(afterBase: ["limit"], line: 5, "limit: missing kind and value (usage: limit KIND VALUE)"),
        .init(afterBase: ["limit body-bytes"], line: 5, "limit: missing value"),
        .init(afterBase: ["limit header-bytes 32k 64k"], line: 5, "limit: unexpected extra argument '64k'"),
        .init(afterBase: ["trusted-proxies"], line: 5, "trusted-proxies: missing CIDR (usage: trusted-proxies CIDR ...)"),

        // Workers and admin values.
        .init(afterBase: ["workers 0"], line: 5, "workers must be 'auto' or 1...256, got 0"),
        .init(afterBase: ["workers 257"], line: 5, "workers must be 'auto' or 1...256, got 257"),
        .init(afterBase: ["workers many"], line: 5, "workers must be 'auto' or 1...256, got 'many'"),
        .init(afterBase: ["admin /" + String(repeating: "a", count: 107)], line: 5, "admin: socket path is too long (108 bytes, max 107)"),
        .init(afterBase: ["admin /tmp/a\u{1}b"], line: 5, "admin: socket path '/tmp/a\\u{1}b' contains control characters"),
        .init(afterBase: ["admin /a.sock group -x"], line: 5, "admin: invalid group name '-x'"),

        // CIDRs.
        .init(afterBase: ["trusted-proxies 10.0.0.1/8"], line: 5, "trusted-proxies: invalid CIDR '10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?"),
        .init(afterBase: ["trusted-proxies 10.0.0.0/33"], line: 5, "trusted-proxies: invalid CIDR '10.0.0.0/33' (prefix length"),
        .init(afterBase: ["trusted-proxies 10.0.0/8"], line: 5, "trusted-proxies: invalid CIDR '10.0.0/8' (bad IP address)"),
        .init(afterBase: ["trusted-proxies fd00::1/8"], line: 5, "did you mean fd00::/8?"),
        .init(afterBase: ["trusted-proxies 10.0.0.0/8 192.168.0.0/16", "trusted-proxies 10.0.0.0/8"], line: 6,
              "trusted-proxies: duplicate CIDR 10.0.0.0/8 (first at line 5)"),

        // Whole-file problems.
        .init(["pool blue {", "server 10.0.0.1:80", "}"], line: 0, "no 'listen' directive"),
        .init(["listen 127.0.0.1:8080"], line: 0, "no 'pool' defined"),
        .init([""], line: 0, "no 'listen' directive"),
    ]

    @Test(arguments: cases)
    func error(_ c: ErrorCase) {
        guard let e = parseError(c.text) else { return }
        #expect(e.line == c.line, "\(e)")
        #expect(e.message.contains(c.message), "\(e)")
        #expect(e.file == "proxy.conf")
    }

    /// Guards the table itself: each case must break only where it says, so
    /// the same text with the offending line removed (or fixed) parses.
    @Test func baseIsValid() throws {
        _ = try ConfigParser.parse(base, file: "p")
    }
}
