import CSystemShims
import EventLoop
import Glibc

/// Who is on the other end of an admin connection (SO_PEERCRED), for the audit log.
public struct AdminPeer: Sendable, Equatable, CustomStringConvertible {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32

    public init(uid: UInt32, gid: UInt32, pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }

    public var description: String { "uid=\(uid) gid=\(gid) pid=\(pid)" }
}

/// Why the admin socket could not be set up; the message names the path and what to do.
public struct AdminSocketError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The filesystem and socket chores around an AF_UNIX path.
enum UnixSocket {
    /// sun_path is 108 bytes including the terminating NUL.
    static let maxPathBytes = 107

    /// Device and inode of the socket file at `path`, or nil if it is not a socket.
    static func identity(_ path: String) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    static func address(_ path: String) throws -> (sockaddr_un, socklen_t) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty else { throw AdminSocketError("admin socket: the path is empty") }
        guard bytes.count <= maxPathBytes else {
            throw AdminSocketError("admin socket \(path): path is \(bytes.count) bytes long; the limit is \(maxPathBytes)")
        }
        guard !bytes.contains(0) else { throw AdminSocketError("admin socket \(path): path contains a NUL byte") }
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &a.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return (a, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1))
    }

    static func newSocket() throws -> Int32 {
        let fd = socket(AF_UNIX, shim_SOCK_STREAM() | shim_SOCK_NONBLOCK_CLOEXEC(), 0)
        guard fd >= 0 else { throw AdminSocketError("admin socket: socket(AF_UNIX): \(Sys.errorString(errno))") }
        return fd
    }

    /// Connects `fd` (blocking or not); 0 or errno.
    static func connect(_ fd: Int32, _ path: String) throws -> Int32 {
        var (a, len) = try address(path)
        while true {
            let r = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, len) }
            }
            if r == 0 { return 0 }
            if errno != EINTR { return errno }
        }
    }

    /// Makes `path` free for a new socket: a stale socket (nobody answers) is removed; a live
    /// one, or anything that is not a socket, is refused.
    static func clearStale(_ path: String) throws {
        let dir = parentDirectory(path)
        var st = stat()
        if stat(dir, &st) != 0 {
            throw AdminSocketError("admin socket \(path): directory \(dir) \(errno == ENOENT ? "does not exist" : Sys.errorString(errno))")
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw AdminSocketError("admin socket \(path): \(dir) is not a directory") }
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return }
            throw AdminSocketError("admin socket \(path): \(Sys.errorString(errno))")
        }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw AdminSocketError("admin socket \(path): exists and is not a socket; refusing to replace it")
        }
        let probe = try newSocket()
        defer { Sys.close(probe) }
        switch try connect(probe, path) {
        case 0, EAGAIN:   // EAGAIN: a listener whose backlog is full is still a listener
            throw AdminSocketError("admin socket \(path): another switchyard is already listening there")
        case ECONNREFUSED:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw AdminSocketError("admin socket \(path): cannot remove the stale socket: \(Sys.errorString(errno))")
            }
        case let e:
            throw AdminSocketError("admin socket \(path): cannot check the existing socket: \(Sys.errorString(e))")
        }
    }

    static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    /// getgrnam_r, growing the buffer on ERANGE.
    static func groupID(_ name: String) throws -> gid_t {
        var size = 1024
        while true {
            var g = group()
            var result: UnsafeMutablePointer<group>? = nil
            var buf = [CChar](repeating: 0, count: size)
            let r = getgrnam_r(name, &g, &buf, size, &result)
            if r == ERANGE && size < 1 << 20 { size *= 4; continue }
            if r != 0 && r != ENOENT { throw AdminSocketError("admin socket: group '\(name)': \(Sys.errorString(r))") }
            guard result != nil else { throw AdminSocketError("admin socket: group '\(name)' does not exist") }
            return g.gr_gid
        }
    }

    /// SO_PEERCRED. `struct ucred` needs _GNU_SOURCE to import, so read its fixed kernel layout
    /// ({pid, uid, gid}, three 32-bit fields) directly.
    static func peer(_ fd: Int32) -> AdminPeer {
        var cred: (Int32, UInt32, UInt32) = (0, UInt32.max, UInt32.max)
        var len = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        if getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 { return AdminPeer(uid: .max, gid: .max, pid: -1) }
        return AdminPeer(uid: cred.1, gid: cred.2, pid: cred.0)
    }
}
