import EventLoop
import Glibc
@testable import Origin
import Testing

/// The origin over real loopback sockets: routing, keep-alive rules, pipelining order, body
/// framing (read and discarded, or echoed), error answers and lifecycle.
@Suite struct OriginServerTests {
    @Test func routesAnswerWithPrerenderedBytes() throws {
        try withServer(localConfig()) { s in
            let c = try RawClient(port: s.port)
            c.send("GET /2b HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try #require(c.response())
            #expect(r.status == 200)
            #expect(r.text == "ok")
            #expect(r.header("Content-Length") == "2")
            #expect(r.header("X-Served-By") == "test")
            c.send("GET /1k?cache=no HTTP/1.1\r\n\r\n")
            #expect(c.response()?.body.count == 1024)
            c.send("GET /100k HTTP/1.1\r\n\r\n")
            #expect(c.response()?.body.count == 100 * 1024)
            c.send("GET /nope HTTP/1.1\r\n\r\n")
            #expect(c.response()?.status == 404)
            c.send("HEAD /1k HTTP/1.1\r\n\r\n")
            let h = try #require(c.response(head: true))
            #expect(h.header("Content-Length") == "1024")
            c.send("GET http://example.com/2b HTTP/1.1\r\n\r\n")
            #expect(c.response()?.text == "ok")
        }
    }

    @Test func defaultRouteReplacesNotFound() throws {
        var config = localConfig(routes: [])
        config.defaultRoute = OriginRoute(path: "", text: "fallback")
        try withServer(config) { s in
            let c = try RawClient(port: s.port)
            c.send("GET /anything/at/all HTTP/1.1\r\n\r\n")
            #expect(c.response()?.text == "fallback")
        }
    }

    @Test func keepAliveRules() throws {
        try withServer(localConfig()) { s in
            let c11 = try RawClient(port: s.port)
            for _ in 0..<3 {
                c11.send("GET /2b HTTP/1.1\r\n\r\n")
                #expect(c11.response()?.header("Connection") == nil)
            }
            c11.send("GET /2b HTTP/1.1\r\nConnection: close\r\n\r\n")
            #expect(c11.response()?.header("Connection") == "close")
            #expect(c11.closedByServer())

            let c10 = try RawClient(port: s.port)
            c10.send("GET /2b HTTP/1.0\r\n\r\n")
            #expect(c10.response()?.header("Connection") == "close")
            #expect(c10.closedByServer())

            let c10ka = try RawClient(port: s.port)
            c10ka.send("GET /2b HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            #expect(c10ka.response()?.header("Connection") == "keep-alive")
            c10ka.send("GET /2b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(c10ka.response()?.text == "ok")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        try withServer(localConfig()) { s in
            let c = try RawClient(port: s.port)
            let paths = (0..<300).map { ["/2b", "/1k", "/100k", "/nope"][$0 % 4] }
            c.send(paths.map { "GET \($0) HTTP/1.1\r\n\r\n" }.joined())
            for p in paths {
                let r = try #require(c.response())
                switch p {
                case "/2b": #expect(r.text == "ok")
                case "/1k": #expect(r.body.count == 1024)
                case "/100k": #expect(r.body.count == 102_400)
                default: #expect(r.status == 404)
                }
            }
        }
    }

    @Test func bodiesAreReadAndDiscarded() throws {
        try withServer(localConfig()) { s in
            let c = try RawClient(port: s.port)
            let body = [UInt8](repeating: 65, count: 300_000)
            c.send(Array("POST /upload HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            #expect(c.response()?.text == "ok")
            c.send("POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: 1\r\n\r\n")
            #expect(c.response()?.text == "ok")
            c.send("GET /2b HTTP/1.1\r\n\r\n")
            #expect(c.response()?.text == "ok")
        }
    }

    @Test func echoStreamsTheBodyBackChunked() throws {
        try withServer(localConfig()) { s in
            let c = try RawClient(port: s.port)
            let body: [UInt8] = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            c.send(Array("POST /echo HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            let r = try #require(c.response())
            #expect(r.header("Transfer-Encoding") == "chunked")
            #expect(r.body == body)
            c.send("PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            #expect(c.response()?.text == "abcde")
            c.send("GET /echo HTTP/1.1\r\n\r\n")
            #expect(c.response()?.body.isEmpty == true)
            let c10 = try RawClient(port: s.port)
            c10.send("POST /echo HTTP/1.0\r\nContent-Length: 4\r\n\r\nwxyz")
            #expect(c10.response()?.text == "wxyz")   // close-delimited: HTTP/1.0 has no chunking
        }
    }

    @Test func expectContinueGetsAnInterimResponse() throws {
        try withServer(localConfig()) { s in
            let c = try RawClient(port: s.port)
            c.send("POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
            #expect(c.response()?.status == 100)
            c.send("abc")
            #expect(c.response()?.text == "ok")
        }
    }

    @Test func malformedRequestsGetAnErrorAndAClose() throws {
        try withServer(localConfig()) { s in
            for bad in ["NONSENSE\r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                        "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"] {
                let c = try RawClient(port: s.port)
                c.send(bad)
                #expect(c.response()?.status == 400, "\(bad)")
                #expect(c.closedByServer())
            }
            let c = try RawClient(port: s.port)
            c.send("GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 40_000) + "\r\n\r\n")
            #expect(c.response()?.status == 431)
        }
    }

    @Test func requestArrivingByteByByte() throws {
        try withServer(localConfig()) { s in
            let c = try RawClient(port: s.port)
            for b in Array("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\nGET /2b HTTP/1.1\r\n\r\n".utf8) {
                c.send([b])
                usleep(200)
            }
            #expect(c.response()?.text == "wiki")
            #expect(c.response()?.text == "ok")
        }
    }

    @Test func severalThreadsShareOnePortAndStopClosesEverything() throws {
        let server = try OriginServer(config: localConfig(threads: 3))
        server.start()
        let clients = try (0..<12).map { _ in try RawClient(port: server.port) }
        for c in clients {
            c.send("GET /2b HTTP/1.1\r\n\r\n")
            #expect(c.response()?.text == "ok")
        }
        server.stop()
        server.stop()
        for c in clients { #expect(c.closedByServer()) }
        // The port is free again.
        let again = try OriginServer(config: OriginConfig(address: SocketAddress(ip: "127.0.0.1", port: server.port)!, threads: 2))
        again.stop()
    }

    @Test func attachedToACallerRunLoop() throws {
        let loop = try EventLoop()
        let server = try OriginServer(config: localConfig(), loop: loop)
        let thread = LoopThread { loop.run() }
        let c = try RawClient(port: server.port)
        c.send("GET /2b HTTP/1.1\r\n\r\n")
        #expect(c.response()?.text == "ok")
        loop.stop()
        thread.join()
        server.stop()
        #expect(c.closedByServer())
    }

    @Test func storefrontNamesItsColourAndVersion() throws {
        var config = OriginConfig.storefront(colour: "green", version: "v2.3", port: 0)
        #expect(config.address.port == 0)
        config.threads = 1
        try withServer(config) { s in
            let c = try RawClient(port: s.port)
            c.send("GET /some/page HTTP/1.1\r\n\r\n")
            let r = try #require(c.response())
            #expect(r.status == 200)
            #expect(r.header("X-Served-By") == "green")
            #expect(r.header("Content-Type")?.hasPrefix("text/html") == true)
            #expect(r.text.contains("green") && r.text.contains("v2.3"))
            c.send("GET /healthz HTTP/1.1\r\n\r\n")
            #expect(c.response()?.text == "ok")
        }
    }

    @Test func benchmarkConfigHasTheAdvertisedRoutes() {
        let c = OriginConfig.benchmark(port: 9101, threads: 2)
        #expect(c.address.port == 9101)
        #expect(c.threads == 2)
        let sizes = Dictionary(uniqueKeysWithValues: c.routes.map { ($0.path, $0.body.count) })
        #expect(sizes == ["/": 2, "/2b": 2, "/1k": 1024, "/100k": 102_400, "/upload": 2])
    }
}
