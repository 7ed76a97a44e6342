import EventLoop
import Glibc
import TestSupport
import XCTest

/// Request/response semantics through the proxy: pipelining, request bodies, bodiless
/// responses, HTTP/1.0 and protocol upgrade. Runs with the default `io-uring on` (batched socket
/// I/O); `MessageTestsPlainSyscalls` runs the same tests with `io-uring off`.
class MessageTests: XCTestCase {
    /// Extra config lines for the proxy under test.
    class var extraConfig: String { "" }

    /// Routes by path: /status/N (bodiless statuses), /echo, /chunked, /ws, and by default
    /// 200 with body "blue METHOD TARGET".
    static let router: UpstreamBehavior = { head in
        switch head.target {
        case "/status/204":
            return .respond(status: 204, headers: [HTTPHeader("X-Upstream", "blue")], body: [])
        case "/status/304":
            return .respond(status: 304, headers: [HTTPHeader("ETag", "\"v1\"")], body: [])
        case "/echo":
            return .echoBody
        case let t where t.hasPrefix("/small/"):
            // 2,000 bytes that depend on the target: small enough to go out with its head in one
            // send (the batched path), and checkable byte for byte.
            return .respond(status: 200, headers: [], body: MessageTests.smallBody(t))
        case "/chunked":
            return .download(bytes: 100_000, chunked: true, piece: 7_000)
        case "/ws":
            return head.headers.tokens("Upgrade").contains("websocket")
                ? .upgradeEcho : .respond(status: 400, headers: [], body: Array("no upgrade".utf8))
        default:
            return .respond(status: 200, headers: [HTTPHeader("X-Upstream", "blue")],
                            body: Array("blue \(head.method) \(head.target)".utf8))
        }
    }

    private var upstream: TestUpstream!
    private var proxy: TestProxy!

    override func setUpWithError() throws {
        upstream = try TestUpstream(name: "blue", behavior: Self.router)
        proxy = try TestProxy.dataPlane(pools: [("blue", [upstream.port])], split: "blue=100", extra: Self.extraConfig)
    }

    override func tearDown() {
        proxy?.stop()
        upstream?.stop()
    }

    func testSocketIOIsBatchedExactlyWhenConfigured() throws {
        let c = try proxy.client()
        try c.send("GET /mode HTTP/1.1\r\nHost: mode.test\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        let batched = Self.extraConfig.isEmpty && EventLoop.ioUringProbe() == 0
        XCTAssertEqual(proxy.server.batchedLoopCount, batched ? 1 : 0)
    }

    static func smallBody(_ target: String) -> [UInt8] {
        let seed = target.utf8.reduce(UInt8(0)) { $0 &+ $1 }
        return (0..<2000).map { UInt8(truncatingIfNeeded: $0) &+ seed }
    }

    /// A client that pipelines 3,000 requests (6 MB of answers, more than the loopback socket
    /// buffers hold) and then reads slowly through a small receive buffer: the proxy's sends
    /// fill the socket (partial sends, EAGAIN, the writable edge), yet every response arrives
    /// whole and in order.
    func testSlowReaderOfPipelinedSmallResponsesGetsAllInOrder() throws {
        let c = try proxy.client(timeout: 10, receiveBuffer: 4096)
        let targets = (0..<3000).map { "/small/\($0)" }
        try c.send(targets.map { "GET \($0) HTTP/1.1\r\nHost: slow.test\r\n\r\n" }.joined())
        usleep(1_000_000)   // let the proxy run into the full socket (about 4 MB in flight)
        for (i, t) in targets.enumerated() {
            if i % 500 == 0 { usleep(20_000) }
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200, t)
            XCTAssertEqual(r.body, Self.smallBody(t), t)
        }
    }

    func testPipelinedGetsComeBackInOrder() throws {
        let c = try proxy.client()
        let paths = ["/first", "/second", "/third", "/fourth", "/fifth"]
        try c.send(paths.map { "GET \($0) HTTP/1.1\r\nHost: pipe.test\r\n\r\n" }.joined())
        for p in paths {
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200, p)
            XCTAssertEqual(r.text, "blue GET \(p)")
        }
        XCTAssertEqual(upstream.requests.map(\.target), paths)
    }

    /// 1,000 pipelined requests in one write: more than the proxy's read buffer holds, so it
    /// must keep reading the rest of the batch as the earlier responses go out.
    func testThousandPipelinedRequestsBeyondOneBufferComeBackInOrder() throws {
        let c = try proxy.client()
        let paths = (0..<1000).map { "/pipelined/request/number/\($0)" }
        let batch = paths.map { "GET \($0) HTTP/1.1\r\nHost: pipe.test\r\n\r\n" }.joined()
        XCTAssertGreaterThan(batch.utf8.count, 48 * 1024)
        try c.send(batch)
        for p in paths {
            let r = try c.readResponse()
            XCTAssertEqual(r.text, "blue GET \(p)")
            if r.text != "blue GET \(p)" { break }
        }
        XCTAssertEqual(upstream.requestCount, 1000)
    }

    func testPipelinedMixOfBodiesAndHeadStaysInSync() throws {
        let c = try proxy.client()
        var batch = "GET /a HTTP/1.1\r\nHost: pipe.test\r\n\r\n"
        batch += "POST /b HTTP/1.1\r\nHost: pipe.test\r\nContent-Length: 5\r\n\r\nhello"
        batch += "HEAD /c HTTP/1.1\r\nHost: pipe.test\r\n\r\n"
        batch += "POST /d HTTP/1.1\r\nHost: pipe.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        batch += "GET /e HTTP/1.1\r\nHost: pipe.test\r\n\r\n"
        try c.send(batch)
        XCTAssertEqual(try c.readResponse().text, "blue GET /a")
        XCTAssertEqual(try c.readResponse().text, "blue POST /b")
        let head = try c.readResponse(head: true)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), "\("blue HEAD /c".utf8.count)")
        XCTAssertEqual(try c.readResponse().text, "blue POST /d")
        XCTAssertEqual(try c.readResponse().text, "blue GET /e")
        let reqs = upstream.requests
        XCTAssertEqual(reqs.map(\.target), ["/a", "/b", "/c", "/d", "/e"])
        XCTAssertEqual(reqs[1].bodyHash, FNV1a64.of(Array("hello".utf8)))
        XCTAssertEqual(reqs[3].bodyHash, FNV1a64.of(Array("abc".utf8)))
    }

    func testPostWithContentLengthBodyArrivesIntact() throws {
        let c = try proxy.client()
        let small = Array("hello world".utf8)
        try c.send("POST /form HTTP/1.1\r\nHost: post.test\r\nContent-Length: \(small.count)\r\n\r\n")
        try c.send(small)
        let r1 = try c.readResponse()
        XCTAssertEqual(r1.status, 200)
        XCTAssertEqual(r1.text, "blue POST /form")

        // Larger than the proxy's I/O buffers, and sent in two writes with a pause in between.
        let big = Pattern.bytes(count: 300_001)
        try c.send("POST /big HTTP/1.1\r\nHost: post.test\r\nContent-Length: \(big.count)\r\n\r\n")
        try c.send(Array(big[..<1000]))
        sleepMilliseconds(20)
        try c.send(Array(big[1000...]))
        XCTAssertEqual(try c.readResponse().text, "blue POST /big")

        let reqs = upstream.requests
        XCTAssertEqual(reqs.count, 2)
        XCTAssertEqual(reqs[0].method, "POST")
        XCTAssertEqual(reqs[0].headers.values("Content-Length"), ["11"])
        XCTAssertEqual(reqs[0].bodyLength, 11)
        XCTAssertEqual(reqs[0].bodyHash, FNV1a64.of(small))
        XCTAssertEqual(reqs[1].bodyLength, 300_001)
        XCTAssertEqual(reqs[1].bodyHash, FNV1a64.of(big))
    }

    func testPostWithChunkedBodyArrivesIntact() throws {
        let c = try proxy.client()
        // Chunk extensions and a trailer are legal; the payload is what counts.
        try c.send("POST /chunks HTTP/1.1\r\nHost: post.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "blue POST /chunks")
        let req = try XCTUnwrap(upstream.requests.first)
        XCTAssertEqual(req.headers.tokens("Transfer-Encoding"), ["chunked"])
        XCTAssertFalse(req.headers.contains("Content-Length"))
        XCTAssertEqual(req.bodyLength, 11)
        XCTAssertEqual(req.bodyHash, FNV1a64.of(Array("hello world".utf8)))
        // Still in sync afterwards.
        XCTAssertEqual(try c.get("/next").text, "blue GET /next")
    }

    func testHeadResponseHasNoBody() throws {
        let c = try proxy.client()
        try c.send("HEAD /page HTTP/1.1\r\nHost: head.test\r\n\r\n")
        let r = try c.readResponse(head: true)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Content-Length"), "\("blue HEAD /page".utf8.count)")
        XCTAssertEqual(upstream.requests.first?.method, "HEAD")
        // If any body byte had been relayed, it would be parsed as the next status line.
        XCTAssertEqual(try c.get("/after-head").text, "blue GET /after-head")
    }

    func testHeadOfChunkedResourceHasNoBody() throws {
        let c = try proxy.client()
        try c.send("HEAD /chunked HTTP/1.1\r\nHost: head.test\r\n\r\n")
        let r = try c.readResponse(head: true)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(try c.get("/after-head").text, "blue GET /after-head")
    }

    func test204And304CarryNoBodyAndConnectionStaysUsable() throws {
        let c = try proxy.client()
        let r204 = try c.get("/status/204")
        XCTAssertEqual(r204.status, 204)
        XCTAssertEqual(r204.bodyLength, 0)
        XCTAssertFalse(r204.closesConnection)
        let r304 = try c.get("/status/304", headers: [HTTPHeader("If-None-Match", "\"v1\"")])
        XCTAssertEqual(r304.status, 304)
        XCTAssertEqual(r304.header("ETag"), "\"v1\"")
        XCTAssertFalse(r304.closesConnection)
        let r = try c.get("/after")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "blue GET /after")
        XCTAssertEqual(upstream.requests.map(\.target), ["/status/204", "/status/304", "/after"])
        XCTAssertEqual(upstream.acceptedConnections, 1, "the upstream connection is reused after bodiless responses")
    }

    func testHTTP10RequestGetsCorrectResponse() throws {
        let c = try proxy.client()
        try c.send("GET /old HTTP/1.0\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "blue GET /old")
        XCTAssertTrue(r.version == "HTTP/1.1" || r.version == "HTTP/1.0", r.version)
        // HTTP/1.0 without keep-alive: the proxy closes after the response.
        XCTAssertEqual(c.waitForEnd(), .closed)
        let req = try XCTUnwrap(upstream.requests.first)
        XCTAssertEqual(req.target, "/old")
        XCTAssertEqual(req.headers.values("Host").count, 1, "the upstream request needs exactly one Host: \(req.headers)")
    }

    func testHTTP10KeepAliveAndChunkedResponseIsDecoded() throws {
        let c = try proxy.client()
        try c.send("GET /old HTTP/1.0\r\nHost: old.test\r\nConnection: keep-alive\r\n\r\n")
        let r1 = try c.readResponse()
        XCTAssertEqual(r1.text, "blue GET /old")
        XCTAssertTrue(r1.headers.tokens("Connection").contains("keep-alive"), "\(r1.headers)")
        // A chunked upstream response cannot be relayed as chunked to an HTTP/1.0 client:
        // it gets the decoded payload, delimited by Content-Length or by closing.
        try c.send("GET /chunked HTTP/1.0\r\nHost: old.test\r\nConnection: keep-alive\r\n\r\n")
        let r2 = try c.readResponse()
        XCTAssertEqual(r2.status, 200)
        XCTAssertFalse(r2.headers.contains("Transfer-Encoding"), "\(r2.headers)")
        XCTAssertEqual(r2.bodyLength, 100_000)
        XCTAssertEqual(r2.bodyHash, Pattern.hash(count: 100_000))
    }

    func testUpgradeTunnelEchoesBytesBothWays() throws {
        let c = try proxy.client()
        try c.send("GET /ws HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                   + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 101)
        XCTAssertEqual(r.headers.tokens("Upgrade"), ["websocket"])
        XCTAssertTrue(r.headers.tokens("Connection").contains("upgrade"), "\(r.headers)")
        let req = try XCTUnwrap(upstream.requests.first)
        XCTAssertEqual(req.headers.tokens("Upgrade"), ["websocket"], "Upgrade must reach the upstream")
        XCTAssertTrue(req.headers.tokens("Connection").contains("upgrade"), "\(req.headers)")

        // Small messages, one at a time, in both directions.
        for msg in ["hello", "x", String(repeating: "tunnel ", count: 1000)] {
            try c.send(msg)
            XCTAssertEqual(String(decoding: try c.readExactly(msg.utf8.count), as: UTF8.self), msg)
        }
        // 2 MB sent from another thread while this one reads the echo.
        let total = 2 * 1024 * 1024
        let fd = c.fd
        let err = Shared<String?>(nil)
        let sender = TestThread {
            do { try sendAll(fd, Pattern.bytes(count: total), timeout: 10) } catch { err.set("\(error)") }
        }
        let echoed = Result { try c.hashExactly(UInt64(total)) }
        sender.join()
        XCTAssertNil(err.value)
        XCTAssertEqual(try echoed.get().value, Pattern.hash(count: UInt64(total)))
        // Half-close travels through the tunnel: the upstream sees EOF, closes its side, we see EOF.
        c.shutdownWrite()
        XCTAssertEqual(c.waitForEnd(), .closed)
    }

    /// The client sends its first tunnel bytes in the same write as the upgrade request (a
    /// client may, once it expects 101): they must reach the upstream after the switch.
    func testUpgradeWithTunnelBytesInSameWriteAsRequest() throws {
        let c = try proxy.client()
        try c.send("GET /ws HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly-bytes")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 101)
        XCTAssertEqual(String(decoding: try c.readExactly("early-bytes".utf8.count), as: UTF8.self), "early-bytes")
        try c.send("later")
        XCTAssertEqual(String(decoding: try c.readExactly(5), as: UTF8.self), "later")
        XCTAssertEqual(upstream.requestCount, 1)
    }

    func testClientConnectionCloseIsHonoured() throws {
        let c = try proxy.client()
        try c.send("GET /bye HTTP/1.1\r\nHost: close.test\r\nConnection: close\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.text, "blue GET /bye")
        XCTAssertTrue(r.closesConnection, "\(r.headers)")
        XCTAssertEqual(c.waitForEnd(), .closed)
        XCTAssertFalse(upstream.requests[0].headers.tokens("Connection").contains("close"),
                       "the client's Connection: close is hop-by-hop; the upstream connection stays reusable")
    }
}

/// Every MessageTests test again with plain recv/send syscalls (`io-uring off`), the path taken
/// where the kernel refuses io_uring.
/// (XCTest on Linux discovers only methods a class declares itself, hence the overrides.)
final class MessageTestsPlainSyscalls: MessageTests {
    override class var extraConfig: String { "io-uring off\n" }
    override func testSocketIOIsBatchedExactlyWhenConfigured() throws { try super.testSocketIOIsBatchedExactlyWhenConfigured() }
    override func testPipelinedGetsComeBackInOrder() throws { try super.testPipelinedGetsComeBackInOrder() }
    override func testSlowReaderOfPipelinedSmallResponsesGetsAllInOrder() throws { try super.testSlowReaderOfPipelinedSmallResponsesGetsAllInOrder() }
    override func testThousandPipelinedRequestsBeyondOneBufferComeBackInOrder() throws { try super.testThousandPipelinedRequestsBeyondOneBufferComeBackInOrder() }
    override func testPipelinedMixOfBodiesAndHeadStaysInSync() throws { try super.testPipelinedMixOfBodiesAndHeadStaysInSync() }
    override func testPostWithContentLengthBodyArrivesIntact() throws { try super.testPostWithContentLengthBodyArrivesIntact() }
    override func testPostWithChunkedBodyArrivesIntact() throws { try super.testPostWithChunkedBodyArrivesIntact() }
    override func testHeadResponseHasNoBody() throws { try super.testHeadResponseHasNoBody() }
    override func testHeadOfChunkedResourceHasNoBody() throws { try super.testHeadOfChunkedResourceHasNoBody() }
    override func test204And304CarryNoBodyAndConnectionStaysUsable() throws { try super.test204And304CarryNoBodyAndConnectionStaysUsable() }
    override func testHTTP10RequestGetsCorrectResponse() throws { try super.testHTTP10RequestGetsCorrectResponse() }
    override func testHTTP10KeepAliveAndChunkedResponseIsDecoded() throws { try super.testHTTP10KeepAliveAndChunkedResponseIsDecoded() }
    override func testUpgradeTunnelEchoesBytesBothWays() throws { try super.testUpgradeTunnelEchoesBytesBothWays() }
    override func testUpgradeWithTunnelBytesInSameWriteAsRequest() throws { try super.testUpgradeWithTunnelBytesInSameWriteAsRequest() }
    override func testClientConnectionCloseIsHonoured() throws { try super.testClientConnectionCloseIsHonoured() }
}
