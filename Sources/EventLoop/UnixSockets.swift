import CSystemShims
import Glibc

/// The path of an AF_UNIX stream socket, checked once to fit `sockaddr_un`: what the admin
/// socket's server binds and its clients connect to.
public struct UnixSocketAddress: Sendable {
    /// sun_path is 108 bytes including the terminating NUL.
    public static let maxPathBytes = 107

    /// Why a path cannot name a Unix socket.
    public enum Problem: Error, Equatable, Sendable {
        case empty
        case tooLong(bytes: Int)
        case containsNUL
    }

    public let path: String
    private let address: sockaddr_un
    private let length: socklen_t

    public init(path: String) throws(Problem) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty else { throw .empty }
        guard bytes.count <= Self.maxPathBytes else { throw .tooLong(bytes: bytes.count) }
        guard !bytes.contains(0) else { throw .containsNUL }
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &a.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        self.path = path
        self.address = a
        self.length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
    }

    /// Calls `body` with the address as bind(2) and connect(2) take it.
    fileprivate func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafePointer(to: address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
    }
}

/// What the kernel says about the process on the other end of a Unix socket (SO_PEERCRED).
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
}

/// What a blocking caller waits for (`Socket.wait`).
public enum Readiness: Sendable {
    case readable, writable
}

extension Socket {
    // MARK: Unix sockets

    /// A new AF_UNIX stream socket, close-on-exec; non-blocking unless `blocking` (a command-line
    /// client that bounds each call with `wait(for:timeoutMS:)`).
    public static func unixStream(blocking: Bool = false) throws(SocketError) -> Socket {
        let flags = blocking ? Int32(SOCK_CLOEXEC.rawValue) : shim_SOCK_NONBLOCK_CLOEXEC()
        let fd = Glibc.socket(AF_UNIX, shim_SOCK_STREAM() | flags, 0)
        guard fd >= 0 else { throw SocketError("socket(AF_UNIX)", errno) }
        return Socket(descriptor: fd)
    }

    /// fchmod(2) on the socket's own inode. Linux gives the file that `bind` creates this mode
    /// (minus the umask), so a socket file is never more open than intended, without touching
    /// the process-wide umask.
    public func setMode(_ mode: UInt32) throws(SocketError) {
        guard fchmod(descriptor, mode_t(mode)) == 0 else { throw SocketError("fchmod", errno) }
    }

    /// bind(2): creates the socket file at `address.path` (EADDRINUSE: something is there).
    public func bind(to address: UnixSocketAddress) throws(SocketError) {
        let r = address.withSockaddr { Glibc.bind(descriptor, $0, $1) }
        guard r == 0 else { throw SocketError("bind \(address.path)", errno) }
    }

    /// listen(2) on a bound socket.
    public func listen(backlog: Int32) throws(SocketError) {
        guard Glibc.listen(descriptor, backlog) == 0 else { throw SocketError("listen", errno) }
    }

    /// connect(2), EINTR retried. The errno tells what is at the path: ECONNREFUSED, a socket
    /// file nobody listens on; EAGAIN (non-blocking), a listener whose backlog is full.
    public func connect(to address: UnixSocketAddress) throws(SocketError) {
        while true {
            let r = address.withSockaddr { Glibc.connect(descriptor, $0, $1) }
            if r == 0 { return }
            let e = errno
            if e != EINTR { throw SocketError("connect \(address.path)", e) }
        }
    }

    /// The process on the other end of a connected Unix socket; nil when the kernel will not say.
    public var peerCredentials: PeerCredentials? {
        // `struct ucred` needs _GNU_SOURCE to import, so read its fixed kernel layout
        // ({pid, uid, gid}, three 32-bit fields) directly.
        var cred: (Int32, UInt32, UInt32) = (0, UInt32.max, UInt32.max)
        var len = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 else { return nil }
        return PeerCredentials(pid: cred.0, uid: cred.1, gid: cred.2)
    }

    /// poll(2) on this socket alone, for a blocking client with a deadline: true when it is
    /// ready (or hung up, or failed: the next call says which), false when `timeoutMS` passed
    /// or a signal cut the wait short (check the deadline and wait again).
    public func wait(for readiness: Readiness, timeoutMS: Int32) throws(SocketError) -> Bool {
        let events = readiness == .readable ? Int16(POLLIN) : Int16(POLLOUT)
        var p = pollfd(fd: descriptor, events: events, revents: 0)
        let r = poll(&p, 1, timeoutMS)
        if r > 0 { return true }
        if r < 0 && errno != EINTR { throw SocketError("poll", errno) }
        return false
    }
}

// MARK: socket files

/// Which file a path named at one moment: the same device and inode later means the same file
/// (so a server removes its socket file only if nobody replaced it since).
public struct FileIdentity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64
}

/// What is at a path (`Files.status`).
public struct FileStatus: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case socket, directory, other }
    public var kind: Kind
    public var identity: FileIdentity
}

extension Files {
    /// lstat(2), or stat(2) when `followingLinks`: the kind and identity of what is at `path`.
    /// Nothing there is `SocketError` with ENOENT.
    public static func status(_ path: String, followingLinks: Bool = false) throws(SocketError) -> FileStatus {
        var st = stat()
        let r = followingLinks ? stat(path, &st) : lstat(path, &st)
        guard r == 0 else { throw SocketError("stat \(path)", errno) }
        let kind: FileStatus.Kind
        switch st.st_mode & S_IFMT {
        case S_IFSOCK: kind = .socket
        case S_IFDIR: kind = .directory
        default: kind = .other
        }
        return FileStatus(kind: kind, identity: FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)))
    }

    /// unlink(2).
    public static func remove(_ path: String) throws(SocketError) {
        guard unlink(path) == 0 else { throw SocketError("unlink \(path)", errno) }
    }

    /// chmod(2).
    public static func setMode(_ path: String, _ mode: UInt32) throws(SocketError) {
        guard chmod(path, mode_t(mode)) == 0 else { throw SocketError("chmod \(path)", errno) }
    }

    /// lchown(2) of the group alone (the owner stays).
    public static func setGroup(_ path: String, _ gid: UInt32) throws(SocketError) {
        guard lchown(path, uid_t.max, gid_t(gid)) == 0 else { throw SocketError("lchown \(path)", errno) }
    }

    /// The id of the group called `name` (getgrnam_r, growing its buffer on ERANGE); nil when
    /// there is no such group.
    public static func groupID(named name: String) throws(SocketError) -> UInt32? {
        var size = 1024
        while true {
            var g = group()
            var result: UnsafeMutablePointer<group>? = nil
            var buf = [CChar](repeating: 0, count: size)
            let r = getgrnam_r(name, &g, &buf, size, &result)
            if r == ERANGE && size < 1 << 20 { size *= 4; continue }
            if r != 0 && r != ENOENT { throw SocketError("group \(name)", r) }
            return result == nil ? nil : UInt32(g.gr_gid)
        }
    }
}
