import Glibc

/// Seconds on CLOCK_MONOTONIC: the clock of every test timeout, and of the time stamps in the
/// Python upstream's request log.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

public func sleepMilliseconds(_ ms: Int) {
    usleep(UInt32(ms * 1000))
}

/// Polls `condition` every `pollMs` milliseconds until it holds or `timeout` seconds passed,
/// then looks one last time: the one way the tests wait for something another thread or process
/// does.
@discardableResult
public func pollUntil(timeout: Double = 5, pollMs: Int = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let until = monotonicSeconds() + timeout
    while monotonicSeconds() < until {
        if try condition() { return true }
        sleepMilliseconds(pollMs)
    }
    return try condition()
}
