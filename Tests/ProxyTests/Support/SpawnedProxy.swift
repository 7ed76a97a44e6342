import Glibc
import TestSupport
import XCTest

/// The built `switchyard` binary run as a child process (for signals: SIGTERM, SIGINT, SIGHUP),
/// with its stderr captured to a file: the out-of-process counterpart of `TestProxy`. Always
/// `kill()` it in teardown; `deinit` does too (the `ChildProcess` it runs in).
final class SpawnedProxy: @unchecked Sendable {
    let child: ChildProcess
    let port: UInt16
    let configPath: String
    let stderrPath: String
    let socketPath: String

    /// <package root>/.build/debug/switchyard, found from this file's path.
    static var binaryPath: String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        // .../Tests/ProxyTests/Support/SpawnedProxy.swift -> drop 4 components.
        parts.removeLast(4)
        return parts.joined(separator: "/") + "/.build/debug/switchyard"
    }

    /// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
    static func freePort() throws -> UInt16 { try TestSockets.closedPort() }

    /// Starts `switchyard --config CONFIG` and waits until `port` accepts connections and the
    /// admin socket exists.
    init(configPath: String, port: UInt16, socketPath: String, stderrPath: String, startTimeout: Double = 10) throws {
        self.configPath = configPath
        self.port = port
        self.stderrPath = stderrPath
        self.socketPath = socketPath
        let binary = Self.binaryPath
        guard access(binary, X_OK) == 0 else {
            throw TestSupportError("the switchyard binary is missing at \(binary): run `swift build` first")
        }
        let child = try ChildProcess([binary, "--config", configPath], output: stderrPath)
        self.child = child

        // Wait until the proxy accepts (or exits, or the time runs out).
        var exited: Int32?
        let up = pollUntil(timeout: startTimeout, pollMs: 10) {
            exited = child.pollExit()
            guard exited == nil, let c = try? TestClient(port: port, timeout: 1) else { return exited != nil }
            c.close()
            return access(socketPath, F_OK) == 0
        }
        if let st = exited {
            throw TestSupportError("switchyard exited during startup (\(ChildProcess.describe(st))); stderr:\n\(stderr)")
        }
        if !up {
            child.kill()
            throw TestSupportError("switchyard did not accept on port \(port) within \(startTimeout) s; stderr:\n\(stderr)")
        }
    }

    var pid: pid_t { child.pid }
    var stderr: String { child.output }
    var isRunning: Bool { child.isRunning }

    func signal(_ sig: Int32) { child.signal(sig) }

    /// Waits up to `timeout` seconds for the process to exit; its raw wait status, or nil.
    func waitExit(timeout: Double) -> Int32? { child.waitExit(timeout: timeout) }

    /// SIGKILL if still running, and reap.
    func kill() { child.kill() }
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
