import HTTP1
import Testing
import TestSupport

/// Deterministic mutation fuzzing of the parsers, checking properties that must hold for
/// any input rather than exact outcomes: no crash, offsets inside the head, agreement with
/// `findHeadEnd`, and results that do not depend on how the bytes were split.
@Suite struct FuzzPropertyTests {
    static let interesting: [UInt8] = latin1("\r\n \t:,;=\"\\\u{0}\u{7F}\u{80}\u{FF}a0fF-")

    static func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var s = seed
        for _ in 0..<(1 + Int(rng.next() % 3)) {
            let pick = { (rng: inout SplitMix64) -> UInt8 in
                rng.next() % 4 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : interesting[Int(rng.next() % UInt64(interesting.count))]
            }
            let at = s.isEmpty ? 0 : Int(rng.next() % UInt64(s.count))
            switch rng.next() % 3 {
            case 0 where !s.isEmpty: s[at] = pick(&rng)
            case 1: s.insert(pick(&rng), at: at)
            default: if !s.isEmpty { s.remove(at: at) }
            }
        }
        return s
    }

    static let requestSeeds = [
        "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: keep-alive, x-a\r\nX-A: 1\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 4\r\nExpect: 100-continue\r\n\r\nbody",
        "PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nUpgrade: websocket\r\n\r\n",
    ].map(latin1)

    @Test func requestParserProperties() {
        var rng = SplitMix64(seed: 7)
        let parser = HTTPHeadParser()
        var head = MessageHead()
        var outcomes: [String: Int] = [:]
        for iteration in 0..<3000 {
            let input = Self.mutate(Self.requestSeeds[iteration % Self.requestSeeds.count], &rng)
            let full = input.withUnsafeBytes { parser.parseRequest($0, into: &head) }
            outcomes["\(full)", default: 0] += 1
            let end = input.withUnsafeBytes { parser.findHeadEnd($0, from: 0) }
            if full == .complete {
                #expect(end == head.headLength, "findHeadEnd agrees: \(input)")
                for f in head.fields {
                    #expect(0 < f.nameStart && f.nameStart < f.nameEnd && f.nameEnd < f.valueStart + 1)
                    #expect(f.valueStart <= f.valueEnd && Int(f.valueEnd) <= head.headLength - 2)
                    #expect(!input[Int(f.valueStart)..<Int(f.valueEnd)].contains { $0 == 0x0D || $0 == 0x0A })
                }
                let h = head
                // Extra bytes after the head change nothing.
                let extended = input + latin1("GET / HTTP/1.1\r\n")
                #expect(extended.withUnsafeBytes { parser.parseRequest($0, into: &head) } == .complete)
                #expect(head.headLength == h.headLength && head.fields == h.fields && head.framing == h.framing)
            } else if end == nil {
                #expect(full != .complete)
            }
            // A prefix either needs more bytes or already yields the final answer.
            for n in stride(from: 0, to: input.count, by: 3) {
                let r = Array(input[..<n]).withUnsafeBytes { parser.parseRequest($0, into: &head) }
                #expect(r == .incomplete || r == full, "prefix \(n) of \(input): \(r) vs \(full)")
            }
        }
        // The mutations must actually reach both acceptance and several distinct errors.
        #expect(outcomes["complete", default: 0] > 100)
        #expect(outcomes.count > 10, "\(outcomes)")
    }

    static let chunkedSeeds = [
        "5;a=b\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: v\r\n\r\n",
        "3;q=\"x\\\"y\"\r\nabc\r\n0\r\n\r\n",
        "10\r\n0123456789abcdef\r\n2\r\n\r\n\r\n0;x\r\nA: 1\r\nB:\t2\r\n\r\n",
    ].map(latin1)

    @Test func chunkedDecoderIsSplitInvariant() {
        var rng = SplitMix64(seed: 11)
        var outcomes: [String: Int] = [:]
        for iteration in 0..<1500 {
            let input = Self.mutate(Self.chunkedSeeds[iteration % Self.chunkedSeeds.count], &rng)
            let whole = decode(input)
            outcomes[whole.error.map { "\($0)" } ?? (whole.doneAt != nil ? "done" : "more"), default: 0] += 1
            let bytewise = decode(input, cuts: input.isEmpty ? [] : Array(1..<input.count))
            #expect(bytewise == whole, "\(input)")
            let a = Int(rng.next() % UInt64(input.count + 1))
            let b = Int(rng.next() % UInt64(input.count + 1))
            #expect(decode(input, cuts: [min(a, b), max(a, b)]) == whole, "\(input) cut at \(a), \(b)")
            if whole.error == nil {
                #expect(whole.payloadBytes == UInt64(whole.payload.count))
            }
        }
        #expect(outcomes["done", default: 0] > 100)
        #expect(outcomes.count > 8, "\(outcomes)")
    }
}
