import Glibc
import TestSupport
import XCTest

/// Upstream failures: a server killed under load, refused connects, connect retry to another
/// server, timeouts, and an upstream dying mid-response.
final class FailureTests: XCTestCase {
    struct Outcome: Sendable {
        let client: Int
        let start: Double
        let end: Double
        let ok: Bool
        let server: String
        let detail: String
    }

    func testKilledUpstreamOnlyFailsInFlightRequestsAndTrafficMovesToOtherServer() throws {
        // A answers after 3 ms, so requests are surely in flight to it when it dies.
        let a = try TestUpstream(name: "A") { head in
            sleepMilliseconds(3)
            return TestUpstream.named("A")(head)
        }
        let b = try TestUpstream(name: "B")
        let green = try TestUpstream(name: "green")
        defer { a.stop(); b.stop(); green.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [a.port, b.port]), ("green", [green.port])],
                                     split: "blue=100 green=0", extra: "timeout upstream 5s\ntimeout connect 1s\n")
        defer { proxy.stop() }
        let port = proxy.port

        let clients = 4
        let outcomes = Shared<[Outcome]>([])
        let stop = StopFlag()
        var threads: [TestThread] = []
        for id in 0..<clients {
            threads.append(TestThread {
                var conn: TestClient?
                var n = 0
                while !stop.isRaised {
                    let start = monotonicSeconds()
                    var ok = false
                    var server = ""
                    var detail = ""
                    do {
                        if conn == nil { conn = try TestClient(port: port, timeout: 5) }
                        let r = try conn!.get("/c\(id)/\(n)")
                        server = r.header("X-Upstream") ?? ""
                        ok = r.status == 200 && r.text == server && (server == "A" || server == "B")
                        detail = "status \(r.status)"
                        if !ok || r.closesConnection { conn = nil }
                    } catch {
                        detail = "\(error)"
                        conn = nil
                    }
                    n += 1
                    let o = Outcome(client: id, start: start, end: monotonicSeconds(), ok: ok, server: server, detail: detail)
                    outcomes.update { $0.append(o) }
                }
            })
        }
        func waitForOutcomes(_ count: Int, startedAfter t: Double, timeout: Double) {
            pollUntil(timeout: timeout) { outcomes.value.filter({ $0.start > t }).count >= count }
        }
        waitForOutcomes(200, startedAfter: 0, timeout: 10)
        let killStart = monotonicSeconds()
        a.kill()
        let killEnd = monotonicSeconds()
        waitForOutcomes(400, startedAfter: killEnd, timeout: 10)
        stop.raise()
        for t in threads { t.join() }

        let all = outcomes.value
        let before = all.filter { $0.end < killStart }
        let after = all.filter { $0.start > killEnd }
        let failures = all.filter { !$0.ok }
        print("kill: \(before.count) requests before, \(after.count) after, failures: \(failures.map(\.detail))")
        XCTAssertGreaterThanOrEqual(before.count, 200)
        XCTAssertTrue(before.allSatisfy(\.ok), "failures before the kill: \(before.filter { !$0.ok }.prefix(5))")
        XCTAssertTrue(before.contains { $0.server == "A" } && before.contains { $0.server == "B" },
                      "both blue servers serve before the kill")
        // Only requests in flight when A died may fail: at most one per client connection.
        let lateFailures = failures.filter { $0.start > killEnd }
        XCTAssertEqual(lateFailures.count, 0,
                       "requests sent after the kill failed: \(lateFailures.prefix(5).map { "client \($0.client): \($0.detail)" })")
        XCTAssertLessThanOrEqual(failures.count, clients, "failures: \(failures.map(\.detail))")
        XCTAssertGreaterThanOrEqual(after.count, 400, "the proxy kept serving after the kill")
        XCTAssertTrue(after.filter(\.ok).allSatisfy { $0.server == "B" })
        XCTAssertEqual(green.requestCount, 0, "green has split weight 0")
        // And a fresh connection still gets served.
        let c = try proxy.client()
        XCTAssertEqual(try c.get("/final").text, "B")
    }

    func testPoolWhoseOnlyServerRefusesAnswers502Quickly() throws {
        let dead = try TestSockets.closedPort()
        let proxy = try TestProxy.dataPlane(pools: [("blue", [dead])], split: "blue=100")
        defer { proxy.stop() }
        for i in 0..<3 {
            let c = try proxy.client()
            let t0 = monotonicSeconds()
            let r = try c.get("/refused/\(i)")
            let elapsed = monotonicSeconds() - t0
            XCTAssertEqual(r.status, 502)
            XCTAssertLessThan(elapsed, 1.0, "a refused connect must fail fast")
            XCTAssertTrue(r.closesConnection)
            XCTAssertTrue(r.text.hasPrefix("502"), r.text)
            XCTAssertLessThan(r.body.count, 200)
        }
    }

    func testPoolWhoseServersAllRefuseAnswers502Quickly() throws {
        let dead1 = try TestSockets.closedPort()
        let dead2 = try TestSockets.closedPort()
        let proxy = try TestProxy.dataPlane(pools: [("blue", [dead1, dead2])], split: "blue=100")
        defer { proxy.stop() }
        for i in 0..<3 {
            let c = try proxy.client()
            let t0 = monotonicSeconds()
            let r = try c.get("/refused/\(i)")
            XCTAssertEqual(r.status, 502)
            XCTAssertLessThan(monotonicSeconds() - t0, 1.0)
            XCTAssertTrue(r.closesConnection)
        }
    }

    func testConnectFailureIsRetriedOnSecondServer() throws {
        let dead = try TestSockets.closedPort()
        let alive = try TestUpstream(name: "alive")
        defer { alive.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [dead, alive.port])], split: "blue=100")
        defer { proxy.stop() }
        // New connections, and many requests on one keep-alive connection: every one succeeds,
        // whichever server the round robin tries first.
        for i in 0..<10 {
            let c = try proxy.client()
            let r = try c.get("/new/\(i)")
            XCTAssertEqual(r.status, 200, "request \(i): \(r)")
            XCTAssertEqual(r.text, "alive")
        }
        let c = try proxy.client()
        for i in 0..<20 {
            let r = try c.get("/keepalive/\(i)")
            XCTAssertEqual(r.status, 200, "request \(i): \(r)")
            XCTAssertEqual(r.text, "alive")
        }
        XCTAssertEqual(alive.requestCount, 30)
    }

    func testUpstreamThatNeverAnswersYields504AfterUpstreamTimeout() throws {
        let up = try TestUpstream(name: "hang") { _ in .neverAnswer }
        defer { up.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [up.port])], split: "blue=100", extra: "timeout upstream 300ms\n")
        defer { proxy.stop() }
        let c = try proxy.client()
        let t0 = monotonicSeconds()
        let r = try c.get("/slow")
        let elapsed = monotonicSeconds() - t0
        XCTAssertEqual(r.status, 504)
        XCTAssertGreaterThanOrEqual(elapsed, 0.28, "504 before the upstream timeout")
        XCTAssertLessThan(elapsed, 1.5, "504 long after the 300 ms upstream timeout")
        XCTAssertTrue(r.closesConnection)
        XCTAssertTrue(r.text.hasPrefix("504"), r.text)
        XCTAssertEqual(up.requestCount, 1, "the request did reach the upstream")
    }

    func testUpstreamClosingWithoutAnswerYields502() throws {
        let up = try TestUpstream(name: "rude") { _ in .closeWithoutAnswer }
        defer { up.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [up.port])], split: "blue=100")
        defer { proxy.stop() }
        let c = try proxy.client()
        let r = try c.get("/x")
        XCTAssertEqual(r.status, 502)
        XCTAssertTrue(r.closesConnection)
    }

    func testUpstreamDyingMidResponseIsNotPassedOffAsComplete() throws {
        let total = 20 * 1024 * 1024
        let up = try TestUpstream(name: "dying") { _ in
            .download(bytes: total, chunked: false, piece: 64 * 1024, pauseMs: 10)
        }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [up.port])], split: "blue=100")
        defer { proxy.stop() }
        let c = try proxy.client(timeout: 5)
        try c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        let killer = TestThread { sleepMilliseconds(200); up.kill() }
        let result = Result { try c.readResponseStreaming() }
        killer.join()
        switch result {
        case .success(let r):
            XCTFail("a cut response was read as complete: \(r)")
        case .failure(let e):
            XCTAssertTrue((e as? TestSocketError)?.isConnectionEnd == true, "expected the connection to end, got \(e)")
        }
    }
}
