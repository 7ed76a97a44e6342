import Glibc
import TestSupport

/// Threads that keep opening new connections to a proxy that is shutting down, each sending one
/// GET and reading the answer, and record how every attempt ended: refused at connect, served
/// (a complete response), or anything else (reset, closed or timed out after the connection was
/// accepted: the outcome a graceful shutdown must never produce).
final class ConnectProber: @unchecked Sendable {
    enum Outcome: Equatable, CustomStringConvertible {
        case refused
        case served(Int)
        case broken(String)

        var description: String {
            switch self {
            case .refused: return "refused"
            case .served(let s): return "served \(s)"
            case .broken(let why): return "broken: \(why)"
            }
        }
    }

    struct Attempt: CustomStringConvertible {
        let thread: Int
        let start: Double
        let end: Double
        let outcome: Outcome
        var description: String { "[thread \(thread) at \(threeDecimals(start)) s, \(Int((end - start) * 1000)) ms] \(outcome)" }
    }

    let port: UInt16
    private let stopFlag = StopFlag()
    private let attemptsLog = Shared<[Attempt]>([])
    private var threads: [TestThread] = []
    private let finished = Counter()

    /// `refusalsToStop`: a thread stops after this many refusals in a row (the listener is gone).
    init(port: UInt16, threads count: Int, pauseMs: Int = 0, refusalsToStop: Int = 5, maxSeconds: Double = 10,
         path: String = "/probe") {
        self.port = port
        let began = monotonicSeconds()
        for k in 0..<count {
            threads.append(TestThread { [self] in
                var refusals = 0
                var n = 0
                while !stopFlag.isRaised && refusals < refusalsToStop && monotonicSeconds() - began < maxSeconds {
                    n += 1
                    let t0 = monotonicSeconds()
                    let outcome: Outcome
                    do {
                        let c = try TestClient(port: port, timeout: 5)
                        do {
                            try c.send("GET \(path)/\(k)/\(n) HTTP/1.1\r\nHost: probe.test\r\n\r\n")
                            let r = try c.readResponse()
                            outcome = .served(r.status)
                        } catch {
                            outcome = .broken("\(error)")
                        }
                        c.close()
                    } catch let e as TestSocketError {
                        if case .reset = e { outcome = .refused } else { outcome = .broken("connect: \(e)") }
                    } catch {
                        outcome = .broken("connect: \(error)")
                    }
                    refusals = outcome == .refused ? refusals + 1 : 0
                    attemptsLog.update { $0.append(Attempt(thread: k, start: t0, end: monotonicSeconds(), outcome: outcome)) }
                    if pauseMs > 0 { sleepMilliseconds(pauseMs) }
                }
                finished.add(1)
            })
        }
    }

    var attempts: [Attempt] { attemptsLog.value }

    /// Waits for every thread to stop by itself (after its refusals), up to `timeout`; then stops
    /// the rest. All attempts, by start time.
    func finish(timeout: Double) -> [Attempt] {
        _ = pollUntil(timeout: timeout, pollMs: 5) { finished.current == threads.count }
        stopFlag.raise()
        for t in threads { t.join() }
        threads.removeAll()
        return attempts.sorted { $0.start < $1.start }
    }

    /// Stops every thread after its current attempt.
    func stop() -> [Attempt] { finish(timeout: 0) }
}
