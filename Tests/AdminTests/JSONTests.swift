import Admin
import Testing

@Suite struct JSONTests {
    @Test func encodesCompactlyInOrder() {
        let v: JSONValue = ["ok": true, "b": [1, 2.5, nil, "x", false], "a": [:], "e": []]
        #expect(v.encoded() == #"{"ok":true,"b":[1,2.5,null,"x",false],"a":{},"e":[]}"#)
    }

    @Test func escapesStrings() {
        let s: JSONValue = .string("q\"b\\s/\n\r\t\u{1}\u{1F}\u{7F} é😀")
        #expect(s.encoded() == #""q\"b\\s/\u000a\u000d\u0009\u0001\u001f\u007f é😀""#)
        let keyed: JSONValue = .object([("a\"b", 1)])
        #expect(keyed.encoded() == #"{"a\"b":1}"#)
        #expect(!s.encoded().contains("\n"))
    }

    @Test func encodesDoubles() {
        let cases: [(Double, String)] = [
            (12.3, "12.3"), (1, "1.0"), (0, "0.0"), (-0.0, "0.0"), (0.0001, "0.0"), (-0.0004, "0.0"), (-2.5, "-2.5"),
            (1.2346, "1.235"), (98.5, "98.5"), (0.001, "0.001"), (123456.78951, "123456.79"),
            (.nan, "null"), (.infinity, "null"), (-.infinity, "null"), (1e20, "1e+20"),
        ]
        for (d, text) in cases {
            #expect(JSONValue.double(d).encoded() == text, "\(d)")
        }
        #expect(JSONValue.int(.max).encoded() == "9223372036854775807")
        #expect(JSONValue.int(.min).encoded() == "-9223372036854775808")
    }

    @Test func roundTrips() throws {
        let v: JSONValue = [
            "ok": true, "version": "0.1.0", "uptime_s": 12.3, "n": -7, "none": nil,
            "nested": ["a": [["x": 1.5], [], [:]], "s": "tab\there \u{0} \"quoted\" \\ 😀 \u{2028}"],
            "big": .int(.max), "small": .int(.min),
        ]
        let text = v.encoded()
        #expect(try JSONValue.parse(text) == v)
        #expect(try JSONValue.parse(text).encoded() == text)
    }

    @Test func parsesEscapesAndNumbers() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00 \u00e9 \/ \b\f\n\r\t \" \\""#) == .string("😀 é / \u{8}\u{C}\n\r\t \" \\"))
        #expect(try JSONValue.parse("  [0, -0, 1.5, 1e3, -2E-2, 9223372036854775807, 9223372036854775808]\n") ==
                [.int(0), .int(0), .double(1.5), .double(1000), .double(-0.02), .int(.max), .double(9223372036854775808)])
        #expect(try JSONValue.parse(#"{"a":{"b":[true,false,null]}}"#) == ["a": ["b": [true, false, nil]]])
        #expect(try JSONValue.parse("\"é😀\"") == "é😀")
    }

    @Test(arguments: [
        "", " ", "[1,]", "{\"a\":1,}", "01", "-", "1.", ".5", "+1", "1e", "1e+", "'a'", "{a:1}", "[1 2]", "1 2",
        "\"a\u{1}b\"", "\"a\nb\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"",
        "NaN", "Infinity", "-Infinity", "tru", "nul", "[1] // c", "/* c */ 1", "{\"a\" 1}", "{\"a\":}", "[", "{",
        "\"abc", "1e400", "[1]]", "{\"a\":1}}", "\u{FEFF}1",
    ])
    func rejectsNonJSON(_ text: String) {
        #expect(throws: JSONParseError.self, "\(text.debugDescription)") { try JSONValue.parse(text) }
    }

    @Test func limitsNesting() throws {
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        _ = try JSONValue.parse(ok)
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
    }

    @Test func errorsCarryTheOffset() {
        do {
            _ = try JSONValue.parse(#"{"a":[1,2,x]}"#)
            Issue.record("parsed")
        } catch let e as JSONParseError {
            #expect(e.offset == 10)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func equalityIsOrderedAndTyped() {
        #expect(JSONValue.object([("a", 1), ("b", 2)]) != .object([("b", 2), ("a", 1)]))
        #expect(JSONValue.object([("a", 1)]) != .object([("a", 1), ("a", 1)]))
        #expect(JSONValue.object([("a", [1, "x"])]) == .object([("a", [1, "x"])]))
        #expect(JSONValue.int(1) != .double(1))
        #expect(JSONValue.null != .bool(false))
    }

    @Test func accessors() {
        let v: JSONValue = ["i": 3, "d": 3.0, "f": 3.5, "s": "x", "b": true, "a": [1], "o": ["k": nil], "i": 4]
        #expect(v["i"]?.intValue == 3)   // the first of duplicate keys
        #expect(v["d"]?.intValue == 3)
        #expect(v["f"]?.intValue == nil)
        #expect(v["f"]?.doubleValue == 3.5)
        #expect(v["i"]?.doubleValue == 3)
        #expect(v["s"]?.stringValue == "x")
        #expect(v["s"]?.intValue == nil)
        #expect(v["b"]?.boolValue == true)
        #expect(v["a"]?.arrayValue == [1])
        #expect(v["o"]?.objectValue?.first?.0 == "k")
        #expect(v["o"]?["k"]?.isNull == true)
        #expect(v["missing"] == nil)
        #expect(v["a"]?["x"] == nil)
    }

    @Test func replyShapes() {
        #expect(AdminReply.ok().encoded() == #"{"ok":true}"#)
        #expect(AdminReply.ok([("split", ["blue": 90]), ("generation", 8)]).encoded() ==
                #"{"ok":true,"split":{"blue":90},"generation":8}"#)
        #expect(AdminReply.error(AdminError(code: "unknown_pool", message: "no pool 'x'")).encoded() ==
                #"{"ok":false,"code":"unknown_pool","error":"no pool 'x'"}"#)
        let help = AdminReply.help()
        #expect(help["commands"]?.arrayValue?.count == AdminCommand.usage.count)
        #expect(help["commands"]?.arrayValue?[2] == "split POOL=WEIGHT [POOL=WEIGHT...]")
        #expect(AdminReply.isOK(help))
        #expect(!AdminReply.isOK(["ok": "true"]))
    }
}
