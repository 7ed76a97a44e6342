import Glibc
import Synchronization
import TestSupport

/// What a TestUpstream received: one complete request (its body hashed, never stored).
struct RecordedRequest: Sendable, CustomStringConvertible {
    /// Sequence number of the accepting connection at this upstream (0-based).
    let connection: Int
    let method: String
    let target: String
    let version: String
    let headers: [HTTPHeader]
    let bodyLength: UInt64
    let bodyHash: UInt64

    var description: String { "\(method) \(target) \(version) [conn \(connection), body \(bodyLength) B]" }
}

/// The request head an upstream behaviour decides on (the body has not been read yet).
struct UpstreamRequestHead: Sendable {
    let method: String
    let target: String
    let version: String
    let headers: [HTTPHeader]
}

/// How a TestUpstream answers one request.
enum UpstreamAction: Sendable {
    /// A complete response. Content-Length is added unless the status has no body (1xx, 204,
    /// 304) or `headers` already frame it; a HEAD request gets the head only.
    case respond(status: Int, headers: [HTTPHeader], body: [UInt8])
    /// Like `respond`, then closes the connection without having announced it (no
    /// `Connection: close`): a server whose keep-alive timeout fired right after the response.
    case respondThenClose(status: Int, headers: [HTTPHeader], body: [UInt8])
    /// 200 with a chunked body that echoes the request body as it arrives (one chunk per read).
    case echoBody
    /// 200 with `bytes` bytes of `Pattern`, by Content-Length or chunked, sent in pieces of
    /// `piece` bytes with `pauseMs` between pieces.
    case download(bytes: Int, chunked: Bool, piece: Int = 64 * 1024, pauseMs: Int = 0)
    /// 101 Switching Protocols, then every byte received is sent back until the peer closes.
    case upgradeEcho
    /// Reads the request, then closes the connection without a byte of response.
    case closeWithoutAnswer
    /// Reads the request and never answers (until the peer closes or the upstream stops).
    case neverAnswer
}

typealias UpstreamBehavior = @Sendable (UpstreamRequestHead) -> UpstreamAction

/// A real HTTP/1.1 server on 127.0.0.1: a listener thread plus one thread per connection,
/// blocking sockets with bounded waits, keep-alive, and a log of every request received.
final class TestUpstream: @unchecked Sendable {
    let name: String
    let port: UInt16
    private let listenFD: Int32
    private let behavior: UpstreamBehavior
    private let stopFlag = StopFlag()
    private let ioTimeout: Double
    /// Bytes received on all connections (heads and bodies), counted as they arrive.
    let bytesReceived = Counter()

    private struct State {
        var requests: [RecordedRequest] = []
        var connections: [Int: Int32] = [:]   // live connection id -> fd
        var accepted = 0
        var threads: [TestThread] = []
        var abortive = false
        var stopped = false
    }
    private let state = Mutex(State())
    private var listener: TestThread?

    /// `behavior` is called on the connection's thread for each request head.
    init(name: String, ioTimeout: Double = 10, behavior: @escaping UpstreamBehavior) throws {
        self.name = name
        self.ioTimeout = ioTimeout
        self.behavior = behavior
        (listenFD, port) = try TestSockets.listen()
        listener = TestThread { [self] in acceptLoop() }
    }

    /// The default: 200, `X-Upstream: NAME`, body NAME.
    convenience init(name: String) throws {
        try self.init(name: name, behavior: TestUpstream.named(name))
    }

    static func named(_ name: String) -> UpstreamBehavior {
        { _ in .respond(status: 200, headers: [HTTPHeader("X-Upstream", name)], body: Array(name.utf8)) }
    }

    // MARK: observation

    var requests: [RecordedRequest] { state.withLock { $0.requests } }
    var requestCount: Int { state.withLock { $0.requests.count } }
    var acceptedConnections: Int { state.withLock { $0.accepted } }
    var openConnections: Int { state.withLock { $0.connections.count } }

    /// Waits (bounded) until at least `count` requests have been recorded.
    @discardableResult
    func waitForRequests(_ count: Int, timeout: Double = 5) -> Bool {
        pollUntil(timeout: timeout, pollMs: 2) { requestCount >= count }
    }

    // MARK: lifecycle

    /// Closes the listener and every connection (FIN), and joins all threads.
    func stop() { shutdown(abortive: false) }

    /// Like stop, but every connection is reset (SO_LINGER 0): a crashed upstream.
    func kill() { shutdown(abortive: true) }

    private func shutdown(abortive: Bool) {
        let first = state.withLock { s -> Bool in
            if s.stopped { return false }
            s.stopped = true
            s.abortive = abortive
            return true
        }
        guard first else { return }
        stopFlag.raise()
        // The listener: wake accept and close the socket, so new connects are refused at once.
        Glibc.shutdown(listenFD, Int32(SHUT_RDWR))
        listener?.join()
        Glibc.close(listenFD)
        // Connections: wake their threads; each thread closes its own descriptor (under the lock,
        // so we never touch a descriptor number after it was closed and possibly reused).
        state.withLock { s in
            for (_, fd) in s.connections {
                if abortive {
                    TestSockets.setAbortiveClose(fd)
                    Glibc.shutdown(fd, Int32(SHUT_RD))
                } else {
                    Glibc.shutdown(fd, Int32(SHUT_RDWR))
                }
            }
        }
        let threads = state.withLock { s -> [TestThread] in
            let t = s.threads
            s.threads.removeAll()
            return t
        }
        for t in threads { t.join() }
    }

    deinit { stop() }

    private func acceptLoop() {
        while !stopFlag.isRaised {
            var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, 100)
            if r <= 0 { continue }
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == EAGAIN || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            TestSockets.setInt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let registered = state.withLock { s -> Int? in
                if s.stopped { return nil }
                let id = s.accepted
                s.accepted += 1
                s.connections[id] = fd
                s.threads.append(TestThread { [self] in serve(fd: fd, id: id) })
                return id
            }
            if registered == nil { Glibc.close(fd) }
        }
    }

    // MARK: one connection

    private func serve(fd: Int32, id: Int) {
        let reader = SocketReader(fd: fd, timeout: ioTimeout, stop: stopFlag, counter: bytesReceived)
        defer {
            state.withLock { s in
                if s.abortive { TestSockets.setAbortiveClose(fd) }
                s.connections[id] = nil
                Glibc.close(fd)
            }
        }
        do {
            while !stopFlag.isRaised {
                guard let raw = try reader.readHead() else { return }
                let parsed = try ParsedHead(raw)
                let parts = parsed.startLine.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 3 else { throw TestSocketError.malformed("request line \(parsed.startLine)") }
                let head = UpstreamRequestHead(method: String(parts[0]), target: String(parts[1]),
                                               version: String(parts[2]), headers: parsed.headers)
                let framing = try HTTPFraming.framing(headers: head.headers, isResponse: false)
                let conn = head.headers.tokens("Connection")
                let keepAlive = head.version == "HTTP/1.1" ? !conn.contains("close") : conn.contains("keep-alive")
                let action = behavior(head)

                if case .echoBody = action {
                    let (length, hash) = try echo(reader, framing: framing, fd: fd, keepAlive: keepAlive)
                    record(head, id, length, hash)
                    if !keepAlive { return }
                    continue
                }

                var hasher = FNV1a64()
                try reader.readBody(framing) { hasher.update($0) }
                record(head, id, hasher.count, hasher.value)

                switch action {
                case .respond(let status, let headers, let body):
                    try respond(fd: fd, head: head, status: status, headers: headers, body: body, keepAlive: keepAlive)
                    if headers.tokens("Connection").contains("close") { return }
                case .respondThenClose(let status, let headers, let body):
                    try respond(fd: fd, head: head, status: status, headers: headers, body: body, keepAlive: true)
                    return
                case .download(let bytes, let chunked, let piece, let pauseMs):
                    try download(fd: fd, head: head, bytes: bytes, chunked: chunked, piece: piece, pauseMs: pauseMs,
                                 keepAlive: keepAlive)
                case .upgradeEcho:
                    try upgradeEcho(reader, fd: fd)
                    return
                case .closeWithoutAnswer:
                    return
                case .neverAnswer:
                    // Discard whatever comes until the peer closes, we are stopped, or the I/O timeout.
                    while try reader.readSome({ _ in }) > 0 {}
                    return
                case .echoBody:
                    break
                }
                if !keepAlive { return }
            }
        } catch {
            return
        }
    }

    private func record(_ head: UpstreamRequestHead, _ id: Int, _ length: UInt64, _ hash: UInt64) {
        let r = RecordedRequest(connection: id, method: head.method, target: head.target, version: head.version,
                                headers: head.headers, bodyLength: length, bodyHash: hash)
        state.withLock { $0.requests.append(r) }
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        if stopFlag.isRaised { throw TestSocketError.stopped }
        try sendAll(fd, bytes, timeout: ioTimeout, stop: stopFlag)
    }

    private func send(_ fd: Int32, _ p: UnsafeRawBufferPointer) throws {
        if stopFlag.isRaised { throw TestSocketError.stopped }
        if p.isEmpty { return }
        try sendAll(fd, p.baseAddress!, p.count, timeout: ioTimeout, stop: stopFlag)
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 204: return "No Content"
        case 304: return "Not Modified"
        case 404: return "Not Found"
        case 413: return "Content Too Large"
        case 500: return "Internal Server Error"
        default: return "Status"
        }
    }

    private func respond(fd: Int32, head: UpstreamRequestHead, status: Int, headers: [HTTPHeader], body: [UInt8],
                         keepAlive: Bool) throws {
        var text = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        for h in headers { text += "\(h.name): \(h.value)\r\n" }
        let bodiless = status < 200 || status == 204 || status == 304
        if !bodiless && !headers.contains("Content-Length") && !headers.contains("Transfer-Encoding") {
            text += "Content-Length: \(body.count)\r\n"
        }
        if !keepAlive { text += "Connection: close\r\n" }
        text += "\r\n"
        var out = Array(text.utf8)
        if !bodiless && head.method != "HEAD" { out += body }
        try send(fd, out)
    }

    private func echo(_ reader: SocketReader, framing: BodyFraming, fd: Int32, keepAlive: Bool) throws -> (UInt64, UInt64) {
        var text = "HTTP/1.1 200 OK\r\nX-Upstream: \(name)\r\nTransfer-Encoding: chunked\r\n"
        if !keepAlive { text += "Connection: close\r\n" }
        text += "\r\n"
        try send(fd, Array(text.utf8))
        var hasher = FNV1a64()
        try reader.readBody(framing) { piece in
            hasher.update(piece)
            try send(fd, Array((String(piece.count, radix: 16) + "\r\n").utf8))
            try send(fd, piece)
            try send(fd, [13, 10])
        }
        try send(fd, Array("0\r\n\r\n".utf8))
        return (hasher.count, hasher.value)
    }

    private func download(fd: Int32, head: UpstreamRequestHead, bytes: Int, chunked: Bool, piece: Int, pauseMs: Int,
                          keepAlive: Bool) throws {
        var text = "HTTP/1.1 200 OK\r\nX-Upstream: \(name)\r\n"
        text += chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: \(bytes)\r\n"
        if !keepAlive { text += "Connection: close\r\n" }
        text += "\r\n"
        try send(fd, Array(text.utf8))
        if head.method == "HEAD" { return }
        let buf = UnsafeMutableRawPointer.allocate(byteCount: piece, alignment: 16)
        defer { buf.deallocate() }
        var off = 0
        while off < bytes {
            let n = min(piece, bytes - off)
            Pattern.fill(buf, count: n, offset: UInt64(off))
            if chunked { try send(fd, Array((String(n, radix: 16) + "\r\n").utf8)) }
            try send(fd, UnsafeRawBufferPointer(start: buf, count: n))
            if chunked { try send(fd, [13, 10]) }
            off += n
            if pauseMs > 0 && off < bytes { sleepMilliseconds(pauseMs) }
        }
        if chunked { try send(fd, Array("0\r\n\r\n".utf8)) }
    }

    private func upgradeEcho(_ reader: SocketReader, fd: Int32) throws {
        try send(fd, Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".utf8))
        while try reader.readSome({ try send(fd, $0) }) > 0 {}
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }
}
