import Glibc
import Synchronization
import TestSupport

/// Continuous GET traffic from several client threads (each its own blocking connection), for
/// "zero failed requests while X happens" tests. Every response must be a 200 whose
/// `X-Upstream` header names the upstream that also wrote the body; anything else (a status
/// other than 200, a reset, a timeout, a malformed response) is a failure.
///
/// Targets are `/load/CLIENT/SEQ` followed by `tag()`, evaluated right before each request is
/// sent, so a test can mark the requests sent after some event and then ask the upstreams which
/// of those they received.
final class TrafficLoad: @unchecked Sendable {
    enum Mode: Sendable {
        /// One connection for many requests (reconnects only when the proxy says `close`).
        case keepAlive
        /// A new connection for every request.
        case newConnection
    }

    struct Summary: CustomStringConvertible {
        var ok = 0
        var failed = 0
        var failures: [String] = []
        var byUpstream: [String: Int] = [:]
        var description: String {
            "\(ok) ok, \(failed) failed \(byUpstream.sorted { $0.key < $1.key })"
                + (failures.isEmpty ? "" : "; first failures: \(failures.prefix(10))")
        }
    }

    private struct State {
        var summary = Summary()
    }

    let port: UInt16
    let modes: [Mode]
    let pauseMs: Int
    let ioTimeout: Double
    let maxSeconds: Double
    private let tag: @Sendable () -> String
    private let stopFlag = StopFlag()
    private let state = Mutex(State())
    private var threads: [TestThread] = []
    private let began = monotonicSeconds()

    init(port: UInt16, modes: [Mode], pauseMs: Int = 0, ioTimeout: Double = 5, maxSeconds: Double = 30,
         tag: @escaping @Sendable () -> String = { "" }) {
        self.port = port
        self.modes = modes
        self.pauseMs = pauseMs
        self.ioTimeout = ioTimeout
        self.maxSeconds = maxSeconds
        self.tag = tag
    }

    func start() {
        for (i, mode) in modes.enumerated() {
            threads.append(TestThread { [self] in run(client: i, mode: mode) })
        }
    }

    /// Successful responses so far.
    var okCount: Int { state.withLock { $0.summary.ok } }
    var snapshot: Summary { state.withLock { $0.summary } }

    /// Waits (bounded) until `count` more requests succeeded than when called.
    @discardableResult
    func waitForMore(_ count: Int, timeout: Double = 5) -> Bool {
        let target = okCount + count
        return pollUntil(timeout: timeout, pollMs: 2) { okCount >= target }
    }

    /// Stops every client after its current request and returns what happened.
    func stop() -> Summary {
        stopFlag.raise()
        for t in threads { t.join() }
        threads.removeAll()
        return snapshot
    }

    private func record(_ upstream: String?, failure: String?) {
        state.withLock { s in
            if let failure {
                s.summary.failed += 1
                if s.summary.failures.count < 50 { s.summary.failures.append(failure) }
            } else {
                s.summary.ok += 1
                if let upstream { s.summary.byUpstream[upstream, default: 0] += 1 }
            }
        }
    }

    private func run(client: Int, mode: Mode) {
        let hardStop = began + maxSeconds
        var conn: TestClient?
        var seq = 0
        while !stopFlag.isRaised && monotonicSeconds() < hardStop {
            seq += 1
            let target = "/load/\(client)/\(seq)" + tag()
            let t0 = monotonicSeconds()
            do {
                if conn == nil { conn = try TestClient(port: port, timeout: ioTimeout) }
                let c = conn!
                var text = "GET \(target) HTTP/1.1\r\nHost: load.test\r\n"
                if case .newConnection = mode { text += "Connection: close\r\n" }
                text += "\r\n"
                try c.send(text)
                let r = try c.readResponse()
                let name = r.header("X-Upstream")
                if r.status != 200 || name == nil || name != r.text {
                    record(nil, failure: "\(target): unexpected response \(r) after \(millisecondsSince(t0)) ms")
                    conn?.close()
                    conn = nil
                } else {
                    record(name, failure: nil)
                    if r.closesConnection || mode == .newConnection {
                        conn?.close()
                        conn = nil
                    }
                }
            } catch {
                record(nil, failure: "\(target) (\(mode)): \(error) after \(millisecondsSince(t0)) ms at t=\(millisecondsSince(began)) ms")
                conn?.close()
                conn = nil
            }
            if pauseMs > 0 { sleepMilliseconds(pauseMs) }
        }
        conn?.close()
    }
}

func millisecondsSince(_ t: Double) -> Int { Int((monotonicSeconds() - t) * 1000) }
