import HTTP1
import Testing

@Suite struct FindHeadEndTests {
    func find(_ s: String, from: Int = 0) -> Int? {
        latin1(s).withUnsafeBytes { HTTPHeadParser().findHeadEnd($0, from: from) }
    }

    @Test(arguments: [
        Case("GET / HTTP/1.1\r\nHost: h\r\n\r\n", Optional(27)),
        Case("GET / HTTP/1.1\r\nHost: h\r\n\r\nbody\r\n\r\n", Optional(27), "stops at the first blank line"),
        Case("GET / HTTP/1.1\n\n", Optional(16), "bare LF lines"),
        Case("GET / HTTP/1.1\r\n\n", Optional(17), "CRLF LF"),
        Case("GET / HTTP/1.1\n\r\n", Optional(17), "LF CRLF"),
        Case("\r\n\r\n", Optional(4)),
        Case("GET / HTTP/1.1\r\nHost: h\r\n\r", nil),
        Case("GET / HTTP/1.1\r\nHost: h\r\n", nil),
        Case("GET / HTTP/1.1\r\nA: b\r\r\n", nil, "CR CR is not a blank line"),
        Case("", nil),
        Case("\n", nil),
    ])
    func endDetection(_ c: Case<Int?>) {
        #expect(find(c.input) == c.expected)
    }

    @Test func fromBeyondTheEndIsNil() {
        #expect(find("GET / HTTP/1.1\r\n\r\n", from: 100) == nil)
        #expect(find("GET / HTTP/1.1\r\n\r\n", from: -5) == 18, "negative from is clamped")
    }

    /// Simulates a peer that sends in pieces of `step` bytes, with the caller resuming at
    /// previous length - 3 each time, as documented.
    func feedInPieces(_ raw: [UInt8], step: Int) -> (end: Int?, bytesWhenFound: Int) {
        let parser = HTTPHeadParser()
        var have = 0
        while have < raw.count {
            let previous = have
            have = min(raw.count, have + step)
            let end = raw.withUnsafeBytes {
                parser.findHeadEnd(UnsafeRawBufferPointer(rebasing: $0[..<have]), from: max(previous - 3, 0))
            }
            if let end { return (end, have) }
        }
        return (nil, have)
    }

    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\nbody",
        "GET / HTTP/1.1\nHost: h\n\nbody",
        "GET / HTTP/1.1\r\nHost: h\r\n\nbody",
        "GET / HTTP/1.1\r\nHost: h\n\r\nbody",
    ])
    func resumesAtEverySplit(_ text: String) {
        let raw = latin1(text)
        let expected = raw.withUnsafeBytes { HTTPHeadParser().findHeadEnd($0, from: 0) }!
        for step in 1...raw.count {
            let (end, have) = feedInPieces(raw, step: step)
            #expect(end == expected, "step \(step)")
            #expect(have >= expected && have - step < expected, "found as soon as the bytes arrived (step \(step))")
        }
        // Two pieces split at every position.
        for split in 0...raw.count {
            let first = raw.withUnsafeBytes { HTTPHeadParser().findHeadEnd(UnsafeRawBufferPointer(rebasing: $0[..<split]), from: 0) }
            let second = raw.withUnsafeBytes { HTTPHeadParser().findHeadEnd($0, from: max(split - 3, 0)) }
            #expect((first ?? second) == expected, "split \(split)")
        }
    }

    @Test func byteByByteMatchesParse() {
        let raw = latin1("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
        let (end, have) = feedInPieces(raw, step: 1)
        #expect(end == raw.count - 3)
        #expect(have == raw.count - 3)
        let p = parseRequest(Array(raw[..<end!]))
        #expect(p.result == .complete)
        #expect(p.head.headLength == end)
    }

    @Test func bareLFHeadIsFoundSoParseCanRejectIt() {
        let raw = latin1("GET / HTTP/1.1\nHost: h\n\n")
        let end = raw.withUnsafeBytes { HTTPHeadParser().findHeadEnd($0, from: 0) }
        #expect(end == raw.count)
        #expect(parseRequest(raw).result == .error(.bareLF))
    }

    @Test func longHeadAcrossManyScanWords() {
        var s = "GET / HTTP/1.1\r\n"
        for i in 0..<200 { s += "X-Header-\(i): \(String(repeating: "v", count: i % 23))\r\n" }
        s += "\r\n"
        let raw = latin1(s)
        #expect(raw.withUnsafeBytes { HTTPHeadParser().findHeadEnd($0, from: 0) } == raw.count)
        #expect(raw.withUnsafeBytes { HTTPHeadParser().findHeadEnd($0, from: raw.count - 4) } == raw.count)
    }
}
