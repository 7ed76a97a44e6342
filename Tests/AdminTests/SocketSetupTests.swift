import Admin
import EventLoop
import Foundation
import Glibc
import TestSupport
import Testing

/// Creating the socket file: stale, live and foreign files, bad paths, groups and other uids.
@Suite struct SocketSetupTests {
    final class NullHandler: AdminHandler {
        func handle(_ command: AdminCommand, peer: AdminPeer, reply: @escaping (JSONValue) -> Void) {
            reply(AdminReply.ok())
        }
    }

    /// Expects AdminServer.init to fail with a message containing `fragment`.
    func expectRefusal(path: String, group: String? = nil, _ fragment: String) throws {
        let loop = try EventLoop()
        do {
            let s = try AdminServer(path: path, group: group, loop: loop, handler: NullHandler())
            s.close()
            Issue.record("started on \(path)")
        } catch let e as AdminSocketError {
            #expect(e.description.contains(fragment), "\(e)")
        }
        loop.closeAll()
    }

    @Test func staleSocketIsReplaced() throws {
        let dir = TempDir()
        let path = dir.file("admin.sock")
        // A socket file nobody listens on, as a crashed run leaves behind.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(r == 0)
        close(fd)
        #expect(fileMode(path)?.type == S_IFSOCK)

        let a = try RunningAdmin(dir: dir)
        defer { a.stop() }
        #expect(fileMode(path)?.perms == 0o600)
        #expect(try a.client().request("status")["ok"] == true)
    }

    @Test func liveSocketIsRefused() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        try expectRefusal(path: a.path, "admin socket \(a.path): another switchyard is already listening there")
        // The running one is untouched.
        #expect(fileMode(a.path)?.type == S_IFSOCK)
        #expect(try a.client().request("status")["ok"] == true)
    }

    @Test func nonSocketIsRefused() throws {
        let dir = TempDir()
        let path = dir.file("admin.sock")
        #expect(FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8)))
        try expectRefusal(path: path, "admin socket \(path): exists and is not a socket; refusing to replace it")
        #expect(FileManager.default.contents(atPath: path) == Data("keep me".utf8))
        // A symlink is not followed or replaced either.
        let link = dir.file("link.sock")
        symlink(path, link)
        try expectRefusal(path: link, "exists and is not a socket")
    }

    @Test func badPathsAreExplained() throws {
        let dir = TempDir()
        try expectRefusal(path: dir.file("missing/admin.sock"), "directory \(dir.file("missing")) does not exist")
        let long = dir.file(String(repeating: "s", count: 120))
        try expectRefusal(path: long, "the limit is 107")
        try expectRefusal(path: dir.file("a.sock"), group: "no-such-group-xyz", "admin socket: group 'no-such-group-xyz' does not exist")
        #expect(fileMode(dir.file("a.sock")) == nil)
    }

    @Test func groupSocketIs0660AndOwnedByTheGroup() throws {
        guard let gid = groupID("daemon") else {
            Issue.record("group 'daemon' missing")
            return
        }
        let a = try RunningAdmin(group: "daemon")
        defer { a.stop() }
        let m = try #require(fileMode(a.path))
        #expect(m.perms == 0o660)
        #expect(m.gid == gid)
        #expect(try a.client().request("status")["ok"] == true)
    }

    static let setpriv = "/usr/bin/setpriv"
    static let python = "/usr/bin/python3"
    /// Connects as another user; prints CONNECTED or the errno name.
    static let probe = """
    import socket, sys, errno
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1]); s.sendall(b"status\\n"); print("CONNECTED", s.recv(100).decode().strip())
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno))
    """

    func connectAs(uid: Int, groups: String?, path: String) throws -> String {
        let ids = ["--reuid", "\(uid)", "--regid", "\(uid)"] + (groups.map { ["--groups", $0] } ?? ["--clear-groups"])
        let r = try runProgram([Self.setpriv] + ids + [Self.python, "-c", Self.probe, path])
        return (r.output + r.errors).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func otherUsersCannotConnect() throws {
        guard executable(Self.setpriv), executable(Self.python), getuid() == 0 else {
            print("SKIPPED otherUsersCannotConnect: needs root, \(Self.setpriv) and \(Self.python)")
            return
        }
        let a = try RunningAdmin()
        defer { a.stop() }
        #expect(try connectAs(uid: 65534, groups: nil, path: a.path) == "EACCES")
        // The probe itself works: the directory is reachable and a group socket admits the group.
        let g = try RunningAdmin(group: "daemon")
        defer { g.stop() }
        #expect(try connectAs(uid: 65534, groups: nil, path: g.path) == "EACCES")
        let member = try connectAs(uid: 65534, groups: "\(groupID("daemon")!)", path: g.path)
        #expect(member.hasPrefix("CONNECTED {\"ok\":true"), "\(member)")
    }

    func groupID(_ name: String) -> gid_t? {
        guard let g = getgrnam(name) else { return nil }
        return g.pointee.gr_gid
    }
}
