import Admin
import Glibc
import Synchronization
import TestSupport
import XCTest

/// Live control (issue "live control"): flipping the blue/green split through the real admin
/// socket while clients keep sending, and the split being exact right after a reply.
final class AdminFlipTests: XCTestCase {
    private var scratch: ScratchDirectory!

    override func setUpWithError() throws {
        scratch = try ScratchDirectory(prefix: "flip")
    }

    override func tearDown() {
        scratch?.remove()
    }

    /// What the clients know about the split: how many split commands the flipper has started to
    /// send, how many it has the reply of, and where traffic must go under the last replied one
    /// (nil for a split with both pools above zero).
    private struct FlipState: Sendable {
        var sent = 0
        var replied = 0
        var expected: String?
    }

    /// 8 keep-alive clients send GETs back to back through a 2-worker proxy while the split is
    /// flipped 500 times over the admin socket. No response may fail, and every request sent
    /// after a `blue=0 green=100` reply (and answered before the next command went out) reaches
    /// green, after `blue=100 green=0` blue. After each such reply a probe request is sent at once
    /// and must be routed by it; the time from the reply to its arrival at the upstream is printed.
    func testFiveHundredFlipsUnderLoadZeroFailuresAndEveryReplyIsImmediatelyInEffect() throws {
        let blue = try LoggingUpstream(name: "blue")
        let green = try LoggingUpstream(name: "green")
        defer { blue.stop(); green.stop() }
        let proxy = try TestProxy(
            config: adminConfigText(pools: [("blue", [blue.address]), ("green", [green.address])],
                                    split: "blue=100 green=0", workers: 2),
            socketPath: scratch.file("admin.sock"))
        defer { proxy.stop() }

        let flip = Shared(FlipState())
        let verified = Counter()
        let mismatches = Shared<[String]>([])
        let failures = Shared<[String]>([])
        let responses = Counter()
        let stop = StopFlag()
        let began = monotonicSeconds()

        var clients: [TestThread] = []
        for k in 0..<8 {
            clients.append(TestThread {
                var conn: TestClient?
                var seq = 0
                while !stop.isRaised && monotonicSeconds() - began < 60 {
                    seq += 1
                    let target = "/c/\(k)/\(seq)"
                    let before = flip.value
                    do {
                        if conn == nil { conn = try TestClient(port: proxy.port, timeout: 5) }
                        try conn!.send("GET \(target) HTTP/1.1\r\nHost: flip.test\r\n\r\n")
                        let r = try conn!.readResponse()
                        let after = flip.value
                        responses.add(1)
                        guard r.status == 200, let name = r.header("X-Upstream"), name == r.text,
                              name == "blue" || name == "green" else {
                            failures.update { $0.append("\(target): malformed or failed response \(r)") }
                            conn = nil
                            continue
                        }
                        if r.closesConnection { conn = nil }
                        // Routed while the last replied split was in force, and only then.
                        if before.sent == before.replied, after.sent == before.sent, let want = before.expected {
                            verified.add(1)
                            if name != want {
                                mismatches.update {
                                    $0.append("\(target) sent after reply #\(before.replied) (expects \(want)) went to \(name)")
                                }
                            }
                        }
                    } catch {
                        failures.update { $0.append("\(target): \(error)") }
                        conn = nil
                    }
                }
            })
        }
        defer {
            stop.raise()
            for t in clients { t.join() }
        }

        // Warm up: every client has had responses.
        XCTAssertTrue(pollUntil(timeout: 5) { responses.current >= 200 }, "the clients get no responses")

        let admin = try proxy.adminClient()
        let probe = try proxy.client(timeout: 5)
        var latenciesMS: [Double] = []
        var probeErrors: [String] = []
        let middles = [(37, 63), (50, 50), (81, 19), (1, 99), (99, 1), (12, 88)]
        for i in 0..<500 {
            let (b, g, expected): (Int, Int, String?)
            switch i % 4 {
            case 0: (b, g, expected) = (0, 100, "green")
            case 2: (b, g, expected) = (100, 0, "blue")
            default:
                let m = middles[(i / 2) % middles.count]
                (b, g, expected) = (m.0, m.1, nil)
            }
            flip.update { $0.sent += 1 }
            let reply = try admin.request("split blue=\(b) green=\(g)")
            let repliedAt = monotonicSeconds()
            flip.update { $0.replied = $0.sent; $0.expected = expected }
            guard reply.isOK, reply.at("split", "blue")?.intValue == b, reply.at("split", "green")?.intValue == g else {
                XCTFail("flip \(i): split blue=\(b) green=\(g) answered \(reply.encoded())")
                break
            }
            guard let want = expected else { continue }
            // A request sent right after the reply must be routed by it.
            let target = "/probe/\(i)"
            do {
                let r = try probe.get(target)
                if r.text != want { probeErrors.append("\(target) after '\(want)' split went to \(r.text)") }
                let up = want == "green" ? green : blue
                if let a = up.arrivals.last(where: { $0.target == target }) {
                    latenciesMS.append((a.time - repliedAt) * 1000)
                }
            } catch {
                probeErrors.append("\(target): \(error)")
            }
            // Give the load clients a chance to send under this split too (bounded).
            let v = verified.current
            _ = pollUntil(timeout: 0.2, pollMs: 1) { verified.current >= v + 4 }
        }
        admin.close()
        stop.raise()
        for t in clients { t.join() }
        clients.removeAll()

        XCTAssertEqual(failures.value.count, 0, "failed or malformed responses: \(failures.value.prefix(10))")
        XCTAssertEqual(mismatches.value.count, 0, "requests not routed by the split replied before they were sent: \(mismatches.value.prefix(10))")
        XCTAssertEqual(probeErrors, [], "probe requests sent right after a reply")
        XCTAssertEqual(latenciesMS.count, 250, "every probe was seen by the upstream it had to reach")
        XCTAssertGreaterThanOrEqual(verified.current, 250, "too few load requests were checked against a split")
        XCTAssertGreaterThan(responses.current, 1000)
        let sorted = latenciesMS.sorted()
        if !sorted.isEmpty {
            func pct(_ p: Double) -> String {
                threeDecimals(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
            }
            print("split reply -> probe request arrival at its upstream over \(sorted.count) flips: "
                  + "min \(pct(0)) ms, p50 \(pct(0.5)) ms, p99 \(pct(0.99)) ms, max \(threeDecimals(sorted.last!)) ms; "
                  + "\(responses.current) load responses, \(verified.current) checked against the split in force")
        }
    }

    /// One worker, no other traffic: after `split blue=90 green=10` over the socket, every 10
    /// consecutive requests on one connection are exactly 9 blue and 1 green.
    func testSplitNinetyTenOverSocketIsExactInEveryTenRequests() throws {
        let blue = try LoggingUpstream(name: "blue")
        let green = try LoggingUpstream(name: "green")
        defer { blue.stop(); green.stop() }
        let proxy = try TestProxy(
            config: adminConfigText(pools: [("blue", [blue.address]), ("green", [green.address])],
                                    split: "blue=100 green=0", workers: 1),
            socketPath: scratch.file("admin.sock"))
        defer { proxy.stop() }
        let c = try proxy.client()
        for i in 0..<5 { XCTAssertEqual(try c.get("/before/\(i)").text, "blue") }

        let reply = try proxy.request("split blue=90 green=10")
        XCTAssertTrue(reply.isOK, reply.encoded())
        var seq: [String] = []
        for i in 0..<200 {
            let r = try c.get("/after/\(i)")
            XCTAssertEqual(r.status, 200)
            seq.append(r.text)
        }
        var bad: [Int] = []
        for s in 0...(seq.count - 10) where seq[s..<(s + 10)].filter({ $0 == "green" }).count != 1
            || seq[s..<(s + 10)].filter({ $0 == "blue" }).count != 9 {
            bad.append(s)
        }
        XCTAssertEqual(bad, [], "windows of 10 without exactly 9 blue + 1 green: \(seq.prefix(30))")
        XCTAssertEqual(green.count(containing: "/after/"), 20)
        XCTAssertEqual(blue.count(containing: "/after/"), 180)
    }
}
