import Glibc
import TestSupport
import XCTest

/// Checks of the test infrastructure itself, without the proxy, so that a proxy test failure is
/// never a harness bug in disguise (and the harness really reports truncation and resets).
final class SupportSelfTests: XCTestCase {
    /// Serves one connection: reads one head, writes `reply`, then closes (RST if `reset`).
    private func oneShotServer(reply: [UInt8], reset: Bool) throws -> (port: UInt16, thread: TestThread) {
        let (lfd, port) = try TestSockets.listen()
        let t = TestThread {
            defer { close(lfd) }
            let fd = accept(lfd, nil, nil)
            guard fd >= 0 else { return }
            let reader = SocketReader(fd: fd, timeout: 5)
            _ = try? reader.readHead()
            try? sendAll(fd, reply, timeout: 5)
            if reset {
                // Unread input makes close send RST on its own; SO_LINGER 0 makes sure.
                TestSockets.setAbortiveClose(fd)
            }
            close(fd)
        }
        return (port, t)
    }

    func testClientAndUpstreamTalkDirectly() throws {
        let up = try TestUpstream(name: "blue")
        defer { up.stop() }
        let c = try TestClient(port: up.port)
        let r1 = try c.get("/one", headers: [HTTPHeader("X-Test", "a")])
        XCTAssertEqual(r1.status, 200)
        XCTAssertEqual(r1.text, "blue")
        XCTAssertEqual(r1.header("X-Upstream"), "blue")
        let r2 = try c.get("/two")   // same connection: keep-alive works
        XCTAssertEqual(r2.text, "blue")
        XCTAssertEqual(up.requests.map(\.target), ["/one", "/two"])
        XCTAssertEqual(up.requests.map(\.connection), [0, 0])
        XCTAssertEqual(up.requests[0].headers.first("x-test"), "a")
        XCTAssertEqual(up.acceptedConnections, 1)
    }

    func testDownloadAndEchoAreByteExact() throws {
        let up = try TestUpstream(name: "blue") { head in
            switch head.target {
            case "/cl": return .download(bytes: 1_000_003, chunked: false)
            case "/chunked": return .download(bytes: 1_000_003, chunked: true, piece: 10_000)
            default: return .echoBody
            }
        }
        defer { up.stop() }
        let c = try TestClient(port: up.port)
        let expected = Pattern.hash(count: 1_000_003)
        for target in ["/cl", "/chunked"] {
            let r = try c.get(target)
            XCTAssertEqual(r.bodyLength, 1_000_003, target)
            XCTAssertEqual(r.bodyHash, expected, target)
            XCTAssertEqual(FNV1a64.of(r.body), expected, target)
        }
        let body = Pattern.bytes(count: 300_000)
        try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n")
        try c.send(body)
        let r = try c.readResponse()
        XCTAssertEqual(r.framing, .chunked)
        XCTAssertEqual(r.body, body)
        XCTAssertEqual(up.requests.last?.bodyLength, 300_000)
        XCTAssertEqual(up.requests.last?.bodyHash, FNV1a64.of(body))
        XCTAssertNotEqual(Pattern.hash(count: 1_000_003), Pattern.hash(count: 1_000_002))
    }

    func testTruncatedContentLengthBodyIsAnError() throws {
        let (port, t) = try oneShotServer(reply: Array("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort".utf8), reset: false)
        defer { t.join() }
        let c = try TestClient(port: port, timeout: 5)
        try c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertThrowsError(try c.readResponse()) { e in
            XCTAssertTrue((e as? TestSocketError)?.isConnectionEnd == true, "\(e)")
        }
    }

    func testTruncatedChunkedBodyIsAnError() throws {
        let (port, t) = try oneShotServer(
            reply: Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".utf8), reset: false)
        defer { t.join() }
        let c = try TestClient(port: port, timeout: 5)
        try c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertThrowsError(try c.readResponse()) { e in
            XCTAssertTrue((e as? TestSocketError)?.isConnectionEnd == true, "\(e)")
        }
    }

    func testResetMidBodyIsAnError() throws {
        let (port, t) = try oneShotServer(reply: Array("HTTP/1.1 200 OK\r\n\r\npartial body".utf8), reset: true)
        defer { t.join() }
        let c = try TestClient(port: port, timeout: 5)
        try c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertThrowsError(try c.readResponse()) { e in
            guard case .reset = e as? TestSocketError else { return XCTFail("expected a reset, got \(e)") }
        }
    }

    func testKillResetsAndStopClosesConnections() throws {
        let killed = try TestUpstream(name: "a")
        let c1 = try TestClient(port: killed.port, timeout: 5)
        XCTAssertEqual(try c1.get("/").text, "a")
        killed.kill()
        XCTAssertEqual(c1.waitForEnd(), .reset)
        XCTAssertThrowsError(try TestClient(port: killed.port, timeout: 2), "listener must be closed after kill")

        let stopped = try TestUpstream(name: "b")
        let c2 = try TestClient(port: stopped.port, timeout: 5)
        XCTAssertEqual(try c2.get("/").text, "b")
        stopped.stop()
        XCTAssertEqual(c2.waitForEnd(), .closed)
    }

    func testNeverAnswerAndCloseWithoutAnswer() throws {
        let up = try TestUpstream(name: "x") { head in head.target == "/close" ? .closeWithoutAnswer : .neverAnswer }
        defer { up.stop() }
        let c1 = try TestClient(port: up.port, timeout: 5)
        try c1.send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c1.waitForEnd(), .closed)
        let c2 = try TestClient(port: up.port, timeout: 5)
        try c2.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c2.waitForEnd(wait: 0.3), .stillOpen)
        XCTAssertTrue(up.waitForRequests(2))
    }

    func testRSSReader() {
        let before = residentSetBytes()
        XCTAssertGreaterThan(before, 1 << 20)
        let sampler = RSSSampler()
        let p = UnsafeMutableRawPointer.allocate(byteCount: 64 << 20, alignment: 4096)
        memset(p, 1, 64 << 20)
        sleepMilliseconds(30)
        let growth = sampler.finish()
        p.deallocate()
        XCTAssertGreaterThan(growth, 48 << 20, "touching 64 MiB must show in VmRSS")
    }
}
