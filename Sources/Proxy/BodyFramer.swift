import EventLoop
import HTTP1

/// The framing of one message body in either direction (RFC 9112 6): how many of the bytes at
/// the front of a buffer belong to the body and may move now, and when the body is complete.
/// Chunked bodies are validated as they stream; by default their framing is forwarded as it
/// came, or (`dechunk`, for an HTTP/1.0 client) dropped so only the data moves.
struct BodyFramer {
    enum Kind { case none, length, chunked, untilClose }

    /// What `available` found at the front of the buffer.
    enum Available {
        /// This many bytes may move now (0: none yet).
        case bytes(Int)
        case malformed(HTTPParseError)
        /// The decoded payload passed `limit`.
        case tooLarge
    }

    private(set) var kind: Kind
    /// All of the body has moved (or there is none).
    private(set) var done: Bool
    /// Length-delimited: bytes still to come.
    private var remaining: UInt64 = 0
    /// Chunked only (made on demand: most bodies are not chunked, and most messages have none).
    private var decoder: ChunkedDecoder?
    /// Chunked: validated bytes at the front of the buffer not moved yet.
    private var pending = 0
    /// Chunked framing is dropped (an HTTP/1.0 client): only the data moves.
    let dechunk: Bool
    /// Chunked: the largest decoded payload allowed.
    private let limit: UInt64

    /// No body.
    @inline(__always)
    init() {
        kind = .none
        done = true
        dechunk = false
        limit = .max
    }

    @inline(__always)
    init(_ framing: BodyFraming, dechunk: Bool = false, limit: UInt64 = .max) {
        self.dechunk = dechunk
        self.limit = limit
        switch framing {
        case .none:
            kind = .none
            done = true
        case .contentLength(let n):
            kind = n == 0 ? .none : .length
            remaining = n
            done = n == 0
        case .chunked:
            kind = .chunked
            done = false
            decoder = ChunkedDecoder()
        case .untilClose:
            kind = .untilClose
            done = false
        }
    }

    /// Body bytes at the front of `buffer` that may move now. A chunked body is decoded as far
    /// as `buffer` goes (with `dechunk`, framing bytes are consumed from `buffer` here).
    mutating func available(in buffer: inout IOBuffer) -> Available {
        switch kind {
        case .none:
            done = true
            return .bytes(0)
        case .length:
            return .bytes(Int(min(UInt64(buffer.readable), remaining)))
        case .untilClose:
            return .bytes(buffer.readable)
        case .chunked:
            if pending > 0 { return .bytes(pending) }
            if decoder!.isDone {
                done = true
                return .bytes(0)
            }
            guard buffer.readable > 0 else { return .bytes(0) }
            return decodeChunked(&buffer)
        }
    }

    private mutating func decodeChunked(_ buffer: inout IOBuffer) -> Available {
        var off = 0
        let bytes = buffer.readBytes
        while off < bytes.count {
            switch decoder!.decode(UnsafeRawBufferPointer(rebasing: bytes[off...])) {
            case .data(let n):
                if dechunk {
                    if off > 0 { buffer.consume(off) }
                    pending = n
                    return .bytes(n)
                }
                off += n
            case .framing(let n):
                off += n
            case .done(let n):
                off += n
                if dechunk {
                    buffer.consume(off)
                    done = true
                    return .bytes(0)
                }
                pending = off
                return decoder!.payloadBytes > limit ? .tooLarge : .bytes(off)
            case .error(let e):
                return .malformed(e)
            }
        }
        if dechunk {
            buffer.consume(off)
            return .bytes(0)
        }
        pending = off
        return decoder!.payloadBytes > limit ? .tooLarge : .bytes(off)
    }

    /// `n` of the available bytes moved (the caller consumed them from its buffer).
    @inline(__always)
    mutating func moved(_ n: Int) {
        guard n > 0 else { return }
        switch kind {
        case .length:
            remaining -= UInt64(n)
            if remaining == 0 { done = true }
        case .chunked:
            pending -= n
            if pending == 0 && decoder!.isDone { done = true }
        case .none, .untilClose:
            break
        }
    }

    /// A close-delimited body ended with the connection.
    mutating func endedByClose() { done = true }
}
