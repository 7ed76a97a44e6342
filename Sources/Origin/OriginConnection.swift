import EventLoop

/// One client connection. Requests are handled strictly in order: a request's response is queued
/// before the next head is looked at, and parsing pauses whenever output cannot be queued, so
/// pipelined requests are answered in order and a slow reader applies back-pressure.
///
/// Output is two regions sent with one writev: a zero-copy slice of a pre-rendered response
/// (`staticPtr`), followed by `out`, a pooled buffer that small responses and echo frames are
/// copied into when something is already queued. The common case (one request in, one response
/// out) is one read and one write with no copy and no allocation. Bytes come in through
/// `StreamSocket`'s `input`.
final class OriginConnection: StreamSocket {
    private unowned let owner: OriginLoop
    private let pool: BufferPool
    private let responses: Responses
    var slot = 0

    private var out = IOBuffer()
    private var staticPtr: UnsafeRawPointer? = nil
    private var staticLen = 0

    private enum Phase { case head, body, respond }
    private enum Framing { case none, length, chunked }
    private enum ChunkState { case size, ext, data, dataEnd, trailerStart, trailer }

    private var phase = Phase.head
    private var scanFrom = 0
    private var framing = Framing.none
    private var remaining = 0           // Content-Length bytes left, or bytes left in this chunk
    private var chunkState = ChunkState.size
    private var sawDigit = false
    private var echo = false            // body goes back as chunks
    private var echoRaw = false         // HTTP/1.0 echo: body goes back unframed, then close
    private var response: StaticResponse? = nil
    private var keepAlive = true

    private var closing = false         // no more requests: close once output is flushed

    init(socket: Socket, owner: OriginLoop) {
        self.owner = owner
        self.pool = owner.loop.buffers
        self.responses = owner.responses
        super.init(loop: owner.loop, socket: socket)
    }

    override func handleEvents(_ events: UInt32) {
        noteReadiness(events)
        drive()
    }

    /// Loop time of the last event, for the loop's idle sweep.
    var lastActive: UInt64 = 0

    /// Closes the connection if it has been idle since `before` (called by the loop's sweep).
    func closeIfIdle(before: UInt64) {
        if lastActive < before { shut() }
    }

    /// Closes at server stop.
    func close() { shut() }

    // MARK: - Driving

    private func drive() {
        lastActive = loop.now
        while !isClosed {
            let blocked = process()
            if isClosed { return }
            if staticLen > 0 || !out.isEmpty {
                guard flush() else { return }   // wait for EPOLLOUT; the edge re-enters here
                if blocked { continue }
            }
            if closing { lingeringClose(); return }
            if !canRead {
                input.releaseIfEmpty(pool)
                return
            }
            switch receive() {
            case .bytes:
                break
            case .wouldBlock:
                if canRead { shut(); return }   // `input` is full and nothing could consume it
            case .end:
                closing = true         // peer finished sending: answer what is complete, then close
                _ = process()
                if staticLen > 0 || !out.isEmpty { guard flush() else { return } }
                shut()
                return
            case .failed:
                shut(abortive: true)
                return
            }
        }
    }

    /// Sends queued output. Returns true when everything went out.
    private func flush() -> Bool {
        while staticLen > 0 || !out.isEmpty {
            let outLen = out.readable
            let outPtr = outLen > 0 ? UnsafeRawPointer(out.readPointer) : staticPtr!
            let n: Int
            switch self.send(staticPtr ?? outPtr, count: staticLen, then: outPtr, count: outLen) {
            case .bytes(let k): n = k
            case .wouldBlock: return false
            case .failed, .end:
                shut(abortive: true)
                return false
            }
            let total = staticLen + outLen
            var left = n
            let fromStatic = min(left, staticLen)
            staticLen -= fromStatic
            staticPtr = staticLen > 0 ? staticPtr! + fromStatic : nil
            left -= fromStatic
            if left > 0 { out.consume(left) }
            // A partial write means the socket buffer is full: EPOLLOUT will fire when it drains.
            if n < total { return false }
        }
        out.releaseIfEmpty(pool)
        return true
    }

    /// Closing with unread input makes the kernel send RST, which can destroy the response the
    /// client has not read yet (a 400/431, or an answer to `Connection: close` followed by more
    /// pipelined bytes). So: send FIN, drop what has already arrived, then close.
    private func lingeringClose() {
        shutdownWrite()
        input.release(pool)
        let scratch = pool.take()
        defer { pool.give(scratch) }
        var budget = 1 << 20
        while budget > 0, case .bytes(let n) = socket.receive(into: scratch, count: pool.bufferSize) {
            budget -= n
        }
        shut()
    }

    fileprivate func shut(abortive: Bool = false) {
        guard !isClosed else { return }
        closeSocket(abortive: abortive)
        out.release(pool)
        staticPtr = nil
        staticLen = 0
        owner.remove(self)
    }

    // MARK: - Queuing output

    private var outFree: Int {
        guard out.hasStorage else { return pool.bufferSize }
        return pool.bufferSize - out.writeIndex + out.readIndex
    }

    /// Queues a pre-rendered response (or its head). False when it must wait for a flush.
    @inline(__always)
    private func emit(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        if staticLen == 0 && out.isEmpty {
            staticPtr = p
            staticLen = n
            return true
        }
        guard n <= outFree else { return false }
        out.append(p, n, pool: pool)
        return true
    }

    /// Appends one chunk frame ("<hex>\r\n" data "\r\n") for an echoed body slice.
    private func emitChunk(_ p: UnsafeRawPointer, _ n: Int) {
        out.ensure(pool)
        if out.writeIndex + n + 20 > pool.bufferSize { out.compact() }
        let w = out.base!.assumingMemoryBound(to: UInt8.self)
        var i = out.writeIndex
        var digits = 0
        var v = n
        repeat { digits += 1; v >>= 4 } while v > 0
        for d in stride(from: digits - 1, through: 0, by: -1) {
            let nib = (n >> (d * 4)) & 0xF
            w[i] = UInt8(nib < 10 ? 48 + nib : 87 + nib)
            i += 1
        }
        w[i] = 13; w[i + 1] = 10; i += 2
        (out.base! + i).copyMemory(from: p, byteCount: n)
        i += n
        w[i] = 13; w[i + 1] = 10; i += 2
        out.writeIndex = i
    }

    /// Echoes or drops `n` body bytes at the input read position. Returns how many it took
    /// (fewer when output space ran out).
    @inline(__always)
    private func takeBody(_ at: UnsafeRawPointer, _ n: Int) -> Int {
        if echoRaw {
            let k = min(n, outFree)
            if k > 0 { out.append(at, k, pool: pool) }
            return k
        }
        if echo {
            let k = min(n, outFree - 24)
            if k <= 0 { return 0 }
            emitChunk(at, k)
            return k
        }
        return n
    }

    // MARK: - Requests

    /// Handles buffered input in order. Returns true when it stopped because output must
    /// drain first (so the caller resumes after a successful flush).
    private func process() -> Bool {
        while !closing || phase != .head {
            switch phase {
            case .head:
                if closing { return false }
                guard input.hasStorage, !input.isEmpty else { return false }
                if outFree < responses.smallMax { return true }
                if !startRequest() { return false }
            case .body:
                guard readBody() else { return !input.isEmpty }
            case .respond:
                if echo || echoRaw {
                    if echo { guard emit(responses.lastChunk.base, responses.lastChunk.count) else { return true } }
                    if echoRaw { keepAlive = false }
                } else if let r = response {
                    guard emit(r.base, r.count) else { return true }
                }
                response = nil
                echo = false
                echoRaw = false
                phase = .head
                if !keepAlive { closing = true }
            }
        }
        return false
    }

    /// Parses the next head if complete. False when more input is needed (or it failed).
    private func startRequest() -> Bool {
        let base = input.readPointer.assumingMemoryBound(to: UInt8.self)
        // Tolerate stray CRLFs between requests (old clients send one after a POST body).
        var skip = 0
        while skip < input.readable && (base[skip] == 13 || base[skip] == 10) { skip += 1 }
        if skip > 0 { input.consume(skip); scanFrom = 0; return !input.isEmpty }
        switch RequestParser.scan(base, input.readable, from: scanFrom) {
        case .incomplete(let resumeAt):
            scanFrom = resumeAt
            if input.readable >= pool.bufferSize { fail(responses.headTooLarge) }
            return false
        case .invalid:
            fail(responses.badRequest)
            return false
        case .complete(let h):
            scanFrom = 0
            let path = h.pathLength == 0
                ? responses.rootPath!
                : UnsafeRawBufferPointer(start: base + h.pathStart, count: h.pathLength)
            keepAlive = h.keepAlive
            framing = h.chunked ? .chunked : (h.contentLength > 0 ? .length : .none)
            remaining = max(h.contentLength, 0)
            chunkState = .size
            sawDigit = false
            if h.expectContinue && h.hasBody && !h.http10 {
                _ = emit(responses.continue100.base, responses.continue100.count)
            }
            if !h.isHEAD && responses.isEcho(path) {
                if h.http10 {
                    echoRaw = true
                    keepAlive = false
                    _ = emit(responses.echoHead10.base, responses.echoHead10.count)
                } else {
                    echo = true
                    let r = responses.echoHead.pick(http10: false, keepAlive: keepAlive)
                    _ = emit(r.base, r.count)
                }
                response = nil
            } else {
                let r = responses.route(path).pick(http10: h.http10, keepAlive: keepAlive)
                response = h.isHEAD ? StaticResponse(base: r.base, headLength: r.headLength, count: r.headLength) : r
            }
            input.consume(h.headLength)
            phase = .body
            return true
        }
    }

    /// Sends a final error response and stops reading requests.
    private func fail(_ r: StaticResponse) {
        _ = emit(r.base, r.count)
        closing = true
        input.consume(input.readable)
    }

    /// Consumes body bytes. True when the body is complete (phase moved on).
    private func readBody() -> Bool {
        switch framing {
        case .none:
            phase = .respond
            return true
        case .length:
            while remaining > 0 {
                guard input.hasStorage, !input.isEmpty else { return false }
                let k = takeBody(input.readPointer, min(remaining, input.readable))
                if k == 0 { return false }
                input.consume(k)
                remaining -= k
            }
            phase = .respond
            return true
        case .chunked:
            return readChunked()
        }
    }

    /// RFC 9112 chunked framing: size line [; ext] CRLF, data CRLF, ..., 0 CRLF, trailers, CRLF.
    private func readChunked() -> Bool {
        guard input.hasStorage else { return false }
        while !input.isEmpty {
            let p = input.readPointer.assumingMemoryBound(to: UInt8.self)
            let n = input.readable
            var i = 0
            switch chunkState {
            case .size, .ext:
                while i < n {
                    let c = p[i]
                    i += 1
                    if c == 10 {
                        guard sawDigit else { return badChunk() }
                        chunkState = remaining == 0 ? .trailerStart : .data
                        break
                    }
                    if chunkState == .ext || c == 13 { continue }
                    if let v = Self.hexValue(c) {
                        guard remaining < (1 << 40) else { return badChunk() }
                        remaining = remaining << 4 | v
                        sawDigit = true
                    } else if c == 59 || c == 32 || c == 9 {   // ';' or whitespace before extensions
                        guard sawDigit else { return badChunk() }
                        chunkState = .ext
                    } else {
                        return badChunk()
                    }
                }
                input.consume(i)
            case .data:
                let k = takeBody(p, min(remaining, n))
                if k == 0 { return false }
                input.consume(k)
                remaining -= k
                if remaining == 0 { chunkState = .dataEnd }
            case .dataEnd:
                let c = p[0]
                input.consume(1)
                if c == 10 { chunkState = .size; sawDigit = false } else if c != 13 { return badChunk() }
            case .trailerStart:
                let c = p[0]
                input.consume(1)
                if c == 10 { phase = .respond; return true }
                if c != 13 { chunkState = .trailer }
            case .trailer:
                while i < n && p[i] != 10 { i += 1 }
                if i < n { i += 1; chunkState = .trailerStart }
                input.consume(i)
            }
        }
        return false
    }

    private func badChunk() -> Bool {
        // Mid-response (echo) there is no clean way to signal an error: cut the connection.
        if echo || echoRaw { shut(abortive: true) } else { fail(responses.badRequest) }
        phase = .head
        return false
    }

    @inline(__always)
    private static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: return Int(c - 48)
        case 97...102: return Int(c - 87)
        case 65...70: return Int(c - 55)
        default: return nil
        }
    }
}
