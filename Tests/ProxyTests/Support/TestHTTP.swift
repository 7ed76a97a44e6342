import Glibc

// Minimal, obviously-correct HTTP/1.1 message handling for the test peers (not the proxy's parser).

struct HTTPHeader: Sendable, Equatable, CustomStringConvertible {
    let name: String
    let value: String
    init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
    var description: String { "\(name): \(value)" }
}

extension Array where Element == HTTPHeader {
    /// Every value of the fields named `name` (case-insensitive), in order.
    func values(_ name: String) -> [String] {
        let n = name.lowercased()
        return filter { $0.name.lowercased() == n }.map(\.value)
    }

    /// The value of the first field named `name`.
    func first(_ name: String) -> String? { values(name).first }

    func contains(_ name: String) -> Bool { !values(name).isEmpty }

    /// The comma-separated elements of every field named `name`, trimmed and lowercased.
    func tokens(_ name: String) -> [String] {
        values(name).flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces.lowercased() }.filter { !$0.isEmpty }
    }
}

extension Substring {
    var trimmingSpaces: String {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

enum BodyFraming: Equatable {
    case none
    case length(UInt64)
    case chunked
    case untilClose
}

/// A parsed head: the start line split at spaces and the field lines.
struct ParsedHead {
    var startLine: String
    var headers: [HTTPHeader]

    /// Splits raw head bytes (ending in CRLF CRLF) into lines and fields.
    init(_ raw: [UInt8]) throws {
        var lines: [String] = []
        var cur: [UInt8] = []
        var i = 0
        while i < raw.count {
            if raw[i] == 13 && i + 1 < raw.count && raw[i + 1] == 10 {
                lines.append(String(decoding: cur, as: UTF8.self))
                cur.removeAll()
                i += 2
                continue
            }
            cur.append(raw[i])
            i += 1
        }
        guard let first = lines.first, !first.isEmpty else { throw TestSocketError.malformed("empty start line") }
        startLine = first
        headers = []
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                throw TestSocketError.malformed("field line without colon: \(line.debugDescription)")
            }
            headers.append(HTTPHeader(String(line[..<colon]), line[line.index(after: colon)...].trimmingSpaces))
        }
    }
}

enum HTTPFraming {
    /// The body framing of a message carrying `headers`, per RFC 9112 6.3.
    /// `isResponse`: no framing headers means "until close" for a response, "no body" for a request.
    static func framing(headers: [HTTPHeader], isResponse: Bool) throws -> BodyFraming {
        let te = headers.tokens("Transfer-Encoding")
        if !te.isEmpty {
            if te.last == "chunked" { return .chunked }
            if isResponse { return .untilClose }
            throw TestSocketError.malformed("request Transfer-Encoding not ending in chunked")
        }
        let lengths = Set(headers.values("Content-Length").map { $0.trimmingCharacters() })
        if lengths.count > 1 { throw TestSocketError.malformed("conflicting Content-Length \(lengths)") }
        if let l = lengths.first {
            guard let n = UInt64(l) else { throw TestSocketError.malformed("bad Content-Length \(l)") }
            return n == 0 ? .none : .length(n)
        }
        return isResponse ? .untilClose : .none
    }
}

extension String {
    func trimmingCharacters() -> String { self[...].trimmingSpaces }
    var bytes: [UInt8] { Array(utf8) }
}

/// 64-bit FNV-1a over a byte stream, for byte-exact comparison of streamed data.
struct FNV1a64: Equatable, CustomStringConvertible {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    private(set) var count: UInt64 = 0

    mutating func update(_ buf: UnsafeRawBufferPointer) {
        var h = value
        for b in buf {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        value = h
        count += UInt64(buf.count)
    }

    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    static func of(_ bytes: [UInt8]) -> UInt64 {
        var h = FNV1a64()
        h.update(bytes)
        return h.value
    }

    var description: String { "fnv1a64=\(String(value, radix: 16)) over \(count) bytes" }
}

/// A deterministic, non-repeating-at-buffer-sizes byte pattern: byte i of a stream is
/// `table[i % period]` with a prime period, so a dropped, duplicated or reordered buffer changes
/// the hash.
enum Pattern {
    static let period = 65_521
    static let table: [UInt8] = (0..<period).map { i in
        var x = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 29
        return UInt8(truncatingIfNeeded: x >> 7)
    }

    /// Writes bytes [offset, offset + count) of the stream into `dst`.
    static func fill(_ dst: UnsafeMutableRawPointer, count: Int, offset: UInt64) {
        table.withUnsafeBytes { t in
            var done = 0
            var pos = Int(offset % UInt64(period))
            while done < count {
                let n = min(count - done, period - pos)
                (dst + done).copyMemory(from: t.baseAddress! + pos, byteCount: n)
                done += n
                pos = 0
            }
        }
    }

    static func bytes(count: Int, offset: UInt64 = 0) -> [UInt8] {
        var a = [UInt8](repeating: 0, count: count)
        a.withUnsafeMutableBytes { fill($0.baseAddress!, count: count, offset: offset) }
        return a
    }

    /// The hash of the first `count` bytes of the stream, computed through a small buffer.
    static func hash(count: UInt64) -> UInt64 {
        var h = FNV1a64()
        let size = 64 * 1024
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buf.deallocate() }
        var off: UInt64 = 0
        while off < count {
            let n = Int(min(UInt64(size), count - off))
            fill(buf, count: n, offset: off)
            h.update(UnsafeRawBufferPointer(start: buf, count: n))
            off += UInt64(n)
        }
        return h.value
    }
}

/// The process's resident set size in bytes (VmRSS in /proc/self/status).
func residentSetBytes() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return -1 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix("VmRSS:") {
            let digits = s.dropFirst(6).filter { $0.isNumber }
            return (Int(String(digits)) ?? -1) * 1024
        }
    }
    return -1
}
