import Glibc
import Synchronization
import TestSupport

/// Paced GET traffic for rollout tests: `clients` keep-alive connections, each sending at
/// `ratePerClient` requests/s, recording every outcome with its time (monotonic seconds) so a
/// test can say when the first bad response came and what happened after a rollback. Unlike
/// TrafficLoad, a 5xx is an outcome to record, not a test failure.
final class PacedLoad: @unchecked Sendable {
    struct Outcome: Sendable {
        var time: Double
        /// 0 for a transport failure (reset, timeout).
        var status: Int
        var upstream: String
    }

    let port: UInt16
    let clients: Int
    let ratePerClient: Double
    let maxSeconds: Double
    private let stopFlag = StopFlag()
    private let outcomes = Mutex<[Outcome]>([])
    private var threads: [TestThread] = []

    init(port: UInt16, clients: Int, ratePerClient: Double, maxSeconds: Double = 60) {
        self.port = port
        self.clients = clients
        self.ratePerClient = ratePerClient
        self.maxSeconds = maxSeconds
    }

    func start() {
        for i in 0..<clients { threads.append(TestThread { [self] in run(client: i) }) }
    }

    var all: [Outcome] { outcomes.withLock { $0 } }
    var count: Int { outcomes.withLock { $0.count } }

    @discardableResult
    func stop() -> [Outcome] {
        stopFlag.raise()
        for t in threads { t.join() }
        threads.removeAll()
        return all
    }

    private func run(client: Int) {
        let began = monotonicSeconds()
        let interval = 1 / ratePerClient
        // Spread the clients' phases so the total rate is smooth.
        var next = began + interval * Double(client) / Double(max(1, clients))
        var conn: TestClient?
        var seq = 0
        while !stopFlag.isRaised && monotonicSeconds() < began + maxSeconds {
            let wait = next - monotonicSeconds()
            if wait > 0 { sleepMilliseconds(Int(wait * 1000)) }
            next += interval
            if next < monotonicSeconds() - 1 { next = monotonicSeconds() }   // fell behind: do not burst
            seq += 1
            do {
                if conn == nil { conn = try TestClient(port: port, timeout: 5) }
                let r = try conn!.get("/paced/\(client)/\(seq)")
                let o = Outcome(time: monotonicSeconds(), status: r.status, upstream: r.header("X-Upstream") ?? "")
                outcomes.withLock { $0.append(o) }
                if r.closesConnection { conn?.close(); conn = nil }
            } catch {
                outcomes.withLock { $0.append(Outcome(time: monotonicSeconds(), status: 0, upstream: "")) }
                conn?.close()
                conn = nil
            }
        }
        conn?.close()
    }
}
