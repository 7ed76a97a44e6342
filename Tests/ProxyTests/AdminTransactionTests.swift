import Admin
import Glibc
import TestSupport
import XCTest

/// Transactional admin changes: `if-generation N` refuses a change when someone else changed the
/// configuration first, `undo` returns to the previous generation's values in one step, and the
/// audit log records every change with the caller's uid (from SO_PEERCRED).
final class AdminTransactionTests: XCTestCase {
    private var scratch: ScratchDirectory!
    private var upstreams: [LoggingUpstream] = []
    private var proxy: TestProxy?

    override func setUpWithError() throws {
        scratch = try ScratchDirectory(prefix: "txn")
    }

    override func tearDown() {
        proxy?.stop()
        for u in upstreams { u.stop() }
        upstreams.removeAll()
        scratch?.remove()
    }

    private func start(group: String? = nil, audit: Bool = false) throws -> TestProxy {
        let b = try LoggingUpstream(name: "blue"), g = try LoggingUpstream(name: "green")
        upstreams += [b, g]
        let p = try TestProxy(
            config: adminConfigText(pools: [("blue", [b.address]), ("green", [g.address])], split: "blue=100 green=0"),
            socketPath: scratch.file("admin.sock"), group: group, auditPath: audit ? scratch.file("audit.log") : nil)
        proxy = p
        return p
    }

    func testIfGenerationRefusesAChangeAfterAnotherControllerMovedIt() throws {
        let p = try start()
        let g0 = try XCTUnwrap(p.request("status")["generation"]?.intValue)
        let first = try p.request("split blue=90 green=10 if-generation \(g0)")
        XCTAssertTrue(first.isOK, first.encoded())
        XCTAssertEqual(first["generation"]?.intValue, g0 + 1)
        // A second controller still holding g0 is refused, and nothing changes.
        let stale = try p.request("split blue=0 green=100 if-generation \(g0)")
        XCTAssertEqual(stale["ok"]?.boolValue, false, stale.encoded())
        XCTAssertEqual(stale["code"]?.stringValue, "generation_conflict", stale.encoded())
        let st = try p.request("status")
        XCTAssertEqual(st.at("split", "green")?.intValue, 10, st.encoded())
        XCTAssertEqual(st["generation"]?.intValue, g0 + 1)
        // Server commands honour it too; a read-only command cannot carry it.
        let bad = try p.request("server drain blue \(upstreams[0].address) if-generation \(g0)")
        XCTAssertEqual(bad["code"]?.stringValue, "generation_conflict", bad.encoded())
        let ro = try p.request("status if-generation \(g0 + 1)")
        XCTAssertEqual(ro["code"]?.stringValue, "bad_argument", ro.encoded())
    }

    func testUndoRestoresThePreviousSplitAsANewGeneration() throws {
        let p = try start()
        let g0 = try XCTUnwrap(p.request("status")["generation"]?.intValue)
        XCTAssertTrue(try p.request("split blue=50 green=50").isOK)
        XCTAssertTrue(try p.request("split blue=0 green=100").isOK)
        let u = try p.request("undo")
        XCTAssertTrue(u.isOK, u.encoded())
        XCTAssertEqual(u.at("split", "blue")?.intValue, 50, u.encoded())
        XCTAssertEqual(u["generation"]?.intValue, g0 + 3, "undo is a new generation")
        // Traffic follows the restored split: 50/50 means both colours are used.
        var colours = Set<String>()
        let c = try p.client()
        for _ in 0..<10 {
            let r = try c.get("/")
            colours.insert(r.header("X-Upstream") ?? "?")
        }
        XCTAssertEqual(colours.count, 2, "\(colours)")
        XCTAssertTrue(try p.request("undo").isOK)       // back to the file's blue=100 green=0
        let st = try p.request("status")
        XCTAssertEqual(st.at("split", "blue")?.intValue, 100, st.encoded())
        let none = try p.request("undo")
        XCTAssertEqual(none["code"]?.stringValue, "nothing_to_undo", none.encoded())
    }

    func testAuditLogRecordsEveryChangeWithTheCallersUID() throws {
        guard access("/usr/bin/setpriv", X_OK) == 0 || access("/bin/setpriv", X_OK) == 0 else {
            throw XCTSkip("setpriv is not installed")
        }
        let python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3"
        // Group "daemon" (gid 1): the socket is 0660 for it, so uid 65534 in that group may connect.
        let p = try start(group: "daemon", audit: true)
        chmod(scratch.path, 0o711)   // uid 65534 must reach the socket inside the scratch directory
        XCTAssertTrue(try p.request("split blue=80 green=20").isOK)          // as root (uid 0)
        XCTAssertFalse(try p.request("split blue=0 green=0").isOK)           // refused: not a change
        let script = """
        import socket,sys
        s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
        s.sendall(b"split blue=70 green=30\\n"); print(s.makefile().readline().strip())
        """
        let out = try runProgram(["/usr/bin/setpriv", "--reuid", "65534", "--regid", "65534", "--groups", "1",
                                  python, "-c", script, p.socketPath], mergeErrors: true, timeout: 10).output
        XCTAssertTrue(out.contains("\"ok\":true"), out)
        let lines = scratch.read("audit.log").split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2, "one line per change, none for the refused one: \(lines)")
        guard lines.count == 2 else { return }
        let root = try JSONValue.parse(lines[0]), other = try JSONValue.parse(lines[1])
        XCTAssertEqual(root["uid"]?.intValue, 0)
        XCTAssertEqual(root["command"]?.stringValue, "split blue=80 green=20")
        XCTAssertEqual(root.at("old", "split")?.stringValue, "blue=100 green=0")
        XCTAssertEqual(root.at("new", "split")?.stringValue, "blue=80 green=20")
        XCTAssertEqual(other["uid"]?.intValue, 65534, lines[1])
        XCTAssertEqual(other.at("new", "split")?.stringValue, "blue=70 green=30")
        XCTAssertEqual((other["generation_after"]?.intValue ?? 0) - (other["generation_before"]?.intValue ?? 0), 1)
    }
}
