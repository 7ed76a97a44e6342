import Admin
import Balancing
import EventLoop
import Glibc
import Proxy
import TestSupport

/// The one in-process proxy of the tests, built by `ProxyDaemon` as `switchyard` builds itself,
/// with its control loop on a thread of its own. Two shapes:
/// - `TestProxy(config:...)`: the whole daemon — ProxyControl (health checks, ejection, slow
///   start, failover, rollouts), plus the admin socket, audit log and metrics listener when asked
///   for (the test's values replace the config's, so only what a test asks for listens);
/// - `TestProxy.dataPlane(...)`: the workers alone (`ProxyDaemon.startProxy`). No health monitor
///   then, so a request-path test that makes servers fail is never changed by passive ejection,
///   and `publish` swaps the routing snapshot directly.
/// `stop()` it (tests do, in a defer or teardown); `deinit` does too.
/// PROXYTESTS_LOG=1 shows the proxy's own log lines (stderr) when debugging a failure.
final class TestProxy: @unchecked Sendable {
    let server: ProxyServer
    /// nil for a data-plane proxy.
    let daemon: ProxyDaemon?
    /// The proxy's (first) listener port.
    let port: UInt16
    let socketPath: String
    /// The port the metrics listener bound (0 without one).
    let metricsPort: UInt16
    private var thread: LoopThread?

    init(config text: String, socketPath: String? = nil, group: String? = nil, auditPath: String? = nil,
         metrics: Bool = false) throws {
        Log.quiet = getenv("PROXYTESTS_LOG") == nil
        var config = try ConfigParser.parse(text, file: "test.conf")
        config.adminSocket = socketPath
        config.adminGroup = group
        config.auditLog = auditPath
        config.metrics = metrics ? (config.metrics ?? SocketAddressSpec(host: "127.0.0.1", port: 0)) : nil
        let daemon = try ProxyDaemon(config: config, options: ProxyDaemon.Options(version: "test-version",
                                                                                    source: .embedded(name: "test.conf")))
        self.daemon = daemon
        server = daemon.proxy
        port = server.listenAddresses[0].port
        self.socketPath = socketPath ?? ""
        metricsPort = daemon.metrics?.port ?? 0
        thread = LoopThread { daemon.run() }
    }

    private init(dataPlane text: String) throws {
        Log.quiet = getenv("PROXYTESTS_LOG") == nil
        server = try ProxyDaemon.startProxy(config: ConfigParser.parse(text, file: "test.conf"), file: "config")
        daemon = nil
        port = server.listenAddresses[0].port
        socketPath = ""
        metricsPort = 0
    }

    /// The workers alone on `text` (see the type's comment).
    static func dataPlane(config text: String) throws -> TestProxy { try TestProxy(dataPlane: text) }

    /// The workers alone on `proxyConfigText(pools:split:extra:)`.
    static func dataPlane(pools: [(name: String, ports: [UInt16])], split: String, extra: String = "") throws -> TestProxy {
        try TestProxy(dataPlane: proxyConfigText(pools: pools, split: split, extra: extra))
    }

    private var whole: ProxyDaemon {
        guard let daemon else { preconditionFailure("a data-plane TestProxy has no control loop") }
        return daemon
    }

    var control: ProxyControl { whole.control }
    var loop: EventLoop { whole.loop }
    var admin: AdminServer {
        guard let admin = whole.admin else { preconditionFailure("this TestProxy has no admin socket") }
        return admin
    }

    func client(timeout: Double = 10, receiveBuffer: Int32? = nil) throws -> TestClient {
        try TestClient(port: port, timeout: timeout, receiveBuffer: receiveBuffer)
    }

    /// Routes by `text` from the next request on (a data-plane proxy only: a daemon's
    /// ProxyControl would publish its own configuration over it).
    func publish(_ text: String) throws {
        precondition(daemon == nil, "publish bypasses ProxyControl: use a data-plane TestProxy")
        try server.store.publish(ConfigParser.parse(text, file: "test.conf"))
    }

    /// Runs `body` on the control loop's thread and waits (bounded) for its result.
    func onControlLoop<T: Sendable>(timeout: Double = 5, _ body: @escaping @Sendable () -> T) -> T? {
        runOnLoop(loop, timeout: timeout, body)
    }

    /// Ends the daemon's `run` (which closes the admin socket and metrics listener and stops the
    /// workers) and waits for it; a data-plane proxy just stops its workers.
    func stop() {
        guard let daemon else { server.stop(); return }
        guard let t = thread else { return }
        thread = nil
        daemon.stop()
        t.join()
    }

    deinit { stop() }
}

// MARK: the admin socket

extension TestProxy {
    /// A new admin connection (blocking, every operation bounded by `timeout`).
    func adminClient(timeout: Double = 5) throws -> AdminClient {
        try AdminClient(path: socketPath, timeout: timeout)
    }

    /// One command on a fresh connection.
    func request(_ line: String) throws -> JSONValue {
        let c = try adminClient()
        defer { c.close() }
        return try c.request(line)
    }

    /// The `status` reply (throws when the admin socket does not answer).
    func status() throws -> JSONValue {
        let s = try request("status")
        guard s.isOK else { throw TestSupportError("status failed: \(s.encoded())") }
        return s
    }

    /// Polls `status` every `pollMs` until `predicate` holds (or `timeout` passes); the time it
    /// first held (monotonic seconds), or nil.
    func waitForStatus(timeout: Double, pollMs: Int = 10, _ predicate: (JSONValue) -> Bool) throws -> Double? {
        var heldAt: Double?
        try pollUntil(timeout: timeout, pollMs: pollMs) {
            if predicate(try status()) { heldAt = monotonicSeconds() }
            return heldAt != nil
        }
        return heldAt
    }
}

/// Runs `body` on `loop`'s thread and waits (bounded by `timeout`) for its result.
func runOnLoop<T: Sendable>(_ loop: EventLoop, timeout: Double = 5, _ body: @escaping @Sendable () -> T) -> T? {
    let box = Shared<T?>(nil)
    loop.execute { box.set(body()) }
    pollUntil(timeout: timeout, pollMs: 1) { box.value != nil }
    return box.value
}

/// The one config-text builder of the tests: `listen`, `workers`, an optional `admin` socket,
/// pools given as their raw lines (`server ...` and pool directives), the split, then `extra`
/// (top-level lines, each ending in a newline).
func configText(listen: String = "127.0.0.1:0", workers: Int = 1, admin: String? = nil,
                pools: [(name: String, lines: [String])], split: String, extra: String = "") -> String {
    var text = "listen \(listen)\nworkers \(workers)\n"
    if let admin { text += "admin \(admin)\n" }
    for p in pools {
        text += "pool \(p.name) {\n"
        for l in p.lines { text += "    \(l)\n" }
        text += "}\n"
    }
    text += "split \(split)\n"
    text += extra
    return text
}

/// Config text for a proxy on an ephemeral port with one worker (so the split sequence is exact).
func proxyConfigText(pools: [(name: String, ports: [UInt16])], split: String, extra: String = "") -> String {
    configText(pools: pools.map { p in (p.name, p.ports.map { "server 127.0.0.1:\($0)" }) }, split: split, extra: extra)
}
