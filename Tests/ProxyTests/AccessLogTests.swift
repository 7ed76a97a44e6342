import Admin
import Foundation
import Glibc
import TestSupport
import XCTest

/// `access-log PATH [buffer SIZE] [flush D]` on the real `switchyard` process: one line per
/// request (proxy-made errors included), written within the flush interval, nothing lost across
/// a log rotation (rename, then SIGUSR1), and a running rollout is untouched by the rotation.
final class AccessLogTests: XCTestCase {
    private var scratch: ScratchDirectory!
    private var upstreams: [LoggingUpstream] = []
    private var port: UInt16 = 0

    override func setUpWithError() throws {
        scratch = try ScratchDirectory(prefix: "alog")
        port = try SpawnedProxy.freePort()
    }

    override func tearDown() {
        for u in upstreams { u.stop() }
        upstreams.removeAll()
    }

    override func tearDownWithError() throws {
        scratch?.remove()
    }

    private func lines(_ path: String) -> [String] {
        readWholeFile(path).split(separator: "\n").map(String.init)
    }

    func testEveryRequestIsLoggedAndRotationLosesNothing() throws {
        let blue = try LoggingUpstream(name: "blue"), green = try LoggingUpstream(name: "green")
        upstreams += [blue, green]
        let logPath = scratch.file("access.log")
        let socketPath = scratch.file("admin.sock")
        let dead = try TestSockets.closedPort()
        let text = spawnedConfigText(port: port, socket: socketPath,
                                     pools: [("blue", [blue.address]), ("green", [green.address]), ("dead", ["127.0.0.1:\(dead)"])],
                                     split: "blue=100 green=0 dead=0",
                                     extra: "access-log \(logPath) buffer 4k flush 50ms\n")
        let configPath = try scratch.write("proxy.conf", text)
        let p = try SpawnedProxy(configPath: configPath, port: port, socketPath: socketPath, stderrPath: scratch.file("stderr.log"))
        killAtTeardown(p)

        let c = try TestClient(port: port, timeout: 5)
        for i in 0..<20 { XCTAssertEqual(try c.get("/first/\(i)?q=\"x\"").status, 200) }
        XCTAssertTrue(pollUntil(timeout: 3) { self.lines(logPath).count >= 20 }, "lines: \(lines(logPath).count)")
        let first = lines(logPath)
        XCTAssertEqual(first.count, 20)
        // TIME CLIENT "REQUEST-LINE" STATUS BYTES POOL SERVER DURATION_MS
        let fields = first[0].split(separator: " ").map(String.init)
        XCTAssertEqual(fields.count, 10, first[0])
        XCTAssertTrue(fields[0].hasSuffix("Z") && fields[0].contains("T"), first[0])
        XCTAssertEqual(fields[1], "127.0.0.1")
        XCTAssertEqual(fields[2], "\"GET")
        XCTAssertEqual(fields[3], "/first/0?q=%22x%22", "a quote in the target would break the field")
        XCTAssertEqual(fields[4], "HTTP/1.1\"")
        XCTAssertEqual(fields[5], "200")
        XCTAssertEqual(fields[6], "4")   // body "blue"
        XCTAssertEqual(fields[7], "blue")
        XCTAssertEqual(fields[8], blue.address)
        XCTAssertNotNil(Double(fields[9]))

        // Rotation during a rollout: rename, SIGUSR1, and the rollout goes on.
        let admin = try AdminClient(path: socketPath, timeout: 5)
        defer { admin.close() }
        XCTAssertTrue(try admin.request("rollout start green steps 50,100 hold 10m").isOK)
        XCTAssertEqual(rename(logPath, logPath + ".1"), 0)
        for i in 0..<10 { XCTAssertEqual(try c.get("/between/\(i)").status, 200) }
        p.signal(SIGUSR1)
        XCTAssertTrue(pollUntil(timeout: 3) { p.stderr.contains("access log reopened") })
        for i in 0..<10 { XCTAssertEqual(try c.get("/second/\(i)").status, 200) }
        XCTAssertTrue(pollUntil(timeout: 3) { self.lines(logPath).count >= 10 })
        let rotated = lines(logPath + ".1"), fresh = lines(logPath)
        XCTAssertEqual(rotated.count + fresh.count, 40, "lines were lost or doubled: \(rotated.count) + \(fresh.count)")
        XCTAssertTrue(fresh.allSatisfy { $0.contains("\"GET /second/") }, "\(fresh)")
        XCTAssertEqual(try admin.request("rollout status")["rollout"]?["state"]?.stringValue, "running")
        XCTAssertTrue(Set(fresh.map { $0.split(separator: " ")[7] }).isSubset(of: ["blue", "green"]))

        // A proxy-made error is logged with its status and no server bytes.
        XCTAssertTrue(try admin.request("rollout abort").isOK)
        XCTAssertTrue(try admin.request("split blue=0 green=0 dead=1").isOK)
        let bad = try TestClient(port: port, timeout: 5)
        XCTAssertEqual(try bad.get("/dead").status, 502)
        XCTAssertTrue(pollUntil(timeout: 3) { self.lines(logPath).contains { $0.contains("/dead") } })
        let line = try XCTUnwrap(lines(logPath).first { $0.contains("/dead") })
        let f = line.split(separator: " ").map(String.init)
        XCTAssertEqual(f[5], "502", line)
        XCTAssertEqual(f[7], "dead", line)

        p.signal(SIGTERM)
        XCTAssertEqual(p.waitExit(timeout: 10).flatMap(ChildProcess.exitCode), 0)
    }
}
