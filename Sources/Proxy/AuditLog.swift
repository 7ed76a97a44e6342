import AdminProtocol
import EventLoop

/// Append-only record of configuration changes made over the admin socket: one JSON line per
/// change with the time, the caller's uid and pid (SO_PEERCRED), the command, and the values
/// before and after. Written on the control loop; changes are rare, so each line is flushed.
public final class AuditLog {
    private let file: AppendFile?
    public let path: String?

    /// `path` nil: lines go to the operational log (stderr) instead of a file.
    public init(path: String?) throws {
        self.path = path
        if let path {
            do {
                file = try AppendFile(path: path, what: "the audit log")
            } catch {
                throw AdminSocketErrorText("audit log \(path): \(SocketError.text(error.errno))")
            }
        } else {
            file = nil
        }
    }

    func record(peer: AdminPeer, command: String, generationBefore: UInt64, generationAfter: UInt64,
                old: [String: String], new: [String: String]) {
        let obj = JSONValue.object([
            ("time", .double(WallClock.seconds())),
            ("uid", .int(Int64(peer.uid))), ("pid", .int(Int64(peer.pid))),
            ("command", .string(command)),
            ("generation_before", .int(Int64(generationBefore))), ("generation_after", .int(Int64(generationAfter))),
            ("old", .object(old.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("new", .object(new.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
        ])
        let line = obj.encoded()
        if let file {
            _ = file.write(line + "\n")   // as before: a failed audit write is not reported
        } else {
            Log.info("audit \(line)")
        }
    }
}

public struct AdminSocketErrorText: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
