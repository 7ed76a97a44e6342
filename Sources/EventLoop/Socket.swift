import CSystemShims
import Glibc

/// A socket descriptor and the calls made on it: the one place above which no code touches a
/// raw socket. Data calls answer with `IOResult`; set-up calls throw `SocketError`. A value
/// type with no state of its own: `Selectable.socket` gives one for a registered descriptor.
public struct Socket: Hashable, Sendable {
    public let descriptor: Int32

    @inline(__always) public init(descriptor: Int32) { self.descriptor = descriptor }

    // MARK: set-up

    /// A non-blocking listening TCP socket; SO_REUSEPORT lets every loop own one on the same port.
    public static func listening(on address: SocketAddress, reusePort: Bool, backlog: Int32 = 4096) throws(SocketError) -> Socket {
        Socket(descriptor: try Sys.listen(address, reusePort: reusePort, backlog: backlog))
    }

    /// Starts a non-blocking TCP connect (TCP_NODELAY set). `inProgress`: wait for writability,
    /// then check `connectError()`.
    public static func connecting(to address: SocketAddress) throws(SocketError) -> (socket: Socket, inProgress: Bool) {
        let r = Sys.connect(address)
        guard r.fd >= 0 else { throw SocketError("connect \(address.description)", -r.fd) }
        return (Socket(descriptor: r.fd), r.inProgress)
    }

    /// The locally bound address (to learn an ephemeral port).
    public var localAddress: SocketAddress? { Sys.localAddress(descriptor) }

    /// Changes a listening socket's backlog. Backlog 0 lets at most one connection wait in the
    /// accept queue; further SYNs are dropped (the client retries later).
    public func setBacklog(_ backlog: Int32) { Sys.setBacklog(descriptor, backlog) }

    public func setNoDelay() { Sys.setNoDelay(descriptor) }

    /// The outcome of a non-blocking connect once the socket is writable: 0 when connected,
    /// else the errno (ECONNREFUSED, ...).
    public func connectError() -> Int32 { Sys.socketError(descriptor) }

    // MARK: data

    /// recv(2) into `buffer`: straight to the socket layer, EINTR retried.
    @inline(__always)
    public func receive(into buffer: UnsafeMutableRawPointer, count: Int) -> IOResult {
        IOResult(read: Sys.recv(descriptor, buffer, count))
    }

    /// send(2) with MSG_NOSIGNAL (a gone peer is `.failed(EPIPE)`, never a signal).
    @inline(__always)
    public func send(_ bytes: UnsafeRawPointer, count: Int) -> IOResult {
        IOResult(write: Sys.write(descriptor, bytes, count))
    }

    /// One gathering send of two regions (a rewritten head and the first body bytes).
    @inline(__always)
    public func send(_ first: UnsafeRawPointer, count firstCount: Int, then second: UnsafeRawPointer, count secondCount: Int) -> IOResult {
        IOResult(write: Sys.writev2(descriptor, first, firstCount, second, secondCount))
    }

    /// read(2), for descriptors that are not sockets (pipes, eventfds, files).
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) -> IOResult {
        IOResult(read: Sys.read(descriptor, buffer, count))
    }

    /// Accepts one queued connection, non-blocking and close-on-exec (ECONNABORTED and EINTR
    /// are retried); `.wouldBlock` when the queue is empty.
    public func accept() -> Accepted {
        var storage = sockaddr_storage()
        let fd = Sys.accept(descriptor, &storage)
        if fd >= 0 {
            return .connection(Socket(descriptor: fd), SocketAddress(storage: storage, length: socklen_t(MemoryLayout<sockaddr_storage>.size)))
        }
        if fd == -EAGAIN { return .wouldBlock }
        if fd == -EBADF { fatalError("EventLoop: accept on a descriptor that is not open (EBADF)") }
        return .failed(-fd)
    }

    public enum Accepted {
        case connection(Socket, SocketAddress)
        case wouldBlock
        case failed(Int32)
    }

    // MARK: ending

    /// Sends FIN; reading stays possible.
    public func shutdownWrite() { Sys.shutdownWrite(descriptor) }

    /// Closes the descriptor (never retried: Linux releases it even when close reports EINTR).
    public func close() { Sys.close(descriptor) }

    /// Closes with a reset instead of FIN (SO_LINGER 0), so the peer can tell a cut response
    /// from a complete one.
    public func closeAbortively() { Sys.abortiveClose(descriptor) }
}

extension Selectable {
    /// The registered descriptor as a `Socket` (closed: descriptor -1).
    @inline(__always) public final var socket: Socket { Socket(descriptor: fd) }
}
