import Glibc

/// A response as the client read it.
struct TestResponse: CustomStringConvertible {
    let version: String
    let status: Int
    let reason: String
    let headers: [HTTPHeader]
    /// The body (empty for a streaming read, which only hashes it).
    let body: [UInt8]
    let bodyLength: UInt64
    let bodyHash: UInt64
    let framing: BodyFraming

    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first(name) }
    /// True when the response says the connection closes after it.
    var closesConnection: Bool { headers.tokens("Connection").contains("close") }

    var description: String {
        "\(version) \(status) \(reason) \(headers) body=\(bodyLength) B" + (body.count <= 200 ? " \(text.debugDescription)" : "")
    }
}

/// How a connection ended when the client waited for it to.
enum ConnectionEnd: Equatable {
    case closed      // FIN
    case reset       // RST
    case stillOpen   // nothing arrived within the wait
    case data        // bytes arrived instead
}

/// A blocking HTTP/1.1 client connection to 127.0.0.1 with timeouts on every operation.
final class TestClient {
    let fd: Int32
    let timeout: Double
    private let reader: SocketReader
    private var closed = false

    init(port: UInt16, timeout: Double = 10, receiveBuffer: Int32? = nil) throws {
        self.timeout = timeout
        fd = try TestSockets.connect(port: port, timeout: timeout, receiveBuffer: receiveBuffer)
        reader = SocketReader(fd: fd, timeout: timeout)
    }

    deinit { close() }

    func close() {
        if !closed { closed = true; Glibc.close(fd) }
    }

    func send(_ bytes: [UInt8]) throws {
        try sendAll(fd, bytes, timeout: timeout)
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ p: UnsafeRawBufferPointer) throws {
        if p.isEmpty { return }
        try sendAll(fd, p.baseAddress!, p.count, timeout: timeout)
    }

    func shutdownWrite() {
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Reads one final response (1xx interim responses other than 101 are skipped) and its whole
    /// body into memory. `head`: the request was HEAD, so the response has no body.
    /// A body cut short by FIN or RST throws; it is never returned as a response.
    func readResponse(head: Bool = false) throws -> TestResponse {
        var body: [UInt8] = []
        return try readResponse(head: head, keepBody: true) { body.append(contentsOf: $0) } finish: { body }
    }

    /// Like readResponse, but the body is only hashed and counted (constant memory).
    func readResponseStreaming(head: Bool = false) throws -> TestResponse {
        try readResponse(head: head, keepBody: false, sink: { _ in }, finish: { [] })
    }

    private func readResponse(head: Bool, keepBody: Bool, sink: (UnsafeRawBufferPointer) -> Void,
                              finish: () -> [UInt8]) throws -> TestResponse {
        while true {
            guard let raw = try reader.readHead() else { throw TestSocketError.closed("no response (end of stream)") }
            let parsed = try ParsedHead(raw)
            let line = parsed.startLine
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let status = Int(parts[1]) else {
                throw TestSocketError.malformed("status line \(line.debugDescription)")
            }
            if status >= 100 && status < 200 && status != 101 { continue }
            let framing: BodyFraming
            if head || status < 200 || status == 204 || status == 304 {
                framing = .none
            } else {
                framing = try HTTPFraming.framing(headers: parsed.headers, isResponse: true)
            }
            var hasher = FNV1a64()
            try reader.readBody(framing) { piece in
                hasher.update(piece)
                sink(piece)
            }
            return TestResponse(version: String(parts[0]), status: status, reason: parts.count > 2 ? String(parts[2]) : "",
                                headers: parsed.headers, body: finish(), bodyLength: hasher.count,
                                bodyHash: hasher.value, framing: framing)
        }
    }

    /// Raw bytes: exactly `count` (throws if the stream ends first).
    func readExactly(_ count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        try reader.readExactly(UInt64(count)) { out.append(contentsOf: $0) }
        return out
    }

    /// Streams exactly `count` raw bytes into a hash.
    func hashExactly(_ count: UInt64, continuing start: FNV1a64 = FNV1a64()) throws -> FNV1a64 {
        var h = start
        try reader.readExactly(count) { h.update($0) }
        return h
    }

    /// Waits up to `wait` seconds for the peer to end the connection.
    func waitForEnd(wait: Double = 3) -> ConnectionEnd {
        if reader.buffered > 0 { return .data }
        TestSockets.setTimeouts(fd, receive: wait, send: timeout)
        defer { TestSockets.setTimeouts(fd, receive: timeout, send: timeout) }
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n > 0 { return .data }
            if n == 0 { return .closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .stillOpen }
            return .reset
        }
    }

    /// One simple request, then its response.
    func get(_ target: String, host: String = "test.local", headers: [HTTPHeader] = []) throws -> TestResponse {
        var text = "GET \(target) HTTP/1.1\r\nHost: \(host)\r\n"
        for h in headers { text += "\(h.name): \(h.value)\r\n" }
        text += "\r\n"
        try send(text)
        return try readResponse()
    }
}
