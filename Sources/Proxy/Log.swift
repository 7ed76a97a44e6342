import EventLoop

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
        let now = WallClock.now()
        let stamp = String(decoding: WallClock.utcStamp(now.seconds), as: UTF8.self)
            + "." + three(now.nanoseconds / 1_000_000) + "Z"
        Files.writeStandardError("\(stamp) \(level) \(message)\n")
    }

    private static func three(_ v: Int) -> String { v < 10 ? "00\(v)" : (v < 100 ? "0\(v)" : "\(v)") }
}
