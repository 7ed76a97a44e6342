import Glibc
import XCTest

/// The built `switchyard` binary run as a child process (for signals: SIGTERM, SIGINT, SIGHUP),
/// with its stderr captured to a file. Always `kill()` it in teardown; `deinit` does too.
final class SpawnedProxy: @unchecked Sendable {
    let pid: pid_t
    let port: UInt16
    let configPath: String
    let stderrPath: String
    let socketPath: String
    private var exitStatus: Int32?

    /// <package root>/.build/debug/switchyard, found from this file's path.
    static var binaryPath: String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        // .../Tests/ProxyTests/Support/SpawnedProxy.swift -> drop 4 components.
        parts.removeLast(4)
        return parts.joined(separator: "/") + "/.build/debug/switchyard"
    }

    /// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
    static func freePort() throws -> UInt16 { try TestSockets.closedPort() }

    /// Starts `switchyard --config CONFIG` and waits until `port` accepts connections.
    init(configPath: String, port: UInt16, socketPath: String, stderrPath: String, startTimeout: Double = 10) throws {
        self.configPath = configPath
        self.port = port
        self.stderrPath = stderrPath
        self.socketPath = socketPath
        let binary = Self.binaryPath
        guard access(binary, X_OK) == 0 else {
            throw SpawnError("the switchyard binary is missing at \(binary): run `swift build` first")
        }
        let child = try spawnChild([binary, "--config", configPath], outputPath: stderrPath)
        pid = child

        // Wait until the proxy accepts (or exits, or the time runs out).
        let until = monotonicSeconds() + startTimeout
        while true {
            if let st = pollExit() {
                throw SpawnError("switchyard exited during startup (\(Self.describe(st))); stderr:\n\(stderr)")
            }
            if let c = try? TestClient(port: port, timeout: 1) {
                c.close()
                if access(socketPath, F_OK) == 0 { break }
            }
            if monotonicSeconds() > until {
                kill()
                throw SpawnError("switchyard did not accept on port \(port) within \(startTimeout) s; stderr:\n\(stderr)")
            }
            sleepMilliseconds(10)
        }
    }

    struct SpawnError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    var stderr: String { readWholeFile(stderrPath) }

    func signal(_ sig: Int32) {
        if exitStatus == nil { _ = Glibc.kill(pid, sig) }
    }

    /// The raw wait status if the process has exited (reaps it).
    @discardableResult
    func pollExit() -> Int32? {
        if let s = exitStatus { return s }
        var st: Int32 = 0
        let r = waitpid(pid, &st, WNOHANG)
        if r == pid { exitStatus = st; return st }
        return nil
    }

    var isRunning: Bool { pollExit() == nil }

    /// Waits up to `timeout` seconds for the process to exit; its raw wait status, or nil.
    func waitExit(timeout: Double) -> Int32? {
        let until = monotonicSeconds() + timeout
        while monotonicSeconds() < until {
            if let s = pollExit() { return s }
            sleepMilliseconds(2)
        }
        return pollExit()
    }

    /// The exit code if the status says the process exited normally.
    static func exitCode(_ status: Int32) -> Int32? { status & 0x7f == 0 ? (status >> 8) & 0xff : nil }

    static func describe(_ status: Int32) -> String {
        if let c = exitCode(status) { return "exit status \(c)" }
        return "killed by signal \(status & 0x7f)"
    }

    /// SIGKILL if still running, and reap.
    func kill() {
        guard pollExit() == nil else { return }
        _ = Glibc.kill(pid, SIGKILL)
        var st: Int32 = 0
        if waitpid(pid, &st, 0) == pid { exitStatus = st }
    }

    deinit { kill() }
}

extension XCTestCase {
    /// Kills `proc` at teardown, and prints its stderr if the test failed.
    func killAtTeardown(_ proc: SpawnedProxy, name: String = "switchyard") {
        addTeardownBlock { [weak self] in
            proc.kill()
            let failures = self?.testRun.map { $0.totalFailureCount } ?? 0
            if failures > 0 || getenv("PROXYTESTS_LOG") != nil {
                print("----- \(name) stderr (pid \(proc.pid)) -----\n\(proc.stderr)----- end of \(name) stderr -----")
            }
        }
    }
}

/// Config text for a spawned proxy: fixed port, admin socket, the pools and split given.
func spawnedConfigText(port: UInt16, socket: String, pools: [(name: String, servers: [String])], split: String,
                       workers: Int = 2, extra: String = "") -> String {
    adminConfigText(pools: pools, split: split, workers: workers, listen: "127.0.0.1:\(port)", admin: socket, extra: extra)
}
