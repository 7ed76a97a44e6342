import HTTP1

/// Test strings are written as Latin-1 so that obs-text bytes (0x80-0xFF) can be spelled
/// as "\u{80}"..."\u{FF}": every scalar becomes exactly one byte.
func latin1(_ s: String) -> [UInt8] {
    s.unicodeScalars.map { scalar in
        precondition(scalar.value < 256, "test strings must be Latin-1")
        return UInt8(scalar.value)
    }
}

/// A parse outcome plus accessors that turn offsets back into Strings (tests only).
struct Parsed {
    var result: HeadParseResult
    var head: MessageHead
    var raw: [UInt8]

    func text(_ start: Int32, _ end: Int32) -> String {
        String(decoding: raw[Int(start)..<Int(end)], as: UTF8.self)
    }

    var methodText: String { text(head.methodStart, head.methodEnd) }
    var target: String { text(head.targetStart, head.targetEnd) }
    var reason: String { text(head.reasonStart, head.reasonEnd) }
    func name(_ i: Int) -> String { text(head.fields[i].nameStart, head.fields[i].nameEnd) }
    func value(_ i: Int) -> String { text(head.fields[i].valueStart, head.fields[i].valueEnd) }
    func valueBytes(_ i: Int) -> [UInt8] { Array(raw[Int(head.fields[i].valueStart)..<Int(head.fields[i].valueEnd)]) }

    /// Index of the first field whose name matches case-insensitively.
    func index(of name: String) -> Int? {
        head.fields.indices.first { self.name($0).lowercased() == name.lowercased() }
    }
}

func parseRequest(_ raw: [UInt8], limits: HTTPLimits = .init()) -> Parsed {
    var head = MessageHead()
    let r = raw.withUnsafeBytes { HTTPHeadParser(limits: limits).parseRequest($0, into: &head) }
    return Parsed(result: r, head: head, raw: raw)
}

func parseRequest(_ s: String, limits: HTTPLimits = .init()) -> Parsed {
    parseRequest(latin1(s), limits: limits)
}

func parseResponse(_ s: String, method: HTTPMethod = .get) -> Parsed {
    let raw = latin1(s)
    var head = MessageHead()
    let r = raw.withUnsafeBytes { HTTPHeadParser().parseResponse($0, requestMethod: method, into: &head) }
    return Parsed(result: r, head: head, raw: raw)
}

/// A table row: input text (Latin-1) and what it should produce. Its description keeps
/// parameterised test output readable.
struct Case<Expected: Sendable>: Sendable, CustomStringConvertible {
    var input: String
    var expected: Expected
    var note: String

    init(_ input: String, _ expected: Expected, _ note: String = "") {
        self.input = input
        self.expected = expected
        self.note = note
    }

    var description: String {
        let shown = input.unicodeScalars.map { s -> String in
            switch s.value {
            case 0x0D: return "\\r"
            case 0x0A: return "\\n"
            case 0x09: return "\\t"
            case 0..<0x20, 0x7F...: return "\\x" + String(s.value, radix: 16)
            default: return String(s)
            }
        }.joined()
        return note.isEmpty ? shown : "\(note): \(shown)"
    }
}
