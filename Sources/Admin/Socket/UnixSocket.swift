import AdminProtocol
import EventLoop
import Glibc

/// Why the admin socket could not be set up; the message names the path and what to do.
public struct AdminSocketError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// Makes one set-up call; its failure becomes the admin socket's message for that step.
    static func on<T>(_ call: @autoclosure () throws(SocketError) -> T,
                      _ message: (SocketError) -> String) throws(AdminSocketError) -> T {
        do throws(SocketError) {
            return try call()
        } catch {
            throw AdminSocketError(message(error))
        }
    }
}

/// The admin socket's chores around its path: checking it, clearing a stale socket file, the
/// group lookup. The calls themselves are EventLoop's; the policy and the messages are here.
package enum UnixSocket {
    package static func address(_ path: String) throws(AdminSocketError) -> UnixSocketAddress {
        do throws(UnixSocketAddress.Problem) {
            return try UnixSocketAddress(path: path)
        } catch {
            switch error {
            case .empty:
                throw AdminSocketError("admin socket: the path is empty")
            case .tooLong(let bytes):
                throw AdminSocketError("admin socket \(path): path is \(bytes) bytes long; the limit is \(UnixSocketAddress.maxPathBytes)")
            case .containsNUL:
                throw AdminSocketError("admin socket \(path): path contains a NUL byte")
            }
        }
    }

    static func newSocket() throws(AdminSocketError) -> Socket {
        try AdminSocketError.on(try Socket.unixStream()) { "admin socket: socket(AF_UNIX): \(SocketError.text($0.errno))" }
    }

    /// The identity of the socket file at `path`, or nil if there is none.
    static func identity(_ path: String) -> FileIdentity? {
        guard let st = try? Files.status(path), st.kind == .socket else { return nil }
        return st.identity
    }

    /// Makes the path free for a new socket: a stale socket (nobody answers) is removed; a live
    /// one, or anything that is not a socket, is refused.
    static func clearStale(_ address: UnixSocketAddress) throws(AdminSocketError) {
        let path = address.path
        let dir = parentDirectory(path)
        let directory = try AdminSocketError.on(try Files.status(dir, followingLinks: true)) {
            "admin socket \(path): directory \(dir) \($0.errno == ENOENT ? "does not exist" : SocketError.text($0.errno))"
        }
        guard directory.kind == .directory else { throw AdminSocketError("admin socket \(path): \(dir) is not a directory") }
        let existing: FileStatus
        do throws(SocketError) {
            existing = try Files.status(path)
        } catch {
            if error.errno == ENOENT { return }
            throw AdminSocketError("admin socket \(path): \(SocketError.text(error.errno))")
        }
        guard existing.kind == .socket else {
            throw AdminSocketError("admin socket \(path): exists and is not a socket; refusing to replace it")
        }
        let probe = try newSocket()
        defer { probe.close() }
        let answer: Int32
        do throws(SocketError) {
            try probe.connect(to: address)
            answer = 0
        } catch {
            answer = error.errno
        }
        switch answer {
        case 0, EAGAIN:   // EAGAIN: a listener whose backlog is full is still a listener
            throw AdminSocketError("admin socket \(path): another switchyard is already listening there")
        case ECONNREFUSED:
            do throws(SocketError) {
                try Files.remove(path)
            } catch where error.errno != ENOENT {
                throw AdminSocketError("admin socket \(path): cannot remove the stale socket: \(SocketError.text(error.errno))")
            } catch {}
        case let e:
            throw AdminSocketError("admin socket \(path): cannot check the existing socket: \(SocketError.text(e))")
        }
    }

    static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    static func groupID(_ name: String) throws(AdminSocketError) -> UInt32 {
        let gid = try AdminSocketError.on(try Files.groupID(named: name)) {
            "admin socket: group '\(name)': \(SocketError.text($0.errno))"
        }
        guard let gid else { throw AdminSocketError("admin socket: group '\(name)' does not exist") }
        return gid
    }

    /// SO_PEERCRED as the audit log records it (all ones when the kernel will not say).
    static func peer(_ socket: Socket) -> AdminPeer {
        guard let c = socket.peerCredentials else { return AdminPeer(uid: .max, gid: .max, pid: -1) }
        return AdminPeer(uid: c.uid, gid: c.gid, pid: c.pid)
    }
}
