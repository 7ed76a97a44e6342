import Glibc
import TestSupport
import XCTest

/// A server that answers every request with 500 (a complete response, passed to the client as
/// it is, never retried): with `eject-on 5xx` passive detection ejects it after `eject-after`
/// of them; without, 5xx responses do not count as failures.
final class FaultStatus5xxTests: HealthFaultTestCase {
    private func start(ejectOn5xx: Bool) throws -> (PythonUpstream, PythonUpstream, TestProxy) {
        let good = try upstream("good")
        let bad = try upstream("bad", mode: .status500)
        let proxy = try proxy(healthConfigText(workers: 1, pools: [
            ("blue", ["server \(good.address)", "server \(bad.address)", "eject-after 3"] + (ejectOn5xx ? ["eject-on 5xx"] : [])),
        ], split: "blue=100"))
        return (good, bad, proxy)
    }

    /// Sequential GETs on one keep-alive connection: (status, X-Upstream) of each.
    private func sequential(_ proxy: TestProxy, _ count: Int, tag: String) throws -> [(status: Int, upstream: String?)] {
        let c = try proxy.client(timeout: 5)
        defer { c.close() }
        return try (0..<count).map { i in
            let r = try c.get("/\(tag)/\(i)")
            return (r.status, r.header("X-Upstream"))
        }
    }

    func testEjectOn5xxEjectsAServerAnswering500() throws {
        let (_, bad, proxy) = try start(ejectOn5xx: true)
        var results: [(status: Int, upstream: String?)] = []
        // Alternating good/bad until the ejection shows in status (bounded).
        let ejected = try proxy.waitForStatus(timeout: 5, pollMs: 1) { s in
            if let r = try? sequential(proxy, 1, tag: "e\(results.count)") { results += r }
            return s.server(pool: "blue", address: bad.address)?["health"]?.stringValue == "ejected"
        }
        XCTAssertNotNil(ejected, "a server answering 500 was not ejected with eject-on 5xx: \(results)")
        let errors = results.filter { $0.status == 500 }
        XCTAssertTrue(errors.allSatisfy { $0.upstream == "bad" }, "\(results)")
        XCTAssertTrue((3...4).contains(errors.count), "eject-after 3: \(errors.count) x 500 before the ejection: \(results)")
        XCTAssertEqual(bad.proxied.count, errors.count, "each 500 was passed on once, never retried")
        let later = try sequential(proxy, 30, tag: "later")
        XCTAssertTrue(later.allSatisfy { $0.status == 200 && $0.upstream == "good" }, "\(later)")
        let h = try proxy.status().server(pool: "blue", address: bad.address)
        XCTAssertGreaterThanOrEqual(h?["ejections"]?.intValue ?? 0, 1, "\(h?.encoded() ?? "nil")")
    }

    func testWithoutEjectOn5xxA500IsNotAFailure() throws {
        let (_, bad, proxy) = try start(ejectOn5xx: false)
        let results = try sequential(proxy, 40, tag: "x")
        XCTAssertEqual(results.filter { $0.status == 500 && $0.upstream == "bad" }.count, 20, "\(results)")
        XCTAssertEqual(results.filter { $0.status == 200 && $0.upstream == "good" }.count, 20, "\(results)")
        sleepMilliseconds(100)   // a failure event would have been handled by now
        let h = try proxy.status().server(pool: "blue", address: bad.address)
        XCTAssertEqual(h?["health"]?.stringValue, "up", "\(h?.encoded() ?? "nil")")
        XCTAssertEqual(h?["ejections"]?.intValue, 0, "\(h?.encoded() ?? "nil")")
    }
}
