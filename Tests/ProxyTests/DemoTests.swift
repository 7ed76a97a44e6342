import Glibc
import TestSupport
import XCTest

/// `switchyard demo`, the README's first command, as a real process: it serves blue's page on
/// its port, and Ctrl-C (SIGINT) stops it cleanly with status 0 — also when the storefront
/// threads were started before the proxy's (signals must reach the control loop, not them).
final class DemoTests: XCTestCase {
    func testDemoServesBlueAndStopsCleanlyOnSIGINT() throws {
        for busy in [9101, 9102] where (try? TestClient(port: UInt16(busy), timeout: 1)) != nil {
            throw XCTSkip("port \(busy) is in use (a demo running?); the demo needs 9101 and 9102")
        }
        let binary = SpawnedProxy.binaryPath
        guard access(binary, X_OK) == 0 else { return XCTFail("missing \(binary): run `swift build` first") }
        let port = try SpawnedProxy.freePort()
        let out = "/tmp/switchyard-demo-test-\(getpid()).log"
        unlink(out)
        defer { unlink(out) }
        let child = try ChildProcess([binary, "demo", "--port", "\(port)"], output: out)
        defer { child.kill() }

        var response: TestResponse?
        pollUntil(timeout: 10, pollMs: 50) {
            if let c = try? TestClient(port: port, timeout: 2) { response = try? c.get("/") }
            return response != nil
        }
        let r = try XCTUnwrap(response, "the demo never answered on \(port):\n\(readWholeFile(out))")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("X-Served-By"), "blue")

        child.signal(SIGINT)
        let exit = child.waitExit(timeout: 5)
        let exited = exit != nil, status = exit ?? 0
        XCTAssertTrue(exited, "the demo did not stop within 5 s of SIGINT:\n\(readWholeFile(out))")
        XCTAssertEqual(ChildProcess.describe(status), ChildProcess.describe(0), readWholeFile(out))
        XCTAssertTrue(readWholeFile(out).contains("SIGINT: graceful shutdown"), readWholeFile(out))
    }
}
