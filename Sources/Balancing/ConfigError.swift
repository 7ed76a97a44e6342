/// A config problem with its location. `description` is "file:line: message",
/// the format editors and CI logs link to.
///
/// `line` is 1-based. Problems with the file as a whole (no `listen`, no
/// `pool`) use line 0, and then `description` is just "file: message".
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}

/// Quotes a config token for an error message. Control characters are
/// escaped and long tokens cut, because the input may be arbitrary bytes
/// and the message ends up in a terminal or a log line.
func quoted(_ token: some StringProtocol) -> String {
    var out = "'"
    var count = 0
    for scalar in token.unicodeScalars {
        if count == 60 {
            out += "..."
            break
        }
        count += 1
        switch scalar.value {
        case 0x20..<0x7F where scalar != "'" && scalar != "\\":
            out.unicodeScalars.append(scalar)
        case 0..<0x20, 0x7F..<0xA0, 0xFFFD:
            out += "\\u{\(String(scalar.value, radix: 16))}"
        case _ where scalar == "'" || scalar == "\\":
            out += "\\"
            out.unicodeScalars.append(scalar)
        default:
            out.unicodeScalars.append(scalar)
        }
    }
    return out + "'"
}
