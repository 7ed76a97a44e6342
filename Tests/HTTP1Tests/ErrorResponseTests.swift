import HTTP1
import Testing

@Suite struct ErrorResponseTests {
    @Test func plain400() {
        let expected = "HTTP/1.1 400 Bad Request\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: 16\r\n"
            + "Connection: close\r\n"
            + "Cache-Control: no-store\r\n"
            + "\r\n"
            + "400 Bad Request\n"
        #expect(ErrorResponse.bytes(status: 400) == latin1(expected))
    }

    @Test func withDetail() {
        let bytes = ErrorResponse.bytes(status: 400, detail: "both Content-Length and Transfer-Encoding")
        let body = "400 Bad Request: both Content-Length and Transfer-Encoding\n"
        #expect(bytes.suffix(body.utf8.count) == latin1(body)[...])
        #expect(String(decoding: bytes, as: UTF8.self).contains("Content-Length: \(body.utf8.count)\r\n"))
    }

    /// Every response must be something our own strict parser accepts, with the advertised body.
    @Test(arguments: [400, 403, 404, 405, 408, 413, 414, 417, 429, 431, 500, 501, 502, 503, 504, 505])
    func parsesBackStrictly(_ status: Int) {
        for detail: StaticString? in [nil, "some detail"] {
            let bytes = ErrorResponse.bytes(status: status, detail: detail)
            var head = MessageHead()
            let r = bytes.withUnsafeBytes { HTTPHeadParser().parseResponse($0, requestMethod: .get, into: &head) }
            #expect(r == .complete)
            #expect(head.status == status)
            #expect(!head.keepAlive)
            #expect(head.framing == .contentLength(UInt64(bytes.count - head.headLength)))
            let reason = String(decoding: bytes[Int(head.reasonStart)..<Int(head.reasonEnd)], as: UTF8.self)
            #expect(reason == ErrorResponse.reasonPhrase(status).description)
            let body = String(decoding: bytes[head.headLength...], as: UTF8.self)
            #expect(body == "\(status) \(reason)" + (detail.map { ": \($0)" } ?? "") + "\n")
        }
    }

    @Test func precomputedResponsesAreStable() {
        for status in [400, 408, 413, 431, 502, 503, 504, 505] {
            #expect(ErrorResponse.bytes(status: status) == ErrorResponse.bytes(status: status))
            #expect(ErrorResponse.bytes(status: status).starts(with: latin1("HTTP/1.1 \(status) ")))
        }
    }

    @Test func perErrorResponses() {
        for e in HTTPParseError.allCases {
            let bytes = ErrorResponse.bytes(for: e)
            #expect(bytes == ErrorResponse.bytes(status: e.status, detail: e.reason), "\(e)")
        }
        let tooLarge = String(decoding: ErrorResponse.bytes(for: .headTooLarge), as: UTF8.self)
        #expect(tooLarge.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(tooLarge.hasSuffix("\r\n\r\n431 Request Header Fields Too Large: header section too large\n"))
    }

    @Test(arguments: [
        Case("Continue", 100), Case("Switching Protocols", 101), Case("OK", 200), Case("No Content", 204),
        Case("Not Modified", 304), Case("Bad Request", 400), Case("Forbidden", 403), Case("Not Found", 404),
        Case("Method Not Allowed", 405), Case("Request Timeout", 408), Case("Content Too Large", 413),
        Case("URI Too Long", 414), Case("Expectation Failed", 417), Case("Too Many Requests", 429),
        Case("Request Header Fields Too Large", 431), Case("Internal Server Error", 500),
        Case("Not Implemented", 501), Case("Bad Gateway", 502), Case("Service Unavailable", 503),
        Case("Gateway Timeout", 504), Case("HTTP Version Not Supported", 505), Case("Unknown", 299),
    ])
    func reasonPhrases(_ c: Case<Int>) {
        #expect(ErrorResponse.reasonPhrase(c.expected).description == c.input)
    }
}
