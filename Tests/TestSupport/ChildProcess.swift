import Glibc
import Synchronization

/// A program a test runs as a child process (the switchyard and yardctl binaries, the Python
/// upstream, promtool, setpriv): stdin from a file (/dev/null unless told), stdout and stderr
/// appended to files (one file for both unless told), default dispositions and an empty mask
/// for the signals tests send (the test process may have them blocked). Killed (SIGKILL) and
/// reaped by `kill()` and in `deinit`, so a hung child can neither hang the run nor outlive it.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let outputPath: String
    public let errorsPath: String
    private let exitStatus = Mutex<Int32?>(nil)
    /// Where `init(capturing:)` keeps the output; removed with the child.
    private var ownScratch: ScratchDirectory?

    /// `environment` nil: this process's; otherwise exactly those variables. `searchPath`: look
    /// `argv[0]` up in PATH.
    public init(_ argv: [String], output: String, errors: String? = nil, input: String = "/dev/null",
                environment: [String: String]? = nil, searchPath: Bool = false) throws {
        outputPath = output
        errorsPath = errors ?? output
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if let errors {
            posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        let cEnv: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for e in cEnv ?? [] { free(e) } }
        var child: pid_t = 0
        let r = withEnvironment(cEnv) { envp in
            searchPath
                ? posix_spawnp(&child, argv[0], &actions, &attr, cArgs, envp)
                : posix_spawn(&child, argv[0], &actions, &attr, cArgs, envp)
        }
        guard r == 0 else {
            throw TestSupportError("\(searchPath ? "posix_spawnp" : "posix_spawn") \(argv[0]): \(String(cString: strerror(r)))")
        }
        pid = child
    }

    /// Output (and errors, in a file of their own unless `mergeErrors`) captured in a scratch
    /// directory that lives as long as this object.
    public convenience init(capturing argv: [String], mergeErrors: Bool = false, input: String = "/dev/null",
                            environment: [String: String]? = nil) throws {
        let scratch = try ScratchDirectory(prefix: "run")
        do {
            try self.init(argv, output: scratch.file("out"), errors: mergeErrors ? nil : scratch.file("err"),
                          input: input, environment: environment)
        } catch {
            scratch.remove()
            throw error
        }
        ownScratch = scratch
    }

    /// What the child wrote to its output file (stdout, and stderr unless it has its own file).
    public var output: String { readWholeFile(outputPath) }
    public var errors: String { readWholeFile(errorsPath) }

    /// Sends `sig` unless the child was already reaped.
    public func signal(_ sig: Int32) {
        if pollExit() == nil { _ = Glibc.kill(pid, sig) }
    }

    /// The raw wait status if the child has exited (reaps it).
    @discardableResult
    public func pollExit() -> Int32? {
        exitStatus.withLock { status in
            if status == nil {
                var st: Int32 = 0
                if waitpid(pid, &st, WNOHANG) == pid { status = st }
            }
            return status
        }
    }

    public var isRunning: Bool { pollExit() == nil }

    /// Waits up to `timeout` seconds for the child to exit: its raw wait status, or nil.
    public func waitExit(timeout: Double) -> Int32? {
        pollUntil(timeout: timeout, pollMs: 2) { pollExit() != nil }
        return pollExit()
    }

    /// SIGKILL if still running, and reap. Idempotent.
    public func kill() {
        exitStatus.withLock { status in
            guard status == nil else { return }
            var st: Int32 = 0
            if waitpid(pid, &st, WNOHANG) == pid { status = st; return }
            _ = Glibc.kill(pid, SIGKILL)
            if waitpid(pid, &st, 0) == pid { status = st }
        }
    }

    deinit {
        kill()
        ownScratch?.remove()
    }

    /// The exit code if the status says the child exited normally (WIFEXITED/WEXITSTATUS, whose
    /// C macros are not imported).
    public static func exitCode(_ status: Int32) -> Int32? { status & 0x7f == 0 ? (status >> 8) & 0xff : nil }

    public static func describe(_ status: Int32) -> String {
        if let c = exitCode(status) { return "exit status \(c)" }
        return "killed by signal \(status & 0x7f)"
    }
}

extension ChildProcess {
    /// Waits up to `seconds` for the exit, then its exit code (-1 when it did not exit normally),
    /// output and errors; nil when it had to be killed.
    public func finish(within seconds: Double) -> (status: Int32, output: String, errors: String)? {
        guard let status = waitExit(timeout: seconds) else {
            kill()
            return nil
        }
        return (ChildProcess.exitCode(status) ?? -1, output, errorsPath == outputPath ? "" : errors)
    }
}

/// Runs `argv` to its end with its output captured: its exit code (-1
/// when it did not exit normally, or had to be killed after `timeout` seconds, which the output
/// then says), stdout and stderr. `mergeErrors`: stderr goes into `output`, interleaved as written.
public func runProgram(_ argv: [String], input: String? = nil, environment: [String: String]? = nil,
                       mergeErrors: Bool = false, timeout: Double = 60) throws -> (status: Int32, output: String, errors: String) {
    let child = try ChildProcess(capturing: argv, mergeErrors: mergeErrors, input: input ?? "/dev/null", environment: environment)
    if let done = child.finish(within: timeout) { return done }
    return (-1, child.output + "\n(killed after \(timeout) s)", mergeErrors ? "" : child.errors)
}

/// `environment` as a C `char *const[]` (this process's `environ` when nil).
private func withEnvironment<R>(_ environment: [UnsafeMutablePointer<CChar>?]?,
                                _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    guard let environment else { return body(UnsafePointer(environ)) }
    return environment.withUnsafeBufferPointer { body($0.baseAddress!) }
}
