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
        let s = try stream(for: address)
        s.setOption(SOL_SOCKET, SO_REUSEADDR, 1)
        if reusePort { s.setOption(SOL_SOCKET, SO_REUSEPORT, 1) }
        if address.isIPv6 { s.setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        var storage = address.storage
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(s.descriptor, $0, address.length) }
        }
        if bound != 0 {
            let e = errno
            s.close()
            throw SocketError("bind \(address.description)", e)
        }
        if Glibc.listen(s.descriptor, backlog) != 0 {
            let e = errno
            s.close()
            throw SocketError("listen \(address.description)", e)
        }
        return s
    }

    /// A new non-blocking, close-on-exec stream socket of `address`'s family.
    private static func stream(for address: SocketAddress) throws(SocketError) -> Socket {
        let fd = Glibc.socket(address.family, shim_SOCK_STREAM() | shim_SOCK_NONBLOCK_CLOEXEC(), 0)
        guard fd >= 0 else { throw SocketError("socket", errno) }
        return Socket(descriptor: fd)
    }

    /// setsockopt(2) of an Int32 option; a failure leaves the default (every caller's options
    /// are tunings, not requirements).
    private func setOption(_ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(descriptor, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Starts a non-blocking TCP connect (TCP_NODELAY set). `inProgress`: wait for writability,
    /// then check `connectError()`.
    public static func connecting(to address: SocketAddress) throws(SocketError) -> (socket: Socket, inProgress: Bool) {
        let s = try stream(for: address)
        s.setNoDelay()
        var storage = address.storage
        while true {
            let r = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s.descriptor, $0, address.length) }
            }
            if r == 0 { return (s, false) }
            let e = errno
            if e == EINTR { continue }
            if e == EINPROGRESS { return (s, true) }
            s.close()
            throw SocketError("connect \(address.description)", e)
        }
    }

    /// The locally bound address (to learn an ephemeral port).
    public var localAddress: SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return r == 0 ? SocketAddress(storage: storage, length: length) : nil
    }

    /// Changes a listening socket's backlog. Backlog 0 lets at most one connection wait in the
    /// accept queue; further SYNs are dropped (the client retries later).
    public func setBacklog(_ backlog: Int32) { Sys.setBacklog(descriptor, backlog) }

    public func setNoDelay() { setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1) }

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
