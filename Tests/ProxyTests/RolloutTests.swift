import Admin
import Glibc
import Synchronization
import TestSupport
import XCTest

/// Rollouts the proxy runs itself, end to end: real upstreams on 127.0.0.1, paced client
/// traffic, the admin socket. A healthy green completes every step without a client error; a
/// green answering 20% 500s is rolled back within 2 s of its first bad response; a 3x slower
/// green is rolled back on p99; ten rollouts with a 1% first step trigger no false rollback.
final class RolloutTests: XCTestCase {
    private var scratch: ScratchDirectory!
    private var upstreams: [TestUpstream] = []
    private var proxy: TestProxy?
    private var load: PacedLoad?

    override func setUpWithError() throws {
        scratch = try ScratchDirectory(prefix: "rollout")
    }

    override func tearDown() {
        load?.stop()
        proxy?.stop()
        for u in upstreams { u.stop() }
        upstreams.removeAll()
        scratch?.remove()
    }

    /// Blue and green upstreams (green answering by `green`), a 2-worker proxy at blue=100.
    private func start(green: @escaping UpstreamBehavior = TestUpstream.named("green"),
                       blue: @escaping UpstreamBehavior = TestUpstream.named("blue"),
                       extra: String = "") throws -> TestProxy {
        let b = try TestUpstream(name: "blue", behavior: blue)
        let g = try TestUpstream(name: "green", behavior: green)
        upstreams += [b, g]
        let p = try TestProxy(
            config: adminConfigText(pools: [("blue", ["127.0.0.1:\(b.port)"]), ("green", ["127.0.0.1:\(g.port)"])],
                                    split: "blue=100 green=0", workers: 2, extra: extra),
            socketPath: scratch.file("admin.sock"))
        proxy = p
        return p
    }

    private func startLoad(_ p: TestProxy, clients: Int, rate: Double) -> PacedLoad {
        let l = PacedLoad(port: p.port, clients: clients, ratePerClient: rate)
        load = l
        l.start()
        return l
    }

    /// Polls `rollout status` until the rollout's state is one of `states` (bounded).
    private func waitForState(_ p: TestProxy, _ states: Set<String>, timeout: Double) throws -> JSONValue? {
        var reached: JSONValue?
        try pollUntil(timeout: timeout, pollMs: 50) {
            let r = try p.request("rollout status")
            if let s = r["rollout"]?["state"]?.stringValue, states.contains(s) { reached = r["rollout"] }
            return reached != nil
        }
        return reached
    }

    func testAHealthyRolloutCompletesEveryStepWithoutAClientError() throws {
        let p = try start()
        let l = startLoad(p, clients: 6, rate: 80)
        XCTAssertTrue(pollUntil(timeout: 5) { l.count >= 100 })
        let started = try p.request("rollout start green steps 10,50,100 hold 700ms min-requests 20")
        XCTAssertTrue(started.isOK, started.encoded())
        XCTAssertEqual(started["rollout"]?["state"]?.stringValue, "running")
        XCTAssertEqual(started["rollout"]?["percent"]?.intValue, 10)
        XCTAssertEqual(started["rollout"]?["old_pool"]?.stringValue, "blue")
        let status = try p.request("status")
        XCTAssertEqual(status["rollout"]?["state"]?.stringValue, "running")
        XCTAssertEqual(status["rollout"]?["percent"]?.intValue, 10)
        XCTAssertEqual(status["split"]?["green"]?.intValue, 10)
        XCTAssertEqual(status["split"]?["blue"]?.intValue, 90)

        let done = try XCTUnwrap(waitForState(p, ["completed", "rolled-back", "aborted"], timeout: 30))
        XCTAssertEqual(done["state"]?.stringValue, "completed", done.encoded())
        let events = (done["events"]?.arrayValue ?? []).compactMap { $0["event"]?.stringValue }
        XCTAssertEqual(events, ["started", "step", "step", "completed"])
        let percents = (done["events"]?.arrayValue ?? []).compactMap { $0["percent"]?.intValue }
        XCTAssertEqual(percents, [10, 50, 100, 100])
        let after = try p.request("status")
        XCTAssertEqual(after["split"]?["green"]?.intValue, 100)
        XCTAssertEqual(after["split"]?["blue"]?.intValue, 0)

        let outcomes = l.stop()
        let failed = outcomes.filter { $0.status != 200 }
        XCTAssertEqual(failed.count, 0, "client errors during a healthy rollout: \(failed.prefix(5))")
        XCTAssertGreaterThan(outcomes.filter { $0.upstream == "green" }.count, 50)
    }

    func testAGreenAnswering20PercentErrorsIsRolledBackWithinTwoSeconds() throws {
        let counter = Counter()
        let p = try start(green: { _ in
            counter.add(1)
            let bad = counter.current % 5 == 0
            return .respond(status: bad ? 500 : 200, headers: [HTTPHeader("X-Upstream", "green")], body: Array("green".utf8))
        })
        // About 1,000 requests/s.
        let l = startLoad(p, clients: 10, rate: 100)
        XCTAssertTrue(pollUntil(timeout: 5) { l.count >= 500 })
        let started = try p.request("rollout start green steps 10,25,50,100 hold 30s min-requests 50")
        XCTAssertTrue(started.isOK, started.encoded())

        let done = try XCTUnwrap(waitForState(p, ["rolled-back", "completed", "aborted"], timeout: 20))
        let detectedAt = monotonicSeconds()
        XCTAssertEqual(done["state"]?.stringValue, "rolled-back", done.encoded())
        XCTAssertEqual(done["percent"]?.intValue, 0)
        let reason = done["reason"]?.stringValue ?? ""
        XCTAssertTrue(reason.contains("error rate"), reason)
        let endedAgo = try XCTUnwrap(done["ended_s_ago"]?.doubleValue)
        sleepMilliseconds(500)
        let outcomes = l.stop()
        let rolledBackAt = detectedAt - endedAgo

        let bad = outcomes.filter { $0.status != 200 }
        let firstBad = try XCTUnwrap(bad.map(\.time).min(), "green never failed a request")
        let delay = rolledBackAt - firstBad
        let sent = outcomes.filter { $0.time >= firstBad - 0.001 && $0.time <= rolledBackAt }.count
        print("rollout: rolled back \(threeDecimals(delay)) s after the first bad response; \(bad.count) failed customer requests of \(sent) in that time; total load \(outcomes.count) requests; reason: \(reason)")
        XCTAssertLessThan(delay, 2.0, "rolled back \(delay) s after the first bad response")
        XCTAssertLessThan(bad.count, 100)
        // After the rollback (plus requests already in flight), everything is on blue.
        let late = outcomes.filter { $0.time > rolledBackAt + 0.2 }
        XCTAssertGreaterThan(late.count, 100)
        XCTAssertTrue(late.allSatisfy { $0.upstream == "blue" && $0.status == 200 },
                      "after the rollback: \(late.filter { $0.upstream != "blue" || $0.status != 200 }.prefix(5))")
        let status = try p.request("status")
        XCTAssertEqual(status["split"]?["green"]?.intValue, 0)
        XCTAssertEqual(status["split"]?["blue"]?.intValue, 100)
    }

    func testAThreeTimesSlowerGreenIsRolledBackOnP99() throws {
        // 20 ms against 60 ms: scheduling jitter on a loaded machine adds to both, so the base
        // latencies are large enough that the ratio stays near 3x.
        let p = try start(green: { _ in
            usleep(60_000)
            return .respond(status: 200, headers: [HTTPHeader("X-Upstream", "green")], body: Array("green".utf8))
        }, blue: { _ in
            usleep(20_000)
            return .respond(status: 200, headers: [HTTPHeader("X-Upstream", "blue")], body: Array("blue".utf8))
        })
        let l = startLoad(p, clients: 16, rate: 30)
        XCTAssertTrue(pollUntil(timeout: 5) { l.count >= 200 })
        let started = try p.request("rollout start green steps 25,50,100 hold 40s min-requests 100")
        XCTAssertTrue(started.isOK, started.encoded())
        let done = try XCTUnwrap(waitForState(p, ["rolled-back", "completed", "aborted"], timeout: 40))
        l.stop()
        XCTAssertEqual(done["state"]?.stringValue, "rolled-back", done.encoded())
        let reason = done["reason"]?.stringValue ?? ""
        XCTAssertTrue(reason.hasPrefix("p99"), reason)
        print("rollout: slow green rolled back after \(done["events"]?.arrayValue?.last?["at_s"]?.doubleValue ?? -1) s: \(reason)")
    }

    func testTenRolloutsWithAOnePercentFirstStepTriggerNoFalseRollback() throws {
        let p = try start()
        let l = startLoad(p, clients: 10, rate: 160)
        XCTAssertTrue(pollUntil(timeout: 5) { l.count >= 300 })
        var states: [String] = []
        for i in 0..<10 {
            // Back to blue between rollouts (a manual split; nothing is running then).
            XCTAssertTrue(try p.request("split blue=100 green=0").isOK)
            let started = try p.request("rollout start green steps 1,100 hold 200ms min-requests 10")
            XCTAssertTrue(started.isOK, "rollout \(i): \(started.encoded())")
            let done = try XCTUnwrap(waitForState(p, ["completed", "rolled-back", "aborted"], timeout: 20), "rollout \(i) did not finish")
            states.append(done["state"]?.stringValue ?? "?")
            if done["state"]?.stringValue != "completed" { print("rollout \(i): \(done.encoded())") }
        }
        let outcomes = l.stop()
        XCTAssertEqual(states, Array(repeating: "completed", count: 10))
        XCTAssertEqual(outcomes.filter { $0.status != 200 }.count, 0)
    }

    func testRolloutPlansFromTheConfigAndTheAuditLog() throws {
        let b = try TestUpstream(name: "blue"), g = try TestUpstream(name: "green")
        upstreams += [b, g]
        let auditPath = scratch.file("audit.log")
        let p = try TestProxy(
            config: adminConfigText(pools: [("blue", ["127.0.0.1:\(b.port)"]), ("green", ["127.0.0.1:\(g.port)"])],
                                    split: "blue=100 green=0",
                                    extra: "rollout canary {\n  to green\n  steps 2,30,100\n  hold 7m\n  min-requests 42\n}\n"),
            socketPath: scratch.file("admin.sock"), auditPath: auditPath)
        proxy = p
        let started = try p.request("rollout start canary hold 9m")
        XCTAssertTrue(started.isOK, started.encoded())
        let r = try XCTUnwrap(started["rollout"])
        XCTAssertEqual(r["plan"]?.stringValue, "canary")
        XCTAssertEqual(r["new_pool"]?.stringValue, "green")
        XCTAssertEqual(r["old_pool"]?.stringValue, "blue")
        XCTAssertEqual(r["steps"]?.arrayValue?.compactMap(\.intValue), [2, 30, 100])
        XCTAssertEqual(r["hold_s"]?.doubleValue, 540, "the command line overrides the plan's hold")
        XCTAssertEqual(r["min_requests"]?.intValue, 42)
        XCTAssertEqual(try p.request("status")["split"]?["green"]?.intValue, 2)
        XCTAssertTrue(try p.request("rollout pause").isOK)
        XCTAssertTrue(try p.request("rollout abort").isOK)
        let audit = readWholeFile(auditPath)
        for command in ["rollout start canary hold 9m", "rollout pause", "rollout abort"] {
            XCTAssertTrue(audit.contains("\"command\":\"\(command)\""), "audit lacks \(command): \(audit)")
        }
    }

    func testCommandsPauseResumePromoteAbortAndTheirErrors() throws {
        let p = try start()
        let none = try p.request("rollout status")
        XCTAssertTrue(none.isOK)
        XCTAssertEqual(none["rollout"], .null)
        XCTAssertEqual(try p.request("rollout pause")["code"]?.stringValue, "no_rollout")
        XCTAssertEqual(try p.request("rollout start purple")["code"]?.stringValue, "unknown_pool")
        XCTAssertEqual(try p.request("rollout start green steps 5,1,100")["code"]?.stringValue, "bad_rollout")
        XCTAssertEqual(try p.request("rollout start green hold")["code"]?.stringValue, "bad_rollout")

        let g0 = try XCTUnwrap(p.request("status")["generation"]?.intValue)
        let started = try p.request("rollout start green steps 5,100 hold 10m")
        XCTAssertTrue(started.isOK, started.encoded())
        XCTAssertEqual(started["generation"]?.intValue, g0 + 1)
        XCTAssertEqual(try p.request("rollout start green")["code"]?.stringValue, "rollout_active")
        XCTAssertEqual(try p.request("rollout resume")["code"]?.stringValue, "bad_rollout")
        let paused = try p.request("rollout pause")
        XCTAssertEqual(paused["rollout"]?["state"]?.stringValue, "paused")
        XCTAssertEqual(try p.request("status")["split"]?["green"]?.intValue, 5)
        XCTAssertEqual(try p.request("rollout resume")["rollout"]?["state"]?.stringValue, "running")
        let promoted = try p.request("rollout promote")
        XCTAssertEqual(promoted["rollout"]?["state"]?.stringValue, "promoted")
        XCTAssertEqual(try p.request("status")["split"]?["green"]?.intValue, 100)
        XCTAssertEqual(try p.request("rollout abort")["code"]?.stringValue, "rollout_ended")
        // green has everything now: rolling it out again "from blue" would dump 95% onto an idle blue.
        let fromIdle = try p.request("rollout start green steps 5,100")
        XCTAssertEqual(fromIdle["code"]?.stringValue, "bad_rollout")
        XCTAssertTrue(fromIdle["error"]?.stringValue?.contains("pool 'blue' has no traffic now") == true, fromIdle.encoded())
        XCTAssertEqual(try p.request("status")["split"]?["green"]?.intValue, 100)

        // A manual split supersedes a running rollout; the operator's split stands.
        XCTAssertTrue(try p.request("split blue=100 green=0").isOK)
        XCTAssertTrue(try p.request("rollout start green steps 20,100 hold 10m").isOK)
        XCTAssertTrue(try p.request("split blue=70 green=30").isOK)
        let superseded = try p.request("rollout status")
        XCTAssertEqual(superseded["rollout"]?["state"]?.stringValue, "aborted")
        XCTAssertEqual(superseded["rollout"]?["reason"]?.stringValue, "superseded by 'split blue=70 green=30'")
        XCTAssertEqual(try p.request("status")["split"]?["green"]?.intValue, 30)

        // abort: back to the old pool; if-generation guards rollout commands too.
        XCTAssertTrue(try p.request("rollout start green steps 20,100 hold 10m").isOK)
        let g = try XCTUnwrap(p.request("status")["generation"]?.intValue)
        XCTAssertEqual(try p.request("rollout abort if-generation \(g - 1)")["code"]?.stringValue, "generation_conflict")
        let aborted = try p.request("rollout abort if-generation \(g)")
        XCTAssertEqual(aborted["rollout"]?["state"]?.stringValue, "aborted")
        XCTAssertEqual(aborted["rollout"]?["reason"]?.stringValue, "aborted by the operator")
        XCTAssertEqual(try p.request("status")["split"]?["green"]?.intValue, 0)
        XCTAssertEqual(try p.request("status")["split"]?["blue"]?.intValue, 100)
    }
}
