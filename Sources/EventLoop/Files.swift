import Glibc

/// Whole-file reads and standard error: the file calls made above EventLoop (config, key
/// files, one-line diagnostics).
public enum Files {
    /// The whole file, or `SocketError("cannot read PATH", errno)`. Reads at most `limit` bytes
    /// plus one, so a caller can tell an oversized file (count > limit) from a full one.
    public static func read(_ path: String, limit: Int = 64 << 20) throws(SocketError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SocketError("cannot read \(path)", errno) }
        defer { Sys.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count <= limit {
            let n = chunk.withUnsafeMutableBytes { Sys.read(fd, $0.baseAddress!, $0.count) }
            guard n >= 0 else { throw SocketError("cannot read \(path)", Int32(-n)) }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    /// Writes `text` to standard error in one write(2), so lines from several threads never
    /// interleave.
    public static func writeStandardError(_ text: String) { write(descriptor: 2, text) }

    /// Writes `text` to standard output unbuffered (it shows at once also when that is a pipe).
    public static func writeStandardOutput(_ text: String) { write(descriptor: 1, text) }

    private static func write(descriptor: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
    }
}

/// A file opened for appending (created with mode 0644): logs. O_APPEND makes every write of
/// whole lines land at the end, so several writers never interleave within a line.
public final class AppendFile: Sendable {
    public let path: String
    private let fd: Int32

    /// `what` names the file in the error, e.g. "the access log".
    public init(path: String, what: String) throws(SocketError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SocketError("cannot open \(what) \(path)", errno) }
        self.path = path
        self.fd = fd
    }

    deinit { Sys.close(fd) }

    /// Writes all of `bytes` (retrying short writes); the bytes written, and the failure if
    /// some were not.
    public func write(_ bytes: UnsafeRawBufferPointer) -> (written: Int, error: Int32?) {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n > 0 { off += n; continue }
            if n < 0 && errno == EINTR { continue }
            return (off, n < 0 ? errno : EIO)
        }
        return (off, nil)
    }

    public func write(_ text: String) -> Int32? {
        var t = text
        return t.withUTF8 { write(UnsafeRawBufferPointer($0)).error }
    }
}

/// Wall-clock time, for log and audit timestamps (never for timeouts: see `MonotonicClock`).
public enum WallClock {
    /// Seconds and nanoseconds since the Unix epoch.
    public static func now() -> (seconds: Int, nanoseconds: Int) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (ts.tv_sec, ts.tv_nsec)
    }

    /// Seconds since the epoch as a Double (millisecond precision), for JSON.
    public static func seconds() -> Double {
        let t = now()
        return Double(t.seconds) + Double(t.nanoseconds / 1_000_000) / 1000
    }

    /// `2026-11-25T15:07:40` (UTC) for `seconds`, as ASCII bytes.
    public static func utcStamp(_ seconds: Int) -> [UInt8] {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> [UInt8] { [UInt8(0x30 + v / 10 % 10), UInt8(0x30 + v % 10)] }
        return Array(String(Int(tm.tm_year) + 1900).utf8) + [0x2D] + two(tm.tm_mon + 1) + [0x2D] + two(tm.tm_mday) + [0x54]
            + two(tm.tm_hour) + [0x3A] + two(tm.tm_min) + [0x3A] + two(tm.tm_sec)
    }
}
