import Glibc
import TestSupport

/// A buffered reader over a blocking socket: heads, CRLF lines, and bodies framed by length,
/// chunked coding or connection close, streamed through one fixed buffer. Every wait is bounded:
/// without a stop flag by SO_RCVTIMEO = `timeout`; with one, by short slices that re-check the
/// flag until `timeout` seconds pass without a byte.
final class SocketReader {
    static let capacity = 128 * 1024
    let fd: Int32
    let timeout: Double
    let stop: StopFlag?
    let counter: Counter?
    private let buf = UnsafeMutableRawPointer.allocate(byteCount: SocketReader.capacity, alignment: 16)
    private var start = 0
    private var end = 0
    /// Set once recv reported end of stream.
    private(set) var sawEOF = false

    init(fd: Int32, timeout: Double, stop: StopFlag? = nil, counter: Counter? = nil) {
        self.fd = fd
        self.timeout = timeout
        self.stop = stop
        self.counter = counter
        let slice = stop == nil ? timeout : min(timeout, 0.2)
        TestSockets.setTimeouts(fd, receive: slice, send: slice)
    }

    deinit { buf.deallocate() }

    var buffered: Int { end - start }

    /// Receives more bytes into the buffer: the count, or 0 at end of stream.
    @discardableResult
    func fill() throws -> Int {
        if start == end { start = 0; end = 0 }
        if end == Self.capacity && start > 0 {
            buf.copyMemory(from: buf + start, byteCount: end - start)
            end -= start
            start = 0
        }
        guard end < Self.capacity else { throw TestSocketError.malformed("reader buffer full") }
        let began = monotonicSeconds()
        while true {
            let n = recv(fd, buf + end, Self.capacity - end, 0)
            if n > 0 {
                end += n
                counter?.add(n)
                return n
            }
            if n == 0 { sawEOF = true; return 0 }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK {
                if let stop {
                    if stop.isRaised { throw TestSocketError.stopped }
                    if monotonicSeconds() - began < timeout { continue }
                }
                throw TestSocketError.timedOut("recv after \(timeout) s")
            }
            if e == ECONNRESET || e == EPIPE { throw TestSocketError.reset("recv: \(String(cString: strerror(e)))") }
            throw TestSocketError.system("recv", e)
        }
    }

    /// Takes up to `max` buffered bytes (receiving first when none are buffered) and passes them
    /// to `body`; returns the count, 0 at end of stream.
    @discardableResult
    func readSome(max: Int = .max, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        if start == end {
            if try fill() == 0 { return 0 }
        }
        let n = Swift.min(max, end - start)
        try body(UnsafeRawBufferPointer(start: buf + start, count: n))
        start += n
        return n
    }

    /// A whole head through its blank line (CRLF CRLF), or nil when the stream ends cleanly
    /// before its first byte.
    func readHead(limit: Int = 64 * 1024) throws -> [UInt8]? {
        var scanned = 0
        while true {
            let avail = end - start
            if avail >= 4 {
                var i = Swift.max(0, scanned - 3)
                while i + 3 < avail {
                    let p = buf + start + i
                    if p.load(as: UInt8.self) == 13 && p.load(fromByteOffset: 1, as: UInt8.self) == 10
                        && p.load(fromByteOffset: 2, as: UInt8.self) == 13 && p.load(fromByteOffset: 3, as: UInt8.self) == 10 {
                        let head = [UInt8](UnsafeRawBufferPointer(start: buf + start, count: i + 4))
                        start += i + 4
                        return head
                    }
                    i += 1
                }
                scanned = avail
            }
            if avail > limit { throw TestSocketError.malformed("head longer than \(limit) bytes") }
            if try fill() == 0 {
                if end - start == 0 { return nil }
                throw TestSocketError.closed("end of stream inside a head (\(end - start) bytes)")
            }
        }
    }

    /// One line without its CRLF (a bare LF is malformed).
    func readLine(limit: Int = 8192) throws -> [UInt8] {
        var scanned = 0
        while true {
            let avail = end - start
            var i = scanned
            while i < avail {
                if (buf + start + i).load(as: UInt8.self) == 10 {
                    guard i > 0, (buf + start + i - 1).load(as: UInt8.self) == 13 else {
                        throw TestSocketError.malformed("bare LF")
                    }
                    let line = [UInt8](UnsafeRawBufferPointer(start: buf + start, count: i - 1))
                    start += i + 1
                    return line
                }
                i += 1
            }
            scanned = avail
            if avail > limit { throw TestSocketError.malformed("line longer than \(limit) bytes") }
            if try fill() == 0 { throw TestSocketError.closed("end of stream inside a line") }
        }
    }

    /// Exactly `count` bytes, streamed to `sink`; ending early is an error.
    func readExactly(_ count: UInt64, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var left = count
        while left > 0 {
            let n = try readSome(max: Int(Swift.min(left, UInt64(Int.max))), sink)
            if n == 0 { throw TestSocketError.closed("end of stream with \(left) of \(count) body bytes missing") }
            left -= UInt64(n)
        }
    }

    /// A chunked body (RFC 9112 7.1), payload streamed to `sink`; trailers are read and dropped.
    func readChunked(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        while true {
            let line = try readLine()
            var sizeBytes = line.prefix { $0 != UInt8(ascii: ";") }
            while let l = sizeBytes.last, l == 0x20 || l == 0x09 { sizeBytes.removeLast() }
            guard !sizeBytes.isEmpty, sizeBytes.count <= 15,
                  let size = UInt64(String(decoding: sizeBytes, as: UTF8.self), radix: 16) else {
                throw TestSocketError.malformed("bad chunk size line \(String(decoding: line, as: UTF8.self).debugDescription)")
            }
            if size == 0 {
                while try !readLine().isEmpty {}
                return
            }
            try readExactly(size, into: sink)
            guard try readLine().isEmpty else { throw TestSocketError.malformed("chunk data not followed by CRLF") }
        }
    }

    /// Everything until the peer closes (a reset is an error).
    func readToEnd(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        while try readSome(sink) > 0 {}
    }

    /// Reads a body framed as `framing`.
    func readBody(_ framing: BodyFraming, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch framing {
        case .none: return
        case .length(let n): try readExactly(n, into: sink)
        case .chunked: try readChunked(into: sink)
        case .untilClose: try readToEnd(into: sink)
        }
    }
}
