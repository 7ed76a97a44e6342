import Glibc
import TestSupport
import XCTest

/// A server that resets its connection (RST) in the middle of a response, after the head and
/// part of the body: the client's connection is cut promptly and a truncated body is never
/// handed over as a complete response; and under load with POSTs, no POST is sent twice.
final class FaultResetTests: HealthFaultTestCase {
    /// Raw bytes from `c` until the connection ends or `wait` seconds pass.
    private func readRawUntilEnd(_ c: TestClient, wait: Double) -> (bytes: [UInt8], end: ConnectionEnd, seconds: Double) {
        let t0 = monotonicSeconds()
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        TestSockets.setTimeouts(c.fd, receive: 0.05, send: 5)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { out += buf[0..<n]; continue }
            if n == 0 { return (out, .closed, monotonicSeconds() - t0) }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK {
                if monotonicSeconds() - t0 < wait { continue }
                return (out, .stillOpen, monotonicSeconds() - t0)
            }
            return (out, .reset, monotonicSeconds() - t0)
        }
    }

    private struct RawResponse {
        var head: String
        var body: [UInt8]
        var end: ConnectionEnd
        var seconds: Double
    }

    /// One GET on a fresh connection, read raw until the connection ends.
    private func rawGET(_ proxy: TestProxy, _ target: String, http10: Bool = false) throws -> RawResponse {
        let c = try proxy.client(timeout: 5)
        defer { c.close() }
        try c.send("GET \(target) HTTP/1.\(http10 ? 0 : 1)\r\nHost: reset.test\r\n\(http10 ? "Connection: keep-alive\r\n" : "")\r\n")
        let (bytes, end, seconds) = readRawUntilEnd(c, wait: 4)
        let marker: [UInt8] = [13, 10, 13, 10]
        var headEnd = -1
        if bytes.count >= 4 {
            for i in 0...(bytes.count - 4) where Array(bytes[i..<(i + 4)]) == marker { headEnd = i + 4; break }
        }
        guard headEnd > 0 else { return RawResponse(head: String(decoding: bytes, as: UTF8.self), body: [], end: end, seconds: seconds) }
        return RawResponse(head: String(decoding: bytes[..<headEnd], as: UTF8.self), body: Array(bytes[headEnd...]),
                           end: end, seconds: seconds)
    }

    private func singleServerProxy(_ mode: PythonUpstream.Mode) throws -> (PythonUpstream, TestProxy) {
        let r = try upstream("R", mode: mode)
        let p = try proxy(healthConfigText(workers: 1, pools: [("blue", ["server \(r.address)", "eject-after off"])],
                                           split: "blue=100", extra: ["timeout upstream 5s"]))
        return (r, p)
    }

    func testResetMidContentLengthBodyCutsTheClientConnection() throws {
        let (r, proxy) = try singleServerProxy(.resetMidResponse)

        // As a client library sees it: the response is never complete, the connection ends.
        for i in 0..<3 {
            let c = try proxy.client(timeout: 5)
            let t0 = monotonicSeconds()
            do {
                let resp = try c.get("/cl/\(i)")
                XCTFail("a response cut by the upstream was read as complete: \(resp)")
            } catch let e as TestSocketError {
                XCTAssertTrue(e.isConnectionEnd, "expected the connection to end, got \(e)")
            }
            XCTAssertLessThan(monotonicSeconds() - t0, 2.0, "the client waited for a timeout instead of being cut at once")
            c.close()
        }
        // On the wire: the head (Content-Length 100000) and part of the body, then the end.
        for http10 in [false, true] {
            let raw = try rawGET(proxy, "/raw/\(http10)", http10: http10)
            XCTAssertTrue(raw.head.hasPrefix("HTTP/1.1 200"), "head: \(raw.head.debugDescription)")
            XCTAssertTrue(raw.head.lowercased().contains("content-length: 100000"), "head: \(raw.head)")
            XCTAssertLessThan(raw.body.count, 100_000)
            XCTAssertTrue(raw.end == .closed || raw.end == .reset, "connection still open after \(raw.seconds) s")
            XCTAssertLessThan(raw.seconds, 2.0)
        }
        // Each request reached the server once: a response whose head went out is never retried.
        XCTAssertEqual(r.proxied.count, 5, "\(r.proxied)")
    }

    func testResetMidChunkedBodyIsNeverPassedOffAsComplete() throws {
        let (r, proxy) = try singleServerProxy(.resetMidChunked)
        // HTTP/1.1: the chunks are relayed; the last chunk must never be made up.
        let c = try proxy.client(timeout: 5)
        do {
            let resp = try c.get("/chunked")
            XCTFail("a chunked response cut by the upstream was read as complete: \(resp)")
        } catch let e as TestSocketError {
            XCTAssertTrue(e.isConnectionEnd, "expected the connection to end, got \(e)")
        }
        let raw11 = try rawGET(proxy, "/raw11")
        XCTAssertTrue(raw11.head.hasPrefix("HTTP/1.1 200"), raw11.head)
        XCTAssertFalse(String(decoding: raw11.body, as: UTF8.self).contains("\r\n0\r\n\r\n"), "a last chunk was made up")
        XCTAssertTrue(raw11.end == .closed || raw11.end == .reset, "connection still open after \(raw11.seconds) s")
        // HTTP/1.0: the proxy removes the chunked coding, so the body is delimited by the close:
        // only a reset can tell the client that it is incomplete.
        let raw10 = try rawGET(proxy, "/raw10", http10: true)
        XCTAssertTrue(raw10.head.hasPrefix("HTTP/1.1 200"), raw10.head)
        XCTAssertFalse(raw10.head.lowercased().contains("content-length"), raw10.head)
        XCTAssertLessThan(raw10.body.count, 100_000)
        XCTAssertEqual(raw10.end, .reset, "a close-delimited body cut by the upstream must end in a reset, not a clean close")
        XCTAssertEqual(r.proxied.count, 3)
    }

    func testResetMidCloseDelimitedBodyIsNeverPassedOffAsComplete() throws {
        // The upstream's body has no framing (it ends with the connection) and the upstream
        // resets the connection in the middle. A clean close towards the client would make the
        // first 1000 bytes look like the whole body: the proxy must reset the client instead.
        let (r, proxy) = try singleServerProxy(.resetMidClose)
        for http10 in [false, true] {
            let raw = try rawGET(proxy, "/close-delimited/\(http10)", http10: http10)
            XCTAssertTrue(raw.head.hasPrefix("HTTP/1.1 200"), raw.head)
            XCTAssertEqual(raw.body.count, 1000, "the bytes sent before the reset are relayed")
            XCTAssertEqual(raw.end, .reset,
                           "HTTP/1.\(http10 ? 0 : 1) client: the upstream reset a close-delimited body, but the client "
                           + "saw a \(raw.end) — a truncated body passed off as complete")
        }
        XCTAssertEqual(r.proxied.count, 2)
    }

    func testResetsUnderLoadNeverSendAPOSTTwiceAndNeverCompleteACutResponse() throws {
        let n = try upstream("N")
        let r = try upstream("R", mode: .resetMidResponse)
        let proxy = try proxy(healthConfigText(workers: 2, pools: [
            ("blue", ["server \(n.address)", "server \(r.address)", "eject-after off", "retries 2"]),
        ], split: "blue=100", extra: ["timeout upstream 5s"]))
        let gets = load(proxy, [.get(keepAlive: true), .get(keepAlive: true), .get(keepAlive: false)], idPrefix: "g")
        let posts = load(proxy, [.post(keepAlive: true), .post(keepAlive: false)], idPrefix: "p")
        gets.start()
        posts.start()

        // Phase 1: R sends a head and part of the body, then resets.
        XCTAssertTrue(pollUntil(timeout: 10) {
            let got = r.proxied
            return got.contains { $0.method == "GET" } && got.filter { $0.method == "POST" }.count >= 3
        }, "R got no traffic in phase 1")
        sleepMilliseconds(300)
        // Phase 2: R resets as soon as it has read a request.
        try r.setMode(.resetBeforeResponse)
        XCTAssertTrue(pollUntil(timeout: 10) {
            let got = r.proxied.filter { $0.mode == PythonUpstream.Mode.resetBeforeResponse.rawValue }
            return got.contains { $0.method == "GET" } && got.filter { $0.method == "POST" }.count >= 3
        }, "R got no traffic in phase 2")
        sleepMilliseconds(300)
        let getOutcomes = gets.stop()
        let postOutcomes = posts.stop()
        print("resets: GETs \(getOutcomes.summary()); POSTs \(postOutcomes.summary())")

        // No POST received twice; every POST that succeeded was received exactly once.
        let received = assertNoPOSTReceivedTwice(postOutcomes, upstreams: [n, r])

        // Nothing R sent was ever read as a complete response.
        let all = getOutcomes + postOutcomes
        XCTAssertFalse(all.contains { $0.upstream == "R" }, "a response from R was read as complete")

        let rLog = Dictionary(r.proxied.map { ($0.requestID, $0) }, uniquingKeysWith: { a, _ in a })
        let midMode = PythonUpstream.Mode.resetMidResponse.rawValue
        let beforeMode = PythonUpstream.Mode.resetBeforeResponse.rawValue
        for o in all where !o.ok {
            guard let e = rLog[o.id] else {
                XCTFail("\(o) failed without reaching R")
                continue
            }
            if e.mode == midMode {
                // The head went out: only cutting the connection is possible.
                XCTAssertTrue(o.connectionEnded, "a request cut mid-response must end the connection: \(o)")
            } else {
                // Reset before any response byte: a GET is retried elsewhere (it cannot fail),
                // a POST is answered 502 and not sent again.
                XCTAssertEqual(o.method, .post, "a GET reset before any response byte must be retried: \(o)")
                XCTAssertEqual(o.status, 502, "\(o)")
            }
        }
        // GETs that R reset before answering were retried on N and succeeded.
        let getsResetEarly = r.proxied.filter { $0.method == "GET" && $0.mode == beforeMode }.map(\.requestID)
        XCTAssertFalse(getsResetEarly.isEmpty)
        let byID = Dictionary(getOutcomes.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for id in getsResetEarly {
            XCTAssertEqual(byID[id]?.ok, true, "GET \(id) reset before any response byte: \(byID[id].map { "\($0)" } ?? "no outcome")")
            XCTAssertEqual(byID[id]?.upstream, "N")
        }
        // POSTs that R received failed, and stayed with R.
        for (id, entries) in received where entries.contains(where: { $0.name == "R" }) {
            XCTAssertEqual(entries.count, 1, "POST \(id): \(entries)")
        }
        XCTAssertTrue(getOutcomes.filter(\.ok).count > 100 && postOutcomes.filter(\.ok).count > 20, "too little load to tell")
    }
}
