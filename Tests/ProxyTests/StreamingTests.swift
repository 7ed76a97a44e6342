import Glibc
import Synchronization
import XCTest
import TestSupport

/// Large bodies stream through the proxy byte-exact and in bounded memory.
final class StreamingTests: XCTestCase {
    static let fiftyMB = 50 * 1024 * 1024
    static let rssLimit = 32 * 1024 * 1024

    private func startProxy(_ up: TestUpstream, extra: String = "") throws -> TestProxy {
        try TestProxy.dataPlane(pools: [("blue", [up.port])], split: "blue=100", extra: extra)
    }

    /// Sends `total` bytes of Pattern as a chunked body (varied chunk sizes) on `fd` from its own
    /// thread, so the caller can read the response at the same time (neither side may wait for
    /// the other to finish: that is what streaming means). Join the thread, then check the error.
    private func startChunkedUpload(fd: Int32, total: Int, timeout: Double) -> (TestThread, Shared<String?>) {
        let sendError = Shared<String?>(nil)
        let thread = TestThread { [sendError] in
            let bufSize = 64 * 1024
            let buf = UnsafeMutableRawPointer.allocate(byteCount: bufSize + 32, alignment: 16)
            defer { buf.deallocate() }
            let sizes = [65_536, 1_000, 40_000, 7, 12_345, 65_536, 30_000]
            var off = 0
            var k = 0
            do {
                while off < total {
                    let n = min(sizes[k % sizes.count], total - off)
                    k += 1
                    try sendAll(fd, Array((String(n, radix: 16) + "\r\n").utf8), timeout: timeout)
                    Pattern.fill(buf, count: n, offset: UInt64(off))
                    (buf + n).storeBytes(of: 13, as: UInt8.self)
                    (buf + n + 1).storeBytes(of: 10, as: UInt8.self)
                    try sendAll(fd, buf, n + 2, timeout: timeout)
                    off += n
                }
                try sendAll(fd, Array("0\r\n\r\n".utf8), timeout: timeout)
            } catch {
                sendError.set("\(error) after \(off) of \(total) body bytes")
            }
        }
        return (thread, sendError)
    }

    /// The echo upstream answers 200 at once and streams each piece of the body back as it
    /// arrives (full duplex, as many real upload/transcoding endpoints do).
    func testFiftyMBChunkedUploadIsEchoedByteExactInBoundedMemory() throws {
        let total = Self.fiftyMB
        let expected = Pattern.hash(count: UInt64(total))
        // 5 s without progress ends a stalled transfer (a healthy one never pauses that long).
        let up = try TestUpstream(name: "echo", ioTimeout: 5) { _ in .echoBody }
        defer { up.stop() }
        let proxy = try startProxy(up)
        defer { proxy.stop() }
        let client = try proxy.client(timeout: 5)

        let sampler = RSSSampler()
        try client.send("POST /echo HTTP/1.1\r\nHost: upload.test\r\nTransfer-Encoding: chunked\r\n\r\n")
        let (sender, sendError) = startChunkedUpload(fd: client.fd, total: total, timeout: 5)
        let response = Result { try client.readResponseStreaming() }
        sender.join()
        let growth = sampler.finish()

        XCTAssertNil(sendError.value, "sending the upload failed (upstream got \(up.bytesReceived.current) bytes)")
        let r = try response.get()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.framing, .chunked)
        XCTAssertEqual(r.bodyLength, UInt64(total))
        XCTAssertEqual(r.bodyHash, expected, "the echoed body differs from what was sent")
        XCTAssertEqual(up.requestCount, 1)
        XCTAssertEqual(up.requests.first?.bodyLength, UInt64(total), "the upstream received a different length")
        XCTAssertEqual(up.requests.first?.bodyHash, expected, "the upstream received different bytes")
        XCTAssertLessThan(growth, Self.rssLimit, "RSS grew by \(growth >> 20) MiB during a 50 MB upload")
    }

    /// A smaller full-duplex case with a Content-Length body: 1 MB to the echo upstream, sent
    /// in 16 pieces 10 ms apart (a client on a real network), so most of the body arrives after
    /// the upstream's response head.
    func testOneMBContentLengthUploadIsEchoedByteExact() throws {
        let total = 1024 * 1024
        let body = Pattern.bytes(count: total)
        let up = try TestUpstream(name: "echo", ioTimeout: 3) { _ in .echoBody }
        defer { up.stop() }
        let proxy = try startProxy(up)
        defer { proxy.stop() }
        let client = try proxy.client(timeout: 3)
        try client.send("POST /echo HTTP/1.1\r\nHost: upload.test\r\nContent-Length: \(total)\r\n\r\n")
        let fd = client.fd
        let sendError = Shared<String?>(nil)
        let sender = TestThread {
            do {
                for k in 0..<16 {
                    try sendAll(fd, Array(body[(k * total / 16)..<((k + 1) * total / 16)]), timeout: 3)
                    sleepMilliseconds(10)
                }
            } catch { sendError.set("\(error)") }
        }
        let response = Result { try client.readResponseStreaming() }
        sender.join()
        XCTAssertNil(sendError.value, "sending the upload failed (upstream got \(up.bytesReceived.current) bytes)")
        let r = try response.get()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.bodyLength, UInt64(total))
        XCTAssertEqual(r.bodyHash, FNV1a64.of(body))
        XCTAssertEqual(up.requests.first?.bodyHash, FNV1a64.of(body))
    }

    /// The same upload to an upstream that reads the whole body before it answers.
    func testFiftyMBChunkedUploadToConsumingUpstreamArrivesByteExact() throws {
        let total = Self.fiftyMB
        let expected = Pattern.hash(count: UInt64(total))
        let up = try TestUpstream(name: "sink", ioTimeout: 5) { _ in
            .respond(status: 200, headers: [], body: Array("stored".utf8))
        }
        defer { up.stop() }
        let proxy = try startProxy(up)
        defer { proxy.stop() }
        let client = try proxy.client(timeout: 5)

        let sampler = RSSSampler()
        try client.send("POST /store HTTP/1.1\r\nHost: upload.test\r\nTransfer-Encoding: chunked\r\n\r\n")
        let (sender, sendError) = startChunkedUpload(fd: client.fd, total: total, timeout: 5)
        let response = Result { try client.readResponse() }
        sender.join()
        let growth = sampler.finish()

        XCTAssertNil(sendError.value, "sending the upload failed")
        let r = try response.get()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "stored")
        XCTAssertEqual(up.requests.first?.bodyLength, UInt64(total))
        XCTAssertEqual(up.requests.first?.bodyHash, expected)
        XCTAssertLessThan(growth, Self.rssLimit, "RSS grew by \(growth >> 20) MiB during a 50 MB upload")
        // The exchange ended cleanly: the connection takes another request.
        XCTAssertEqual(try client.get("/after").text, "stored")
    }

    func testFiftyMBContentLengthDownloadIsByteExactInBoundedMemory() throws {
        let total = Self.fiftyMB
        let expected = Pattern.hash(count: UInt64(total))
        let up = try TestUpstream(name: "dl") { _ in .download(bytes: total, chunked: false) }
        defer { up.stop() }
        let proxy = try startProxy(up)
        defer { proxy.stop() }
        let client = try proxy.client(timeout: 20)

        let sampler = RSSSampler()
        try client.send("GET /big HTTP/1.1\r\nHost: download.test\r\n\r\n")
        let response = Result { try client.readResponseStreaming() }
        let growth = sampler.finish()

        let r = try response.get()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Content-Length"), "\(total)")
        XCTAssertEqual(r.framing, .length(UInt64(total)))
        XCTAssertEqual(r.bodyLength, UInt64(total))
        XCTAssertEqual(r.bodyHash, expected)
        XCTAssertLessThan(growth, Self.rssLimit, "RSS grew by \(growth >> 20) MiB during a 50 MB download")
        // The connection is still usable afterwards.
        try client.send("GET /big HTTP/1.1\r\nHost: download.test\r\n\r\n")
        XCTAssertEqual(try client.readResponseStreaming().bodyHash, expected)
    }

    func testTenMBChunkedDownloadIsByteExact() throws {
        let total = 10 * 1024 * 1024
        let up = try TestUpstream(name: "dl") { _ in .download(bytes: total, chunked: true, piece: 50_000) }
        defer { up.stop() }
        let proxy = try startProxy(up)
        defer { proxy.stop() }
        let client = try proxy.client(timeout: 20)

        let sampler = RSSSampler()
        try client.send("GET /chunked HTTP/1.1\r\nHost: download.test\r\n\r\n")
        let r = try client.readResponseStreaming()
        let growth = sampler.finish()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.framing, .chunked)
        XCTAssertEqual(r.bodyLength, UInt64(total))
        XCTAssertEqual(r.bodyHash, Pattern.hash(count: UInt64(total)))
        XCTAssertLessThan(growth, Self.rssLimit)
        // Framing ended exactly: the next request on the connection works.
        try client.send("GET /chunked HTTP/1.1\r\nHost: download.test\r\n\r\n")
        XCTAssertEqual(try client.readResponseStreaming().bodyLength, UInt64(total))
    }

    /// 2 MB in 20 pieces 60 ms apart: about 1.2 s in total, four times `timeout upstream 300ms`,
    /// but never a pause close to it. The timeout is between reads, so the download completes.
    func testSlowSteadyDownloadLongerThanUpstreamTimeoutIsNotCut() throws {
        let total = 2 * 1024 * 1024
        let up = try TestUpstream(name: "slow") { _ in
            .download(bytes: total, chunked: false, piece: total / 20, pauseMs: 60)
        }
        defer { up.stop() }
        let proxy = try startProxy(up, extra: "timeout upstream 300ms\n")
        defer { proxy.stop() }
        let client = try proxy.client()

        let t0 = monotonicSeconds()
        try client.send("GET /slow HTTP/1.1\r\nHost: download.test\r\n\r\n")
        let r = try client.readResponseStreaming()
        let elapsed = monotonicSeconds() - t0
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.bodyLength, UInt64(total))
        XCTAssertEqual(r.bodyHash, Pattern.hash(count: UInt64(total)))
        XCTAssertGreaterThan(elapsed, 0.9, "the download must really have outlasted the upstream timeout")
    }

    /// The reverse case: a fast upstream and a client that stops reading for 1 s (longer than
    /// `timeout upstream 300ms`). The proxy is waiting for the client, not for the upstream, so
    /// the upstream timeout must not cut the response (nginx and HAProxy do not either).
    func testSlowReadingClientIsNotCutByUpstreamTimeout() throws {
        let total = 50 * 1024 * 1024
        let up = try TestUpstream(name: "fast") { _ in .download(bytes: total, chunked: false) }
        defer { up.stop() }
        let proxy = try startProxy(up, extra: "timeout upstream 300ms\n")
        defer { proxy.stop() }
        let client = try proxy.client(receiveBuffer: 64 * 1024)
        try client.send("GET /big HTTP/1.1\r\nHost: download.test\r\n\r\n")
        let head = try client.readExactly(1024 * 1024)   // the head and the first part of the body
        XCTAssertTrue(String(decoding: head.prefix(12), as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        let headEnd = try XCTUnwrap(Self.headLength(head))
        sleepMilliseconds(1000)
        let rest = UInt64(total - (head.count - headEnd))
        var first = FNV1a64()
        first.update(Array(head[headEnd...]))
        switch Result(catching: { try client.hashExactly(rest, continuing: first) }) {
        case .failure(let e):
            XCTFail("the response was cut while the client paused reading: \(e)")
        case .success(let h):
            XCTAssertEqual(h.count, UInt64(total))
            XCTAssertEqual(h.value, Pattern.hash(count: UInt64(total)))
        }
    }

    private static func headLength(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0..<(bytes.count - 3) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}

/// A chunked response whose bytes exactly fill the proxy's read buffer, then pause: the read
/// after them finds nothing (EAGAIN) and the empty buffer goes back to the pool. The next bytes
/// must be decoded from a fresh buffer (this crashed the proxy once: the chunked decoder read
/// the released buffer).
final class ChunkedExactFillTests: XCTestCase {
    func testChunkedBodyExactlyFillingTheReadBufferThenPausingIsForwardedIntact() throws {
        let (listenFD, upstreamPort) = try TestSockets.listen()
        defer { close(listenFD) }
        // The proxy's I/O buffers: room for the default head limit (32 KiB) plus 4 KiB, page-rounded.
        let bufferSize = 36_864
        let firstData = bufferSize - 8          // "8ff8\r\n" + data + "\r\n" == bufferSize bytes
        let secondData = 1000
        let upstream = TestThread {
            let fd = accept(listenFD, nil, nil)
            guard fd >= 0 else { return }
            defer { close(fd) }
            TestSockets.setTimeouts(fd, receive: 5, send: 5)
            var request = [UInt8](repeating: 0, count: 4096)
            _ = recv(fd, &request, request.count, 0)
            try? sendAll(fd, Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8), timeout: 5)
            sleepMilliseconds(100)
            var first = Array((String(firstData, radix: 16) + "\r\n").utf8)
            first += [UInt8](repeating: 0x61, count: firstData) + [13, 10]
            precondition(first.count == bufferSize)
            try? sendAll(fd, first, timeout: 5)
            sleepMilliseconds(200)
            var second = Array((String(secondData, radix: 16) + "\r\n").utf8)
            second += [UInt8](repeating: 0x62, count: secondData) + Array("\r\n0\r\n\r\n".utf8)
            try? sendAll(fd, second, timeout: 5)
            sleepMilliseconds(500)
        }
        defer { upstream.join() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [upstreamPort])], split: "blue=1")
        defer { proxy.stop() }
        let c = try proxy.client(timeout: 5)
        let r = try c.get("/exact")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body.count, firstData + secondData)
        XCTAssertEqual(r.body.filter { $0 == 0x61 }.count, firstData)
        XCTAssertEqual(r.body.suffix(secondData), ArraySlice([UInt8](repeating: 0x62, count: secondData)))
    }
}

extension ChunkedExactFillTests {
    /// Randomised chunked responses (chunk sizes 1 B to 40 KiB, extensions, written in random
    /// pieces with short pauses so reads end anywhere: inside sizes, CRLFs, data) arrive byte-exact
    /// through the proxy, on one keep-alive connection. Seeded, so a failure can be replayed.
    func testRandomlySplitChunkedResponsesArriveByteExact() throws {
        let (listenFD, upstreamPort) = try TestSockets.listen()
        defer { close(listenFD) }
        let rounds = 12
        let expected = Shared<[[UInt8]]>([])
        var rng = SplitMix64(seed: 0x5EED_CAFE)
        var plans: [(body: [UInt8], wire: [UInt8], cuts: [Int])] = []
        for r in 0..<rounds {
            var body: [UInt8] = []
            var wire = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            for _ in 0..<Int(rng.next() % 6 + 1) {
                let size = Int(rng.next() % 40_000) + 1
                let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ r) }
                body += data
                wire += Array((String(size, radix: 16) + (rng.next() % 4 == 0 ? ";ext=1" : "") + "\r\n").utf8) + data + [13, 10]
            }
            wire += Array("0\r\n\r\n".utf8)
            var cuts: [Int] = []
            var at = 0
            while at < wire.count {
                at += Int(rng.next() % 9000) + 1
                cuts.append(min(at, wire.count))
            }
            plans.append((body, wire, cuts))
        }
        expected.set(plans.map(\.body))
        let script = plans
        let upstream = TestThread {
            let fd = accept(listenFD, nil, nil)
            guard fd >= 0 else { return }
            defer { close(fd) }
            TestSockets.setTimeouts(fd, receive: 5, send: 5)
            let reader = SocketReader(fd: fd, timeout: 5)
            for plan in script {
                guard (try? reader.readHead()) != nil else { return }
                var from = 0
                for (i, cut) in plan.cuts.enumerated() {
                    try? sendAll(fd, Array(plan.wire[from..<cut]), timeout: 5)
                    from = cut
                    if i % 3 == 2 { sleepMilliseconds(2) }
                }
            }
        }
        defer { upstream.join() }
        let proxy = try TestProxy.dataPlane(pools: [("blue", [upstreamPort])], split: "blue=1")
        defer { proxy.stop() }
        let c = try proxy.client(timeout: 5)
        for (i, body) in expected.value.enumerated() {
            let r = try c.get("/random/\(i)")
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.body.count, body.count, "response \(i)")
            XCTAssertTrue(r.body == body, "response \(i) differs")
        }
    }
}
