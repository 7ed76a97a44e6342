import Admin
import Balancing
import EventLoop
import Glibc
import Proxy
import Synchronization

// Support for the admin / drain / reload / shutdown tests: a scratch directory, an in-process
// proxy with its real admin socket (wired as `switchyard`'s main.swift does), upstreams that
// log when each request arrived, and small JSON helpers.

/// A fresh directory under /tmp (short, so a Unix socket path inside it fits in sun_path),
/// removed with everything in it by `remove()`.
final class ScratchDirectory: @unchecked Sendable {
    let path: String

    init(prefix: String = "syt") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw TestSocketError.system("mkdtemp", errno) }
        path = String(cString: template)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `text` to `name` atomically (temp file + rename), so a concurrent reader (a proxy
    /// reloading on SIGHUP) never sees half a file. Returns the full path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let final = file(name)
        let tmp = final + ".tmp"
        guard let f = fopen(tmp, "w") else { throw TestSocketError.system("fopen \(tmp)", errno) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        guard n == bytes.count else { throw TestSocketError.system("fwrite \(tmp)", EIO) }
        guard rename(tmp, final) == 0 else { throw TestSocketError.system("rename \(tmp)", errno) }
        return final
    }

    func read(_ name: String) -> String { readWholeFile(file(name)) }

    func remove() {
        guard let d = opendir(path) else { return }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(d)
        for n in names { unlink(file(n)) }
        rmdir(path)
    }
}

/// The whole file as text ("" if it cannot be opened).
func readWholeFile(_ path: String) -> String {
    guard let f = fopen(path, "r") else { return "" }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n <= 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Runs `body` on `loop`'s thread and waits (bounded by `timeout`) for its result.
func runOnLoop<T: Sendable>(_ loop: EventLoop, timeout: Double = 5, _ body: @escaping @Sendable () -> T) -> T? {
    let box = Shared<T?>(nil)
    loop.execute { box.set(body()) }
    let until = monotonicSeconds() + timeout
    while monotonicSeconds() < until {
        if let v = box.value { return v }
        sleepMilliseconds(1)
    }
    return box.value
}

/// A proxy running in this process plus its admin socket on a control loop of its own, wired the
/// way `runProxy` in Sources/switchyard/main.swift does it (ProxyControl + AdminBridge +
/// AdminServer on one EventLoop run by a LoopThread).
final class InProcessAdminProxy: @unchecked Sendable {
    let proxy: ProxyServer
    let control: ProxyControl
    let bridge: AdminBridge
    let loop: EventLoop
    let admin: AdminServer
    let socketPath: String
    let port: UInt16
    private var thread: LoopThread?

    init(config text: String, socketPath: String, group: String? = nil, auditPath: String? = nil) throws {
        Log.quiet = getenv("PROXYTESTS_LOG") == nil
        let config = try ConfigParser.parse(text, file: "test.conf")
        proxy = try ProxyServer(config: config)
        try proxy.start()
        port = proxy.listenAddresses[0].port
        loop = try EventLoop(index: -1, bufferSize: 4096)
        control = ProxyControl(proxy: proxy, control: loop, version: "test-version")
        bridge = AdminBridge(control: control)
        self.socketPath = socketPath
        do {
            if let auditPath { bridge.audit = try AuditLog(path: auditPath) }
            // Created before the loop runs, so this thread may register it.
            admin = try AdminServer(path: socketPath, group: group, loop: loop, handler: bridge)
        } catch {
            proxy.stop()
            throw error
        }
        let loop = self.loop
        thread = LoopThread {
            loop.run()
            loop.closeAll()
        }
    }

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

    func client(timeout: Double = 10) throws -> TestClient {
        try TestClient(port: port, timeout: timeout)
    }

    /// Runs `body` on the control loop's thread and waits (bounded) for its result.
    func onControlLoop<T: Sendable>(timeout: Double = 5, _ body: @escaping @Sendable () -> T) -> T? {
        runOnLoop(loop, timeout: timeout, body)
    }

    func stop() {
        guard let t = thread else { return }
        thread = nil
        let admin = self.admin
        loop.execute { admin.close() }
        loop.stop()
        t.join()
        proxy.stop()
    }

    deinit { stop() }
}

// MARK: upstreams that log arrival times

/// One request as an upstream saw its head arrive.
struct Arrival: Sendable {
    let target: String
    let time: Double
}

/// A TestUpstream named `name` that logs each request head's arrival time and answers by path:
/// - `/slow/MS/...`: waits MS milliseconds, then 200 (the connection's thread sleeps)
/// - `/code/NNN/...`: status NNN
/// - an `Upgrade: websocket` request: 101, then echoes every byte (a tunnel)
/// - anything else: 200 at once
/// Every normal answer has `X-Upstream: NAME` and body NAME.
final class LoggingUpstream: @unchecked Sendable {
    let name: String
    let upstream: TestUpstream
    private let log: Shared<[Arrival]>
    /// Slow requests currently being delayed by this upstream.
    let delaying: Counter

    init(name: String, ioTimeout: Double = 10) throws {
        self.name = name
        let log = Shared<[Arrival]>([])
        let delaying = Counter()
        self.log = log
        self.delaying = delaying
        upstream = try TestUpstream(name: name, ioTimeout: ioTimeout) { head in
            log.update { $0.append(Arrival(target: head.target, time: monotonicSeconds())) }
            if head.headers.tokens("Upgrade").contains("websocket") { return .upgradeEcho }
            let parts = head.target.split(separator: "/")
            var status = 200
            if parts.count >= 2, parts[0] == "slow", let ms = Int(parts[1]) {
                delaying.add(1)
                sleepMilliseconds(ms)
                delaying.add(-1)
            } else if parts.count >= 2, parts[0] == "code", let c = Int(parts[1]) {
                status = c
            }
            return .respond(status: status, headers: [HTTPHeader("X-Upstream", name)], body: Array(name.utf8))
        }
    }

    var port: UInt16 { upstream.port }
    var address: String { "127.0.0.1:\(upstream.port)" }
    var arrivals: [Arrival] { log.value }
    var requestCount: Int { log.value.count }

    /// Arrivals whose target contains `fragment`.
    func count(containing fragment: String) -> Int {
        log.value.reduce(0) { $0 + ($1.target.contains(fragment) ? 1 : 0) }
    }

    /// Waits (bounded) until `predicate` holds for the log.
    @discardableResult
    func waitUntil(timeout: Double = 5, _ predicate: ([Arrival]) -> Bool) -> Bool {
        let until = monotonicSeconds() + timeout
        while monotonicSeconds() < until {
            if predicate(log.value) { return true }
            sleepMilliseconds(2)
        }
        return predicate(log.value)
    }

    func stop() { upstream.stop() }
}

// MARK: JSON helpers

extension JSONValue {
    /// Follows object keys; nil as soon as one is missing.
    func at(_ keys: String...) -> JSONValue? {
        var v: JSONValue? = self
        for k in keys { v = v?[k] }
        return v
    }

    var isOK: Bool { self["ok"]?.boolValue == true }
    var code: String? { self["code"]?.stringValue }

    /// The keys of an object, in order.
    var keys: [String] { objectValue?.map(\.0) ?? [] }

    /// The server objects of `pool` in a `status` reply.
    func servers(pool: String) -> [JSONValue] { at("pools", pool, "servers")?.arrayValue ?? [] }

    /// The server object for `address` in `pool` of a `status` reply.
    func server(pool: String, address: String) -> JSONValue? {
        servers(pool: pool).first { $0["address"]?.stringValue == address }
    }
}

/// Polls `body` every few milliseconds until it returns true or `timeout` passes.
@discardableResult
func pollUntil(timeout: Double = 5, pollMs: Int = 5, _ body: () throws -> Bool) rethrows -> Bool {
    let until = monotonicSeconds() + timeout
    while monotonicSeconds() < until {
        if try body() { return true }
        sleepMilliseconds(pollMs)
    }
    return try body()
}

/// Config text for the admin/drain/reload/shutdown tests: one listener, workers, optional admin socket, pools, split.
func adminConfigText(pools: [(name: String, servers: [String])], split: String, workers: Int = 1,
                     listen: String = "127.0.0.1:0", admin: String? = nil, extra: String = "") -> String {
    var text = "listen \(listen)\nworkers \(workers)\n"
    if let admin { text += "admin \(admin)\n" }
    for p in pools {
        text += "pool \(p.name) {\n"
        for s in p.servers { text += "    server \(s)\n" }
        text += "}\n"
    }
    text += "split \(split)\n"
    text += extra
    return text
}

/// A number with 3 decimals, for printed measurements.
func threeDecimals(_ v: Double) -> String {
    let scaled = Int((v * 1000).rounded())
    let frac = String(abs(scaled) % 1000)
    return (scaled < 0 ? "-" : "") + "\(abs(scaled) / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
}

/// Sends slow GETs (`/slow/MS/N`, each on a new connection to `port`) until one is being delayed
/// by `target`; returns every client used, each still waiting for its (200) response.
/// nil if none reached `target` in `tries` attempts.
func sendSlowRequests(reaching target: LoggingUpstream, among all: [LoggingUpstream], port: UInt16, ms: Int,
                      tries: Int = 20) throws -> (clients: [TestClient], reached: Bool) {
    var clients: [TestClient] = []
    func othersDelaying() -> Int { all.filter { $0 !== target }.reduce(0) { $0 + $1.delaying.current } }
    for i in 0..<tries {
        let before = target.delaying.current
        let others = othersDelaying()
        let c = try TestClient(port: port, timeout: 5)
        try c.send("GET /slow/\(ms)/\(i) HTTP/1.1\r\nHost: slow.test\r\n\r\n")
        clients.append(c)
        _ = pollUntil(timeout: 2, pollMs: 1) { target.delaying.current > before || othersDelaying() > others }
        if target.delaying.current > before { return (clients, true) }
    }
    return (clients, false)
}
