import Admin
import Balancing
import EventLoop
import Glibc
import Proxy
import Synchronization
import TestSupport

// Support for the admin / drain / reload / shutdown tests (their proxy is a `TestProxy` with an
// admin socket): upstreams that log when each request arrived, and small JSON helpers.

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
        pollUntil(timeout: timeout, pollMs: 2) { predicate(log.value) }
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

/// Config text for the admin/drain/reload/shutdown tests: one listener, workers, optional admin socket, pools, split.
func adminConfigText(pools: [(name: String, servers: [String])], split: String, workers: Int = 1,
                     listen: String = "127.0.0.1:0", admin: String? = nil, extra: String = "") -> String {
    configText(listen: listen, workers: workers, admin: admin,
               pools: pools.map { p in (p.name, p.servers.map { "server \($0)" }) }, split: split, extra: extra)
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
