import HTTP1
import Testing

/// Every strict-parsing rule, one malformed input per row, with the exact error expected.
/// Rows are whole heads (including the final blank line) unless noted.
@Suite struct RequestErrorTests {
    static let host = "Host: h\r\n"

    @Test(arguments: [
        Case("GET  / HTTP/1.1\r\n\r\n", HTTPParseError.badRequestLine, "double SP after method"),
        Case("GET /  HTTP/1.1\r\n\r\n", .badRequestLine, "double SP after target"),
        Case(" GET / HTTP/1.1\r\n\r\n", .badRequestLine, "leading SP"),
        Case("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequestLine, "leading empty line"),
        Case("GET / HTTP/1.1 \r\n\r\n", .badRequestLine, "trailing SP"),
        Case("GET /\r\n\r\n", .badRequestLine, "HTTP/0.9 style"),
        Case("GET HTTP/1.1\r\n\r\n", .badRequestLine, "missing target"),
        Case("GET / HTTP/1.1 extra\r\n\r\n", .badRequestLine, "extra token"),
        Case("GET\t/ HTTP/1.1\r\n\r\n", .invalidCharacter, "HTAB as separator"),
        Case("G(T / HTTP/1.1\r\n\r\n", .badRequestLine, "non-token method"),
        Case("GET /\u{80} HTTP/1.1\r\n\r\n", .badRequestLine, "raw non-ASCII target"),
        Case("GET / http/1.1\r\n\r\n", .badRequestLine, "lowercase version"),
        Case("GET / HTTP/1\r\n\r\n", .badRequestLine, "version without minor"),
        Case("GET / HTTP/1.10\r\n\r\n", .badRequestLine, "three-digit version"),
        Case("GET / HTTP/11.1\r\n\r\n", .badRequestLine, "two-digit major"),
        Case("GET / HTTP/1,1\r\n\r\n", .badRequestLine, "comma in version"),
        Case("GET / FTP/1.1\r\n\r\n", .badRequestLine, "wrong protocol"),
        Case("HTTP/1.1 200 OK\r\n\r\n", .badRequestLine, "a status line"),
        Case("GET / HTTP/2.0\r\nHost: h\r\n\r\n", .unsupportedVersion, "2.0"),
        Case("GET / HTTP/1.2\r\nHost: h\r\n\r\n", .unsupportedVersion, "1.2"),
        Case("GET / HTTP/0.9\r\n\r\n", .unsupportedVersion, "0.9"),
        Case("GET / HTTP/3.1\r\n\r\n", .unsupportedVersion, "3.1"),
    ])
    func requestLine(_ c: Case<HTTPParseError>) {
        #expect(parseRequest(c.input).result == .error(c.expected))
    }

    @Test(arguments: [
        // Bare CR anywhere.
        Case("GET / HTTP/1.1\rX\n\r\n", HTTPParseError.bareCR, "request line end"),
        Case("GET /\ra HTTP/1.1\r\n\r\n", .bareCR, "in target"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nA: b\rc\r\n\r\n", .bareCR, "in value"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nA: b\r\r\n\r\n", .bareCR, "CR CR LF"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nNa\rme: x\r\n\r\n", .bareCR, "in name"),
        Case("GET / HTTP/1.1\r\nHost: h\r\n\rX\r\n\r\n", .bareCR, "at line start"),
        Case("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", .bareCR, "in the final empty line"),
        // Bare LF line endings.
        Case("GET / HTTP/1.1\nHost: h\n\n", .bareLF, "request line"),
        Case("GET / HTTP/1.1\r\nHost: h\n\r\n", .bareLF, "field line"),
        Case("GET / HTTP/1.1\r\nHost: h\r\n\n", .bareLF, "final empty line"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nX\n\r\n", .bareLF, "in a name"),
        Case("GET /\n HTTP/1.1\r\n\r\n", .bareLF, "in target"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nA: b\nc\r\n\r\n", .bareLF, "inside a value"),
        // Control characters.
        Case("GET / HTTP/1.1\r\nHost: h\r\nA: b\u{0}c\r\n\r\n", .invalidCharacter, "NUL in value"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nA: \u{0}\r\n\r\n", .invalidCharacter, "NUL as value"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nA: b\u{7F}\r\n\r\n", .invalidCharacter, "DEL in value"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nA: b\u{1}\r\n\r\n", .invalidCharacter, "SOH in value"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nA: 0123456789\u{1B}abc\r\n\r\n", .invalidCharacter, "ESC mid-word"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nA: b\u{B}\r\n\r\n", .invalidCharacter, "VT in value"),
        Case("GET / HTTP/1.1\r\nHost: h\r\nA\u{0}: b\r\n\r\n", .invalidCharacter, "NUL in name"),
        Case("GET / HTTP/1.1\r\nHost: h\r\n\u{0}A: b\r\n\r\n", .invalidCharacter, "NUL at line start"),
        Case("GET /\u{0} HTTP/1.1\r\n\r\n", .invalidCharacter, "NUL in target"),
        Case("GE\u{7F}T / HTTP/1.1\r\n\r\n", .invalidCharacter, "DEL in method"),
        Case("GET / HTTP/1.1\u{0}\r\n\r\n", .invalidCharacter, "NUL after version"),
    ])
    func lineEndingsAndCharacters(_ c: Case<HTTPParseError>) {
        #expect(parseRequest(c.input).result == .error(c.expected))
    }

    @Test(arguments: [
        Case(": x\r\n", HTTPParseError.badHeaderName, "empty name"),
        Case("Na(me: x\r\n", .badHeaderName, "separator in name"),
        Case("Na\"me: x\r\n", .badHeaderName, "quote in name"),
        Case("N\u{E9}me: x\r\n", .badHeaderName, "non-ASCII in name"),
        Case("Name\r\n", .badHeaderName, "missing colon"),
        Case("Name x\r\n", .whitespaceBeforeColon, "no colon, SP after name"),
        Case("Host : h\r\n", .whitespaceBeforeColon, "SP before colon"),
        Case("Content-Length\t: 0\r\n", .whitespaceBeforeColon, "HTAB before colon"),
        Case("A: b\r\n c\r\n", .obsFold, "SP continuation"),
        Case("A: b\r\n\tc\r\n", .obsFold, "HTAB continuation"),
        Case(" A: b\r\n", .obsFold, "whitespace before the first field"),
    ])
    func fieldSyntax(_ c: Case<HTTPParseError>) {
        #expect(parseRequest("GET / HTTP/1.1\r\n" + Self.host + c.input + "\r\n").result == .error(c.expected))
    }

    @Test(arguments: [
        Case("Content-Length: \r\n", HTTPParseError.badContentLength, "empty"),
        Case("Content-Length: abc\r\n", .badContentLength, "letters"),
        Case("Content-Length: -1\r\n", .badContentLength, "negative"),
        Case("Content-Length: +1\r\n", .badContentLength, "plus sign"),
        Case("Content-Length: 1 2\r\n", .badContentLength, "space inside"),
        Case("Content-Length: 1.5\r\n", .badContentLength, "decimal point"),
        Case("Content-Length: 0x10\r\n", .badContentLength, "hex"),
        Case("Content-Length: 1,\r\n", .badContentLength, "trailing comma"),
        Case("Content-Length: ,1\r\n", .badContentLength, "leading comma"),
        Case("Content-Length: 1,,1\r\n", .badContentLength, "empty element"),
        Case("Content-Length: 4611686018427387905\r\n", .badContentLength, "2^62 + 1"),
        Case("Content-Length: 18446744073709551616\r\n", .badContentLength, "2^64"),
        Case("Content-Length: 99999999999999999999999\r\n", .badContentLength, "huge"),
        Case("Content-Length: 5\r\nContent-Length: x\r\n", .badContentLength, "second field bad"),
        Case("Content-Length: 1, 2\r\n", .conflictingContentLength, "list"),
        Case("Content-Length: 1\r\nContent-Length: 2\r\n", .conflictingContentLength, "repeated"),
        Case("Content-Length: 3, 3\r\nContent-Length: 4\r\n", .conflictingContentLength, "list then field"),
        Case("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", .contentLengthWithTransferEncoding, "CL first"),
        Case("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", .contentLengthWithTransferEncoding, "TE first"),
        Case("Transfer-Encoding: gzip\r\n", .transferEncodingNotChunked, "only gzip"),
        Case("Transfer-Encoding: chunked, gzip\r\n", .transferEncodingNotChunked, "chunked not last"),
        Case("Transfer-Encoding: chunked, chunked\r\n", .transferEncodingNotChunked, "chunked twice"),
        Case("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", .transferEncodingNotChunked,
             "chunked in two fields"),
        Case("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", .transferEncodingNotChunked,
             "second field after chunked"),
        Case("Transfer-Encoding: \r\n", .transferEncodingNotChunked, "empty"),
        Case("Transfer-Encoding: xchunked\r\n", .transferEncodingNotChunked, "lookalike"),
        Case("Transfer-Encoding: chunked;q=1\r\n", .transferEncodingNotChunked, "with a parameter"),
        Case("Transfer-Encoding: identity\r\n", .transferEncodingNotChunked, "identity"),
    ])
    func framing(_ c: Case<HTTPParseError>) {
        #expect(parseRequest("POST / HTTP/1.1\r\n" + Self.host + c.input + "\r\n").result == .error(c.expected))
    }

    @Test func transferEncodingInHTTP10() {
        #expect(parseRequest("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").result
            == .error(.badTransferEncoding))
        #expect(parseRequest("POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n").result
            == .error(.badTransferEncoding))
    }

    @Test func host() {
        #expect(parseRequest("GET / HTTP/1.1\r\n\r\n").result == .error(.missingHost))
        #expect(parseRequest("GET / HTTP/1.1\r\nX-Host: h\r\n\r\n").result == .error(.missingHost))
        #expect(parseRequest("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").result == .error(.multipleHost))
        #expect(parseRequest("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n").result == .error(.multipleHost))
        let empty = parseRequest("GET / HTTP/1.1\r\nHost:\r\n\r\n")
        #expect(empty.result == .complete, "an empty Host is valid (RFC 9112 3.2)")
        #expect(empty.head.hostField == 0)
    }

    @Test func tooManyFields() {
        let limits = HTTPLimits(maxHeadBytes: 32768, maxFields: 3)
        #expect(parseRequest("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits).result == .complete)
        #expect(parseRequest("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits).result
            == .error(.tooManyFields))
        // Reported as soon as the extra field is complete, without waiting for the end of the head.
        #expect(parseRequest("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n", limits: limits).result
            == .error(.tooManyFields))
    }

    @Test func headTooLarge() {
        let limits = HTTPLimits(maxHeadBytes: 64)
        let long = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + String(repeating: "a", count: 60) + "\r\n\r\n"
        #expect(parseRequest(long, limits: limits).result == .error(.headTooLarge), "complete but too long")
        let prefix = latin1(long)
        #expect(parseRequest(Array(prefix[..<64]), limits: limits).result == .incomplete, "could still end in time")
        #expect(parseRequest(Array(prefix[..<65]), limits: limits).result == .error(.headTooLarge))
        let longLine = "GET /" + String(repeating: "a", count: 100)
        #expect(parseRequest(longLine, limits: limits).result == .error(.headTooLarge), "unterminated request line")
        let longTarget = latin1(String(repeating: "a", count: 40_000))
        #expect(parseRequest(longTarget).result == .error(.headTooLarge), "default limit is 32768")
    }

    @Test func errorsInCompleteLinesAreReportedBeforeTheEnd() {
        #expect(parseRequest("GET / HTTP/1.1\r\nBad Name: x\r\n").result == .error(.whitespaceBeforeColon))
        #expect(parseRequest("GET / HTTP/1.1\nHo").result == .error(.bareLF))
        #expect(parseRequest("GET / HTTP/1.1\r\nA: \u{0}").result == .error(.invalidCharacter))
        // A CR at the very end may still be followed by LF: wait.
        #expect(parseRequest("GET / HTTP/1.1\r\nA: b\r").result == .incomplete)
    }

    @Test func statusMapping() {
        for e in HTTPParseError.allCases {
            let expected = switch e {
            case .headTooLarge, .tooManyFields: 431
            case .unsupportedVersion: 505
            default: 400
            }
            #expect(e.status == expected, "\(e)")
            #expect(e.reason.utf8CodeUnitCount > 3)
        }
        #expect(HTTPParseError.contentLengthWithTransferEncoding.reason.description
            == "both Content-Length and Transfer-Encoding")
    }
}
