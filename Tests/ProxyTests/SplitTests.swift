import XCTest

/// Traffic split between the blue and green pools (smooth weighted round robin) and runtime
/// snapshot publishing.
final class SplitTests: XCTestCase {
    func testThousandRequestsOnOneConnectionSplitExactly90To10() throws {
        let blue = try TestUpstream(name: "blue")
        let green = try TestUpstream(name: "green")
        defer { blue.stop(); green.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [blue.port]), ("green", [green.port])], split: "blue=90 green=10",
                                     extra: "timeout upstream 5s\n")
        defer { proxy.stop() }

        let client = try proxy.client()
        var sequence: [String] = []
        for i in 0..<1000 {
            let r = try client.get("/req/\(i)")
            XCTAssertEqual(r.status, 200, "request \(i)")
            XCTAssertEqual(r.header("X-Upstream"), r.text, "request \(i): header and body name the same upstream")
            sequence.append(r.text)
        }
        XCTAssertEqual(sequence.filter { $0 == "blue" }.count, 900)
        XCTAssertEqual(sequence.filter { $0 == "green" }.count, 100)
        // Every window of 10 consecutive requests: exactly 9 blue and 1 green.
        var badWindows: [Int] = []
        for start in 0...(sequence.count - 10) {
            let window = sequence[start..<(start + 10)]
            if window.filter({ $0 == "green" }).count != 1 || window.filter({ $0 == "blue" }).count != 9 {
                badWindows.append(start)
            }
        }
        XCTAssertEqual(badWindows, [], "windows (by first index) without exactly 9 blue + 1 green")
        // The upstreams agree with what the client saw, and every request was on one client connection.
        XCTAssertEqual(blue.requestCount, 900)
        XCTAssertEqual(green.requestCount, 100)
        XCTAssertEqual(Set(green.requests.map(\.target)).count, 100)
        XCTAssertEqual(blue.acceptedConnections, 1, "upstream keep-alive: one connection per pool suffices")
        XCTAssertEqual(green.acceptedConnections, 1, "upstream keep-alive: one connection per pool suffices")
    }

    func testPublishedSnapshotSendsNextRequestsToGreen() throws {
        let blue = try TestUpstream(name: "blue")
        let green = try TestUpstream(name: "green")
        defer { blue.stop(); green.stop() }
        let text = { (split: String) in
            proxyConfigText(pools: [("blue", [blue.port]), ("green", [green.port])], split: split)
        }
        let proxy = try TestProxy.dataPlane(config: text("blue=100 green=0"))
        defer { proxy.stop() }

        let client = try proxy.client()
        for i in 0..<20 {
            XCTAssertEqual(try client.get("/before/\(i)").text, "blue")
        }
        XCTAssertEqual(green.requestCount, 0)

        try proxy.publish(text("blue=0 green=100"))
        // The same keep-alive connection, and new connections, all go to green now.
        for i in 0..<20 {
            XCTAssertEqual(try client.get("/after/\(i)").text, "green", "request \(i) on the old connection")
        }
        for i in 0..<5 {
            let c = try proxy.client()
            XCTAssertEqual(try c.get("/new/\(i)").text, "green", "request on new connection \(i)")
        }
        XCTAssertEqual(blue.requestCount, 20)
        XCTAssertEqual(green.requestCount, 25)
        XCTAssertTrue(blue.requests.allSatisfy { $0.target.hasPrefix("/before/") })

        // And back to a 50/50 split: alternating exactly.
        try proxy.publish(text("blue=50 green=50"))
        let names = try (0..<10).map { try client.get("/mixed/\($0)").text }
        XCTAssertEqual(names.filter { $0 == "blue" }.count, 5, "\(names)")
        XCTAssertEqual(names.filter { $0 == "green" }.count, 5, "\(names)")
    }

    /// A snapshot that replaces blue's server: new requests (also on an existing client
    /// connection) go to the new server, none to the removed one.
    func testPublishedSnapshotReplacingServerMovesTraffic() throws {
        let old = try TestUpstream(name: "old")
        let new = try TestUpstream(name: "new")
        defer { old.stop(); new.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [old.port])], split: "blue=100")
        defer { proxy.stop() }
        let c = try proxy.client()
        for i in 0..<5 { XCTAssertEqual(try c.get("/a/\(i)").text, "old") }
        try proxy.publish(proxyConfigText(pools: [("blue", [new.port])], split: "blue=100"))
        for i in 0..<5 { XCTAssertEqual(try c.get("/b/\(i)").text, "new") }
        XCTAssertEqual(old.requestCount, 5)
        XCTAssertEqual(new.requestCount, 5)
    }
}
