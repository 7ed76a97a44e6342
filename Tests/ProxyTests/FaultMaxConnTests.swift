import Glibc
import TestSupport
import XCTest

/// `server ... max-conn 2` in front of a slow upstream (each response takes ~300 ms), one worker:
/// the upstream never has more than 2 requests at once; the excess waits in the pool's queue and
/// succeeds, or gets 503 once `timeout queue` runs out.
final class FaultMaxConnTests: HealthFaultTestCase {
    struct Result: Sendable {
        let index: Int
        let start: Double
        let end: Double
        let status: Int?
        let upstream: String?
        let error: String?
    }

    /// `count` GETs at once, each on its own connection, from their own threads.
    private func concurrentGETs(_ proxy: TestProxy, count: Int) -> [Result] {
        let results = Shared<[Result]>([])
        let port = proxy.port
        let threads = (0..<count).map { i in
            TestThread {
                let t0 = monotonicSeconds()
                do {
                    let c = try TestClient(port: port, timeout: 10)
                    defer { c.close() }
                    let r = try c.get("/slow/\(i)", headers: [HTTPHeader("X-Request-Id", "q\(i)")])
                    let res = Result(index: i, start: t0, end: monotonicSeconds(), status: r.status,
                                     upstream: r.header("X-Upstream"), error: nil)
                    results.update { $0.append(res) }
                } catch {
                    let res = Result(index: i, start: t0, end: monotonicSeconds(), status: nil, upstream: nil, error: "\(error)")
                    results.update { $0.append(res) }
                }
            }
        }
        for t in threads { t.join() }
        return results.value.sorted { $0.index < $1.index }
    }

    private func start(queueTimeout: String) throws -> (PythonUpstream, TestProxy) {
        let slow = try upstream("slow", mode: .slow, delayMS: 300)
        let proxy = try proxy(healthConfigText(workers: 1, pools: [("blue", ["server \(slow.address) max-conn 2"])],
                                               split: "blue=100", extra: ["timeout queue \(queueTimeout)", "timeout upstream 5s"]))
        return (slow, proxy)
    }

    func testMaxConnQueuesTheExcessAndAllRequestsSucceed() throws {
        let (slow, proxy) = try start(queueTimeout: "5s")
        let t0 = monotonicSeconds()
        let results = concurrentGETs(proxy, count: 6)
        let elapsed = monotonicSeconds() - t0
        let log = slow.proxied
        print("max-conn 2, 6 requests: \(results.map { "\($0.status.map(String.init) ?? $0.error ?? "?")@\(Int(($0.end - t0) * 1000))ms" }); "
              + "upstream in-flight at arrivals \(log.map(\.inFlight))")

        XCTAssertEqual(results.count, 6)
        XCTAssertTrue(results.allSatisfy { $0.status == 200 && $0.upstream == "slow" }, "\(results)")
        XCTAssertEqual(log.count, 6, "every request reached the upstream once")
        XCTAssertLessThanOrEqual(log.map(\.inFlight).max() ?? 0, 2, "the upstream saw more than 2 requests at once: \(log)")
        // Three rounds of ~300 ms: the queued ones waited for a slot rather than being sent.
        XCTAssertGreaterThanOrEqual(elapsed, 0.85, "6 requests at 2 at a time take 3 x 300 ms")
        XCTAssertLessThan(elapsed, 4.0)
        // Requests 3 and 4 reached the upstream only after the first round ended, 5 and 6 after
        // the second.
        let arrivals = log.map(\.time).sorted()
        if arrivals.count == 6 {
            XCTAssertGreaterThanOrEqual(arrivals[2] - arrivals[0], 0.25, "the third request went out before a slot was free")
            XCTAssertGreaterThanOrEqual(arrivals[4] - arrivals[0], 0.5, "the fifth request went out before two rounds ended")
        }
    }

    func testQueueTimeoutAnswers503ToTheExcess() throws {
        let (slow, proxy) = try start(queueTimeout: "200ms")
        let results = concurrentGETs(proxy, count: 6)
        let ok = results.filter { $0.status == 200 }
        let unavailable = results.filter { $0.status == 503 }
        print("max-conn 2, timeout queue 200ms: \(results.map { "\($0.status.map(String.init) ?? $0.error ?? "?")@\(Int(($0.end - $0.start) * 1000))ms" })")
        XCTAssertEqual(ok.count, 2, "\(results)")
        XCTAssertEqual(unavailable.count, 4, "\(results)")
        for r in unavailable {
            // 503 once the queue wait ran out: not at once, and well before a slot could free up.
            XCTAssertGreaterThanOrEqual(r.end - r.start, 0.15, "503 before the queue timeout: \(r)")
            XCTAssertLessThan(r.end - r.start, 1.0, "\(r)")
        }
        XCTAssertEqual(slow.proxied.count, 2, "only the 2 admitted requests reached the upstream: \(slow.proxied)")
        XCTAssertLessThanOrEqual(slow.proxied.map(\.inFlight).max() ?? 0, 2)
        // The pool recovers: the next request is served.
        let c = try proxy.client(timeout: 5)
        XCTAssertEqual(try c.get("/after").status, 200)
    }
}
