import Glibc
import TestSupport
import XCTest

/// Every server of green down (SIGKILLed, taken down by active checks) at split blue=50
/// green=50: with `failover on` green's share goes to blue with zero errors and `status` says
/// green `failed_over: true`; with `failover off` green's share gets 503s.
final class FaultFailoverTests: HealthFaultTestCase {
    private struct Setup {
        let blue: PythonUpstream
        let g1: PythonUpstream
        let g2: PythonUpstream
        let proxy: TestProxy
    }

    private func start(failover: Bool) throws -> Setup {
        let blue = try upstream("blue1")
        let g1 = try upstream("green1")
        let g2 = try upstream("green2")
        let proxy = try proxy(healthConfigText(workers: 1, pools: [
            ("blue", ["server \(blue.address)"]),
            ("green", ["server \(g1.address)", "server \(g2.address)",
                       "health GET /healthz interval 150ms timeout 100ms rise 2 fall 2",
                       "failover \(failover ? "on" : "off")"]),
        ], split: "blue=50 green=50", extra: ["timeout connect 1s", "timeout upstream 5s"]))
        // Green's servers start down and come up after two passing checks.
        let up = try proxy.waitForStatus(timeout: 5) { s in
            [g1, g2].allSatisfy { s.server(pool: "green", address: $0.address)?["health"]?.stringValue == "up" }
        }
        XCTAssertNotNil(up, "green never came up: \((try? proxy.status().encoded()) ?? "")")
        return Setup(blue: blue, g1: g1, g2: g2, proxy: proxy)
    }

    /// `count` sequential GETs on one keep-alive connection (reconnecting after a close); the
    /// status and X-Upstream of each.
    private func sequential(_ proxy: TestProxy, _ count: Int, tag: String) throws -> [(status: Int, upstream: String?)] {
        var out: [(Int, String?)] = []
        var c = try proxy.client(timeout: 5)
        for i in 0..<count {
            let r = try c.get("/\(tag)/\(i)")
            out.append((r.status, r.header("X-Upstream")))
            if r.closesConnection { c.close(); c = try proxy.client(timeout: 5) }
        }
        c.close()
        return out
    }

    func testAllOfGreenDownFailsOverToBlueWithZeroErrors() throws {
        let s = try start(failover: true)
        // 50/50 while green serves (one worker: the split sequence is exact).
        let before = try sequential(s.proxy, 40, tag: "before")
        XCTAssertTrue(before.allSatisfy { $0.status == 200 }, "\(before)")
        let greenShare = before.filter { $0.upstream?.hasPrefix("green") == true }.count
        XCTAssertTrue((18...22).contains(greenShare), "green served \(greenShare) of 40 at split 50/50")

        // Load through the whole episode, to report what clients saw while green was dying.
        let l = load(s.proxy, [.get(keepAlive: true), .get(keepAlive: false)], idPrefix: "f")
        l.start()
        XCTAssertTrue(l.waitFor(50, timeout: 5) { $0.ok })
        let killedAt = monotonicSeconds()
        s.g1.kill()
        s.g2.kill()
        let failedOverAt = try s.proxy.waitForStatus(timeout: 5) { $0.at("pools", "green", "failed_over")?.boolValue == true }
        XCTAssertNotNil(failedOverAt, "green never failed over: \((try? s.proxy.status().encoded()) ?? "")")
        let fo = failedOverAt ?? monotonicSeconds()
        // Failover comes from the active checks: fall 2 x interval 150 ms + timeout, plus slack.
        XCTAssertLessThan(fo - killedAt, 2.0, "failover took \(fo - killedAt) s")

        // From then on: zero errors, everything on blue.
        XCTAssertTrue(l.waitFor(300, timeout: 10) { $0.start > fo }, "the load stalled after the failover")
        let outcomes = l.stop()
        let after = outcomes.filter { $0.start > fo }
        let during = outcomes.filter { $0.start > killedAt && $0.start <= fo }
        print("failover: detected after \(Int((fo - killedAt) * 1000)) ms; while green was dying: \(during.summary()); after: \(after.summary())")
        // Before the checks notice, each request that finds every green server dead fails over
        // on its own (retries leave the pool when it has no server left): zero errors throughout.
        XCTAssertEqual(during.failures.count, 0, "errors while green was dying: \(during.failures.prefix(5))")
        XCTAssertEqual(after.failures.count, 0, "errors after the failover: \(after.failures.prefix(5))")
        XCTAssertTrue(after.allSatisfy { $0.upstream == "blue1" })
        let more = try sequential(s.proxy, 40, tag: "after")
        XCTAssertTrue(more.allSatisfy { $0.status == 200 && $0.upstream == "blue1" }, "\(more)")

        let st = try s.proxy.status()
        XCTAssertEqual(st.at("pools", "green", "failed_over")?.boolValue, true, st.encoded())
        XCTAssertEqual(st.at("pools", "blue", "failed_over")?.boolValue, false)
        XCTAssertEqual(st.at("pools", "green", "split")?.intValue, 50, "the configured split is unchanged")
        for g in [s.g1, s.g2] {
            let h = st.server(pool: "green", address: g.address)
            XCTAssertTrue(["down", "ejected"].contains(h?["health"]?.stringValue ?? ""), "\(h?.encoded() ?? "nil")")
            XCTAssertEqual(h?.at("last_check", "passed")?.boolValue, false, "\(h?.encoded() ?? "nil")")
        }

        // Green restarts at the same addresses: as soon as one of its servers passes its checks,
        // green serves its share again. (One of them may also have been ejected by passive
        // detection while it was dying; that one waits out its ejection period first.)
        for g in [s.g1, s.g2] { _ = try upstream(g.name, port: g.port) }
        let back = try s.proxy.waitForStatus(timeout: 5) { $0.at("pools", "green", "failed_over")?.boolValue == false }
        XCTAssertNotNil(back, "green never stopped being failed over: \((try? s.proxy.status().encoded()) ?? "")")
        let upAgain = try s.proxy.status().servers(pool: "green").filter { $0["health"]?.stringValue == "up" }
        XCTAssertFalse(upAgain.isEmpty, "failed_over false but no green server is up")
        let again = try sequential(s.proxy, 40, tag: "again")
        XCTAssertTrue(again.allSatisfy { $0.status == 200 }, "\(again)")
        let greenAgain = again.filter { $0.upstream?.hasPrefix("green") == true }.count
        XCTAssertTrue((18...22).contains(greenAgain), "green served \(greenAgain) of 40 after coming back")
    }

    func testAllOfGreenDownWithFailoverOffAnswers503ForGreensShare() throws {
        let s = try start(failover: false)
        let before = try sequential(s.proxy, 20, tag: "before")
        XCTAssertTrue(before.allSatisfy { $0.status == 200 }, "\(before)")

        s.g1.kill()
        s.g2.kill()
        // No traffic meanwhile, so only the active checks judge them: both go down.
        let down = try s.proxy.waitForStatus(timeout: 5) { st in
            [s.g1, s.g2].allSatisfy { st.server(pool: "green", address: $0.address)?["health"]?.stringValue == "down" }
        }
        XCTAssertNotNil(down, "green's servers were not marked down: \((try? s.proxy.status().encoded()) ?? "")")

        let results = try sequential(s.proxy, 60, tag: "off")
        let unavailable = results.filter { $0.status == 503 }.count
        let fromBlue = results.filter { $0.status == 200 && $0.upstream == "blue1" }.count
        print("failover off: \(unavailable) x 503, \(fromBlue) x 200 from blue of \(results.count)")
        XCTAssertEqual(unavailable + fromBlue, results.count, "only 503s and blue's 200s: \(results)")
        XCTAssertTrue((27...33).contains(unavailable), "green's half of 60 should get 503, got \(unavailable)")
        let st = try s.proxy.status()
        XCTAssertEqual(st.at("pools", "green", "failed_over")?.boolValue, false, st.encoded())
    }
}
