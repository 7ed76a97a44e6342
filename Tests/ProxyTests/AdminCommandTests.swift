import Admin
import Glibc
import Synchronization
import TestSupport
import XCTest

/// Every admin command over the real Unix socket (an in-process proxy wired like `switchyard`):
/// reply shapes, their effect on traffic, every error path with its code, and the socket's own
/// behaviour (oversized lines, clients that vanish, several clients at once).
final class AdminCommandTests: XCTestCase {
    private var scratch: ScratchDirectory!
    private var upstreams: [LoggingUpstream] = []
    private var proxies: [TestProxy] = []

    override func setUpWithError() throws {
        scratch = try ScratchDirectory(prefix: "adm")
    }

    override func tearDown() {
        for p in proxies { p.stop() }
        for u in upstreams { u.stop() }
        proxies.removeAll()
        upstreams.removeAll()
        scratch?.remove()
    }

    private func upstream(_ name: String) throws -> LoggingUpstream {
        let u = try LoggingUpstream(name: name)
        upstreams.append(u)
        return u
    }

    private func start(_ pools: [(name: String, servers: [String])], split: String, workers: Int = 1,
                       extra: String = "") throws -> TestProxy {
        let p = try TestProxy(config: adminConfigText(pools: pools, split: split, workers: workers, extra: extra),
                                        socketPath: scratch.file("admin.sock"))
        proxies.append(p)
        return p
    }

    /// Sends `count` GETs to `target` on one connection; the upstream names that answered.
    private func names(_ proxy: TestProxy, _ count: Int, _ target: String = "/x",
                       file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let c = try proxy.client(timeout: 5)
        defer { c.close() }
        return try (0..<count).map { i in
            let r = try c.get("\(target)/\(i)")
            XCTAssertEqual(r.status, 200, "\(target)/\(i): \(r)", file: file, line: line)
            return r.text
        }
    }

    // MARK: status, stats, help

    func testStatusReplyHasDocumentedShape() throws {
        let b1 = try upstream("b1"), b2 = try upstream("b2"), g = try upstream("g")
        let proxy = try start([("blue", [b1.address, b2.address]), ("green", [g.address])], split: "blue=100 green=0",
                              workers: 2)
        _ = try names(proxy, 4)

        // A slow request in flight on b1 or b2 shows up as in_flight 1.
        let slow = try proxy.client(timeout: 5)
        try slow.send("GET /slow/600/s HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(pollUntil(timeout: 3) { b1.delaying.current + b2.delaying.current == 1 }, "the slow request did not arrive")

        let s = try proxy.request("status")
        XCTAssertEqual(s.keys.first, "ok", "ok must be the first field: \(s.encoded())")
        XCTAssertTrue(s.isOK, s.encoded())
        XCTAssertEqual(s["version"]?.stringValue, "test-version")
        XCTAssertNotNil(s["uptime_s"]?.doubleValue, "uptime_s: \(s.encoded())")
        XCTAssertGreaterThanOrEqual(s["uptime_s"]?.doubleValue ?? -1, 0)
        XCTAssertEqual(s["workers"]?.intValue, 2)
        XCTAssertNotNil(s["generation"]?.intValue, "generation: \(s.encoded())")
        XCTAssertEqual(s["ready"]?.boolValue, true)
        XCTAssertEqual(s.at("split", "blue")?.intValue, 100)
        XCTAssertEqual(s.at("split", "green")?.intValue, 0)
        XCTAssertEqual(s["overrides"]?.arrayValue, [], "no runtime change yet")
        XCTAssertEqual(s.at("pools")?.keys, ["blue", "green"])
        XCTAssertEqual(s.at("pools", "blue", "split")?.intValue, 100)
        XCTAssertEqual(s.servers(pool: "blue").map { $0["address"]?.stringValue ?? "?" }, [b1.address, b2.address])
        XCTAssertEqual(s.servers(pool: "green").map { $0["address"]?.stringValue ?? "?" }, [g.address])
        var inFlight = 0
        for server in s.servers(pool: "blue") + s.servers(pool: "green") {
            for key in ["address", "weight", "state", "in_flight", "connections"] {
                XCTAssertNotNil(server[key], "server object lacks '\(key)': \(server.encoded())")
            }
            XCTAssertEqual(server["weight"]?.intValue, 1)
            XCTAssertEqual(server["state"]?.stringValue, "ready")
            inFlight += server["in_flight"]?.intValue ?? 0
        }
        XCTAssertEqual(inFlight, 1, "the slow request is in flight: \(s.encoded())")
        let blueConnections = s.servers(pool: "blue").reduce(0) { $0 + ($1["connections"]?.intValue ?? 0) }
        XCTAssertGreaterThanOrEqual(blueConnections, 2, "upstream connections (one busy, one pooled at least)")
        XCTAssertEqual(try slow.readResponse().status, 200)
    }

    func testStatsCountsRequestsByClassWithLatencyPercentiles() throws {
        let b = try upstream("blue")
        let dead = try TestSockets.closedPort()
        let proxy = try start([("blue", [b.address]), ("green", ["127.0.0.1:\(dead)"])], split: "blue=100 green=0",
                              workers: 2)
        let c = try proxy.client()
        for i in 0..<12 { XCTAssertEqual(try c.get("/ok/\(i)").status, 200) }
        for i in 0..<2 { XCTAssertEqual(try c.get("/code/302/\(i)").status, 302) }
        for i in 0..<5 { XCTAssertEqual(try c.get("/code/404/\(i)").status, 404) }
        for i in 0..<3 { XCTAssertEqual(try c.get("/code/500/\(i)").status, 500) }
        // Two requests to the green pool whose only server is down: 502 made by the proxy.
        XCTAssertTrue(try proxy.request("split blue=0 green=100").isOK)
        for i in 0..<2 {
            let d = try proxy.client()
            XCTAssertEqual(try d.get("/dead/\(i)").status, 502)
        }

        var stats: JSONValue = .null
        // Counters are updated as each exchange completes; give the last one a moment.
        pollUntil(timeout: 3) {
            stats = (try? proxy.request("stats")) ?? .null
            return stats.at("pools", "blue", "servers")?.arrayValue?.first?["requests"]?.intValue == 22
        }
        XCTAssertTrue(stats.isOK, stats.encoded())
        XCTAssertNotNil(stats["window_s"]?.intValue, stats.encoded())
        XCTAssertEqual(stats.at("pools")?.keys, ["blue", "green"])
        guard let s = stats.at("pools", "blue", "servers")?.arrayValue?.first else {
            return XCTFail("no blue server in \(stats.encoded())")
        }
        XCTAssertEqual(s["address"]?.stringValue, b.address)
        XCTAssertEqual(s["requests"]?.intValue, 22, s.encoded())
        XCTAssertEqual(s.at("responses", "2xx")?.intValue, 12, s.encoded())
        XCTAssertEqual(s.at("responses", "3xx")?.intValue, 2, s.encoded())
        XCTAssertEqual(s.at("responses", "4xx")?.intValue, 5, s.encoded())
        XCTAssertEqual(s.at("responses", "5xx")?.intValue, 3, s.encoded())
        XCTAssertEqual(s.at("proxy_errors", "502")?.intValue, 0)
        XCTAssertNotNil(s["rate"]?.doubleValue, s.encoded())
        XCTAssertEqual(s["in_flight"]?.intValue, 0)
        for scope in ["window", "total"] {
            for p in ["p50", "p99"] {
                let v = s.at("latency_ms", scope, p)?.doubleValue
                XCTAssertNotNil(v, "latency_ms.\(scope).\(p) missing: \(s.encoded())")
                XCTAssertGreaterThan(v ?? 0, 0, "latency_ms.\(scope).\(p) after 22 requests")
            }
        }
        guard let d = stats.at("pools", "green", "servers")?.arrayValue?.first else {
            return XCTFail("no green server in \(stats.encoded())")
        }
        XCTAssertEqual(d["requests"]?.intValue, 2, d.encoded())
        XCTAssertEqual(d.at("proxy_errors", "502")?.intValue, 2, d.encoded())
        XCTAssertEqual(d.at("responses", "2xx")?.intValue, 0, d.encoded())
        XCTAssertEqual(stats.at("pools", "green", "split")?.intValue, 100)
    }

    func testHelpListsEveryCommand() throws {
        let b = try upstream("blue")
        let proxy = try start([("blue", [b.address])], split: "blue=100")
        let h = try proxy.request("help")
        XCTAssertTrue(h.isOK, h.encoded())
        let listed = (h["commands"]?.arrayValue ?? []).compactMap(\.stringValue)
        for cmd in ["status", "stats", "split", "server weight", "server drain", "server ready", "server add",
                    "server remove", "reload", "shutdown", "help"] {
            XCTAssertTrue(listed.contains { $0 == cmd || $0.hasPrefix(cmd + " ") }, "help does not list '\(cmd)': \(listed)")
        }
    }

    // MARK: changing commands

    func testSplitReplyChangesTrafficAndShowsInStatusAsOverride() throws {
        let b = try upstream("blue"), g = try upstream("green")
        let proxy = try start([("blue", [b.address]), ("green", [g.address])], split: "blue=100 green=0")
        let gen0 = try proxy.request("status")["generation"]?.intValue ?? -1

        let r = try proxy.request("split blue=25 green=75")
        XCTAssertTrue(r.isOK, r.encoded())
        XCTAssertEqual(r.keys, ["ok", "split", "generation"], r.encoded())
        XCTAssertEqual(r.at("split", "blue")?.intValue, 25)
        XCTAssertEqual(r.at("split", "green")?.intValue, 75)
        XCTAssertEqual(r["generation"]?.intValue, gen0 + 1)
        let seq = try names(proxy, 8)
        XCTAssertEqual(seq.filter { $0 == "green" }.count, 6, "\(seq)")

        // Naming one pool keeps the others' weights.
        let r2 = try proxy.request("split green=25")
        XCTAssertEqual(r2.at("split", "blue")?.intValue, 25, r2.encoded())
        XCTAssertEqual(r2.at("split", "green")?.intValue, 25, r2.encoded())

        let s = try proxy.request("status")
        XCTAssertEqual(s.at("split", "blue")?.intValue, 25)
        XCTAssertEqual(s.at("split", "green")?.intValue, 25)
        XCTAssertEqual(s.at("config_split", "blue")?.intValue, 100, "the file's split is still reported")
        XCTAssertEqual(s.at("config_split", "green")?.intValue, 0)
        XCTAssertEqual(s["overrides"]?.arrayValue?.compactMap(\.stringValue), ["split"])
        XCTAssertEqual(s["generation"]?.intValue, gen0 + 2)
    }

    func testServerWeightChangesDistributionAndIsAnOverride() throws {
        let b1 = try upstream("b1"), b2 = try upstream("b2")
        let proxy = try start([("blue", [b1.address, b2.address])], split: "blue=100")
        let r = try proxy.request("server weight blue \(b1.address) 3")
        XCTAssertTrue(r.isOK, r.encoded())
        XCTAssertEqual(r["pool"]?.stringValue, "blue")
        XCTAssertNotNil(r["generation"]?.intValue)
        XCTAssertEqual(r.at("server", "address")?.stringValue, b1.address, r.encoded())
        XCTAssertEqual(r.at("server", "weight")?.intValue, 3, r.encoded())
        XCTAssertEqual(r.at("server", "config_weight")?.intValue, 1, r.encoded())
        XCTAssertEqual(r.at("server", "state")?.stringValue, "ready", r.encoded())
        let seq = try names(proxy, 8)
        XCTAssertEqual(seq.filter { $0 == "b1" }.count, 6, "weights 3:1 over 8 requests: \(seq)")
        XCTAssertEqual(seq.filter { $0 == "b2" }.count, 2, "\(seq)")
        let s = try proxy.request("status")
        XCTAssertEqual(s.server(pool: "blue", address: b1.address)?["weight"]?.intValue, 3)
        XCTAssertEqual(s["overrides"]?.arrayValue?.compactMap(\.stringValue), ["blue/\(b1.address) weight"])
    }

    func testServerDrainAndReadyRepliesAndOverrides() throws {
        let b1 = try upstream("b1"), b2 = try upstream("b2")
        let proxy = try start([("blue", [b1.address, b2.address])], split: "blue=100")
        let d = try proxy.request("server drain blue \(b1.address)")
        XCTAssertTrue(d.isOK, d.encoded())
        XCTAssertEqual(d.at("server", "state")?.stringValue, "drained", "nothing in flight: \(d.encoded())")
        XCTAssertEqual(try names(proxy, 6), Array(repeating: "b2", count: 6))
        let s = try proxy.request("status")
        XCTAssertEqual(s.server(pool: "blue", address: b1.address)?["state"]?.stringValue, "drained")
        XCTAssertEqual(s["overrides"]?.arrayValue?.compactMap(\.stringValue), ["blue/\(b1.address) draining"])
        // Draining twice is harmless.
        XCTAssertTrue(try proxy.request("server drain blue \(b1.address)").isOK)

        let r = try proxy.request("server ready blue \(b1.address)")
        XCTAssertTrue(r.isOK, r.encoded())
        XCTAssertEqual(r.at("server", "state")?.stringValue, "ready", r.encoded())
        XCTAssertEqual(Set(try names(proxy, 4)), ["b1", "b2"])
        XCTAssertEqual(try proxy.request("status")["overrides"]?.arrayValue, [])
    }

    func testServerAddThenTrafficReachesNewServer() throws {
        let b1 = try upstream("b1"), b2 = try upstream("b2"), b3 = try upstream("b3")
        let proxy = try start([("blue", [b1.address, b2.address])], split: "blue=100", workers: 2)
        XCTAssertEqual(Set(try names(proxy, 4)), ["b1", "b2"])

        let r = try proxy.request("server add blue \(b3.address) weight 2")
        XCTAssertTrue(r.isOK, r.encoded())
        XCTAssertEqual(r["pool"]?.stringValue, "blue")
        XCTAssertEqual(r.at("server", "address")?.stringValue, b3.address, r.encoded())
        XCTAssertEqual(r.at("server", "weight")?.intValue, 2, r.encoded())
        XCTAssertEqual(r.at("server", "added")?.boolValue, true, r.encoded())
        XCTAssertEqual(r.at("server", "state")?.stringValue, "ready", r.encoded())

        // A new connection (the picker restarts at the new snapshot): weights 1:1:2.
        let seq = try names(proxy, 8, "/after")
        XCTAssertEqual(seq.filter { $0 == "b3" }.count, 4, "\(seq)")
        XCTAssertEqual(b3.count(containing: "/after/"), 4)
        let s = try proxy.request("status")
        XCTAssertEqual(s.servers(pool: "blue").count, 3)
        XCTAssertEqual(s.server(pool: "blue", address: b3.address)?["added"]?.boolValue, true)
        XCTAssertEqual(s["overrides"]?.arrayValue?.compactMap(\.stringValue), ["blue/\(b3.address) added"])
        // Without a weight: the default weight 1.
        let b4 = try upstream("b4")
        let r4 = try proxy.request("server add blue \(b4.address)")
        XCTAssertEqual(r4.at("server", "weight")?.intValue, 1, r4.encoded())
    }

    /// Two slow requests on two connections to a one-worker proxy with two equal-weight servers:
    /// one lands on each (smooth round robin alternates). Returns the clients waiting for them.
    private func slowOnEach(_ proxy: TestProxy, _ b1: LoggingUpstream, _ b2: LoggingUpstream) throws -> [TestClient] {
        let slowClients = try (0..<2).map { _ in try proxy.client(timeout: 5) }
        for (i, c) in slowClients.enumerated() { try c.send("GET /slow/700/\(i) HTTP/1.1\r\nHost: t\r\n\r\n") }
        XCTAssertTrue(pollUntil(timeout: 3) { b1.delaying.current == 1 && b2.delaying.current == 1 },
                      "one slow request on each server")
        return slowClients
    }

    /// `server remove`: no new requests reach the server from the reply on (on an existing
    /// keep-alive connection or new ones); the requests in flight on it finish with 200.
    func testServerRemoveLetsInFlightRequestsFinishAndSendsNoNewOnes() throws {
        let b1 = try upstream("b1"), b2 = try upstream("b2")
        let proxy = try start([("blue", [b1.address, b2.address])], split: "blue=100")
        let keepAlive = try proxy.client(timeout: 5)
        XCTAssertEqual(try keepAlive.get("/warm").status, 200)
        let slowClients = try slowOnEach(proxy, b1, b2)

        let r = try proxy.request("server remove blue \(b1.address)")
        XCTAssertTrue(r.isOK, r.encoded())
        XCTAssertEqual(r["pool"]?.stringValue, "blue")
        let removedAt = monotonicSeconds()
        let s = try proxy.request("status")
        XCTAssertEqual(s.at("pools", "blue", "servers")?.arrayValue?.filter { $0["removed"] == nil }.count, 1,
                       "one configured server left: \(s.encoded())")
        XCTAssertTrue((s["overrides"]?.arrayValue ?? []).contains(.string("blue/\(b1.address) removed")), s.encoded())

        for i in 0..<6 { XCTAssertEqual(try keepAlive.get("/old-conn/\(i)").text, "b2") }
        XCTAssertEqual(try names(proxy, 6, "/new"), Array(repeating: "b2", count: 6))
        for (i, c) in slowClients.enumerated() {
            let resp = try c.readResponse()
            XCTAssertEqual(resp.status, 200, "slow request \(i)")
        }
        XCTAssertEqual(b1.arrivals.filter { $0.time > removedAt }.map(\.target), [], "b1 got requests after its removal")
        // Once finished, the removed server is no longer listed.
        XCTAssertTrue(pollUntil(timeout: 3) {
            (try? proxy.request("status"))?.server(pool: "blue", address: b1.address) == nil
        }, "the removed server is still listed after its last request ended")
        XCTAssertTrue(try proxy.request("server remove blue \(b1.address)").code == "unknown_server", "removing twice")
    }

    /// ProxyControl.removeServer documents that a removed server "is reported as draining until
    /// [its requests in flight] have [finished]": the reply and `status` list it (removed: true,
    /// state draining, its in_flight) while a slow request is still running on it, even when no
    /// other request arrived at the worker in the meantime.
    func testServerRemoveReportsRemovedServerAsDrainingWhileRequestsAreInFlight() throws {
        let b1 = try upstream("b1"), b2 = try upstream("b2")
        let proxy = try start([("blue", [b1.address, b2.address])], split: "blue=100")
        let slowClients = try slowOnEach(proxy, b1, b2)

        let r = try proxy.request("server remove blue \(b1.address)")
        XCTAssertTrue(r.isOK, r.encoded())
        XCTAssertEqual(r.at("server", "address")?.stringValue, b1.address, "reply: \(r.encoded())")
        XCTAssertEqual(r.at("server", "removed")?.boolValue, true, "reply: \(r.encoded())")
        XCTAssertEqual(r.at("server", "state")?.stringValue, "draining", "reply: \(r.encoded())")
        XCTAssertEqual(r.at("server", "in_flight")?.intValue, 1, "reply: \(r.encoded())")

        let s = try proxy.request("status")
        let gone = s.server(pool: "blue", address: b1.address)
        XCTAssertEqual(gone?["removed"]?.boolValue, true, "status: \(s.encoded())")
        XCTAssertEqual(gone?["state"]?.stringValue, "draining", "status: \(s.encoded())")
        XCTAssertEqual(gone?["in_flight"]?.intValue, 1, "status: \(s.encoded())")
        for c in slowClients { XCTAssertEqual(try c.readResponse().status, 200) }
    }

    // MARK: errors

    /// Every refused command answers ok:false with its code and a message, changes nothing
    /// (same generation, same split, same traffic) and leaves the connection usable.
    func testEveryErrorPathAnswersItsCodeAndChangesNothing() throws {
        let b1 = try upstream("b1"), g = try upstream("g")
        let proxy = try start([("blue", [b1.address]), ("green", [g.address])], split: "blue=100 green=0")
        let before = try proxy.request("status")
        let admin = try proxy.adminClient()
        let nobody = "127.0.0.1:1"
        let cases: [(String, String)] = [
            ("split purple=10", "unknown_pool"),
            ("server drain purple \(b1.address)", "unknown_pool"),
            ("server add purple \(nobody)", "unknown_pool"),
            ("server weight purple \(b1.address) 2", "unknown_pool"),
            ("server drain blue \(nobody)", "unknown_server"),
            ("server ready blue \(nobody)", "unknown_server"),
            ("server weight blue \(nobody) 2", "unknown_server"),
            ("server remove blue \(nobody)", "unknown_server"),
            ("server remove green \(b1.address)", "unknown_server"),
            ("server add blue localhost:80", "bad_address"),
            ("server add blue 127.0.0.1:0", "bad_address"),
            ("server add blue 127.0.0.1", "bad_address"),
            ("server add blue 1.2.3:80", "bad_address"),
            ("server add blue ::1:80", "bad_address"),
            ("server drain blue 127.0.0.1:99999", "bad_address"),
            ("server weight blue \(b1.address) abc", "bad_number"),
            ("server weight blue \(b1.address) 1001", "bad_number"),
            ("server weight blue \(b1.address) -1", "bad_number"),
            ("server add blue \(nobody) weight 0", "bad_number"),
            ("split blue=abc", "bad_number"),
            ("split blue=1000001", "bad_number"),
            ("split", "missing_argument"),
            ("server", "missing_argument"),
            ("server drain blue", "missing_argument"),
            ("server weight blue \(b1.address)", "missing_argument"),
            ("server add blue", "missing_argument"),
            ("server add blue \(nobody) weight", "missing_argument"),
            ("status now", "extra_argument"),
            ("server drain blue \(b1.address) now", "extra_argument"),
            ("split blue", "bad_argument"),
            ("split blue=1 blue=2", "bad_argument"),
            ("server remove blue \(b1.address)", "bad_argument"),   // blue's last server, split 100
            ("frobnicate", "unknown_command"),
            ("STATUS", "unknown_command"),
            ("server explode blue \(b1.address)", "unknown_command"),
            ("server add blue \(b1.address)", "duplicate_server"),
            ("split blue=0 green=0", "all_zero_split"),
            ("split blue=0", "all_zero_split"),
        ]
        for (line, code) in cases {
            let r = try admin.request(line)
            XCTAssertEqual(r["ok"]?.boolValue, false, "'\(line)': \(r.encoded())")
            XCTAssertEqual(r.code, code, "'\(line)': \(r.encoded())")
            XCTAssertFalse((r["error"]?.stringValue ?? "").isEmpty, "'\(line)' has no error message: \(r.encoded())")
            XCTAssertEqual(r.keys, ["ok", "code", "error"], "'\(line)': \(r.encoded())")
        }
        // Not UTF-8.
        try admin.sendRaw([0x73, 0xFF, 0xFE, 0x0A])
        let enc = try JSONValue.parse(try admin.readLine())
        XCTAssertEqual(enc.code, "bad_encoding", enc.encoded())

        // Nothing changed: the same connection still works, same generation, split and servers.
        let after = try admin.request("status")
        XCTAssertTrue(after.isOK)
        XCTAssertEqual(after["generation"], before["generation"], "a refused command published a snapshot")
        XCTAssertEqual(after["split"], before["split"])
        XCTAssertEqual(after["pools"], before["pools"])
        XCTAssertEqual(after["overrides"]?.arrayValue, [])
        XCTAssertEqual(try names(proxy, 5), Array(repeating: "b1", count: 5))
        XCTAssertEqual(g.requestCount, 0)
    }

    /// `split blue=0 green=0` is refused while traffic flows, and traffic is not disturbed.
    func testAllZeroSplitIsRefusedAndTrafficIsUnaffected() throws {
        let b = try upstream("blue"), g = try upstream("green")
        let proxy = try start([("blue", [b.address]), ("green", [g.address])], split: "blue=70 green=30", workers: 2)
        let load = TrafficLoad(port: proxy.port, modes: [.keepAlive, .keepAlive, .newConnection])
        load.start()
        XCTAssertTrue(load.waitForMore(50))
        let before = try proxy.request("status")
        for _ in 0..<20 {
            let r = try proxy.request("split blue=0 green=0")
            XCTAssertEqual(r.code, "all_zero_split", r.encoded())
        }
        XCTAssertTrue(load.waitForMore(50))
        let summary = load.stop()
        let after = try proxy.request("status")
        XCTAssertEqual(after["split"], before["split"])
        XCTAssertEqual(after.at("split", "blue")?.intValue, 70)
        XCTAssertEqual(after["generation"], before["generation"])
        XCTAssertEqual(summary.failed, 0, "\(summary)")
        XCTAssertGreaterThan(summary.byUpstream["blue"] ?? 0, 0)
        XCTAssertGreaterThan(summary.byUpstream["green"] ?? 0, 0)
        let seq = try names(proxy, 10)
        XCTAssertEqual(seq.filter { $0 == "green" }.count, 3, "\(seq)")
    }

    // MARK: the socket itself

    func testOversizedLineIsRefusedAndOnlyThatConnectionCloses() throws {
        let b = try upstream("blue")
        let proxy = try start([("blue", [b.address])], split: "blue=100")
        let other = try proxy.adminClient()
        XCTAssertTrue(try other.request("status").isOK)

        // A line of exactly 4096 bytes is fine.
        let c0 = try proxy.adminClient()
        XCTAssertTrue(try c0.request("status" + String(repeating: " ", count: 4090)).isOK)

        for (what, bytes) in [("4097 bytes", Array(repeating: UInt8(ascii: "a"), count: 4097) + [0x0A]),
                              ("100 KB", Array(repeating: UInt8(ascii: "a"), count: 100_000) + [0x0A]),
                              ("5000 bytes, no newline", Array(repeating: UInt8(ascii: "a"), count: 5000))] {
            let c = try proxy.adminClient()
            do { try c.sendRaw(bytes) } catch { /* the server may close while we still write */ }
            let line = try c.readLine()
            let r = try JSONValue.parse(line)
            XCTAssertEqual(r.code, "line_too_long", "\(what): \(line)")
            XCTAssertThrowsError(try c.readLine(), "\(what): the connection must be closed after line_too_long") { e in
                XCTAssertEqual((e as? AdminClientError)?.kind, .closed, "\(what): \(e)")
            }
        }
        XCTAssertTrue(try other.request("status").isOK, "another client is unaffected")
        XCTAssertEqual(try names(proxy, 2), ["blue", "blue"])
    }

    func testClientDisconnectingMidCommandDisturbsNothing() throws {
        let b = try upstream("blue")
        let proxy = try start([("blue", [b.address])], split: "blue=100", workers: 2)
        let gen = try proxy.request("status")["generation"]
        for _ in 0..<20 {
            // Half a command, then gone.
            let a = try proxy.adminClient()
            try a.sendRaw(Array("split blue=".utf8))
            a.close()
            // A whole command, gone before the reply (status replies later, after a gather).
            let b = try proxy.adminClient()
            try b.send("status")
            b.close()
            let c = try proxy.adminClient()
            try c.send("stats")
            c.close()
        }
        // Half-close after a last line without "\n": it still counts and gets its reply.
        let h = try proxy.adminClient()
        try h.sendRaw(Array("help".utf8))
        h.finishSending()
        XCTAssertTrue(try JSONValue.parse(try h.readLine()).isOK)
        XCTAssertThrowsError(try h.readLine(), "closed after the half-close was answered")
        h.close()

        let s = try proxy.request("status")
        XCTAssertTrue(s.isOK)
        XCTAssertEqual(s["generation"], gen, "a half-sent 'split blue=' must not have been applied")
        XCTAssertEqual(try names(proxy, 3), ["blue", "blue", "blue"])
        // Every vanished connection was cleaned up.
        XCTAssertTrue(pollUntil(timeout: 3) { proxy.onControlLoop { proxy.admin.connectionCount } == 0 },
                      "admin connections left open: \(proxy.onControlLoop { proxy.admin.connectionCount } ?? -1)")
    }

    func testTwoAdminClientsAtOnce() throws {
        let b = try upstream("blue"), g = try upstream("green")
        let proxy = try start([("blue", [b.address]), ("green", [g.address])], split: "blue=100 green=0", workers: 2)
        let a = try proxy.adminClient()
        let c = try proxy.adminClient()
        // Interleaved on two open connections.
        XCTAssertTrue(try a.request("split blue=60 green=40").isOK)
        XCTAssertEqual(try c.request("status").at("split", "blue")?.intValue, 60)
        XCTAssertTrue(try c.request("split blue=30 green=70").isOK)
        XCTAssertEqual(try a.request("status").at("split", "blue")?.intValue, 30)
        // Pipelined: three commands in one write, three replies in order.
        try a.sendRaw(Array("status\nhelp\nstats\n".utf8))
        let r1 = try JSONValue.parse(try a.readLine())
        let r2 = try JSONValue.parse(try a.readLine())
        let r3 = try JSONValue.parse(try a.readLine())
        XCTAssertNotNil(r1["uptime_s"], r1.encoded())
        XCTAssertNotNil(r2["commands"], r2.encoded())
        XCTAssertNotNil(r3["window_s"], r3.encoded())
        a.close()
        c.close()

        // Two threads hammering at once: every reply answers its own command.
        let problems = Shared<[String]>([])
        let threads = (0..<2).map { k in
            TestThread {
                do {
                    let cl = try proxy.adminClient()
                    for i in 0..<100 {
                        if k == 0 {
                            let w = 1 + i % 50
                            let r = try cl.request("split blue=\(w) green=\(100 - w)")
                            if !r.isOK || r.at("split", "blue")?.intValue != w || r["pools"] != nil {
                                problems.update { $0.append("split \(i): \(r.encoded())") }
                            }
                        } else {
                            let r = try cl.request(i % 2 == 0 ? "status" : "stats")
                            let mark = i % 2 == 0 ? "uptime_s" : "window_s"
                            if !r.isOK || r[mark] == nil {
                                problems.update { $0.append("\(i % 2 == 0 ? "status" : "stats") \(i): \(r.encoded())") }
                            }
                        }
                    }
                } catch {
                    problems.update { $0.append("client \(k): \(error)") }
                }
            }
        }
        for t in threads { t.join() }
        XCTAssertEqual(problems.value, [])
        XCTAssertEqual(try proxy.request("status").at("split", "blue")?.intValue, 50, "the last split (i = 99) holds")
    }
}
