import Glibc

/// PIDs of running children, readable from a signal handler (plain stores into fixed memory, no
/// locks, no allocation). Slot value 0 means empty.
nonisolated(unsafe) private let childSlots: UnsafeMutablePointer<Int32> = {
    let p = UnsafeMutablePointer<Int32>.allocate(capacity: 128)
    p.initialize(repeating: 0, count: 128)
    return p
}()

/// A child process started by the bench. Every wait on it is bounded.
final class Child {
    let pid: Int32
    let name: String
    let logPath: String
    private(set) var exitStatus: Int32? = nil

    /// Spawns `argv` with stdin from /dev/null and stdout+stderr into `logPath`. The command is
    /// wrapped in `setpriv --pdeathsig TERM` when available, so even if the bench crashes the
    /// child is told to exit.
    init(name: String, argv: [String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        var full = argv
        if Tools.setpriv != nil { full = ["setpriv", "--pdeathsig", "TERM", "--"] + argv }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs: [UnsafeMutablePointer<CChar>?] = full.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid: pid_t = 0
        let r = posix_spawnp(&pid, full[0], &actions, &attr, cArgs, environ)
        guard r == 0 else { throw BenchError("cannot start \(name) (\(full[0])): \(String(cString: strerror(r)))") }
        self.pid = pid
        Child.register(pid)
    }

    /// True while the process has not exited (reaps it when it has).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid || (r < 0 && errno == ECHILD) {
            exitStatus = status
            Child.unregister(pid)
            return false
        }
        return true
    }

    /// Waits up to `ms` for exit; true when it exited.
    @discardableResult
    func wait(ms: Int) -> Bool {
        let deadline = Clock.nowNS() + UInt64(ms) * 1_000_000
        while isRunning {
            if Clock.nowNS() >= deadline { return false }
            usleep(5_000)
        }
        return true
    }

    /// SIGTERM, then SIGKILL after `graceMS`. Only ever signals this child's own PID.
    func stop(graceMS: Int = 2000) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        if wait(ms: graceMS) { return }
        kill(pid, SIGKILL)
        wait(ms: 2000)
    }

    /// The last lines of the child's log, for error messages.
    func logTail(lines: Int = 8) -> String {
        guard let text = readTextFile(logPath) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    private static func register(_ pid: Int32) {
        for i in 0..<128 where childSlots[i] == 0 { childSlots[i] = pid; return }
    }

    private static func unregister(_ pid: Int32) {
        for i in 0..<128 where childSlots[i] == pid { childSlots[i] = 0 }
    }

    /// Installs handlers so Ctrl-C (and TERM/HUP/QUIT) kill every registered child by PID
    /// before the bench exits.
    static func installSignalCleanup() {
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            signal(s) { sig in
                killRegisteredChildren()
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
        signal(SIGPIPE, SIG_IGN)
    }
}

/// Async-signal-safe: TERM every child, give them 300 ms, KILL the rest.
func killRegisteredChildren() {
    for i in 0..<128 where childSlots[i] > 0 { kill(childSlots[i], SIGTERM) }
    var ts = timespec(tv_sec: 0, tv_nsec: 300_000_000)
    nanosleep(&ts, nil)
    for i in 0..<128 where childSlots[i] > 0 {
        var status: Int32 = 0
        if waitpid(childSlots[i], &status, WNOHANG) == 0 { kill(childSlots[i], SIGKILL) }
        childSlots[i] = 0
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

enum Clock {
    static func nowNS() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func sleep(ms: Int) {
        var ts = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var left = timespec()
        while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
    }
}

/// External programs the bench can use, found on PATH once.
enum Tools {
    static let wrk = which("wrk")
    static let nginx = which("nginx")
    static let haproxy = which("haproxy")
    static let taskset = which("taskset")
    static let setpriv = which("setpriv")

    static func which(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for dir in (path + ":/usr/sbin:/sbin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// `taskset -c 0-N argv…`: undoes the bench's own pinning (children inherit core 1).
    static func allCores(_ argv: [String]) -> [String] {
        guard taskset != nil, Affinity.coreCount > 1 else { return argv }
        return ["taskset", "-c", "0-\(Affinity.coreCount - 1)"] + argv
    }

    /// `taskset -c CORE argv…` when pinning is possible, else argv unchanged.
    static func pinned(_ argv: [String], core: Int?) -> [String] {
        guard let core, taskset != nil else { return argv }
        return ["taskset", "-c", String(core)] + argv
    }
}

func readTextFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 65536) }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

func writeTextFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw BenchError("cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
        guard n > 0 else { throw BenchError("short write to \(path)") }
        off += n
    }
}

func copyFile(_ from: String, to: String, mode: mode_t) throws {
    let src = open(from, O_RDONLY | O_CLOEXEC)
    guard src >= 0 else { throw BenchError("cannot read \(from)") }
    defer { close(src) }
    let dst = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard dst >= 0 else { throw BenchError("cannot write \(to)") }
    defer { close(dst) }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(src, $0.baseAddress!, 1 << 16) }
        if n < 0 { throw BenchError("read error on \(from)") }
        if n == 0 { return }
        var off = 0
        while off < n {
            let w = chunk.withUnsafeBytes { write(dst, $0.baseAddress! + off, n - off) }
            guard w > 0 else { throw BenchError("write error on \(to)") }
            off += w
        }
    }
}


/// RLIMIT_NOFILE for the bench and (inherited) its children.
enum FileLimit {
    static var hard: Int {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return 1024 }
        return rl.rlim_max == rlim_t.max ? 1 << 20 : Int(rl.rlim_max)
    }

    static var soft: Int {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return 1024 }
        return rl.rlim_max == rlim_t.max ? 1 << 20 : Int(rl.rlim_cur)
    }

    /// Raises the hard limit to at least `target` (works as root, or when it already is), then
    /// the soft limit to the hard limit. Children inherit both, so Switchyard (which raises its
    /// soft limit to the hard one) sizes its connection limit from this: (limit - 64) / 2.
    @discardableResult
    static func raise(to target: Int) -> Int {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return 1024 }
        if rl.rlim_max != rlim_t.max && Int(rl.rlim_max) < target {
            var up = rl
            up.rlim_max = rlim_t(target)
            up.rlim_cur = rlim_t(target)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &up) == 0 { return target }
        }
        rl.rlim_cur = rl.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
        return soft
    }
}
