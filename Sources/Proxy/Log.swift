import Glibc

/// Operational log: one line per event on stderr, written with a single write(2) so lines from
/// several loops never interleave. Only errors and lifecycle events are logged; the request path
/// logs nothing on success.
public enum Log {
    nonisolated(unsafe) public static var quiet = false

    public static func info(_ message: @autoclosure () -> String) { emit("info", message()) }
    public static func warn(_ message: @autoclosure () -> String) { emit("warn", message()) }
    public static func error(_ message: @autoclosure () -> String) { emit("error", message()) }

    static func emit(_ level: String, _ message: String) {
        if quiet { return }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var tm = tm()
        var secs = ts.tv_sec
        gmtime_r(&secs, &tm)
        let stamp = String(format4: Int(tm.tm_year) + 1900) + "-" + two(Int(tm.tm_mon) + 1) + "-" + two(Int(tm.tm_mday))
            + "T" + two(Int(tm.tm_hour)) + ":" + two(Int(tm.tm_min)) + ":" + two(Int(tm.tm_sec))
            + "." + three(Int(ts.tv_nsec / 1_000_000)) + "Z"
        let line = "\(stamp) \(level) \(message)\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    private static func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
    private static func three(_ v: Int) -> String { v < 10 ? "00\(v)" : (v < 100 ? "0\(v)" : "\(v)") }
}

private extension String {
    init(format4 v: Int) { self = String(v) }
}
