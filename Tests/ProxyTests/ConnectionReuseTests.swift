import TestSupport
import XCTest

/// Upstream keep-alive: connections are reused when the upstream allows it, never after it
/// said or showed it is closing them.
final class ConnectionReuseTests: XCTestCase {
    func testUpstreamConnectionIsReusedAcrossRequests() throws {
        let up = try TestUpstream(name: "blue")
        defer { up.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [up.port])], split: "blue=100")
        defer { proxy.stop() }
        let c = try proxy.client()
        for i in 0..<50 { XCTAssertEqual(try c.get("/\(i)").text, "blue") }
        XCTAssertEqual(up.requestCount, 50)
        XCTAssertEqual(up.acceptedConnections, 1, "one sequential client needs one upstream connection")
    }

    func testUpstreamConnectionCloseIsHonoured() throws {
        let up = try TestUpstream(name: "blue") { _ in
            .respond(status: 200, headers: [HTTPHeader("Connection", "close")], body: Array("blue".utf8))
        }
        defer { up.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [up.port])], split: "blue=100")
        defer { proxy.stop() }
        let c = try proxy.client()
        for i in 0..<10 {
            let r = try c.get("/\(i)")
            XCTAssertEqual(r.status, 200, "request \(i): \(r)")
            XCTAssertEqual(r.text, "blue")
            XCTAssertFalse(r.closesConnection, "the upstream's Connection: close is hop-by-hop")
        }
        XCTAssertEqual(up.requestCount, 10)
        XCTAssertEqual(up.acceptedConnections, 10, "a connection the upstream closes is never reused")
    }

    /// The upstream closes each connection right after its response without saying so (its
    /// keep-alive timeout raced the next request). Idempotent requests must still all succeed.
    func testUpstreamSilentlyClosingAfterResponseIsRetriedForGets() throws {
        let up = try TestUpstream(name: "blue") { _ in
            .respondThenClose(status: 200, headers: [], body: Array("blue".utf8))
        }
        defer { up.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [up.port])], split: "blue=100")
        defer { proxy.stop() }
        let c = try proxy.client()
        for i in 0..<30 {
            let r = try c.get("/\(i)")
            XCTAssertEqual(r.status, 200, "request \(i): \(r)")
            XCTAssertEqual(r.text, "blue")
            if i % 3 == 0 { sleepMilliseconds(20) }   // sometimes the FIN is seen first, sometimes not
        }
        XCTAssertEqual(up.requestCount, 30)
    }
}
