import HTTP1
import Testing

@Suite struct ResponseParserTests {
    @Test func okWithContentLength() {
        let raw = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
        let p = parseResponse(raw)
        #expect(p.result == .complete)
        #expect(p.head.status == 200)
        #expect(p.reason == "OK")
        #expect(p.head.versionMinor == 1)
        #expect(p.head.framing == .contentLength(5))
        #expect(p.head.keepAlive)
        #expect(p.head.headLength == raw.utf8.count - 5)
        #expect(p.head.fields.count == 2)
        #expect(p.head.method == .other, "request fields stay at their reset values")
    }

    @Test(arguments: [
        Case("HTTP/1.1 200 OK\r\n", "OK"),
        Case("HTTP/1.1 404 Not Found\r\n", "Not Found"),
        Case("HTTP/1.1 200\r\n", "", "no SP after the code"),
        Case("HTTP/1.1 200 \r\n", "", "empty reason"),
        Case("HTTP/1.1 200 Ok \u{E9}\tthen\r\n", "Ok \u{E9}\tthen", "obs-text and HTAB"),
        Case("HTTP/1.0 599 Whatever\r\n", "Whatever"),
        Case("HTTP/1.1 100 Continue\r\n", "Continue"),
    ])
    func statusLines(_ c: Case<String>) {
        let p = parseResponse(c.input + "Content-Length: 0\r\n\r\n")
        #expect(p.result == .complete)
        #expect(Array(p.raw[Int(p.head.reasonStart)..<Int(p.head.reasonEnd)]) == latin1(c.expected))
        #expect(p.head.status == Int(c.input.dropFirst(9).prefix(3))!)
    }

    @Test(arguments: [
        Case("HTTP/1.1 99 Low\r\n\r\n", HTTPParseError.badStatusLine),
        Case("HTTP/1.1 099 Low\r\n\r\n", .badStatusLine),
        Case("HTTP/1.1 600 High\r\n\r\n", .badStatusLine),
        Case("HTTP/1.1 20 OK\r\n\r\n", .badStatusLine),
        Case("HTTP/1.1 2000 OK\r\n\r\n", .badStatusLine),
        Case("HTTP/1.1  200 OK\r\n\r\n", .badStatusLine),
        Case("HTTP/1.1 2x0 OK\r\n\r\n", .badStatusLine),
        Case("HTTP/1.1\r\n\r\n", .badStatusLine),
        Case("ICY 200 OK\r\n\r\n", .badStatusLine),
        Case("http/1.1 200 OK\r\n\r\n", .badStatusLine),
        Case("HTTP/2.0 200 OK\r\n\r\n", .unsupportedVersion),
        Case("HTTP/1.2 200 OK\r\n\r\n", .unsupportedVersion),
        Case("HTTP/1.1 200 OK\n\r\n", .bareLF),
        Case("HTTP/1.1 200\n\n", .bareLF),
        Case("HTTP/1.1 200 OK\rX\r\n\r\n", .bareCR),
        Case("HTTP/1.1 200 O\u{0}K\r\n\r\n", .invalidCharacter),
        Case("HTTP/1.1 200 OK\r\nA : b\r\n\r\n", .whitespaceBeforeColon),
        Case("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", .obsFold),
        Case("HTTP/1.1 200 OK\r\n: b\r\n\r\n", .badHeaderName),
        Case("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", .badContentLength),
        Case("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", .conflictingContentLength),
        Case("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
             .contentLengthWithTransferEncoding),
        Case("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
             .contentLengthWithTransferEncoding),
        Case("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", .transferEncodingNotChunked),
    ])
    func malformed(_ c: Case<HTTPParseError>) {
        #expect(parseResponse(c.input).result == .error(c.expected))
    }

    @Test(arguments: [
        Case("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", BodyFraming.chunked),
        Case("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", .chunked),
        Case("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", .untilClose, "TE not ending in chunked"),
        Case("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .untilClose),
        Case("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .untilClose, "TE in HTTP/1.0"),
        Case("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", .contentLength(10)),
        Case("HTTP/1.1 200 OK\r\nContent-Length: 10, 10\r\n\r\n", .contentLength(10)),
        Case("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", .untilClose, "no framing headers"),
        Case("HTTP/1.0 200 OK\r\n\r\n", .untilClose),
        Case("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", .none),
        Case("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", .none),
        Case("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", .none),
        Case("HTTP/1.1 100 Continue\r\n\r\n", .none),
        Case("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", .none),
        Case("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", .none),
        Case("HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", .contentLength(0)),
        Case("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n", .contentLength(3)),
    ])
    func framingForGet(_ c: Case<BodyFraming>) {
        let p = parseResponse(c.input)
        #expect(p.result == .complete)
        #expect(p.head.framing == c.expected)
        if c.expected == .untilClose { #expect(!p.head.keepAlive, "until-close can never be reused") }
    }

    @Test func framingDependsOnTheRequestMethod() {
        let cl = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
        #expect(parseResponse(cl, method: .head).head.framing == .none)
        #expect(parseResponse(cl, method: .get).head.framing == .contentLength(1234))
        #expect(parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", method: .head).head.framing
            == .none)
        #expect(parseResponse("HTTP/1.1 200 OK\r\n\r\n", method: .head).head.framing == .none)
        #expect(parseResponse("HTTP/1.1 200 Connection established\r\n\r\n", method: .connect).head.framing == .none)
        #expect(parseResponse("HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n", method: .connect).head.framing
            == .contentLength(2))
    }

    @Test func headResponseKeepsAlive() {
        let p = parseResponse("HTTP/1.1 200 OK\r\n\r\n", method: .head)
        #expect(p.head.keepAlive)
    }

    @Test(arguments: [
        Case("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
        Case("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false),
        Case("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        Case("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", true),
        Case("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", false, "until close"),
        Case("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true),
    ])
    func keepAlive(_ c: Case<Bool>) {
        let p = parseResponse(c.input)
        #expect(p.result == .complete)
        #expect(p.head.keepAlive == c.expected)
    }

    @Test func responseHeaderRulesWithoutHost() {
        let p = parseResponse(
            "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\nConnection: X-Internal\r\nX-Internal: 1\r\n"
                + "Proxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
        #expect(p.result == .complete, "no Host rules for responses")
        #expect(p.head.hostField == 0)
        #expect(p.head.fields.map(\.hopByHop) == [false, false, true, true, true, false])
    }

    @Test func switchingProtocols() {
        let p = parseResponse("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        #expect(p.result == .complete)
        #expect(p.head.status == 101)
        #expect(p.head.connectionUpgrade)
        #expect(p.head.upgradeField == 1)
    }

    @Test func incompleteResponses() {
        let raw = latin1("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        var head = MessageHead()
        for n in 0..<raw.count {
            let r = Array(raw[..<n]).withUnsafeBytes {
                HTTPHeadParser().parseResponse($0, requestMethod: .get, into: &head)
            }
            #expect(r == .incomplete, "prefix \(n)")
        }
    }
}
