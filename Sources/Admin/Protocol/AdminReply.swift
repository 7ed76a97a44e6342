/// The two reply shapes every command uses, so `ok` is always the first field.
public enum AdminReply {
    /// `{"ok":true, ...fields}`
    public static func ok(_ fields: [(String, JSONValue)] = []) -> JSONValue {
        .object([("ok", .bool(true))] + fields)
    }

    /// `{"ok":false,"code":...,"error":...}`
    public static func error(_ e: AdminError) -> JSONValue {
        .object([("ok", .bool(false)), ("code", .string(e.code)), ("error", .string(e.message))])
    }

    /// The reply to `help`: every command's syntax, from the parser's own table.
    public static func help() -> JSONValue {
        ok([("commands", .array(AdminCommand.usage.map { .string($0) }))])
    }

    /// Whether `reply` says ok:true.
    public static func isOK(_ reply: JSONValue) -> Bool { reply["ok"]?.boolValue == true }
}
