import Glibc
import TestSupport
import XCTest

/// A real upstream process SIGKILLed under continuous load: retries within the pool plus passive
/// ejection hide it completely from idempotent GETs, and no POST is ever sent twice.
final class FaultKillTests: HealthFaultTestCase {
    func testSIGKILLedServerUnderLoadCausesNoGETErrorsAndNoPOSTIsSentTwice() throws {
        let a = try upstream("A")
        let b = try upstream("B")
        let proxy = try proxy(healthConfigText(workers: 2, pools: [
            ("blue", ["server \(a.address)", "server \(b.address)", "retries 2", "eject-after 5"]),
        ], split: "blue=100", extra: ["timeout connect 1s", "timeout upstream 5s"]))

        let gets = load(proxy, [.get(keepAlive: true), .get(keepAlive: true), .get(keepAlive: false), .get(keepAlive: false)],
                        idPrefix: "g")
        let posts = load(proxy, [.post(keepAlive: true), .post(keepAlive: false)], idPrefix: "p")
        gets.start()
        posts.start()

        // Both servers serve before the kill.
        XCTAssertTrue(gets.waitFor(200, timeout: 10) { $0.ok }, "no steady load before the kill: \(gets.outcomes.summary())")
        XCTAssertTrue(posts.waitFor(20, timeout: 10) { $0.ok }, "no POSTs served before the kill: \(posts.outcomes.summary())")
        XCTAssertTrue(pollUntil(timeout: 5) { !a.proxied.isEmpty && !b.proxied.isEmpty }, "both servers get traffic")

        let killedAt = monotonicSeconds()
        a.kill()
        XCTAssertFalse(a.isRunning)

        // Keep the load going well past the kill: 400 more GETs and at least 1.5 s.
        XCTAssertTrue(gets.waitFor(400, timeout: 15) { $0.ok && $0.start > killedAt }, "the load stalled after the kill")
        sleepMilliseconds(max(0, 1500 - Int((monotonicSeconds() - killedAt) * 1000)))
        XCTAssertTrue(posts.waitFor(20, timeout: 10) { $0.ok && $0.start > killedAt }, "POSTs stalled after the kill")
        let getOutcomes = gets.stop()
        let postOutcomes = posts.stop()
        print("SIGKILL: GETs \(getOutcomes.summary()); POSTs \(postOutcomes.summary())")

        // Zero client-visible errors for idempotent GETs, before, during and after the kill.
        XCTAssertEqual(getOutcomes.failures.count, 0, "GET failures: \(getOutcomes.failures.prefix(10))")
        let afterKill = getOutcomes.filter { $0.start > killedAt }
        XCTAssertGreaterThanOrEqual(afterKill.count, 400)
        XCTAssertTrue(afterKill.filter { $0.start > killedAt + 0.05 }.allSatisfy { $0.upstream == "B" },
                      "only B can answer once A is dead")
        XCTAssertTrue(getOutcomes.contains { $0.upstream == "A" }, "A served GETs before the kill")

        // POSTs: some in flight on A may fail; none was received twice; every one that
        // succeeded was received exactly once.
        let received = assertNoPOSTReceivedTwice(postOutcomes, upstreams: [a, b])
        for o in postOutcomes where !o.ok {
            // A POST that failed must have failed because A died with it: sent to A (or never
            // received at all), and around the kill, not later.
            XCTAssertTrue(received[o.id].map { $0.allSatisfy { $0.name == "A" } } ?? true, "failed POST \(o) was received by B")
            XCTAssertLessThan(o.start, killedAt + 0.5, "POST \(o) failed long after the kill")
        }

        // Passive detection took A out of rotation (connect errors), within max-eject 50 %.
        let s = try proxy.status()
        let aStatus = s.server(pool: "blue", address: a.address)
        XCTAssertEqual(aStatus?["health"]?.stringValue, "ejected", "A after the kill: \(aStatus?.encoded() ?? "nil")")
        XCTAssertGreaterThanOrEqual(aStatus?["ejections"]?.intValue ?? 0, 1)
        XCTAssertEqual(s.server(pool: "blue", address: b.address)?["health"]?.stringValue, "up")
        XCTAssertEqual(s.at("pools", "blue", "failed_over")?.boolValue, false)
    }
}
