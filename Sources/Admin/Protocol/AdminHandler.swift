/// What the proxy plugs into the admin socket: the one contract between the socket server and
/// whatever runs the commands.
public protocol AdminHandler: AnyObject {
    /// Called on the admin loop's thread. Must call `reply` exactly once, possibly later but on the
    /// same loop thread. The connection reads no further command until then; a call after the
    /// client went away (or a second call) is ignored.
    func handle(_ command: AdminCommand, peer: AdminPeer, reply: @escaping (JSONValue) -> Void)
}

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
