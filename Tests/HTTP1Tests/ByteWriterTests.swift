import HTTP1
import Testing

/// Runs `body` with a writer over a fresh buffer of `capacity` bytes pre-filled with 0xEE,
/// and returns the writer state plus the whole buffer (to prove nothing was written past `count`).
func withWriter(capacity: Int, _ body: (inout ByteWriter) -> Void) -> (count: Int, overflowed: Bool, written: [UInt8], buffer: [UInt8]) {
    var storage = [UInt8](repeating: 0xEE, count: capacity)
    var result: (Int, Bool, [UInt8]) = (0, false, [])
    storage.withUnsafeMutableBytes { raw in
        var w = ByteWriter(raw.baseAddress!, capacity: capacity)
        #expect(w.remaining == capacity)
        body(&w)
        #expect(w.count + w.remaining == capacity)
        result = (w.count, w.overflowed, Array(w.written))
    }
    return (result.0, result.1, result.2, storage)
}

@Suite struct ByteWriterTests {
    @Test func appendsEveryKind() {
        let r = withWriter(capacity: 128) { w in
            w.append("GET ")
            let path = latin1("/index.html")
            path.withUnsafeBytes { w.append($0) }
            w.append(byte: 0x20)
            w.append("HTTP/1.1\r\nContent-Length: ")
            w.appendDecimal(1234)
            w.append("\r\n\r\n")
            w.appendHex(0x1a2b)
            w.append("\r\n")
        }
        #expect(!r.overflowed)
        #expect(r.written == latin1("GET /index.html HTTP/1.1\r\nContent-Length: 1234\r\n\r\n1a2b\r\n"))
        #expect(r.count == r.written.count)
        #expect(r.buffer[r.count...].allSatisfy { $0 == 0xEE })
    }

    @Test func appendsASlice() {
        let source = latin1("Host: example.com\r\n")
        let r = withWriter(capacity: 32) { w in
            source.withUnsafeBytes { w.append($0, from: 6, to: 17) }
        }
        #expect(r.written == latin1("example.com"))
    }

    @Test(arguments: [
        Case("0", UInt64(0)), Case("9", 9), Case("10", 10), Case("12345", 12345),
        Case("4611686018427387904", 1 << 62), Case("18446744073709551615", .max),
    ])
    func decimal(_ c: Case<UInt64>) {
        let r = withWriter(capacity: 20) { $0.appendDecimal(c.expected) }
        #expect(r.written == latin1(c.input))
        #expect(!r.overflowed)
    }

    @Test(arguments: [
        Case("0", UInt64(0)), Case("f", 0xF), Case("10", 0x10), Case("ff", 0xFF), Case("deadbeef", 0xDEAD_BEEF),
        Case("1000000000000000", 1 << 60), Case("ffffffffffffffff", .max),
    ])
    func hex(_ c: Case<UInt64>) {
        let r = withWriter(capacity: 16) { $0.appendHex(c.expected) }
        #expect(r.written == latin1(c.input))
        #expect(!r.overflowed)
    }

    @Test func exactFitThenOverflow() {
        let r = withWriter(capacity: 5) { w in
            w.append("hello")
            #expect(!w.overflowed)
            #expect(w.remaining == 0)
            w.append(byte: 0x21)
            #expect(w.overflowed)
        }
        #expect(r.count == 5)
        #expect(r.overflowed)
        #expect(r.buffer == latin1("hello"))
    }

    @Test func overflowIsAllOrNothingAndSticky() {
        let r = withWriter(capacity: 10) { w in
            w.append("hello")
            w.append("world!")          // 11 > 10: nothing of it is written
            #expect(w.overflowed)
            #expect(w.count == 5)
            w.append("!")               // would fit, but writes after overflow are ignored
            w.append(byte: 0x21)
            w.appendDecimal(1)
            w.appendHex(1)
            latin1("x").withUnsafeBytes { w.append($0) }
        }
        #expect(r.overflowed)
        #expect(r.count == 5)
        #expect(r.written == latin1("hello"))
        #expect(Array(r.buffer[5...]) == [UInt8](repeating: 0xEE, count: 5))
    }

    @Test func numbersOverflowWithoutPartialDigits() {
        let d = withWriter(capacity: 4) { $0.appendDecimal(12345) }
        #expect(d.overflowed && d.count == 0 && d.buffer == [0xEE, 0xEE, 0xEE, 0xEE])
        let h = withWriter(capacity: 4) { $0.appendHex(0x12345) }
        #expect(h.overflowed && h.count == 0 && h.buffer == [0xEE, 0xEE, 0xEE, 0xEE])
    }

    @Test func resetClearsOverflow() {
        let r = withWriter(capacity: 4) { w in
            w.append("toolong")
            #expect(w.overflowed)
            w.reset()
            #expect(!w.overflowed && w.count == 0)
            w.append("ok")
        }
        #expect(r.written == latin1("ok"))
        #expect(!r.overflowed)
    }

    @Test func zeroCapacity() {
        let r = withWriter(capacity: 0) { w in
            w.append("")
            #expect(!w.overflowed, "an empty append always fits")
            w.append(byte: 1)
        }
        #expect(r.overflowed && r.count == 0)
    }
}
