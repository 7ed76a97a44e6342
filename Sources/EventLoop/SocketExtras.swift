import Glibc

// Process and clock calls the layers above need and the core socket types do not carry.

/// Process-wide descriptor limit.
public enum DescriptorLimit {
    /// Raises the soft RLIMIT_NOFILE to the hard limit (servers with many connections need more
    /// than the usual 1024); returns the soft limit now in force.
    @discardableResult
    public static func raiseToHardLimit() -> Int { Sys.raiseFileLimit() }
}

extension WallClock {
    /// Whole seconds since the epoch from the coarse clock (updated once a tick: a few
    /// nanoseconds, no syscall), for values that need a second's precision on the request path.
    @inline(__always)
    public static func coarseSeconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return Int64(ts.tv_sec)
    }
}
