@testable import HTTP1
import Testing
import TestSupport

/// The bit-set and 8-bytes-at-a-time helpers against obvious reference definitions.
@Suite struct ByteScanningTests {
    @Test func tokenCharsMatchRFC9110() {
        let tchar = Set(latin1("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        for b in 0...255 {
            #expect(isTokenChar(UInt8(b)) == tchar.contains(UInt8(b)), "byte \(b)")
        }
    }

    @Test func hexDigits() {
        for b in 0...255 {
            let expected = Int(String(UnicodeScalar(UInt8(b))), radix: 16)
            #expect(hexValue(UInt8(b)).map(Int.init) == expected, "byte \(b)")
        }
    }

    /// Every byte value at every position relative to an 8-byte word, with a tail.
    @Test func swarScansFindTheFirstMatch() {
        var rng = SplitMix64(seed: 42)
        for length in 0..<40 {
            for _ in 0..<40 {
                // Mostly harmless bytes (including obs-text), occasionally a control byte.
                let bytes: [UInt8] = (0..<length).map { _ in
                    rng.next() % 8 == 0 ? UInt8(truncatingIfNeeded: rng.next() % 0x20) : UInt8(0x20 + rng.next() % 0xE0)
                }
                bytes.withUnsafeBytes { raw in
                    let p = raw.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!
                    for from in 0...length {
                        let ctl = bytes[from...].firstIndex(where: { $0 < 0x20 || $0 == 0x7F }) ?? length
                        let lf = bytes[from...].firstIndex(of: 0x0A) ?? length
                        #expect(firstCtl(p, from: from, to: length) == ctl)
                        #expect(firstLF(p, from: from, to: length) == lf)
                        let nonVisible = bytes[from...].firstIndex(where: { $0 <= 0x20 || $0 >= 0x7F }) ?? length
                        #expect(firstNonVisible(p, from: from, to: length) == nonVisible)
                    }
                }
            }
        }
        // Each byte value alone in a word of visible ASCII, for the request-target scan.
        for b in 0...255 {
            for pos in 0..<8 {
                var word = [UInt8](repeating: 0x7E, count: 9)
                word[pos] = UInt8(b)
                word.withUnsafeBytes { raw in
                    let stops = b <= 0x20 || b >= 0x7F
                    #expect(firstNonVisible(raw.baseAddress!, from: 0, to: 9) == (stops ? pos : 9), "byte \(b) at \(pos)")
                }
            }
        }
        // Each byte value alone in a word of 0x80 (borrow and high-bit edge cases).
        for b in 0...255 {
            for pos in 0..<8 {
                var word = [UInt8](repeating: 0x80, count: 9)
                word[pos] = UInt8(b)
                word.withUnsafeBytes { raw in
                    let isCtlByte = b < 0x20 || b == 0x7F
                    #expect(firstCtl(raw.baseAddress!, from: 0, to: 9) == (isCtlByte ? pos : 9), "byte \(b) at \(pos)")
                    #expect(firstLF(raw.baseAddress!, from: 0, to: 9) == (b == 0x0A ? pos : 9))
                }
            }
        }
    }
}
