import Glibc
import XCTest
import TestSupport

/// Connections that come and go at random points while others complete requests (keep-alive
/// GETs, POSTs echoed byte for byte, pipelined pairs): with batched
/// socket I/O a send may be queued for a connection that is closed (and whose descriptor number is
/// reused) in the same loop round, so this checks that every response a client reads is the one
/// for its own request, byte for byte, and that nothing hangs. Runs with io_uring (the default)
/// and with `io-uring off`.
final class ChurnTests: XCTestCase {
    /// Echoes the request target in the body and a header, so a response can be matched to its
    /// request.
    static let echoTarget: UpstreamBehavior = { head in
        head.target.hasPrefix("/echo")
            ? .echoBody
            : .respond(status: 200, headers: [HTTPHeader("X-Target", head.target)], body: Array("for \(head.target)".utf8))
    }

    func testResponsesNeverCrossConnectionsWhileOthersResetMidRequest() throws {
        try churn(extra: "")
    }

    func testResponsesNeverCrossConnectionsWithPlainSyscalls() throws {
        try churn(extra: "io-uring off\n")
    }

    private func churn(extra: String) throws {
        let up = try TestUpstream(name: "blue", behavior: Self.echoTarget)
        defer { up.stop() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [up.port])], split: "blue=100", extra: extra)
        defer { proxy.stop() }
        let port = proxy.port

        struct Tally: Sendable { var verified = 0; var abandoned = 0; var wrong: [String] = [] }
        let tally = Shared(Tally())
        let deadline = monotonicSeconds() + 20
        var threads: [TestThread] = []
        for id in 0..<6 {
            threads.append(TestThread {
                var rng = SplitMix64(seed: UInt64(id) &* 0x9E37_79B9 &+ 1)
                var n = 0
                while n < 400 && monotonicSeconds() < deadline {
                    n += 1
                    let target = "/c\(id)/r\(n)"
                    do {
                        let c = try TestClient(port: port, timeout: 5)
                        switch rng.next() % 4 {
                        case 0:
                            // Reset right after sending: the proxy may be about to answer.
                            try c.send("GET \(target) HTTP/1.1\r\nHost: churn.test\r\n\r\n")
                            TestSockets.setAbortiveClose(c.fd)
                            c.close()
                            tally.update { $0.abandoned += 1 }
                        case 1:
                            // Reset halfway through the head.
                            try c.send("GET \(target) HTTP/1.1\r\nHo")
                            TestSockets.setAbortiveClose(c.fd)
                            c.close()
                            tally.update { $0.abandoned += 1 }
                        case 2 where n % 3 == 0:
                            // A POST whose body (up to 64 KiB, often more than one read) must come back
                            // byte for byte, then a pipelined pair of GETs.
                            let size = Int(rng.next() % 65_536)
                            let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ id &+ n) }
                            try c.send("POST /echo\(target) HTTP/1.1\r\nHost: churn.test\r\nContent-Length: \(size)\r\n\r\n")
                            try c.send(body)
                            let r = try c.readResponse()
                            if r.status != 200 || r.body != body {
                                tally.update { $0.wrong.append("POST \(target): status \(r.status), \(r.body.count) of \(size) bytes") }
                            } else {
                                tally.update { $0.verified += 1 }
                            }
                            // An echo answers before the body is all in, so the proxy may close after
                            // it (and says so): then the pair goes on a new connection.
                            var next = c
                            if r.closesConnection {
                                c.close()
                                next = try TestClient(port: port, timeout: 5)
                            }
                            try next.send("GET \(target)/p0 HTTP/1.1\r\nHost: churn.test\r\n\r\nGET \(target)/p1 HTTP/1.1\r\nHost: churn.test\r\n\r\n")
                            for k in 0..<2 {
                                let t = "\(target)/p\(k)"
                                let p = try next.readResponse()
                                if p.status != 200 || p.text != "for \(t)" {
                                    tally.update { $0.wrong.append("\(t): status \(p.status) body \(p.text.prefix(60))") }
                                } else {
                                    tally.update { $0.verified += 1 }
                                }
                            }
                            next.close()
                        default:
                            // A few keep-alive requests, each checked against its own target.
                            for k in 0..<3 {
                                let t = "\(target)/k\(k)"
                                let r = try c.get(t, host: "churn.test")
                                if r.status != 200 || r.text != "for \(t)" || r.header("X-Target") != t {
                                    tally.update { $0.wrong.append("\(t): status \(r.status) body \(r.text.prefix(60))") }
                                } else {
                                    tally.update { $0.verified += 1 }
                                }
                            }
                            c.close()
                        }
                    } catch {
                        tally.update { $0.wrong.append("\(target): \(error)") }
                    }
                }
            })
        }
        for t in threads { t.join() }
        let result = tally.value
        XCTAssertEqual(result.wrong, [], "responses that were not the client's own (or failed)")
        XCTAssertGreaterThan(result.verified, 500, "too few verified responses to mean anything")
        XCTAssertGreaterThan(result.abandoned, 200)
    }
}
