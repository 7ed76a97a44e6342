import Admin
import Glibc
import TestSupport
import XCTest

/// Reload (SIGHUP and the admin `reload` command) on the real `switchyard` process.
final class ReloadTests: XCTestCase {
    private var scratch: ScratchDirectory!
    private var upstreams: [LoggingUpstream] = []
    private var loads: [TrafficLoad] = []
    private var port: UInt16 = 0
    private var configPath = ""

    override func setUpWithError() throws {
        scratch = try ScratchDirectory(prefix: "rld")
        port = try SpawnedProxy.freePort()
        configPath = scratch.file("proxy.conf")
    }

    override func tearDown() {
        for l in loads { _ = l.stop() }
        loads.removeAll()
        for u in upstreams { u.stop() }
        upstreams.removeAll()
        // The process itself is killed by the teardown block registered in start().
    }

    override func tearDownWithError() throws {
        scratch?.remove()
    }

    private func upstream(_ name: String) throws -> LoggingUpstream {
        let u = try LoggingUpstream(name: name)
        upstreams.append(u)
        return u
    }

    private var socketPath: String { scratch.file("admin.sock") }

    private func config(_ pools: [(name: String, servers: [String])], split: String) -> String {
        spawnedConfigText(port: port, socket: socketPath, pools: pools, split: split, extra: "timeout drain 5s\n")
    }

    private func start(_ text: String) throws -> SpawnedProxy {
        try scratch.write("proxy.conf", text)
        let p = try SpawnedProxy(configPath: configPath, port: port, socketPath: socketPath,
                                 stderrPath: scratch.file("stderr.log"))
        killAtTeardown(p)
        return p
    }

    private func admin(_ line: String) throws -> JSONValue {
        let c = try AdminClient(path: socketPath, timeout: 5)
        defer { c.close() }
        return try c.request(line)
    }

    private func startLoad(_ phase: Shared<String>) -> TrafficLoad {
        let l = TrafficLoad(port: port, modes: [.keepAlive, .keepAlive, .keepAlive, .newConnection, .newConnection]) { phase.value }
        loads.append(l)
        l.start()
        return l
    }

    /// Waits (bounded) until `stderr` contains `text`.
    private func waitForLog(_ p: SpawnedProxy, _ text: String, timeout: Double = 5) -> Bool {
        pollUntil(timeout: timeout, pollMs: 10) { p.stderr.contains(text) }
    }

    /// pool -> "address weight state" of each server, from a status reply.
    private func layout(_ status: JSONValue) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for pool in status.at("pools")?.keys ?? [] {
            out[pool] = status.servers(pool: pool).map {
                "\($0["address"]?.stringValue ?? "?") \($0["weight"]?.intValue ?? -1) \($0["state"]?.stringValue ?? "?")"
            }
        }
        return out
    }

    // MARK: SIGHUP

    func testSighupAddsAndRemovesServersUnderLoadWithZeroFailures() throws {
        let a1 = try upstream("a1"), a2 = try upstream("a2"), added = try upstream("added")
        let p = try start(config([("blue", [a1.address, a2.address])], split: "blue=100"))
        let phase = Shared("")
        let load = startLoad(phase)
        XCTAssertTrue(load.waitForMore(200), "no traffic through the proxy: \(load.snapshot)")
        XCTAssertGreaterThan(a1.requestCount, 0)
        // A slow request in flight on the server about to be removed must still finish.
        let (slow, reached) = try sendSlowRequests(reaching: a1, among: [a1, a2], port: port, ms: 800)
        XCTAssertTrue(reached, "no slow request reached a1")

        try scratch.write("proxy.conf", config([("blue", [a2.address, added.address])], split: "blue=100"))
        p.signal(SIGHUP)
        var status: JSONValue = .null
        XCTAssertTrue(pollUntil(timeout: 5, pollMs: 5) {
            status = (try? admin("status")) ?? .null
            return status.servers(pool: "blue").filter { $0["removed"] == nil }.compactMap { $0["address"]?.stringValue }
                == [a2.address, added.address]
        }, "SIGHUP did not apply the new server list: \(status.encoded())")
        phase.set("?after=reload")
        XCTAssertTrue(load.waitForMore(400), "load stalled after the reload: \(load.snapshot)")
        XCTAssertTrue(added.waitUntil(timeout: 3) { $0.contains { $0.target.contains("after=reload") } },
                      "the added server gets no traffic")
        for (i, c) in slow.enumerated() {
            let r = Result { try c.readResponse() }
            XCTAssertEqual((try? r.get())?.status, 200, "slow request \(i) in flight during the reload: \(r)")
        }
        let summary = load.stop()
        XCTAssertEqual(summary.failed, 0, "\(summary)")
        XCTAssertEqual(a1.arrivals.filter { $0.target.contains("after=reload") }.map(\.target), [],
                       "the removed server still got requests sent after the reload")
        XCTAssertGreaterThan(a2.count(containing: "after=reload"), 0)
        XCTAssertTrue(p.stderr.contains("reload: applied"), "no reload line in stderr:\n\(p.stderr)")
        XCTAssertTrue(p.isRunning)
        print("SIGHUP add/remove: \(summary)")
    }

    func testSighupWithBrokenConfigKeepsServingOldConfigAndLogsFileLine() throws {
        let a1 = try upstream("a1"), g = try upstream("g")
        let good = config([("blue", [a1.address]), ("green", [g.address])], split: "blue=100 green=0")
        let p = try start(good)
        let before = try admin("status")
        let phase = Shared("")
        let load = startLoad(phase)
        XCTAssertTrue(load.waitForMore(200))

        // Line 4 becomes a server with a bad port (and green gets the traffic if it were applied).
        var lines = config([("blue", ["127.0.0.1:notaport"]), ("green", [g.address])], split: "blue=0 green=100")
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let badLine = lines.firstIndex { $0.contains("notaport") }! + 1
        lines.append("")
        try scratch.write("proxy.conf", lines.joined(separator: "\n"))
        p.signal(SIGHUP)
        let location = "\(configPath):\(badLine):"
        XCTAssertTrue(waitForLog(p, location), "stderr lacks '\(location)':\n\(p.stderr)")
        let line = p.stderr.split(separator: "\n").first { $0.contains(location) }.map(String.init) ?? ""
        XCTAssertTrue(line.contains("port"), "the reason is missing: \(line)")
        XCTAssertTrue(line.contains("notaport"), "the offending value is missing: \(line)")
        phase.set("?after=bad-reload")
        XCTAssertTrue(load.waitForMore(300))
        let summary = load.stop()
        XCTAssertEqual(summary.failed, 0, "\(summary)")
        XCTAssertGreaterThan(a1.count(containing: "after=bad-reload"), 0, "the old config no longer serves")
        XCTAssertEqual(g.requestCount, 0, "the broken config was (partly) applied")
        let after = try admin("status")
        XCTAssertEqual(after["generation"], before["generation"])
        XCTAssertEqual(layout(after), layout(before), "servers changed")
        XCTAssertEqual(after["split"], before["split"])
        XCTAssertTrue(p.isRunning, "the proxy exited on a broken reload")
    }

    // MARK: admin reload

    func testAdminReloadWithBrokenConfigAnswersInvalidConfigWithFileLine() throws {
        let a1 = try upstream("a1")
        let good = config([("blue", [a1.address])], split: "blue=100")
        let p = try start(good)
        let before = try admin("status")
        var text = good
        text += "split blue=100 purple=3\n"   // a second split, and an unknown pool
        let badLine = text.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        try scratch.write("proxy.conf", text)
        let r = try admin("reload")
        XCTAssertEqual(r["ok"]?.boolValue, false, r.encoded())
        XCTAssertEqual(r.code, "invalid_config", r.encoded())
        XCTAssertTrue(r["error"]?.stringValue?.contains("\(configPath):\(badLine):") == true,
                      "error lacks '\(configPath):\(badLine):': \(r.encoded())")
        let after = try admin("status")
        XCTAssertEqual(after["generation"], before["generation"])
        let c = try TestClient(port: port, timeout: 5)
        XCTAssertEqual(try c.get("/still").text, "a1")

        // Unreadable file: also invalid_config, naming the file.
        unlink(configPath)
        let missing = try admin("reload")
        XCTAssertEqual(missing.code, "invalid_config", missing.encoded())
        XCTAssertTrue(missing["error"]?.stringValue?.contains(configPath) == true, missing.encoded())

        // Fixed: reload succeeds.
        try scratch.write("proxy.conf", good)
        let ok = try admin("reload")
        XCTAssertTrue(ok.isOK, ok.encoded())
        XCTAssertEqual(ok["generation"]?.intValue, (before["generation"]?.intValue ?? 0) + 1, ok.encoded())
        XCTAssertTrue(p.isRunning)
    }

    /// Runtime changes made over the socket are replaced by the file's values on reload, and
    /// the reply lists them.
    func testAdminReloadReplacesRuntimeChangesAndListsThem() throws {
        let a1 = try upstream("a1"), a2 = try upstream("a2"), g = try upstream("g"), extra = try upstream("extra")
        let text = config([("blue", [a1.address, a2.address]), ("green", [g.address])], split: "blue=100 green=0")
        let p = try start(text)
        XCTAssertTrue(try admin("split blue=0 green=100").isOK)
        XCTAssertTrue(try admin("server weight blue \(a1.address) 5").isOK)
        XCTAssertTrue(try admin("server drain blue \(a2.address)").isOK)
        XCTAssertTrue(try admin("server add green \(extra.address)").isOK)
        let c = try TestClient(port: port, timeout: 5)
        XCTAssertEqual(try c.get("/before").status, 200)
        let overrides = try admin("status")["overrides"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertEqual(Set(overrides), ["split", "blue/\(a1.address) weight", "blue/\(a2.address) draining",
                                        "green/\(extra.address) added"])

        let r = try admin("reload")
        XCTAssertTrue(r.isOK, r.encoded())
        let replaced = r["replaced_runtime_changes"]?.arrayValue?.compactMap(\.stringValue)
        XCTAssertEqual(Set(replaced ?? []), Set(overrides), "reply: \(r.encoded())")
        XCTAssertNotNil(r["generation"]?.intValue)

        let s = try admin("status")
        XCTAssertEqual(s.at("split", "blue")?.intValue, 100)
        XCTAssertEqual(s.at("split", "green")?.intValue, 0)
        XCTAssertEqual(s["overrides"]?.arrayValue, [], s.encoded())
        XCTAssertEqual(s.server(pool: "blue", address: a1.address)?["weight"]?.intValue, 1)
        XCTAssertEqual(s.server(pool: "blue", address: a2.address)?["state"]?.stringValue, "ready")
        XCTAssertNil(s.server(pool: "green", address: extra.address).flatMap { $0["removed"] == nil ? $0 : nil },
                     "the added server is gone: \(s.encoded())")
        let names = try (0..<4).map { try c.get("/after/\($0)").text }
        XCTAssertEqual(Set(names), ["a1", "a2"], "traffic follows the file again")

        // A second reload has nothing left to replace.
        let again = try admin("reload")
        XCTAssertEqual(again["replaced_runtime_changes"]?.arrayValue, [], again.encoded())
        XCTAssertTrue(p.isRunning)
    }

    /// Settings fixed at start (`workers`, `io-uring`) are left as they are by a reload, and the
    /// reply says when they take effect; traffic goes on.
    func testReloadNotesSettingsThatWaitForARestart() throws {
        let a = try upstream("a")
        let text = config([("blue", [a.address])], split: "blue=100")
        let p = try start(text)
        XCTAssertTrue(p.stderr.contains("socket I/O batched with io_uring") || p.stderr.contains("io_uring unavailable"), p.stderr)
        try scratch.write("proxy.conf", text + "io-uring off\n")
        let r = try admin("reload")
        XCTAssertTrue(r.isOK, r.encoded())
        let notes = r["notes"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertEqual(notes, ["'io-uring' changed: takes effect at the next restart"], r.encoded())
        let c = try TestClient(port: port, timeout: 5)
        XCTAssertEqual(try c.get("/after").status, 200)
        XCTAssertTrue(p.isRunning)
    }

    /// The same through SIGHUP: a split set over the socket is replaced, and the log says so.
    func testSighupReplacesRuntimeSplitAndLogsIt() throws {
        let a1 = try upstream("a1"), g = try upstream("g")
        let p = try start(config([("blue", [a1.address]), ("green", [g.address])], split: "blue=100 green=0"))
        let gen = try admin("split blue=0 green=100")["generation"]?.intValue ?? -1
        let c = try TestClient(port: port, timeout: 5)
        XCTAssertEqual(try c.get("/x").text, "g")
        p.signal(SIGHUP)
        XCTAssertTrue(pollUntil(timeout: 5) { ((try? admin("status"))?["generation"]?.intValue ?? -1) > gen },
                      "SIGHUP did not reload")
        XCTAssertEqual(try admin("status").at("split", "blue")?.intValue, 100)
        XCTAssertEqual(try c.get("/y").text, "a1")
        XCTAssertTrue(waitForLog(p, "runtime changes replaced: split"), "stderr:\n\(p.stderr)")
    }
}
