import Admin
import Dispatch
import EventLoop
import Foundation
import Glibc
import Synchronization
import Testing

/// A handler whose behaviour depends on the command, so tests can mix synchronous,
/// asynchronous and never-arriving replies:
/// - status: replies at once with the running count `n`
/// - stats: replies on a later loop iteration (asynchronous)
/// - help: replies with `bigReplyBytes` of padding (output-cap test)
/// - server drain: keeps the reply closure until `releaseHeld` (client-vanishes test)
/// - server remove: refuses with unknown_server
/// - a command with a script (`script("rollout status", ...)`): the script's next reply
/// - anything else: replies at once with the command's canonical text
final class TestHandler: AdminHandler, @unchecked Sendable {
    struct State {
        var commands: [String] = []
        var peers: [AdminPeer] = []
        /// Commands handed to us whose reply is not yet sent, per peer pid (tests use one client).
        var outstanding = 0
        var overlapped = false
    }
    let state = Mutex(State())
    /// Scripted replies by command name (`AdminCommand.name`).
    private let scripts = Mutex<[String: [JSONValue]]>([:])
    let loop: EventLoop
    var bigReplyBytes = 0
    /// Loop thread only.
    private var held: [(JSONValue) -> Void] = []

    init(loop: EventLoop) { self.loop = loop }

    var commands: [String] { state.withLock { $0.commands } }

    /// Commands named `name` get these replies in turn; the last one is repeated once the
    /// script runs out.
    func script(_ name: String, _ replies: [JSONValue]) {
        scripts.withLock { $0[name] = replies }
    }

    private func scriptedReply(_ name: String) -> JSONValue? {
        scripts.withLock { s in
            guard var replies = s[name], let next = replies.first else { return nil }
            if replies.count > 1 { replies.removeFirst() }
            s[name] = replies
            return next
        }
    }

    func handle(_ command: AdminCommand, peer: AdminPeer, reply: @escaping (JSONValue) -> Void) {
        let n = state.withLock { s -> Int in
            s.commands.append(command.description)
            s.peers.append(peer)
            if s.outstanding > 0 { s.overlapped = true }
            s.outstanding += 1
            return s.commands.count
        }
        let done: (JSONValue) -> Void = { [self] v in
            self.state.withLock { $0.outstanding -= 1 }
            reply(v)
        }
        if let scripted = scriptedReply(command.name) {
            done(scripted)
            return
        }
        switch command {
        case .status:
            done(AdminReply.ok([("cmd", "status"), ("n", .int(Int64(n)))]))
        case .stats:
            let box = UncheckedBox(done)
            loop.execute { box.value(AdminReply.ok([("cmd", "stats"), ("n", .int(Int64(n)))])) }
        case .help:
            done(AdminReply.ok([("pad", .string(String(repeating: "x", count: bigReplyBytes)))]))
        case .serverDrain:
            held.append(done)
        case .serverRemove(let pool, let address):
            done(AdminReply.error(AdminError(code: "unknown_server", message: "no server \(address) in pool '\(pool)'")))
        default:
            done(AdminReply.ok([("cmd", .string(command.description))]))
        }
    }

    /// Sends every held reply (on the loop thread). Returns how many there were.
    func releaseHeld() -> Int {
        let h = held
        held = []
        for r in h { r(AdminReply.ok([("cmd", "late")])) }
        return h.count
    }
}

/// Lets a loop-thread-only closure ride through `EventLoop.execute`.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}

/// A temporary directory (mode 0755, so other uids can reach a socket inside it), removed at the end.
final class TempDir {
    let path: String
    init() {
        var template = Array("/tmp/yard-admin-test.XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(p != nil, "mkdtemp failed")
        path = String(cString: p!)
        chmod(path, 0o755)
    }
    func file(_ name: String) -> String { path + "/" + name }
    deinit { _ = try? FileManager.default.removeItem(atPath: path) }
}

/// An AdminServer on its own loop thread.
final class RunningAdmin: @unchecked Sendable {
    let dir: TempDir
    let path: String
    let loop: EventLoop
    let handler: TestHandler
    let server: AdminServer
    private var thread: LoopThread?

    init(dir: TempDir = TempDir(), name: String = "admin.sock", group: String? = nil,
         limits: AdminServer.Limits = AdminServer.Limits()) throws {
        self.dir = dir
        path = dir.file(name)
        loop = try EventLoop()
        handler = TestHandler(loop: loop)
        server = try AdminServer(path: path, group: group, loop: loop, handler: handler, limits: limits)
        let loop = self.loop
        thread = LoopThread { loop.run() }
    }

    /// Runs `body` on the loop thread and waits for its result.
    func onLoop<T>(_ body: @escaping () -> T) -> T {
        let sem = DispatchSemaphore(value: 0)
        let result = Mutex<T?>(nil)
        let box = UncheckedBox(body)
        loop.execute {
            let v = box.value()
            result.withLock { $0 = UncheckedBox(v).value }
            sem.signal()
        }
        sem.wait()
        return result.withLock { $0! }
    }

    var connectionCount: Int { onLoop { self.server.connectionCount } }

    func client(timeout: Double = 3) throws -> AdminClient { try AdminClient(path: path, timeout: timeout) }

    func stop() {
        guard let t = thread else { return }
        thread = nil
        onLoop { self.server.close() }
        loop.stop()
        t.join()
        loop.closeAll()
    }

    deinit { stop() }
}

func fileMode(_ path: String) -> (type: mode_t, perms: mode_t, gid: gid_t)? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return (st.st_mode & S_IFMT, st.st_mode & 0o7777, st.st_gid)
}

/// True when the server closed the connection: end of stream (or a reset) instead of a line.
func readsEndOfStream(_ c: AdminClient) -> Bool {
    do {
        _ = try c.readLine()
        return false
    } catch let e as AdminClientError {
        return e.kind == .closed || e.kind == .io
    } catch {
        return false
    }
}

func executable(_ path: String) -> Bool { access(path, X_OK) == 0 }
