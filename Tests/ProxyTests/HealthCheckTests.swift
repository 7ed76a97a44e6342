import Admin
import Glibc
import TestSupport
import XCTest

/// Active health checks (`health GET /healthz interval 150ms timeout 100ms rise 2 fall 3`)
/// against real upstream processes: a failing or killed server is marked down within
/// fall x interval + timeout and gets no traffic after; a recovered one is back within
/// rise x interval and gets traffic again; a server added at runtime gets no traffic before its
/// first passing checks (unless `initial up`). Bounds are asserted at 3x the nominal time.
final class HealthCheckTests: HealthFaultTestCase {
    static let interval = 0.150
    static let timeout = 0.100
    static let rise = 2.0
    static let fall = 3.0
    static let healthLine = "health GET /healthz interval 150ms timeout 100ms rise 2 fall 3"
    /// fall x interval + timeout = 550 ms; asserted below 3x that.
    static let downBound = 3 * (fall * interval + timeout)
    /// rise x interval = 300 ms; asserted below 3x that.
    static let upBound = 3 * (rise * interval)

    private func startPair(extraPoolLines: [String] = []) throws -> (PythonUpstream, PythonUpstream, TestProxy) {
        let a = try upstream("A")
        let b = try upstream("B")
        let proxy = try proxy(healthConfigText(workers: 2, pools: [
            ("blue", ["server \(a.address)", "server \(b.address)", Self.healthLine] + extraPoolLines),
        ], split: "blue=100", extra: ["timeout connect 1s", "timeout upstream 5s"]))
        let up = try proxy.waitForStatus(timeout: 5) { s in
            [a, b].allSatisfy { s.server(pool: "blue", address: $0.address)?["health"]?.stringValue == "up" }
        }
        XCTAssertNotNil(up, "the servers never came up: \((try? proxy.status().encoded()) ?? "")")
        return (a, b, proxy)
    }

    /// Moderate load (a short pause between requests) so the upstreams answer checks promptly.
    private func steadyLoad(_ proxy: TestProxy, _ prefix: String) -> RecordingLoad {
        let l = load(proxy, [.get(keepAlive: true), .get(keepAlive: true), .get(keepAlive: false)], idPrefix: prefix, pauseMs: 2)
        l.start()
        return l
    }

    func testFailingHealthzTakesServerDownAndPassingOneBringsItBack() throws {
        let (a, _, proxy) = try startPair()
        let l = steadyLoad(proxy, "hz")
        XCTAssertTrue(l.waitFor(1, timeout: 5) { $0.upstream == "A" }, "A gets traffic while up")

        // /healthz starts failing (A itself still answers requests): down within the bound.
        let failingFrom = monotonicSeconds()
        try a.setHealthz(503)
        let downAt = try proxy.waitForHealth(pool: "blue", a, "down", timeout: 5, pollMs: 5)
        XCTAssertNotNil(downAt, "A was not marked down: \((try? proxy.status().encoded()) ?? "")")
        let down = downAt ?? monotonicSeconds()
        print("healthz 503: down after \(Int((down - failingFrom) * 1000)) ms (nominal \(Int((Self.fall * Self.interval + Self.timeout) * 1000)) ms)")
        XCTAssertLessThan(down - failingFrom, Self.downBound)
        XCTAssertGreaterThanOrEqual(down - failingFrom, (Self.fall - 1) * Self.interval - 0.05,
                                    "down before `fall` checks can have failed")
        let aStatus = try proxy.status().server(pool: "blue", address: a.address)
        XCTAssertEqual(aStatus?.at("last_check", "passed")?.boolValue, false, "\(aStatus?.encoded() ?? "nil")")
        XCTAssertEqual(aStatus?.at("last_check", "detail")?.stringValue, "status 503", "\(aStatus?.encoded() ?? "nil")")

        // No traffic while down: no request sent after the status said down is answered by A,
        // and A's log shows nothing proxied after it (a little slack for requests in flight).
        XCTAssertTrue(l.waitFor(150, timeout: 10) { $0.start > down })
        sleepMilliseconds(300)
        let recoveringFrom = monotonicSeconds()
        XCTAssertTrue(l.outcomes.filter { $0.start > down }.allSatisfy { $0.ok && $0.upstream == "B" },
                      "requests after A went down: \(l.outcomes.filter { $0.start > down && $0.upstream != "B" }.prefix(5))")
        XCTAssertEqual(a.proxied.filter { $0.time > down + 0.05 }.count, 0,
                       "A got traffic while down: \(a.proxied.filter { $0.time > down + 0.05 }.prefix(5))")

        // Passing again: up within the bound, and traffic again.
        try a.setHealthz(200)
        let upAt = try proxy.waitForHealth(pool: "blue", a, "up", timeout: 5, pollMs: 5)
        XCTAssertNotNil(upAt, "A did not come back up")
        let up = upAt ?? monotonicSeconds()
        print("healthz 200 again: up after \(Int((up - recoveringFrom) * 1000)) ms (nominal \(Int(Self.rise * Self.interval * 1000)) ms)")
        XCTAssertLessThan(up - recoveringFrom, Self.upBound)
        XCTAssertTrue(l.waitFor(20, timeout: 5) { $0.start > up && $0.upstream == "A" }, "A got no traffic after coming back")
        let outcomes = l.stop()
        XCTAssertEqual(outcomes.failures.count, 0, "\(outcomes.summary()): \(outcomes.failures.prefix(5))")
    }

    func testKilledServerIsMarkedDownAndRestartedOneComesBack() throws {
        // Passive ejection off: only the active checks judge the server here.
        let (a, _, proxy) = try startPair(extraPoolLines: ["eject-after off"])
        let l = steadyLoad(proxy, "kill")
        XCTAssertTrue(l.waitFor(1, timeout: 5) { $0.upstream == "A" })

        let killedAt = monotonicSeconds()
        a.kill()
        let downAt = try proxy.waitForHealth(pool: "blue", a, "down", timeout: 5, pollMs: 5)
        XCTAssertNotNil(downAt, "the killed server was not marked down: \((try? proxy.status().encoded()) ?? "")")
        let down = downAt ?? monotonicSeconds()
        print("killed: down after \(Int((down - killedAt) * 1000)) ms")
        XCTAssertLessThan(down - killedAt, Self.downBound)
        XCTAssertTrue(l.waitFor(150, timeout: 10) { $0.start > down })

        // The same address comes back (a restarted process): up within the bound, traffic again.
        let a2 = try upstream("A", port: a.port)
        let restartedAt = monotonicSeconds()
        let upAt = try proxy.waitForHealth(pool: "blue", a2, "up", timeout: 5, pollMs: 5)
        XCTAssertNotNil(upAt, "the restarted server did not come back up")
        let up = upAt ?? monotonicSeconds()
        print("restarted: up after \(Int((up - restartedAt) * 1000)) ms")
        XCTAssertLessThan(up - restartedAt, Self.upBound)
        XCTAssertTrue(l.waitFor(20, timeout: 5) { $0.start > up && $0.upstream == "A" }, "no traffic after the restart")
        XCTAssertGreaterThanOrEqual(a2.healthChecks.count, 2, "up after `rise` passing checks")
        let outcomes = l.stop()
        // GETs that met the dead server were retried on B: no client saw the crash.
        XCTAssertEqual(outcomes.failures.count, 0, "\(outcomes.summary()): \(outcomes.failures.prefix(5))")
        XCTAssertTrue(outcomes.filter { $0.start > down + 0.05 && $0.end < restartedAt }.allSatisfy { $0.upstream == "B" })
    }

    func testAddedServerGetsNoTrafficBeforeItsFirstPassingChecks() throws {
        let a = try upstream("A")
        let c = try upstream("C")
        let proxy = try proxy(healthConfigText(workers: 2, pools: [("blue", ["server \(a.address)", Self.healthLine])],
                                               split: "blue=100"))
        XCTAssertNotNil(try proxy.waitForHealth(pool: "blue", a, "up", timeout: 5))
        let l = steadyLoad(proxy, "add")
        XCTAssertTrue(l.waitFor(30, timeout: 5) { $0.ok })

        let reply = try proxy.request("server add blue \(c.address)")
        XCTAssertTrue(reply.isOK, reply.encoded())
        XCTAssertEqual(reply.at("server", "health")?.stringValue, "down", "a new checked server starts down: \(reply.encoded())")
        XCTAssertTrue(pollUntil(timeout: 5) { !c.proxied.isEmpty }, "the added server never got traffic")
        XCTAssertTrue(l.waitFor(50, timeout: 5) { $0.upstream == "C" })
        let outcomes = l.stop()

        let log = c.log
        let firstProxied = log.firstIndex { $0.isProxied } ?? Int.max
        let checksBefore = log[..<min(firstProxied, log.count)].filter(\.isHealthCheck).count
        print("added server: \(checksBefore) checks before its first request; \(outcomes.summary())")
        XCTAssertGreaterThanOrEqual(checksBefore, Int(Self.rise),
                                    "traffic before `rise` passing checks: \(log.prefix(6).map(\.description))")
        XCTAssertEqual(outcomes.failures.count, 0, "\(outcomes.failures.prefix(5))")
        XCTAssertEqual(try proxy.health(pool: "blue", c), "up")
    }

    func testAddedServerWithInitialUpGetsTrafficAtOnce() throws {
        // `initial up`: the server is in rotation before any check. A slow interval makes the
        // order certain: its first requests arrive long before its second check.
        let a = try upstream("A")
        let c = try upstream("C")
        let proxy = try proxy(healthConfigText(workers: 2, pools: [
            ("blue", ["server \(a.address)", "health GET /healthz interval 1s timeout 500ms rise 2 fall 3 initial up"]),
        ], split: "blue=100"))
        let l = steadyLoad(proxy, "up")
        XCTAssertTrue(l.waitFor(30, timeout: 5) { $0.ok })

        let reply = try proxy.request("server add blue \(c.address)")
        XCTAssertTrue(reply.isOK, reply.encoded())
        XCTAssertEqual(reply.at("server", "health")?.stringValue, "up", reply.encoded())
        XCTAssertTrue(pollUntil(timeout: 5) { !c.proxied.isEmpty }, "the added server never got traffic")
        let outcomes = l.stop()
        let log = c.log
        let firstProxied = log.firstIndex { $0.isProxied } ?? Int.max
        let checksBefore = log[..<min(firstProxied, log.count)].filter(\.isHealthCheck).count
        XCTAssertLessThan(checksBefore, 2, "with `initial up` traffic must not wait for `rise` checks: \(log.prefix(6).map(\.description))")
        XCTAssertEqual(outcomes.failures.count, 0, "\(outcomes.failures.prefix(5))")
    }
}
