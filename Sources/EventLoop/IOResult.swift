import Glibc

/// What one read or write did. Every data call of EventLoop's socket and file types answers
/// with one of these (never a bare `-1` plus the global `errno`), so a caller switches on one
/// value and the hot path allocates nothing.
public enum IOResult: Equatable, Sendable {
    /// Bytes moved: more than 0 for a read; for a write, what the kernel took (maybe fewer).
    case bytes(Int)
    /// Nothing now (EAGAIN): wait for the readiness edge (or, for a send queued with the loop's
    /// batch, for `Selectable.sendCompleted`).
    case wouldBlock
    /// A read found the end of the stream: the peer sent FIN.
    case end
    /// The call failed with this errno (ECONNRESET, EPIPE, ...).
    case failed(Int32)

    /// From a raw read result (bytes, 0 at the end, or -errno). A read of a descriptor that is
    /// not open is a bug that could touch another connection's socket, so it traps.
    @inline(__always)
    public init(read n: Int) {
        if n > 0 { self = .bytes(n) } else if n == 0 { self = .end } else { self.init(errno: Int32(truncatingIfNeeded: -n)) }
    }

    /// From a raw write result (bytes taken, or -errno).
    @inline(__always)
    public init(write n: Int) {
        if n >= 0 { self = .bytes(n) } else { self.init(errno: Int32(truncatingIfNeeded: -n)) }
    }

    @inline(__always)
    init(errno e: Int32) {
        if e == EAGAIN { self = .wouldBlock; return }
        if e == EBADF { fatalError("EventLoop: I/O on a descriptor that is not open (EBADF): a use after close") }
        self = .failed(e)
    }

    /// Bytes moved, or 0 for anything else.
    @inline(__always) public var count: Int {
        if case .bytes(let n) = self { return n }
        return 0
    }

    /// The end of the stream or an error: the socket will give nothing more.
    @inline(__always) public var isFinal: Bool {
        switch self {
        case .end, .failed: return true
        case .bytes, .wouldBlock: return false
        }
    }

    /// "connection reset by peer" and the like, for logs; "end of stream" for `.end`.
    public var reason: String {
        switch self {
        case .bytes(let n): return "\(n) bytes"
        case .wouldBlock: return "would block"
        case .end: return "end of stream"
        case .failed(let e): return SocketError.text(e)
        }
    }
}

/// A failed system call (socket, file or loop set-up): what was attempted, and the errno. The
/// one error type that EventLoop's throwing calls throw.
public struct SocketError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var errno: Int32
    public init(_ operation: String, _ errno: Int32) { self.operation = operation; self.errno = errno }
    public var description: String { "\(operation): \(Self.text(errno))" }

    /// strerror(3) of `code`, e.g. "Connection refused".
    public static func text(_ code: Int32) -> String { String(cString: strerror(code)) }
}
