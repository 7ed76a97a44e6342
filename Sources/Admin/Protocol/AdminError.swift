/// A refused command. `code` is part of the protocol (controllers branch on it, so codes never
/// change meaning); `message` is for humans and says what was expected.
public struct AdminError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// The stable codes. The first group comes from the parser and the socket server, the second
    /// from the proxy side.
    public enum Code {
        public static let unknownCommand = "unknown_command"
        public static let missingArgument = "missing_argument"
        public static let extraArgument = "extra_argument"
        public static let badArgument = "bad_argument"
        public static let badNumber = "bad_number"
        public static let badAddress = "bad_address"
        public static let lineTooLong = "line_too_long"
        public static let badEncoding = "bad_encoding"

        public static let unknownPool = "unknown_pool"
        public static let unknownServer = "unknown_server"
        public static let duplicateServer = "duplicate_server"
        public static let allZeroSplit = "all_zero_split"
        public static let notImplemented = "not_implemented"
        public static let generationConflict = "generation_conflict"
        public static let nothingToUndo = "nothing_to_undo"
        public static let `internal` = "internal"
    }
}
