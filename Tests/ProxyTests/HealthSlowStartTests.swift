import Admin
import Glibc
import TestSupport
import XCTest

/// `slow-start 2s`: a server that comes into rotation (added at runtime, or back up after
/// failing its checks) starts at 10 % of its weight and ramps to its full weight over 2 s. With
/// one worker and one sequential client the smooth weighted round robin makes the counts exact
/// enough to compare shares: clearly below the configured 50 % in the first 0.5 s, the full
/// 50 % after the period.
final class HealthSlowStartTests: HealthFaultTestCase {
    struct Shares {
        var early: (b: Int, total: Int)
        var middle: (b: Int, total: Int)
        var late: (b: Int, total: Int)
        func share(_ w: (b: Int, total: Int)) -> Double { w.total == 0 ? 0 : Double(w.b) / Double(w.total) }
        var description: String {
            "first 0.5 s: \(early.b)/\(early.total) = \(threeDecimals(share(early))); 1.2-1.8 s: \(middle.b)/\(middle.total) = "
                + "\(threeDecimals(share(middle))); after 2.3 s: \(late.b)/\(late.total) = \(threeDecimals(share(late)))"
        }
    }

    /// Counts the requests answered by `name` among those sent in three windows after `from`.
    private func measure(_ l: RecordingLoad, name: String, from t0: Double) -> Shares {
        // Bounded waits: the late window needs 200 requests sent at least 2.3 s after t0.
        XCTAssertTrue(pollUntil(timeout: 10) { monotonicSeconds() > t0 + 2.3 })
        XCTAssertTrue(l.waitFor(200, timeout: 10) { $0.start > t0 + 2.3 }, "the load stalled")
        let outcomes = l.stop()
        XCTAssertEqual(outcomes.failures.count, 0, "\(outcomes.failures.prefix(5))")
        func window(_ lo: Double, _ hi: Double) -> (b: Int, total: Int) {
            let w = outcomes.filter { $0.start >= t0 + lo && $0.start < t0 + hi }
            return (w.filter { $0.upstream == name }.count, w.count)
        }
        let late = outcomes.filter { $0.start >= t0 + 2.3 }.prefix(200)
        return Shares(early: window(0, 0.5), middle: window(1.2, 1.8),
                      late: (late.filter { $0.upstream == name }.count, late.count))
    }

    private func check(_ s: Shares, file: StaticString = #filePath, line: UInt = #line) {
        print("slow start: \(s.description)")
        XCTAssertGreaterThanOrEqual(s.early.total, 50, "too few requests in the first 0.5 s to judge", file: file, line: line)
        XCTAssertGreaterThanOrEqual(s.early.b, 1, "a ramping server still gets some traffic", file: file, line: line)
        // Configured share 50 %; the ramp starts at 10 % of the weight (about 9 % of the traffic).
        XCTAssertLessThan(s.share(s.early), 0.25, "share in the first 0.5 s is not clearly below 50 %", file: file, line: line)
        XCTAssertGreaterThan(s.share(s.middle), s.share(s.early), "the weight does not grow", file: file, line: line)
        XCTAssertLessThan(s.share(s.middle), 0.5, file: file, line: line)
        XCTAssertEqual(s.late.total, 200, file: file, line: line)
        XCTAssertTrue((95...105).contains(s.late.b), "after the period the share is the configured 50 %: \(s.late.b) of 200",
                      file: file, line: line)
    }

    func testAddedServerRampsUpToItsFullShareOverTheSlowStartPeriod() throws {
        let a = try upstream("A")
        let b = try upstream("B")
        let proxy = try proxy(healthConfigText(workers: 1, pools: [("blue", ["server \(a.address)", "slow-start 2s"])],
                                               split: "blue=100"))
        let started = monotonicSeconds()
        // A itself ramps during its first 2 s (it came into rotation at start): let that pass so
        // the comparison is with A at its full weight.
        let l = load(proxy, [.get(keepAlive: true)], idPrefix: "ss")
        l.start()
        XCTAssertTrue(l.waitFor(20, timeout: 5) { $0.upstream == "A" })
        sleepMilliseconds(max(0, Int((started + 2.3 - monotonicSeconds()) * 1000)))

        let reply = try proxy.request("server add blue \(b.address)")
        XCTAssertTrue(reply.isOK, reply.encoded())
        let added = monotonicSeconds()
        check(measure(l, name: "B", from: added))
    }

    func testServerBackUpAfterFailedChecksRampsUpAgain() throws {
        let a = try upstream("A")
        let b = try upstream("B")
        let proxy = try proxy(healthConfigText(workers: 1, pools: [
            ("blue", ["server \(a.address)", "server \(b.address)", "slow-start 2s",
                      "health GET /healthz interval 150ms timeout 100ms rise 2 fall 3 initial up"]),
        ], split: "blue=100"))
        let started = monotonicSeconds()
        let l = load(proxy, [.get(keepAlive: true)], idPrefix: "back")
        l.start()
        XCTAssertTrue(l.waitFor(20, timeout: 5) { $0.upstream == "B" })
        // Both ramp together after the start; let that end.
        sleepMilliseconds(max(0, Int((started + 2.3 - monotonicSeconds()) * 1000)))

        try b.setHealthz(503)
        XCTAssertNotNil(try proxy.waitForHealth(pool: "blue", b, "down", timeout: 5, pollMs: 5), "B was not taken down")
        try b.setHealthz(200)
        let upAt = try proxy.waitForHealth(pool: "blue", b, "up", timeout: 5, pollMs: 5)
        XCTAssertNotNil(upAt, "B did not come back")
        check(measure(l, name: "B", from: upAt ?? monotonicSeconds()))
    }
}
