import Admin
import Foundation
import Glibc
import Synchronization
import TestSupport
import XCTest

/// Colour-sticky shoppers (`sticky cookie NAME key FILE`), end to end: 1,000 simulated
/// shoppers with cookie jars at a 10% green step each stay on one colour, green's share of
/// requests holds at 10% ± 2 points, a tampered or foreign cookie is ignored, and after a
/// rollback every shopper is on blue.
final class StickyTests: XCTestCase {
    private var scratch: ScratchDirectory!
    private var upstreams: [TestUpstream] = []
    private var proxy: TestProxy?

    override func setUpWithError() throws {
        scratch = try ScratchDirectory(prefix: "sticky")
    }

    override func tearDown() {
        proxy?.stop()
        for u in upstreams { u.stop() }
        upstreams.removeAll()
        scratch?.remove()
    }

    private func start(workers: Int = 2) throws -> TestProxy {
        let b = try TestUpstream(name: "blue"), g = try TestUpstream(name: "green")
        upstreams += [b, g]
        let key = try scratch.write("sticky.key", "c3dpdGNoeWFyZC10ZXN0LWtleS0wMTIzNDU2Nzg5YWJjZGVm\n")
        let p = try TestProxy(
            config: adminConfigText(pools: [("blue", ["127.0.0.1:\(b.port)"]), ("green", ["127.0.0.1:\(g.port)"])],
                                    split: "blue=100 green=0", workers: workers,
                                    extra: "sticky cookie SYCOLOUR key \(key) max-age 1h\n"),
            socketPath: scratch.file("admin.sock"))
        proxy = p
        return p
    }

    /// A shopper's cookie jar: the SYCOLOUR value from the last Set-Cookie, sent back on every request.
    struct Shopper {
        var cookie: String?
        var colours: [String] = []
        var cookiesSet = 0
    }

    private static func cookieValue(_ r: TestResponse) -> String? {
        for v in r.headers.values("Set-Cookie") where v.hasPrefix("SYCOLOUR=") {
            return String(v.dropFirst("SYCOLOUR=".count).prefix { $0 != ";" })
        }
        return nil
    }

    private static func request(_ c: TestClient, _ shopper: inout Shopper, target: String) throws -> TestResponse {
        var headers: [HTTPHeader] = []
        if let cookie = shopper.cookie { headers.append(HTTPHeader("Cookie", "theme=dark; SYCOLOUR=\(cookie); cart=42")) }
        let r = try c.get(target, headers: headers)
        if let v = cookieValue(r) {
            shopper.cookie = v
            shopper.cookiesSet += 1
        }
        shopper.colours.append(r.header("X-Upstream") ?? "status \(r.status)")
        return r
    }

    /// `shoppers` shoppers, `rounds` requests each, interleaved (round by round) over
    /// `threads` keep-alive connections: connections are not shoppers, the cookie is.
    private func shop(_ p: TestProxy, shoppers: inout [Shopper], rounds: Int, threads: Int) throws {
        let jars = Shared(shoppers)
        let errors = Shared<[String]>([])
        var workers: [TestThread] = []
        let count = shoppers.count
        for t in 0..<threads {
            workers.append(TestThread {
                do {
                    let c = try TestClient(port: p.port)
                    defer { c.close() }
                    for round in 0..<rounds {
                        for i in stride(from: t, to: count, by: threads) {
                            var s = jars.value[i]
                            _ = try Self.request(c, &s, target: "/shop/\(i)/\(round)")
                            jars.update { $0[i] = s }
                        }
                    }
                } catch {
                    errors.update { $0.append("thread \(t): \(error)") }
                }
            })
        }
        for w in workers { w.join() }
        XCTAssertEqual(errors.value, [])
        shoppers = jars.value
    }

    func testShoppersStayOnOneColourAndTheSplitHolds() throws {
        let p = try start()
        // Before a rollout only blue has traffic: no cookie is set.
        var lone = Shopper()
        let c = try p.client()
        _ = try Self.request(c, &lone, target: "/before")
        XCTAssertNil(lone.cookie, "a cookie was set while only one pool has traffic")

        let started = try p.request("rollout start green steps 10,100 hold 10m")
        XCTAssertTrue(started.isOK, started.encoded())

        var shoppers = Array(repeating: Shopper(), count: 1000)
        try shop(p, shoppers: &shoppers, rounds: 6, threads: 8)
        var greenRequests = 0, total = 0, mixed = 0
        for s in shoppers {
            total += s.colours.count
            greenRequests += s.colours.filter { $0 == "green" }.count
            if Set(s.colours).count != 1 { mixed += 1 }
            XCTAssertEqual(s.cookiesSet, 1, "a shopper got \(s.cookiesSet) cookies: \(s.colours)")
        }
        XCTAssertEqual(mixed, 0, "shoppers that saw both colours")
        XCTAssertEqual(total, 6000)
        let share = Double(greenRequests) / Double(total)
        print("sticky: green share \(threeDecimals(share * 100))% of \(total) requests from \(shoppers.count) shoppers")
        XCTAssertGreaterThanOrEqual(share, 0.08)
        XCTAssertLessThanOrEqual(share, 0.12)

        // A tampered cookie (pool changed, MAC kept) and a foreign one are ignored: the shopper
        // is assigned afresh and gets a new cookie.
        let green = try XCTUnwrap(shoppers.first { $0.colours.first == "green" })
        let blueOne = try XCTUnwrap(shoppers.first { $0.colours.first == "blue" })
        var forged = blueOne
        forged.cookie = blueOne.cookie!.replacingFirst("v1.blue.", with: "v1.green.")
        forged.cookiesSet = 0
        _ = try Self.request(c, &forged, target: "/forged")
        XCTAssertEqual(forged.cookiesSet, 1, "a tampered cookie was trusted")
        var foreign = Shopper(cookie: "v1.green.1.2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        _ = try Self.request(c, &foreign, target: "/foreign")
        XCTAssertEqual(foreign.cookiesSet, 1, "a foreign cookie was trusted")
        XCTAssertNotNil(green.cookie)

        // Rollback: every shopper is on blue, whatever its cookie says.
        let aborted = try p.request("rollout abort")
        XCTAssertEqual(aborted["rollout"]?["state"]?.stringValue, "aborted")
        for i in shoppers.indices { shoppers[i].colours.removeAll() }
        try shop(p, shoppers: &shoppers, rounds: 1, threads: 8)
        XCTAssertTrue(shoppers.allSatisfy { $0.colours == ["blue"] },
                      "after the rollback: \(shoppers.filter { $0.colours != ["blue"] }.prefix(3).map(\.colours))")
    }

    func testANewRolloutReassignsShoppersAndAFailedPoolOverridesStickiness() throws {
        let p = try start(workers: 1)
        XCTAssertTrue(try p.request("rollout start green steps 50,100 hold 10m").isOK)
        var shoppers = Array(repeating: Shopper(), count: 40)
        try shop(p, shoppers: &shoppers, rounds: 2, threads: 2)
        XCTAssertTrue(shoppers.allSatisfy { Set($0.colours).count == 1 })
        XCTAssertTrue((15...25).contains(shoppers.filter { $0.colours.first == "green" }.count))

        // A new rollout: cookies of the previous one no longer bind (each shopper is assigned again).
        XCTAssertTrue(try p.request("rollout abort").isOK)
        XCTAssertTrue(try p.request("rollout start green steps 50,100 hold 10m").isOK)
        for i in shoppers.indices { shoppers[i].cookiesSet = 0; shoppers[i].colours.removeAll() }
        try shop(p, shoppers: &shoppers, rounds: 1, threads: 2)
        XCTAssertTrue(shoppers.allSatisfy { $0.cookiesSet == 1 }, "old-rollout cookies were honoured")

        // Green's only server drained: green's shoppers go to blue (and are re-stuck there).
        let greenAddress = "127.0.0.1:\(upstreams[1].port)"
        XCTAssertTrue(try p.request("server drain green \(greenAddress)").isOK)
        for i in shoppers.indices { shoppers[i].colours.removeAll() }
        try shop(p, shoppers: &shoppers, rounds: 2, threads: 2)
        XCTAssertTrue(shoppers.allSatisfy { $0.colours == ["blue", "blue"] },
                      "\(shoppers.filter { $0.colours != ["blue", "blue"] }.prefix(3).map(\.colours))")
    }
}

extension StickyTests {
    /// A missing or short key file is a config error with file:line, from `switchyard check`, at
    /// start, and at a reload (which then changes nothing).
    func testKeyFileErrorsAreConfigErrorsWithFileAndLine() throws {
        let conf = try scratch.write("proxy.conf", "listen 127.0.0.1:1\npool blue {\n  server 127.0.0.1:2\n}\nsticky cookie SY key \(scratch.file("missing.key"))\n")
        let missing = try runProgram([SpawnedProxy.binaryPath, "check", "--config", conf], mergeErrors: true, timeout: 20)
        XCTAssertEqual(missing.status, 1, missing.output)
        XCTAssertTrue(missing.output.contains("\(conf):5: sticky: cannot read the key file"), missing.output)

        let short = try scratch.write("short.key", "too short\n")
        let conf2 = try scratch.write("proxy2.conf", "listen 127.0.0.1:1\npool blue {\n  server 127.0.0.1:2\n}\nsticky cookie SY key \(short)\n")
        let weak = try runProgram([SpawnedProxy.binaryPath, "check", "--config", conf2], mergeErrors: true, timeout: 20)
        XCTAssertEqual(weak.status, 1, weak.output)
        XCTAssertTrue(weak.output.contains("\(conf2):5: sticky: the key file \(short) holds less than 32 bytes"), weak.output)

        // A reload naming a missing key file is refused; the running key stays.
        let p = try start(workers: 1)
        let bad = adminConfigText(pools: [("blue", ["127.0.0.1:\(upstreams[0].port)"]), ("green", ["127.0.0.1:\(upstreams[1].port)"])],
                                  split: "blue=100 green=0", workers: 1,
                                  extra: "sticky cookie SYCOLOUR key \(scratch.file("missing.key"))\n")
        let result = p.onControlLoop { () -> String in
            do { _ = try p.control.reload(text: bad, file: "next.conf"); return "applied" } catch { return "\(error)" }
        }
        XCTAssertEqual(result, "invalid_config: next.conf:10: sticky: cannot read the key file \(scratch.file("missing.key")): No such file or directory")
        XCTAssertTrue(try p.request("rollout start green steps 50,100 hold 10m").isOK)
        var shopper = Shopper()
        _ = try Self.request(try p.client(), &shopper, target: "/after-bad-reload")
        XCTAssertNotNil(shopper.cookie, "stickiness still works with the old key")
    }
}

private extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}
