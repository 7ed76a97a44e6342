import XCTest

/// What the upstream sees of the client's head: X-Forwarded-*, Host, and no hop-by-hop fields.
final class ForwardingHeaderTests: XCTestCase {
    private func roundTrip(extra: String = "", request: String) throws -> RecordedRequest {
        let up = try TestUpstream(name: "blue")
        defer { up.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [up.port])], split: "blue=100", extra: extra)
        defer { proxy.stop() }
        let c = try proxy.client()
        try c.send(request)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "blue")
        XCTAssertEqual(up.requestCount, 1)
        return try XCTUnwrap(up.requests.first)
    }

    func testUntrustedClientForwardedForIsReplaced() throws {
        let req = try roundTrip(request: "GET /xff HTTP/1.1\r\nHost: shop.example:8080\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
        XCTAssertEqual(req.headers.values("X-Forwarded-For"), ["127.0.0.1"], "\(req.headers)")
        XCTAssertEqual(req.headers.values("X-Forwarded-Proto"), ["http"])
        XCTAssertEqual(req.headers.values("X-Forwarded-Host"), ["shop.example:8080"])
        XCTAssertEqual(req.headers.values("Host"), ["shop.example:8080"], "Host is preserved")
        XCTAssertEqual(req.target, "/xff")
    }

    func testUntrustedClientForwardedProtoAndHostAreReplaced() throws {
        let req = try roundTrip(request: "GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-Proto: https\r\n"
                                + "X-Forwarded-Host: evil.example\r\nForwarded: for=6.6.6.6\r\n\r\n")
        XCTAssertEqual(req.headers.values("X-Forwarded-Proto"), ["http"], "\(req.headers)")
        XCTAssertEqual(req.headers.values("X-Forwarded-Host"), ["shop.example"], "\(req.headers)")
        XCTAssertEqual(req.headers.values("X-Forwarded-For"), ["127.0.0.1"])
        XCTAssertFalse(req.headers.contains("Forwarded"), "an untrusted client's Forwarded field is dropped")
    }

    func testTrustedProxyForwardedForIsAppendedTo() throws {
        let req = try roundTrip(extra: "trusted-proxies 127.0.0.0/8\n",
                                request: "GET /xff HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
        XCTAssertEqual(req.headers.values("X-Forwarded-For"), ["6.6.6.6, 127.0.0.1"], "\(req.headers)")
        XCTAssertEqual(req.headers.values("X-Forwarded-Proto"), ["http"])
        XCTAssertEqual(req.headers.values("X-Forwarded-Host"), ["shop.example"])
        XCTAssertEqual(req.headers.values("Host"), ["shop.example"])
    }

    func testTrustedProxySeveralForwardedForFieldsAreCombinedInOrder() throws {
        let req = try roundTrip(extra: "trusted-proxies 127.0.0.0/8\n",
                                request: "GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 1.1.1.1\r\n"
                                + "X-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n\r\n")
        XCTAssertEqual(req.headers.values("X-Forwarded-For"), ["1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"], "\(req.headers)")
    }

    func testNoForwardedForFromClientGetsClientAddress() throws {
        let req = try roundTrip(extra: "trusted-proxies 127.0.0.0/8\n", request: "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n")
        XCTAssertEqual(req.headers.values("X-Forwarded-For"), ["127.0.0.1"], "\(req.headers)")
    }

    func testHopByHopHeadersDoNotReachUpstream() throws {
        let req = try roundTrip(request: "GET /hop HTTP/1.1\r\nHost: shop.example\r\nConnection: foo, keep-alive\r\n"
                                + "Foo: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n"
                                + "X-End-To-End: kept\r\n\r\n")
        for name in ["Foo", "Keep-Alive", "TE", "Proxy-Connection"] {
            XCTAssertFalse(req.headers.contains(name), "\(name) reached the upstream: \(req.headers)")
        }
        XCTAssertFalse(req.headers.tokens("Connection").contains("foo"), "the client's Connection header was forwarded: \(req.headers)")
        XCTAssertEqual(req.headers.values("X-End-To-End"), ["kept"], "end-to-end headers are forwarded")
        XCTAssertEqual(req.headers.values("Host"), ["shop.example"])
    }
}
