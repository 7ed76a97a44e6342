import CSystemShims
import Glibc

/// The raw calls under `Socket`, `StreamSocket`, `IOBatch` and `Files` (internal to EventLoop).
/// Each retries EINTR and returns the result or `-errno` (never the global `errno`), which the
/// public types turn into `IOResult` or `SocketError`. `close` is never retried (Linux releases
/// the descriptor even when it reports EINTR).
enum Sys {
    @inline(__always)
    static func read(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int) -> Int {
        while true {
            let n = Glibc.read(fd, buf, count)
            if n >= 0 { return n }
            let e = errno
            if e != EINTR { return -Int(e) }
        }
    }

    /// recv(2) on a socket: the same as read(2) for the caller, but it goes straight to the
    /// socket layer (no VFS read path, no file-position lock): measurably cheaper per request.
    @inline(__always)
    static func recv(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int) -> Int {
        while true {
            let n = shim_recv(fd, buf, count)
            if n != -Int(EINTR) { return n }
        }
    }

    @inline(__always)
    static func write(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) -> Int {
        while true {
            let n = shim_send(fd, buf, count, Int32(MSG_NOSIGNAL))
            if n != -Int(EINTR) { return n }
        }
    }

    /// A gathering write of up to two regions: the common "rewritten head + first body bytes" case.
    @inline(__always)
    static func writev2(_ fd: Int32, _ a: UnsafeRawPointer, _ aCount: Int,
                               _ b: UnsafeRawPointer, _ bCount: Int) -> Int {
        if bCount == 0 { return write(fd, a, aCount) }
        if aCount == 0 { return write(fd, b, bCount) }
        var iov = (iovec(iov_base: UnsafeMutableRawPointer(mutating: a), iov_len: aCount),
                   iovec(iov_base: UnsafeMutableRawPointer(mutating: b), iov_len: bCount))
        // sendmsg rather than writev: straight to the socket layer (no VFS write path), and
        // MSG_NOSIGNAL instead of relying on SIGPIPE being ignored.
        return withUnsafeMutableBytes(of: &iov) { raw -> Int in
            let p = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
            var msg = msghdr()
            msg.msg_iov = p
            msg.msg_iovlen = 2
            while true {
                let n = shim_sendmsg(fd, &msg, Int32(MSG_NOSIGNAL))
                if n != -Int(EINTR) { return n }
            }
        }
    }

    /// Changes a listening socket's backlog (listen(2) again). Backlog 0 lets at most one
    /// connection wait in the accept queue; further SYNs are dropped (the client retries later).
    static func setBacklog(_ fd: Int32, _ backlog: Int32) {
        _ = Glibc.listen(fd, backlog)
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC; returns fd or -errno.
    @inline(__always)
    static func accept(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr_storage>) -> Int32 {
        while true {
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let r = addr.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                shim_accept4(fd, $0, &len, shim_SOCK_NONBLOCK_CLOEXEC())
            }
            if r >= 0 { return r }
            let e = errno
            if e != EINTR && e != ECONNABORTED { return -e }
        }
    }

    /// Pending socket error after a non-blocking connect (0 = connected).
    static func socketError(_ fd: Int32) -> Int32 {
        var v: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len) != 0 { return errno }
        return v
    }

    /// Aborts a connection with RST instead of FIN (SO_LINGER 0), so a peer can tell a cut
    /// response from a complete one.
    static func abortiveClose(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Raises the soft RLIMIT_NOFILE to the hard limit; returns the resulting soft limit.
    static func raiseFileLimit() -> Int {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return 1024 }
        if rl.rlim_cur < rl.rlim_max {
            var raised = rl
            raised.rlim_cur = rl.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { rl = raised }
        }
        return Int(min(rl.rlim_cur, 1 << 24))
    }
}

/// Monotonic clock in nanoseconds. The loop caches one reading per iteration (as nginx does),
/// so timers cost no clock syscall per request.
public enum MonotonicClock {
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
