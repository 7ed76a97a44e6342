/// One line of the config that has tokens, after comments are stripped.
struct ConfigLine {
    /// 1-based.
    var number: Int
    var tokens: [String]
}

/// Splits config text into lines and tokens. Works on UTF-8 bytes because
/// Swift's `Character` treats "\r\n" as one grapheme, which would hide line
/// breaks in CRLF files. `{` and `}` are always tokens of their own (so
/// `pool blue{` works); `#` starts a comment anywhere on a line.
enum ConfigLexer {
    static func lines(_ text: String) -> [ConfigLine] {
        var text = text
        return text.withUTF8 { buf in
            var result: [ConfigLine] = []
            var lineNumber = 1
            var tokens: [String] = []
            var tokenStart = -1
            var inComment = false
            var i = 0
            // A UTF-8 byte order mark would otherwise glue itself to the first directive.
            if buf.count >= 3, buf[0] == 0xEF, buf[1] == 0xBB, buf[2] == 0xBF { i = 3 }

            func endToken(_ end: Int) {
                if tokenStart >= 0 {
                    tokens.append(String(decoding: UnsafeBufferPointer(rebasing: buf[tokenStart..<end]), as: UTF8.self))
                    tokenStart = -1
                }
            }
            func endLine() {
                if !tokens.isEmpty {
                    result.append(ConfigLine(number: lineNumber, tokens: tokens))
                    tokens = []
                }
                inComment = false
            }

            while i < buf.count {
                let c = buf[i]
                if c == UInt8(ascii: "\n") {
                    endToken(i)
                    endLine()
                    lineNumber += 1
                } else if inComment {
                    // skip
                } else if c == UInt8(ascii: "#") {
                    endToken(i)
                    inComment = true
                } else if c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0B || c == 0x0C {
                    endToken(i)
                } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "}") {
                    endToken(i)
                    tokens.append(c == UInt8(ascii: "{") ? "{" : "}")
                } else if tokenStart < 0 {
                    tokenStart = i
                }
                i += 1
            }
            endToken(buf.count)
            endLine()
            return result
        }
    }
}
