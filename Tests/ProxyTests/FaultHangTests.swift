import Glibc
import TestSupport
import XCTest

/// A server that accepts and reads requests but never answers, next to a healthy one: only the
/// requests already sent to it get 504 (`timeout upstream`), passive detection ejects it after
/// `eject-after` of them, and everything after that succeeds on the healthy server.
final class FaultHangTests: HealthFaultTestCase {
    func testServerThatNeverAnswersFailsOnlyRequestsSentToItThenIsEjected() throws {
        let good = try upstream("good")
        let hang = try upstream("hang", mode: .hang)
        let ejectAfter = 3
        let clients = 4
        let proxy = try proxy(healthConfigText(workers: 1, pools: [
            ("blue", ["server \(good.address)", "server \(hang.address)", "eject-after \(ejectAfter)", "retries 2"]),
        ], split: "blue=100", extra: ["timeout upstream 300ms", "timeout connect 1s"]))

        let l = load(proxy, Array(repeating: .get(keepAlive: true), count: clients - 1) + [.get(keepAlive: false)],
                     idPrefix: "h")
        let began = monotonicSeconds()
        l.start()

        // The hanging server is ejected: status says so.
        let ejectedAt = try proxy.waitForStatus(timeout: 10) {
            $0.server(pool: "blue", address: hang.address)?["health"]?.stringValue == "ejected"
        }
        XCTAssertNotNil(ejectedAt, "the hanging server was not ejected: \((try? proxy.status().encoded()) ?? "no status")")
        let seenEjectedAt = ejectedAt ?? monotonicSeconds()
        // It takes eject-after timeouts of 300 ms: well under 3 s even with every client stuck on it.
        XCTAssertLessThan(seenEjectedAt - began, 3.0, "ejection took too long")

        // Then a good while of load that must all succeed.
        XCTAssertTrue(l.waitFor(300, timeout: 10) { $0.start > seenEjectedAt }, "the load stalled after the ejection")
        let outcomes = l.stop()
        print("hang: \(outcomes.summary()); ejected after \(Int((seenEjectedAt - began) * 1000)) ms")

        let status = try proxy.status()
        let h = status.server(pool: "blue", address: hang.address)
        XCTAssertEqual(h?["health"]?.stringValue, "ejected", "\(h?.encoded() ?? "nil")")
        XCTAssertGreaterThanOrEqual(h?["ejections"]?.intValue ?? 0, 1, "\(h?.encoded() ?? "nil")")
        XCTAssertGreaterThan(h?["ejected_for_s"]?.doubleValue ?? 0, 0, "an ejection period is running: \(h?.encoded() ?? "nil")")
        XCTAssertEqual(status.server(pool: "blue", address: good.address)?["health"]?.stringValue, "up")

        // Every failure is a 504 for a request the hanging server received; every request it
        // received got a 504 (a request that reached a server is not retried after a timeout).
        let failures = outcomes.failures
        XCTAssertTrue(failures.allSatisfy { $0.status == 504 }, "failures other than 504: \(failures.filter { $0.status != 504 })")
        let hangReceived = Set(hang.proxied.map(\.requestID))
        XCTAssertEqual(Set(failures.map(\.id)), hangReceived,
                       "the 504s must be exactly the requests sent to the hanging server")
        // At most about eject-after of them: the clients that were already waiting on it when
        // the ejection was decided may add one each.
        XCTAssertGreaterThanOrEqual(failures.count, ejectAfter, "ejection needs eject-after failures")
        XCTAssertLessThanOrEqual(failures.count, ejectAfter + clients, "too many 504s: \(failures)")
        // After the ejection everything succeeds, on the good server only.
        let later = outcomes.filter { $0.start > seenEjectedAt }
        XCTAssertGreaterThanOrEqual(later.count, 300)
        XCTAssertTrue(later.allSatisfy { $0.ok && $0.upstream == "good" }, "after the ejection: \(later.failures.prefix(5))")
        XCTAssertTrue(hang.proxied.allSatisfy { $0.time < seenEjectedAt }, "the ejected server still got requests")
    }
}
