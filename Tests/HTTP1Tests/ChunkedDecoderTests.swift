import HTTP1
import Testing

/// Result of running a decoder over a message delivered in pieces.
struct Decoded: Equatable {
    var payload: [UInt8] = []
    /// Absolute offset just past the byte that produced `.done`, if it came.
    var doneAt: Int? = nil
    var error: HTTPParseError? = nil
    var payloadBytes: UInt64 = 0
}

/// Feeds `raw` split at `cuts` (ascending offsets), looping on each piece as a proxy would.
/// Asserts the decoder's contract on every event: progress on non-empty input, counts
/// within the buffer, and nothing after done.
func decode(_ raw: [UInt8], cuts: [Int] = [], maxTrailerBytes: Int = 32768) -> Decoded {
    var decoder = ChunkedDecoder(maxTrailerBytes: maxTrailerBytes)
    var out = Decoded()
    let bounds = [0] + cuts + [raw.count]
    outer: for k in 0..<(bounds.count - 1) {
        var at = bounds[k]
        let end = bounds[k + 1]
        while at < end {
            let event = raw.withUnsafeBytes { decoder.decode(UnsafeRawBufferPointer(rebasing: $0[at..<end])) }
            switch event {
            case .data(let n):
                #expect(n >= 1 && n <= end - at)
                out.payload += raw[at..<(at + n)]
                at += n
            case .framing(let n):
                #expect(n >= 1 && n <= end - at)
                at += n
            case .done(let n):
                #expect(n >= 1 && n <= end - at)
                at += n
                out.doneAt = at
                #expect(decoder.isDone)
                break outer
            case .error(let e):
                out.error = e
                #expect(decoder.decode(UnsafeRawBufferPointer(start: nil, count: 0)) == .error(e), "sticky")
                break outer
            }
        }
    }
    out.payloadBytes = decoder.payloadBytes
    return out
}

@Suite struct ChunkedDecoderTests {
    static let sample = latin1(
        "5\r\nhello\r\n"
            + "1A;name=value;flag ; q=\"quoted \\\" \u{E9}str\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
            + "00003\r\n\r\n\r\r\n"   // payload may contain CR and LF bytes
            + "1\r\nZ\r\n"
            + "0;last\r\n"
            + "X-Checksum: abc\r\nX-Other:\tv \u{FF}\r\n"
            + "\r\n")
    static let samplePayload = latin1("hello" + "abcdefghijklmnopqrstuvwxyz" + "\r\n\r" + "Z")
    static let next = latin1("GET /next HTTP/1.1\r\n")

    @Test func whole() {
        let d = decode(Self.sample + Self.next)
        #expect(d.error == nil)
        #expect(d.payload == Self.samplePayload)
        #expect(d.doneAt == Self.sample.count, "done exactly at the end; the next request is untouched")
        #expect(d.payloadBytes == UInt64(Self.samplePayload.count))
    }

    @Test func byteByByte() {
        let d = decode(Self.sample, cuts: Array(1..<Self.sample.count))
        #expect(d.error == nil)
        #expect(d.payload == Self.samplePayload)
        #expect(d.doneAt == Self.sample.count)
    }

    @Test func splitAtEveryPosition() {
        for cut in 0...Self.sample.count {
            let d = decode(Self.sample + Self.next, cuts: [cut])
            #expect(d.error == nil, "cut \(cut)")
            #expect(d.payload == Self.samplePayload, "cut \(cut)")
            #expect(d.doneAt == Self.sample.count, "cut \(cut)")
        }
    }

    @Test func splitAtEveryPairOfPositions() {
        let n = Self.sample.count
        for a in 0...n {
            for b in a...n {
                let d = decode(Self.sample, cuts: [a, b])
                #expect(d.payload == Self.samplePayload && d.doneAt == n && d.error == nil, "cuts \(a), \(b)")
            }
        }
    }

    @Test func eventsAreOneKindAtATime() {
        var decoder = ChunkedDecoder()
        let raw = latin1("3\r\nabc\r\n0\r\n\r\nrest")
        var events: [ChunkedEvent] = []
        var at = 0
        while !decoder.isDone {
            let e = raw.withUnsafeBytes { decoder.decode(UnsafeRawBufferPointer(rebasing: $0[at...])) }
            events.append(e)
            switch e {
            case .data(let n), .framing(let n), .done(let n): at += n
            case .error: Issue.record("unexpected \(e)"); return
            }
        }
        #expect(events == [.framing(3), .data(3), .done(7)])
        #expect(at == raw.count - 4)
        #expect(raw.withUnsafeBytes { decoder.decode($0) } == .done(0), "nothing is consumed after done")
    }

    @Test func emptyBufferMakesNoProgress() {
        var decoder = ChunkedDecoder()
        #expect(decoder.decode(UnsafeRawBufferPointer(start: nil, count: 0)) == .framing(0))
        let d = latin1("2\r\n")
        #expect(d.withUnsafeBytes { decoder.decode($0) } == .framing(3))
        #expect(decoder.decode(UnsafeRawBufferPointer(start: nil, count: 0)) == .framing(0))
        #expect(latin1("hi").withUnsafeBytes { decoder.decode($0) } == .data(2))
        #expect(decoder.payloadBytes == 2)
        #expect(!decoder.isDone)
    }

    @Test func largestAcceptedChunkSize() {
        var decoder = ChunkedDecoder()
        let line = latin1("fffffffffffffff\r\n")   // 15 hex digits
        #expect(line.withUnsafeBytes { decoder.decode($0) } == .framing(line.count))
        let data = [UInt8](repeating: 7, count: 1000)
        #expect(data.withUnsafeBytes { decoder.decode($0) } == .data(1000))
        #expect(decoder.payloadBytes == 1000)
    }

    @Test(arguments: [
        "5;a\r\nhello\r\n0\r\n\r\n",
        "5 ;a\r\nhello\r\n0\r\n\r\n",
        "5\t; a = b\r\nhello\r\n0\r\n\r\n",
        "5;a=\"x y\"\r\nhello\r\n0\r\n\r\n",
        "5;a;b=c;d=\"\"\r\nhello\r\n0\r\n\r\n",
        "5;a=\"\\\"\\\\\"\r\nhello\r\n0\r\n\r\n",
        "5;a=\"\u{80}\u{FF}\"\r\nhello\r\n0\r\n\r\n",
        "5;a=\"b\" ;c\r\nhello\r\n0\r\n\r\n",
        "0005\r\nhello\r\n0000\r\n\r\n",
        "5\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0;x=1\r\nT: 1\r\nU:\r\n\r\n",
        "5\r\nhello\r\n0\r\n" + String(repeating: "T: 0123456789\r\n", count: 2) + "\r\n",
        "5;" + String(repeating: "e", count: 4095) + "\r\nhello\r\n0\r\n\r\n",
    ])
    func validVariants(_ text: String) {
        let raw = latin1(text)
        let d = decode(raw)
        #expect(d.error == nil)
        #expect(d.payload == latin1("hello"))
        #expect(d.doneAt == raw.count)
    }

    @Test(arguments: [
        Case("\r\n", HTTPParseError.badChunkSize, "empty size"),
        Case(";a\r\n", .badChunkSize, "extension without size"),
        Case("g\r\n", .badChunkSize, "not hex"),
        Case("-1\r\n", .badChunkSize, "sign"),
        Case("0x5\r\n", .badChunkSize, "0x prefix"),
        Case(" 5\r\n", .badChunkSize, "leading space"),
        Case("5 \r\n", .badChunkSize, "trailing space without extension"),
        Case("5,\r\n", .badChunkSize, "comma"),
        Case("1000000000000000\r\n", .chunkSizeTooLarge, "16 significant digits"),
        Case("ffffffffffffffff\r\n", .chunkSizeTooLarge, "2^64 - 1"),
        Case("5;\r\n", .badChunkExtension, "no name"),
        Case("5;=x\r\n", .badChunkExtension, "no name before ="),
        Case("5;a=\r\n", .badChunkExtension, "no value"),
        Case("5;a=\"x\r\n", .badChunkExtension, "unterminated quote"),
        Case("5;a b\r\n", .badChunkExtension, "two names"),
        Case("5;a=b c\r\n", .badChunkExtension, "two values"),
        Case("5;a \r\n", .badChunkExtension, "whitespace before CRLF"),
        Case("5;a=\"x\"y\r\n", .badChunkExtension, "junk after quoted value"),
        Case("5;a=\"\u{1}\"\r\n", .badChunkExtension, "CTL in quoted value"),
        Case("5;a(b\r\n", .badChunkExtension, "separator in name"),
        Case("5;" + String(repeating: "e", count: 4096) + "\r\n", .badChunkExtension, "longer than 4096"),
        Case("5\n", .bareLF, "size line"),
        Case("\n", .bareLF, "empty size line"),
        Case("5;a\n", .bareLF, "extension line"),
        Case("5;a=b\n", .bareLF, "extension value"),
        Case("5\rx", .bareCR, "size line"),
        Case("5\r\nhelloX", .badChunkTerminator, "junk after data"),
        Case("5\r\nhello\n", .badChunkTerminator, "LF after data"),
        Case("5\r\nhello\rX", .badChunkTerminator, "CR junk after data"),
        Case("5\r\nhello\r\r\n", .badChunkTerminator, "CR CR after data"),
        Case("5\r\nhello world\r\n", .badChunkTerminator, "data longer than size"),
        Case("0\r\nX: y\n\r\n", .bareLF, "trailer line"),
        Case("0\r\n\n", .bareLF, "final trailer line"),
        Case("0\r\nX: y\rz\r\n\r\n", .bareCR, "in trailer value"),
        Case("0\r\nX: y\r\n\rz", .bareCR, "in final CRLF"),
        Case("0\r\nX: a\u{0}b\r\n\r\n", .invalidCharacter, "NUL in trailer"),
        Case("0\r\n\u{0}X: a\r\n\r\n", .invalidCharacter, "NUL at trailer line start"),
        Case("0\r\nX: \u{7F}\r\n\r\n", .invalidCharacter, "DEL in trailer"),
        Case("0\r\n X: y\r\n\r\n", .badTrailer, "obs-fold"),
        Case("0\r\nX: y\r\n\tz\r\n\r\n", .badTrailer, "continuation line"),
        Case("0\r\n: y\r\n\r\n", .badTrailer, "empty name"),
        Case("0\r\nX : y\r\n\r\n", .badTrailer, "whitespace before colon"),
        Case("0\r\nX\r\n\r\n", .badTrailer, "missing colon"),
        Case("0\r\nX(: y\r\n\r\n", .badTrailer, "separator in name"),
    ])
    func errors(_ c: Case<HTTPParseError>) {
        let raw = latin1(c.input)
        #expect(decode(raw).error == c.expected, "whole")
        #expect(decode(raw, cuts: Array(1..<max(raw.count, 1))).error == c.expected, "byte by byte")
    }

    @Test func trailerSizeLimit() {
        let trailer = latin1("0\r\nX-Pad: 0123456789\r\n\r\n")  // 19 + 2 = 21 bytes after the last-chunk line
        #expect(decode(trailer, maxTrailerBytes: 21).doneAt == trailer.count)
        #expect(decode(trailer, maxTrailerBytes: 20).error == .trailerTooLarge)
        #expect(decode(latin1("0\r\n\r\n"), maxTrailerBytes: 2).doneAt == 5)
        #expect(decode(latin1("0\r\n\r\n"), maxTrailerBytes: 1).error == .trailerTooLarge)
        // A flood of trailer bytes split into pieces is still cut off at the limit.
        let flood = latin1("0\r\nX: " + String(repeating: "a", count: 100_000))
        #expect(decode(flood, cuts: [10, 5000, 20000]).error == .trailerTooLarge)
    }

    @Test func payloadCountSpansChunks() {
        var raw = [UInt8]()
        var expected = [UInt8]()
        for size in [1, 15, 16, 255, 4096, 70_000] {
            raw += latin1(String(size, radix: 16) + "\r\n")
            let chunk = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) }
            raw += chunk + latin1("\r\n")
            expected += chunk
        }
        raw += latin1("0\r\n\r\n")
        let d = decode(raw, cuts: [3, 100, 5000, 50_000])
        #expect(d.error == nil)
        #expect(d.payload == expected)
        #expect(d.payloadBytes == UInt64(expected.count))
        #expect(d.doneAt == raw.count)
    }
}
