import Admin
import Glibc
import Synchronization
import TestSupport
import XCTest

// Support for the Health*Tests and Fault*Tests: a test case base that owns a scratch directory,
// real upstream processes (Fixtures/upstream.py) and in-process proxies (whole daemons, so
// health checking runs) with an admin socket; a load generator that records every request's
// outcome; and checks over the upstreams' request logs.

class HealthFaultTestCase: XCTestCase {
    private(set) var scratch: ScratchDirectory!
    private var upstreams: [PythonUpstream] = []
    private var proxies: [TestProxy] = []
    private var loads: [RecordingLoad] = []

    override func setUpWithError() throws {
        scratch = try ScratchDirectory(prefix: "hft")
    }

    override func tearDown() {
        for l in loads { _ = l.stop() }
        for p in proxies { p.stop() }
        for u in upstreams { u.kill() }
        let failed = (testRun?.totalFailureCount ?? 0) > 0
        if failed {
            for u in upstreams where !u.stderr.isEmpty {
                print("----- upstream \(u.name) (pid \(u.pid)) stderr -----\n\(u.stderr)----- end -----")
            }
        }
        loads.removeAll()
        proxies.removeAll()
        upstreams.removeAll()
        scratch?.remove()
    }

    /// A real upstream process, killed (SIGKILL, by PID) at teardown.
    func upstream(_ name: String, mode: PythonUpstream.Mode = .normal, port: UInt16 = 0, delayMS: Int = 300,
                  healthzStatus: Int = 200) throws -> PythonUpstream {
        let u = try PythonUpstream(name: name, mode: mode, in: scratch, port: port, delayMS: delayMS, healthzStatus: healthzStatus)
        upstreams.append(u)
        return u
    }

    /// An in-process proxy with ProxyControl (health checks, passive ejection, slow start,
    /// failover) and its admin socket, stopped at teardown.
    func proxy(_ config: String) throws -> TestProxy {
        let p = try TestProxy(config: config, socketPath: scratch.file("admin.sock"))
        proxies.append(p)
        return p
    }

    /// A load generator (not started), stopped at teardown if the test did not stop it.
    func load(_ proxy: TestProxy, _ clients: [RecordingLoad.Client], idPrefix: String,
              pauseMs: Int = 0, ioTimeout: Double = 5) -> RecordingLoad {
        let l = RecordingLoad(port: proxy.port, clients: clients, idPrefix: idPrefix, pauseMs: pauseMs, ioTimeout: ioTimeout)
        loads.append(l)
        return l
    }
}

/// Config text: one listener on an ephemeral port, `workers`, pools given as their raw lines
/// (`server ...` and pool directives), the split, then `extra` top-level lines.
func healthConfigText(workers: Int = 1, pools: [(name: String, lines: [String])], split: String,
                      extra: [String] = []) -> String {
    configText(workers: workers, pools: pools, split: split, extra: extra.map { "\($0)\n" }.joined())
}

// MARK: status

extension TestProxy {
    /// `health` of one server in `status` ("up", "down", "ejected", "awaiting-check", "probation").
    func health(pool: String, _ u: PythonUpstream) throws -> String? {
        try status().server(pool: pool, address: u.address)?["health"]?.stringValue
    }

    /// Polls until the server's `health` is `state`; the time it was first seen, or nil.
    func waitForHealth(pool: String, _ u: PythonUpstream, _ state: String, timeout: Double, pollMs: Int = 10) throws -> Double? {
        try waitForStatus(timeout: timeout, pollMs: pollMs) {
            $0.server(pool: pool, address: u.address)?["health"]?.stringValue == state
        }
    }
}

// MARK: load that records every outcome

/// Requests from several client threads, each its own blocking connection (kept alive, or new
/// for every request). Every request carries a unique `X-Request-Id` (also in its target:
/// `/get/ID` or `/post/ID`), so an outcome can be matched with the upstream logs. A request is
/// `ok` when the response is a 200 whose `X-Upstream` names the upstream that wrote the body.
final class RecordingLoad: @unchecked Sendable {
    enum Method: String, Sendable { case get = "GET", post = "POST" }

    struct Client: Sendable {
        var method: Method
        var keepAlive: Bool
        static func get(keepAlive: Bool) -> Client { Client(method: .get, keepAlive: keepAlive) }
        static func post(keepAlive: Bool) -> Client { Client(method: .post, keepAlive: keepAlive) }
    }

    struct Outcome: Sendable, CustomStringConvertible {
        let client: Int
        let id: String
        let method: Method
        let start: Double
        let end: Double
        /// The final status read, nil when no complete response was read.
        let status: Int?
        let upstream: String?
        let ok: Bool
        /// Why no complete response was read.
        let error: String?
        /// The connection ended (FIN or RST) instead of delivering a complete response.
        let connectionEnded: Bool

        var description: String {
            "\(method.rawValue) \(id) " + (status.map { "-> \($0) from \(upstream ?? "?")" } ?? "-> \(error ?? "?")")
                + " after \(Int((end - start) * 1000)) ms"
        }
    }

    let port: UInt16
    let clients: [Client]
    let idPrefix: String
    let pauseMs: Int
    let ioTimeout: Double
    let maxSeconds: Double
    private let stopFlag = StopFlag()
    private let results = Mutex<[Outcome]>([])
    private var threads: [TestThread] = []
    private var stopped = false

    init(port: UInt16, clients: [Client], idPrefix: String, pauseMs: Int = 0, ioTimeout: Double = 5, maxSeconds: Double = 30) {
        self.port = port
        self.clients = clients
        self.idPrefix = idPrefix
        self.pauseMs = pauseMs
        self.ioTimeout = ioTimeout
        self.maxSeconds = maxSeconds
    }

    func start() {
        for (i, c) in clients.enumerated() {
            threads.append(TestThread { [self] in run(client: i, c) })
        }
    }

    var outcomes: [Outcome] { results.withLock { $0 } }

    /// Waits (bounded) until `count` outcomes satisfy `predicate`.
    @discardableResult
    func waitFor(_ count: Int, timeout: Double, where predicate: (Outcome) -> Bool = { _ in true }) -> Bool {
        pollUntil(timeout: timeout, pollMs: 5) { results.withLock { $0.reduce(0) { $0 + (predicate($1) ? 1 : 0) } } >= count }
    }

    /// Stops every client after its current request; every outcome, in completion order.
    @discardableResult
    func stop() -> [Outcome] {
        if !stopped {
            stopped = true
            stopFlag.raise()
            for t in threads { t.join() }
            threads.removeAll()
        }
        return outcomes
    }

    private func run(client: Int, _ spec: Client) {
        let began = monotonicSeconds()
        var conn: TestClient?
        var seq = 0
        while !stopFlag.isRaised && monotonicSeconds() - began < maxSeconds {
            seq += 1
            let id = "\(idPrefix)\(client)-\(seq)"
            let start = monotonicSeconds()
            var status: Int?
            var upstream: String?
            var ok = false
            var failure: String?
            var ended = false
            do {
                if conn == nil { conn = try TestClient(port: port, timeout: ioTimeout) }
                let c = conn!
                var text: String
                let body = "post \(id)"
                switch spec.method {
                case .get:
                    text = "GET /get/\(id) HTTP/1.1\r\nHost: load.test\r\nX-Request-Id: \(id)\r\n"
                case .post:
                    text = "POST /post/\(id) HTTP/1.1\r\nHost: load.test\r\nX-Request-Id: \(id)\r\n"
                    text += "Content-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
                }
                if !spec.keepAlive { text += "Connection: close\r\n" }
                text += "\r\n"
                if spec.method == .post { text += body }
                try c.send(text)
                let r = try c.readResponse()
                status = r.status
                upstream = r.header("X-Upstream")
                ok = r.status == 200 && upstream != nil && upstream == r.text
                if !ok || r.closesConnection || !spec.keepAlive {
                    conn?.close()
                    conn = nil
                }
            } catch {
                failure = "\(error)"
                ended = (error as? TestSocketError)?.isConnectionEnd == true
                conn?.close()
                conn = nil
            }
            let o = Outcome(client: client, id: id, method: spec.method, start: start, end: monotonicSeconds(),
                            status: status, upstream: upstream, ok: ok, error: failure, connectionEnded: ended)
            results.withLock { $0.append(o) }
            if pauseMs > 0 { sleepMilliseconds(pauseMs) }
        }
        conn?.close()
    }
}

// MARK: checks over the upstream logs

/// The POSTs of `outcomes` against what `upstreams` logged: no request id was received twice
/// (across all upstreams), and every POST that succeeded was received exactly once, by the
/// upstream that answered it. Returns the number of POSTs received per id for further checks.
@discardableResult
func assertNoPOSTReceivedTwice(_ outcomes: [RecordingLoad.Outcome], upstreams: [PythonUpstream],
                               file: StaticString = #filePath, line: UInt = #line) -> [String: [UpstreamLogEntry]] {
    var received: [String: [UpstreamLogEntry]] = [:]
    for u in upstreams {
        for e in u.log where e.method == "POST" { received[e.requestID, default: []].append(e) }
    }
    let twice = received.filter { $0.value.count > 1 }
    XCTAssertTrue(twice.isEmpty, "POSTs received more than once: \(twice.prefix(5).map { "\($0.key): \($0.value)" })",
                  file: file, line: line)
    let posts = outcomes.filter { $0.method == .post }
    for o in posts where o.ok {
        let got = received[o.id] ?? []
        XCTAssertEqual(got.count, 1, "POST \(o.id) succeeded (\(o)) but the upstreams logged \(got)", file: file, line: line)
        XCTAssertEqual(got.first?.name, o.upstream, "POST \(o.id) answered by \(o.upstream ?? "?") but logged by \(got)",
                       file: file, line: line)
    }
    let loggedIDs = Set(received.keys)
    let sentIDs = Set(posts.map(\.id))
    XCTAssertTrue(loggedIDs.isSubset(of: sentIDs), "upstreams logged POST ids nobody sent: \(loggedIDs.subtracting(sentIDs).prefix(5))",
                  file: file, line: line)
    return received
}

extension Array where Element == RecordingLoad.Outcome {
    var failures: [RecordingLoad.Outcome] { filter { !$0.ok } }
    func summary() -> String {
        let ok = filter(\.ok)
        var by: [String: Int] = [:]
        for o in ok { by[o.upstream ?? "?", default: 0] += 1 }
        var statuses: [String: Int] = [:]
        for o in self where !o.ok { statuses[o.status.map(String.init) ?? (o.connectionEnded ? "cut" : "error"), default: 0] += 1 }
        return "\(count) requests: \(ok.count) ok \(by.sorted { $0.key < $1.key }), failures \(statuses.sorted { $0.key < $1.key })"
    }
}
