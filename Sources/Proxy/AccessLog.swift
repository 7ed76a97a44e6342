import Balancing
import EventLoop
import HTTP1

/// The open access-log file, shared by the workers. Closed when the last worker lets go of it
/// (after a reopen, each worker moves to the new file once it has written its buffer).
public final class AccessLogFile: Sendable {
    /// Opened for appending (created with mode 0644): workers writing whole lines never
    /// interleave within one.
    private let file: AppendFile
    public var path: String { file.path }

    public init(path: String) throws(SocketError) {
        file = try AppendFile(path: path, what: "the access log")
    }

    /// Writes all of `bytes`; how many were written, and the errno if not all.
    func write(_ bytes: UnsafeRawBufferPointer) -> (written: Int, error: Int32?) { file.write(bytes) }
}

/// One worker's access-log buffer: lines are built in place with the `ByteWriter` the head
/// rewriter uses (no syscall, no allocation per line) and written out in one write(2) when the
/// buffer is full or when the flush timer fires.
///
/// Line format (space-separated, one request per line):
/// `TIME CLIENT "REQUEST-LINE" STATUS BYTES POOL SERVER DURATION_MS`, e.g.
/// `2026-11-25T15:07:40.123Z 10.0.0.7 "GET /cart HTTP/1.1" 200 5120 green 10.0.2.11:8080 3.214`.
/// STATUS is what the client got (a proxy-made 502/503/504 included); BYTES counts the
/// response body bytes sent; SERVER is `-` when no server was chosen.
final class AccessLogWriter {
    private(set) var file: AccessLogFile
    /// `capacity` plus room for one whole line: a line is written, then the buffer is flushed
    /// once it holds `capacity` bytes, so a line never has to be split.
    private let storage: UnsafeMutableRawPointer
    private var w: ByteWriter
    let capacity: Int
    /// The longest line: a 1 KiB request line with every byte escaped (3 KiB), two addresses,
    /// a pool name, the numbers.
    static let maxLine = 4096
    private var second: Int = -1
    private var secondPrefix: [UInt8] = []
    /// Lines that could not be written (the disk is full, the file system is read-only, ...).
    private(set) var dropped: UInt64 = 0

    init(file: AccessLogFile, capacity: Int) {
        self.file = file
        self.capacity = max(4096, capacity)
        storage = .allocate(byteCount: self.capacity + Self.maxLine, alignment: 16)
        w = ByteWriter(storage, capacity: self.capacity + Self.maxLine)
    }

    deinit { storage.deallocate() }

    /// Writes what is buffered, then uses `next` from now on.
    func reopen(_ next: AccessLogFile) {
        flush()
        file = next
    }

    func flush() {
        let pending = w.written
        guard pending.count > 0 else { return }
        let (off, error) = file.write(pending)
        if let error {
            // Count what was lost by lines; a log must not stall or grow the proxy.
            dropped &+= UInt64(pending[off...].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) })
            if dropped == 1 || dropped % 10_000 == 0 {
                Log.warn("access log \(file.path): write failed (\(SocketError.text(error))); \(dropped) line(s) dropped so far")
            }
        }
        w.reset()
    }

    /// Appends one line.
    func record(client: [UInt8], requestLine: [UInt8], status: Int, bytes: UInt64, pool: String,
                server: String?, durationNS: UInt64) {
        appendTime()
        w.append(byte: 0x20)
        client.withUnsafeBytes { w.append($0) }
        w.append(" \"")
        if requestLine.isEmpty {
            w.append(byte: 0x2D)
        } else {
            for c in requestLine.prefix(1024) {
                // The parser admits no controls in a request line; a quote would end the field.
                switch c {
                case 0x22: w.append("%22")
                case 0x5C: w.append("%5C")
                default: w.append(byte: c)
                }
            }
        }
        w.append("\" ")
        w.appendDecimal(UInt64(max(0, status)))
        w.append(byte: 0x20)
        w.appendDecimal(bytes)
        w.append(byte: 0x20)
        appendText(pool)
        w.append(byte: 0x20)
        if let server { appendText(server) } else { w.append(byte: 0x2D) }
        w.append(byte: 0x20)
        let us = durationNS / 1000
        w.appendDecimal(us / 1000)
        w.append(byte: 0x2E)
        appendThreeDigits(us % 1000)
        w.append(byte: 0x0A)
        if w.count >= capacity { flush() }
    }

    private func appendText(_ s: String) {
        var s = s
        s.withUTF8 { w.append(UnsafeRawBufferPointer($0)) }
    }

    private func appendThreeDigits(_ v: UInt64) {
        w.append(byte: UInt8(0x30 + v / 100 % 10))
        w.append(byte: UInt8(0x30 + v / 10 % 10))
        w.append(byte: UInt8(0x30 + v % 10))
    }

    /// `2026-11-25T15:07:40.123Z`: the part up to the seconds is built once per second.
    private func appendTime() {
        let now = WallClock.now()
        if now.seconds != second {
            second = now.seconds
            secondPrefix = WallClock.utcStamp(now.seconds) + [0x2E]
        }
        secondPrefix.withUnsafeBytes { w.append($0) }
        appendThreeDigits(UInt64(now.nanoseconds / 1_000_000))
        w.append(byte: 0x5A)
    }
}
