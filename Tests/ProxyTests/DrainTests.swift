import Admin
import Glibc
import Synchronization
import TestSupport
import XCTest

/// Draining (issue "drain") under continuous load: one server with `server drain`, a whole pool
/// with `split`, and `server ready` bringing a server back. Load mixes keep-alive clients and a
/// new connection per request; every request sent after a reply is tagged, so the upstreams can
/// tell whether any of them reached a server that no longer takes new requests.
final class DrainTests: XCTestCase {
    private var scratch: ScratchDirectory!
    private var upstreams: [LoggingUpstream] = []
    private var proxy: TestProxy?
    private var load: TrafficLoad?

    override func setUpWithError() throws {
        scratch = try ScratchDirectory(prefix: "drn")
    }

    override func tearDown() {
        _ = load?.stop()
        proxy?.stop()
        for u in upstreams { u.stop() }
        upstreams.removeAll()
        scratch?.remove()
    }

    private func upstream(_ name: String) throws -> LoggingUpstream {
        let u = try LoggingUpstream(name: name)
        upstreams.append(u)
        return u
    }

    private static let mixedModes: [TrafficLoad.Mode] = [.keepAlive, .keepAlive, .keepAlive, .newConnection, .newConnection, .newConnection]

    private func slowRequest(on target: LoggingUpstream, among all: [LoggingUpstream], proxy: TestProxy,
                             ms: Int) throws -> [TestClient] {
        let (clients, reached) = try sendSlowRequests(reaching: target, among: all, port: proxy.port, ms: ms)
        XCTAssertTrue(reached, "no slow request reached \(target.name) in 20 tries")
        return clients
    }

    func testDrainingOneOfTwoBlueServersUnderLoadThenReady() throws {
        let b1 = try upstream("b1"), b2 = try upstream("b2"), g = try upstream("green")
        let p = try TestProxy(
            config: adminConfigText(pools: [("blue", [b1.address, b2.address]), ("green", [g.address])],
                                    split: "blue=100 green=0", workers: 2),
            socketPath: scratch.file("admin.sock"))
        proxy = p
        let phase = Shared("")
        let l = TrafficLoad(port: p.port, modes: Self.mixedModes) { phase.value }
        load = l
        l.start()
        XCTAssertTrue(l.waitForMore(200), "no load gets through: \(l.snapshot)")
        XCTAssertGreaterThan(b1.requestCount, 0)

        // A slow request in flight on b1 while it is drained.
        let slow = try slowRequest(on: b1, among: [b1, b2], proxy: p, ms: 1000)
        let admin = try p.adminClient()
        let d = try admin.request("server drain blue \(b1.address)")
        phase.set("?after=drain")
        let drainedAt = monotonicSeconds()
        XCTAssertTrue(d.isOK, d.encoded())
        XCTAssertEqual(d.at("server", "state")?.stringValue, "draining", "reply while a request is in flight on it: \(d.encoded())")

        let s = try admin.request("status")
        let b1Status = s.server(pool: "blue", address: b1.address)
        XCTAssertEqual(b1Status?["state"]?.stringValue, "draining", s.encoded())
        XCTAssertGreaterThanOrEqual(b1Status?["in_flight"]?.intValue ?? 0, 1, s.encoded())
        XCTAssertEqual(s.server(pool: "blue", address: b2.address)?["state"]?.stringValue, "ready")

        XCTAssertTrue(l.waitForMore(300), "load stalled after the drain: \(l.snapshot)")
        for (i, c) in slow.enumerated() {
            let r = Result { try c.readResponse() }
            XCTAssertEqual((try? r.get())?.status, 200, "slow request \(i): \(r)")
        }
        var last: JSONValue = .null
        XCTAssertTrue(pollUntil(timeout: 3) {
            last = (try? admin.request("status")) ?? .null
            return last.server(pool: "blue", address: b1.address)?["state"]?.stringValue == "drained"
        }, "not drained after its last request finished: \(last.encoded())")
        XCTAssertEqual(last.server(pool: "blue", address: b1.address)?["in_flight"]?.intValue, 0)
        XCTAssertGreaterThan(b2.count(containing: "after=drain"), 100, "the load went on to b2")
        let lateOnB1 = b1.arrivals.filter { $0.target.contains("after=drain") }
        XCTAssertEqual(lateOnB1.map(\.target), [], "requests sent after the drain reply reached the drained server")
        let b1AfterReply = b1.arrivals.filter { $0.time > drainedAt + 0.5 }
        XCTAssertEqual(b1AfterReply.map(\.target), [], "b1 received requests well after the drain reply")

        // Back in rotation.
        let r = try admin.request("server ready blue \(b1.address)")
        phase.set("?after=ready")
        XCTAssertTrue(r.isOK, r.encoded())
        XCTAssertEqual(r.at("server", "state")?.stringValue, "ready", r.encoded())
        XCTAssertTrue(b1.waitUntil(timeout: 3) { $0.contains { $0.target.contains("after=ready") } },
                      "b1 gets no traffic after 'server ready'")
        XCTAssertTrue(l.waitForMore(100))
        let summary = l.stop()
        XCTAssertEqual(summary.failed, 0, "\(summary)")
        XCTAssertEqual(g.requestCount, 0)
        print("drain one server: \(summary)")
    }

    func testDrainingGreenPoolViaSplitUnderLoad() throws {
        let b = try upstream("blue"), g = try upstream("green")
        let p = try TestProxy(
            config: adminConfigText(pools: [("blue", [b.address]), ("green", [g.address])],
                                    split: "blue=50 green=50", workers: 2),
            socketPath: scratch.file("admin.sock"))
        proxy = p
        let phase = Shared("")
        let l = TrafficLoad(port: p.port, modes: Self.mixedModes) { phase.value }
        load = l
        l.start()
        XCTAssertTrue(l.waitForMore(200), "no load gets through: \(l.snapshot)")
        XCTAssertTrue(g.waitUntil(timeout: 3) { $0.count > 50 }, "green has traffic before the drain")

        let slow = try slowRequest(on: g, among: [b, g], proxy: p, ms: 800)
        let r = try p.request("split blue=100 green=0")
        phase.set("?after=split")
        XCTAssertTrue(r.isOK, r.encoded())
        let s = try p.request("status")
        XCTAssertEqual(s.at("pools", "green", "split")?.intValue, 0)
        XCTAssertGreaterThanOrEqual(s.server(pool: "green", address: g.address)?["in_flight"]?.intValue ?? 0, 1,
                                    "the slow request is still in flight on green: \(s.encoded())")

        XCTAssertTrue(l.waitForMore(300), "load stalled after the split: \(l.snapshot)")
        for (i, c) in slow.enumerated() {
            let resp = Result { try c.readResponse() }
            XCTAssertEqual((try? resp.get())?.status, 200, "slow request \(i): \(resp)")
        }
        let summary = l.stop()
        XCTAssertEqual(summary.failed, 0, "\(summary)")
        XCTAssertEqual(g.arrivals.filter { $0.target.contains("after=split") }.map(\.target), [],
                       "requests sent after 'split blue=100 green=0' reached green")
        XCTAssertGreaterThan(b.count(containing: "after=split"), 100)
        // Green's in-flight count is back to zero.
        XCTAssertTrue(pollUntil(timeout: 3) {
            (try? p.request("status"))?.server(pool: "green", address: g.address)?["in_flight"]?.intValue == 0
        })
        print("drain green pool: \(summary)")
    }

    /// `timeout drain` bounds a server drain: a request still in flight on the drained server when
    /// it runs out is cut (503 to its client) and counted in `stats` as drain_cut.
    func testDrainTimeoutCutsWhatIsStillInFlightAndCountsIt() throws {
        let b1 = try upstream("b1"), b2 = try upstream("b2")
        let p = try TestProxy(
            config: adminConfigText(pools: [("blue", [b1.address, b2.address])], split: "blue=100",
                                    workers: 1, extra: "timeout drain 300ms\n"),
            socketPath: scratch.file("admin.sock"))
        proxy = p
        // A request that b1 answers only after 3 s: longer than the drain timeout.
        let slow = try slowRequest(on: b1, among: [b1, b2], proxy: p, ms: 3000)
        let started = monotonicSeconds()
        let d = try p.request("server drain blue \(b1.address)")
        XCTAssertTrue(d.isOK, d.encoded())
        XCTAssertEqual(d.at("server", "state")?.stringValue, "draining")
        var statuses: [Int] = []
        for c in slow {
            if let r = try? c.readResponse() { statuses.append(r.status) }
        }
        let elapsed = monotonicSeconds() - started
        XCTAssertTrue(statuses.contains(503), "the request on the drained server was not cut: \(statuses)")
        XCTAssertLessThan(elapsed, 2.0, "cut after \(elapsed) s; timeout drain is 300 ms")
        var last: JSONValue = .null
        XCTAssertTrue(pollUntil(timeout: 3) {
            last = (try? p.request("status")) ?? .null
            return last.server(pool: "blue", address: b1.address)?["state"]?.stringValue == "drained"
        }, "not drained after the cut: \(last.encoded())")
        let stats = try p.request("stats")
        let b1Stats = stats.at("pools", "blue", "servers")?.arrayValue?.first { $0["address"]?.stringValue == b1.address }
        XCTAssertEqual(b1Stats?["drain_cut"]?.intValue, 1, stats.encoded())
    }
}
