import Glibc
import Synchronization
import TestSupport

// Blocking-socket plumbing shared by TestUpstream and TestClient. Deliberately independent of
// the proxy's own code (no EventLoop, no HTTP1): plain Glibc calls, every one bounded by a timeout.

/// Why a test socket operation failed.
enum TestSocketError: Error, CustomStringConvertible, Equatable {
    /// No progress within the timeout.
    case timedOut(String)
    /// The peer closed (FIN) where more bytes were required.
    case closed(String)
    /// The peer reset the connection (RST), or a write hit a dead connection.
    case reset(String)
    /// The bytes received do not form valid HTTP/1.1.
    case malformed(String)
    /// The owner asked the socket's thread to stop.
    case stopped
    case system(String, Int32)

    var description: String {
        switch self {
        case .timedOut(let s): return "timed out: \(s)"
        case .closed(let s): return "connection closed: \(s)"
        case .reset(let s): return "connection reset: \(s)"
        case .malformed(let s): return "malformed: \(s)"
        case .stopped: return "stopped"
        case .system(let s, let e): return "\(s): \(String(cString: strerror(e)))"
        }
    }

    /// True for a connection that ended early (FIN or RST) rather than a timeout or bad bytes.
    var isConnectionEnd: Bool {
        switch self {
        case .closed, .reset: return true
        default: return false
        }
    }
}

/// A flag another thread can raise to make blocking loops give up (checked between slices).
final class StopFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    var isRaised: Bool { raised.load(ordering: .acquiring) }
    func raise() { raised.store(true, ordering: .releasing) }
}

/// A thread-safe byte/count accumulator.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    var current: Int { value.load(ordering: .acquiring) }
    func add(_ n: Int) { value.add(n, ordering: .acquiringAndReleasing) }
}

/// A joinable pthread (Foundation's Thread cannot be joined).
final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let r = pthread_create(&thread, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            b.body()
            return nil
        }, box)
        precondition(r == 0, "pthread_create failed: \(r)")
    }

    func join() {
        pthread_join(thread, nil)
    }
}

enum TestSockets {
    static func setTimeouts(_ fd: Int32, receive: Double, send: Double) {
        func tv(_ s: Double) -> timeval {
            timeval(tv_sec: Int(s), tv_usec: Int((s - Double(Int(s))) * 1_000_000))
        }
        var r = tv(receive)
        var w = tv(send)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &w, socklen_t(MemoryLayout<timeval>.size))
    }

    static func setInt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return a
    }

    /// A listening socket on 127.0.0.1 with an ephemeral port.
    static func listen() throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSocketError.system("socket", errno) }
        setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        var addr = loopback(port: 0)
        let b = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard b == 0 else { let e = errno; close(fd); throw TestSocketError.system("bind", e) }
        guard Glibc.listen(fd, 128) == 0 else { let e = errno; close(fd); throw TestSocketError.system("listen", e) }
        return (fd, localPort(fd))
    }

    static func localPort(_ fd: Int32) -> UInt16 {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return UInt16(bigEndian: addr.sin_port)
    }

    /// A port on 127.0.0.1 where nothing listens (bound once, then closed), so connects are refused.
    static func closedPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSocketError.system("socket", errno) }
        defer { close(fd) }
        var addr = loopback(port: 0)
        let b = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard b == 0 else { throw TestSocketError.system("bind", errno) }
        return localPort(fd)
    }

    /// A blocking connection to 127.0.0.1:port with send/receive timeouts.
    /// `receiveBuffer` caps SO_RCVBUF (set before connecting, so the window is small from the
    /// start): with it, a client that stops reading really pushes back on its sender.
    static func connect(port: UInt16, timeout: Double, receiveBuffer: Int32? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSocketError.system("socket", errno) }
        if let receiveBuffer { setInt(fd, SOL_SOCKET, SO_RCVBUF, receiveBuffer) }
        setTimeouts(fd, receive: timeout, send: timeout)   // SO_SNDTIMEO bounds connect too
        setInt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        var addr = loopback(port: port)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if r != 0 {
            let e = errno
            close(fd)
            if e == ECONNREFUSED || e == ECONNRESET { throw TestSocketError.reset("connect to port \(port): refused") }
            if e == EINPROGRESS || e == EAGAIN || e == ETIMEDOUT { throw TestSocketError.timedOut("connect to port \(port)") }
            throw TestSocketError.system("connect to port \(port)", e)
        }
        return fd
    }

    /// Sets SO_LINGER {1, 0}: the next close sends RST instead of FIN.
    static func setAbortiveClose(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
    }
}

/// Sends all of `count` bytes. With `stop`, the socket's SO_SNDTIMEO is a short slice and the
/// loop keeps going until `deadline` seconds pass without progress or `stop` is raised.
func sendAll(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int, timeout: Double, stop: StopFlag? = nil) throws {
    var off = 0
    var lastProgress = monotonicSeconds()
    while off < count {
        let n = send(fd, p + off, count - off, Int32(MSG_NOSIGNAL))
        if n > 0 {
            off += n
            lastProgress = monotonicSeconds()
            continue
        }
        let e = n < 0 ? errno : EPIPE
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK {
            if let stop, stop.isRaised { throw TestSocketError.stopped }
            if stop != nil && monotonicSeconds() - lastProgress < timeout { continue }
            throw TestSocketError.timedOut("send (\(off) of \(count) bytes sent)")
        }
        if e == EPIPE || e == ECONNRESET { throw TestSocketError.reset("send: \(String(cString: strerror(e)))") }
        throw TestSocketError.system("send", e)
    }
}

func sendAll(_ fd: Int32, _ bytes: [UInt8], timeout: Double, stop: StopFlag? = nil) throws {
    if bytes.isEmpty { return }
    try bytes.withUnsafeBytes { try sendAll(fd, $0.baseAddress!, $0.count, timeout: timeout, stop: stop) }
}

/// A value shared between test threads behind a lock.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func set(_ v: Value) { mutex.withLock { $0 = v } }
    func update<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
