import Glibc
import TestSupport

/// One line of a `Fixtures/upstream.py` request log: a request as the upstream process saw its
/// head arrive.
struct UpstreamLogEntry: Sendable, CustomStringConvertible {
    /// CLOCK_MONOTONIC seconds (the clock of `monotonicSeconds()`).
    let time: Double
    let name: String
    let method: String
    let target: String
    /// The `X-Request-Id` header, or "-".
    let requestID: String
    /// Proxied requests being handled by the process when this one arrived, this one included
    /// (health checks and control requests are not counted).
    let inFlight: Int
    let connection: Int
    /// The mode the upstream answered this request in (`PythonUpstream.Mode` raw value).
    let mode: String

    var isHealthCheck: Bool { target == "/healthz" || target.hasPrefix("/healthz?") }
    var isControl: Bool { target.hasPrefix("/__control/") }
    /// A request the proxy forwarded for a client (not a health check, not a test's control request).
    var isProxied: Bool { !isHealthCheck && !isControl }

    var description: String { "\(threeDecimals(time)) \(name) \(method) \(target) id=\(requestID) inflight=\(inFlight) \(mode)" }

    init?(line: Substring) {
        let f = line.split(separator: "\t", omittingEmptySubsequences: false)
        guard f.count == 8, let t = Double(f[0]), let n = Int(f[5]), let c = Int(f[6]) else { return nil }
        time = t
        name = String(f[1])
        method = String(f[2])
        target = String(f[3])
        requestID = String(f[4])
        inFlight = n
        connection = c
        mode = String(f[7])
    }
}

/// `Tests/ProxyTests/Fixtures/upstream.py` run as a child process: a real upstream that can be
/// SIGKILLed, made to hang, reset mid-response, answer slowly or fail its health checks. Every
/// request it receives is in its log file. Always `kill()` it (teardown does, by PID; so does
/// `deinit`, the `ChildProcess`'s).
final class PythonUpstream: @unchecked Sendable {
    enum Mode: String {
        case normal, slow, status500, hang
        case resetBeforeResponse = "reset-before-response"
        case resetMidResponse = "reset-mid-response"
        case resetMidChunked = "reset-mid-chunked"
        case resetMidClose = "reset-mid-close"
    }

    let name: String
    let child: ChildProcess
    let port: UInt16
    let logPath: String
    var pid: pid_t { child.pid }
    var stderrPath: String { child.outputPath }

    var address: String { "127.0.0.1:\(port)" }

    /// <package root>/Tests/ProxyTests/Fixtures/upstream.py, found from this file's path.
    static var scriptPath: String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        // .../Tests/ProxyTests/Support/PythonUpstream.swift -> .../Tests/ProxyTests
        parts.removeLast(2)
        return parts.joined(separator: "/") + "/Fixtures/upstream.py"
    }

    /// The interpreter: $SWITCHYARD_PYTHON, else a python3 at a usual absolute path (no shim
    /// start-up cost), else "python3" looked up in PATH.
    static var interpreter: String {
        if let p = getenv("SWITCHYARD_PYTHON"), let s = String(validatingCString: p), !s.isEmpty { return s }
        for p in ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"] where access(p, X_OK) == 0 { return p }
        return "python3"
    }

    /// Starts the upstream and waits (bounded) until it accepts. `port` 0: any free port; give
    /// a previous instance's port to bring a killed server back at the same address.
    init(name: String, mode: Mode = .normal, in scratch: ScratchDirectory, port: UInt16 = 0, delayMS: Int = 300,
         healthzStatus: Int = 200, startTimeout: Double = 10) throws {
        self.name = name
        let tag = "\(name)-\(PythonUpstream.sequence.next())"
        logPath = scratch.file("\(tag).log")
        let readyPath = scratch.file("\(tag).ready")
        unlink(readyPath)

        let python = Self.interpreter
        let args = [python, "-u", Self.scriptPath, "--name", name, "--mode", mode.rawValue, "--port", "\(port)",
                    "--delay-ms", "\(delayMS)", "--healthz-status", "\(healthzStatus)",
                    "--log", logPath, "--ready-file", readyPath]
        let child = try ChildProcess(args, output: scratch.file("\(tag).err"), searchPath: true)
        self.child = child

        var bound: UInt16 = 0
        let ready = pollUntil(timeout: startTimeout) {
            if child.pollExit() != nil { return true }
            if let p = UInt16(readWholeFile(readyPath).filter { $0.isNumber }), p != 0 { bound = p }
            return bound != 0
        }
        if bound == 0, let st = child.pollExit() {
            throw TestSupportError("upstream \(name) exited during startup (\(ChildProcess.describe(st))); stderr:\n\(child.output)")
        }
        if !ready {
            child.kill()
            throw TestSupportError("upstream \(name) did not start within \(startTimeout) s; stderr:\n\(child.output)")
        }
        self.port = bound
    }

    private static let sequence = SequenceCounter()

    var isRunning: Bool { child.isRunning }

    /// SIGKILL (a crash: the kernel closes its sockets, connects are refused from now on), then
    /// reap. Idempotent.
    func kill() { child.kill() }

    var stderr: String { child.output }

    /// Every request logged so far, in arrival order.
    var log: [UpstreamLogEntry] {
        readWholeFile(logPath).split(separator: "\n").compactMap { UpstreamLogEntry(line: $0) }
    }

    /// The requests the proxy forwarded for clients (no health checks, no control requests).
    var proxied: [UpstreamLogEntry] { log.filter(\.isProxied) }
    var healthChecks: [UpstreamLogEntry] { log.filter(\.isHealthCheck) }

    /// A control request straight to the process (not through the proxy).
    func control(_ what: String) throws {
        let c = try TestClient(port: port, timeout: 5)
        defer { c.close() }
        let r = try c.get("/__control/\(what)")
        guard r.status == 200 else { throw TestSupportError("control \(what) on \(name): \(r)") }
    }

    /// From now on /healthz answers `status`.
    func setHealthz(_ status: Int) throws { try control("healthz/\(status)") }

    func setMode(_ mode: Mode) throws { try control("mode/\(mode.rawValue)") }
}

final class SequenceCounter: Sendable {
    private let value = Shared(0)
    func next() -> Int { value.update { $0 += 1; return $0 } }
}
