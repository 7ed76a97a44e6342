import Balancing
import EventLoop
import Glibc
import Synchronization

/// The open access-log file, shared by the workers. Closed when the last worker lets go of it
/// (after a reopen, each worker moves to the new file once it has written its buffer).
public final class AccessLogFile: Sendable {
    public let path: String
    let fd: Int32

    /// Opens (creating, mode 0644) for appending. O_APPEND makes every write(2) of whole lines
    /// land at the end, so workers writing their buffers never interleave within a line.
    public init(path: String) throws(SocketError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SocketError("cannot open the access log \(path)", errno) }
        self.path = path
        self.fd = fd
    }

    deinit { Glibc.close(fd) }
}

/// One worker's access-log buffer: lines are appended on the request path (no syscall, no
/// allocation once the buffer has grown) and written out in one write(2) when the buffer is
/// nearly full or when the flush timer fires.
///
/// Line format (space-separated, one request per line):
/// `TIME CLIENT "REQUEST-LINE" STATUS BYTES POOL SERVER DURATION_MS`, e.g.
/// `2026-11-25T15:07:40.123Z 10.0.0.7 "GET /cart HTTP/1.1" 200 5120 green 10.0.2.11:8080 3.214`.
/// STATUS is what the client got (a proxy-made 502/503/504 included); BYTES counts the
/// response body bytes sent; SERVER is `-` when no server was chosen.
final class AccessLogWriter {
    private(set) var file: AccessLogFile
    private var buffer: [UInt8] = []
    let capacity: Int
    private var second: Int = -1
    private var secondPrefix: [UInt8] = []
    /// Lines that could not be written (the disk is full, the file system is read-only, ...).
    private(set) var dropped: UInt64 = 0

    init(file: AccessLogFile, capacity: Int) {
        self.file = file
        self.capacity = max(4096, capacity)
        buffer.reserveCapacity(self.capacity)
    }

    /// Writes what is buffered, then uses `next` from now on.
    func reopen(_ next: AccessLogFile) {
        flush()
        file = next
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        var off = 0
        buffer.withUnsafeBytes { b in
            while off < b.count {
                let n = write(file.fd, b.baseAddress! + off, b.count - off)
                if n > 0 { off += n; continue }
                if n < 0 && errno == EINTR { continue }
                break
            }
        }
        if off < buffer.count {
            // Count what was lost by lines; a log must not stall or grow the proxy.
            dropped &+= UInt64(buffer[off...].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) })
            if dropped == 1 || dropped % 10_000 == 0 {
                Log.warn("access log \(file.path): write failed (\(Sys.errorString(errno))); \(dropped) line(s) dropped so far")
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Appends one line.
    func record(client: [UInt8], requestLine: [UInt8], status: Int, bytes: UInt64, pool: String,
                server: String?, durationNS: UInt64) {
        appendTime()
        buffer.append(0x20)
        buffer += client
        buffer.append(0x20)
        buffer.append(0x22)
        if requestLine.isEmpty {
            buffer.append(0x2D)
        } else {
            for c in requestLine {
                // The parser admits no controls in a request line; a quote would end the field.
                if c == 0x22 || c == 0x5C {
                    buffer.append(0x25)
                    buffer.append(c == 0x22 ? 0x32 : 0x35)
                    buffer.append(c == 0x22 ? 0x32 : 0x43)
                } else {
                    buffer.append(c)
                }
            }
        }
        buffer.append(0x22)
        buffer.append(0x20)
        appendDecimal(UInt64(max(0, status)))
        buffer.append(0x20)
        appendDecimal(bytes)
        buffer.append(0x20)
        buffer += pool.utf8
        buffer.append(0x20)
        if let server { buffer += server.utf8 } else { buffer.append(0x2D) }
        buffer.append(0x20)
        let us = durationNS / 1000
        appendDecimal(us / 1000)
        buffer.append(0x2E)
        let frac = us % 1000
        buffer.append(UInt8(0x30 + frac / 100))
        buffer.append(UInt8(0x30 + frac / 10 % 10))
        buffer.append(UInt8(0x30 + frac % 10))
        buffer.append(0x0A)
        if buffer.count >= capacity - 1024 { flush() }
    }

    private func appendDecimal(_ v: UInt64) {
        if v >= 10 { appendDecimal(v / 10) }
        buffer.append(UInt8(0x30 + v % 10))
    }

    /// `2026-11-25T15:07:40.123Z`: the part up to the seconds is built once per second.
    private func appendTime() {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        if ts.tv_sec != second {
            second = ts.tv_sec
            var t = time_t(ts.tv_sec)
            var tm = tm()
            gmtime_r(&t, &tm)
            func two(_ v: Int32) -> [UInt8] { [UInt8(0x30 + v / 10 % 10), UInt8(0x30 + v % 10)] }
            let year = Int(tm.tm_year) + 1900
            secondPrefix = Array(String(year).utf8) + [0x2D] + two(tm.tm_mon + 1) + [0x2D] + two(tm.tm_mday) + [0x54]
                + two(tm.tm_hour) + [0x3A] + two(tm.tm_min) + [0x3A] + two(tm.tm_sec) + [0x2E]
        }
        buffer += secondPrefix
        let ms = ts.tv_nsec / 1_000_000
        buffer.append(UInt8(0x30 + ms / 100))
        buffer.append(UInt8(0x30 + ms / 10 % 10))
        buffer.append(UInt8(0x30 + ms % 10))
        buffer.append(0x5A)
    }
}
