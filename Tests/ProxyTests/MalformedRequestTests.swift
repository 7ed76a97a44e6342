import TestSupport
import XCTest

/// Requests the proxy must refuse itself, before the upstream sees a byte of them (request
/// smuggling defence), and the body-size limit.
final class MalformedRequestTests: XCTestCase {
    private var upstream: TestUpstream!
    private var proxy: TestProxy!

    override func setUpWithError() throws {
        upstream = try TestUpstream(name: "blue")
        proxy = try TestProxy.dataPlane(pools: [("blue", [upstream.port])], split: "blue=100")
    }

    override func tearDown() {
        proxy?.stop()
        upstream?.stop()
    }

    /// Sends `raw` on a new connection and checks the error response: the status, a short text
    /// body, `Connection: close`, the connection then closed, and the upstream untouched.
    private func expectRejected(_ raw: [UInt8], status: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let c = try proxy.client(timeout: 5)
        try c.send(raw)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, status, "response: \(r)", file: file, line: line)
        XCTAssertTrue(r.closesConnection, "error responses carry Connection: close: \(r.headers)", file: file, line: line)
        XCTAssertTrue(r.header("Content-Type")?.hasPrefix("text/plain") == true, "\(r.headers)", file: file, line: line)
        XCTAssertFalse(r.body.isEmpty, "a short text body explains the error", file: file, line: line)
        XCTAssertLessThan(r.body.count, 256, file: file, line: line)
        XCTAssertTrue(r.text.hasPrefix("\(status)"), r.text, file: file, line: line)
        XCTAssertEqual(c.waitForEnd(), .closed, "the proxy closes after an error response", file: file, line: line)
        XCTAssertEqual(upstream.bytesReceived.current, 0, "the upstream must see nothing", file: file, line: line)
        XCTAssertEqual(upstream.acceptedConnections, 0, "the upstream must not even be connected to", file: file, line: line)
        XCTAssertEqual(upstream.requestCount, 0, file: file, line: line)
    }

    private func expectRejected(_ raw: String, status: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        try expectRejected(Array(raw.utf8), status: status, file: file, line: line)
    }

    /// Control: the same setup passes a valid request, so "the upstream saw nothing" above means something.
    func testValidRequestReachesUpstream() throws {
        let c = try proxy.client()
        let r = try c.get("/ok")
        XCTAssertEqual(r.text, "blue")
        XCTAssertEqual(upstream.requestCount, 1)
        XCTAssertGreaterThan(upstream.bytesReceived.current, 0)
    }

    func testContentLengthWithTransferEncodingIs400() throws {
        try expectRejected("POST /x HTTP/1.1\r\nHost: m.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                           + "0\r\n\r\n", status: 400)
    }

    func testTransferEncodingBeforeContentLengthIs400() throws {
        try expectRejected("POST /x HTTP/1.1\r\nHost: m.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                           + "0\r\n\r\n", status: 400)
    }

    func testTwoDifferentContentLengthsIs400() throws {
        try expectRejected("POST /x HTTP/1.1\r\nHost: m.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                           status: 400)
    }

    func testTransferEncodingGzipIs400() throws {
        try expectRejected("POST /x HTTP/1.1\r\nHost: m.test\r\nTransfer-Encoding: gzip\r\n\r\nabc", status: 400)
    }

    func testObsFoldIs400() throws {
        try expectRejected("GET /x HTTP/1.1\r\nHost: m.test\r\nX-Folded: first\r\n  second\r\n\r\n", status: 400)
    }

    func testSpaceBeforeColonIs400() throws {
        try expectRejected("GET /x HTTP/1.1\r\nHost: m.test\r\nX-Name : value\r\n\r\n", status: 400)
    }

    func testNULInHeaderIs400() throws {
        try expectRejected(Array("GET /x HTTP/1.1\r\nHost: m.test\r\nX-Nul: a".utf8) + [0] + Array("b\r\n\r\n".utf8),
                           status: 400)
    }

    func testFortyKiBHeaderIs431() throws {
        try expectRejected("GET /x HTTP/1.1\r\nHost: m.test\r\nX-Big: " + String(repeating: "a", count: 40 * 1024)
                           + "\r\n\r\n", status: 431)
    }

    func testMissingHostInHTTP11Is400() throws {
        try expectRejected("GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n", status: 400)
    }

    /// More framing ambiguities a proxy must refuse rather than interpret (each on its own
    /// connection; the upstream must see none of them).
    func testOtherSmugglingVectorsAre400() throws {
        let vectors: [(String, String)] = [
            ("TE chunked then TE gzip", "POST /x HTTP/1.1\r\nHost: m.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
            ("chunked twice", "POST /x HTTP/1.1\r\nHost: m.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
            ("unknown coding", "POST /x HTTP/1.1\r\nHost: m.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
            ("CL with plus sign", "POST /x HTTP/1.1\r\nHost: m.test\r\nContent-Length: +5\r\n\r\nhello"),
            ("CL negative", "POST /x HTTP/1.1\r\nHost: m.test\r\nContent-Length: -1\r\n\r\n"),
            ("CL list of different values", "POST /x HTTP/1.1\r\nHost: m.test\r\nContent-Length: 5, 6\r\n\r\nhello!"),
            ("CL overflow", "POST /x HTTP/1.1\r\nHost: m.test\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            ("TE in HTTP/1.0", "POST /x HTTP/1.0\r\nHost: m.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("bare LF line ends", "GET /x HTTP/1.1\nHost: m.test\n\n"),
            ("two Host fields", "GET /x HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n"),
            ("space in target", "GET /a b HTTP/1.1\r\nHost: m.test\r\n\r\n"),
        ]
        for (name, raw) in vectors {
            let c = try proxy.client(timeout: 5)
            try c.send(raw)
            switch Result(catching: { try c.readResponse() }) {
            case .success(let r):
                XCTAssertEqual(r.status, 400, "\(name): \(r)")
                XCTAssertTrue(r.closesConnection, name)
            case .failure(let e):
                XCTFail("\(name): no response (\(e))")
            }
        }
        XCTAssertEqual(upstream.bytesReceived.current, 0, "the upstream saw one of the ambiguous requests")
        XCTAssertEqual(upstream.requestCount, 0, "\(upstream.requests)")
    }

    /// The head is valid, so the upstream may have seen it; the client must get 400 or a closed
    /// connection, and the upstream must never see a complete request.
    func testBadChunkSizeIs400OrClosed() throws {
        for split in [false, true] {
            let c = try proxy.client(timeout: 5)
            let head = "POST /x HTTP/1.1\r\nHost: m.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            let body = "zz\r\nhello\r\n0\r\n\r\n"
            if split {
                try c.send(head)
                sleepMilliseconds(50)   // the head is dispatched before the bad chunk line arrives
                try c.send(body)
            } else {
                try c.send(head + body)
            }
            do {
                let r = try c.readResponse()
                XCTAssertEqual(r.status, 400, "split=\(split): \(r)")
                XCTAssertTrue(r.closesConnection)
                XCTAssertNotEqual(c.waitForEnd(), .stillOpen)
            } catch let e as TestSocketError where e.isConnectionEnd {
                // Closed without a response: also acceptable.
            }
        }
        sleepMilliseconds(50)
        XCTAssertEqual(upstream.requestCount, 0, "the upstream received a complete request: \(upstream.requests)")
    }

    func testBodyOverLimitWithContentLengthIs413AndUpstreamSeesNothing() throws {
        let limited = try TestProxy.dataPlane(pools: [("blue", [upstream.port])], split: "blue=100", extra: "limit body-bytes 1k\n")
        defer { limited.stop() }
        // Within the limit: forwarded.
        let ok = try limited.client()
        try ok.send("POST /small HTTP/1.1\r\nHost: m.test\r\nContent-Length: 1024\r\n\r\n")
        try ok.send(Pattern.bytes(count: 1024))
        XCTAssertEqual(try ok.readResponse().status, 200)
        XCTAssertEqual(upstream.requestCount, 1)
        let seenBefore = upstream.bytesReceived.current
        let connectionsBefore = upstream.acceptedConnections

        let c = try limited.client(timeout: 5)
        try c.send("POST /big HTTP/1.1\r\nHost: m.test\r\nContent-Length: 1025\r\n\r\n")
        try c.send(Pattern.bytes(count: 1025))
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 413)
        XCTAssertTrue(r.closesConnection)
        XCTAssertTrue(r.text.hasPrefix("413"), r.text)
        XCTAssertEqual(c.waitForEnd(), .closed)
        XCTAssertEqual(upstream.requestCount, 1, "the upstream saw the oversized request")
        XCTAssertEqual(upstream.bytesReceived.current, seenBefore, "the upstream received bytes of the oversized request")
        XCTAssertEqual(upstream.acceptedConnections, connectionsBefore)
    }
}
