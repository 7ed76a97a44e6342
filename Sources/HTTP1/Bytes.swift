// Byte-level helpers shared by the head parser and the chunked decoder.
// Everything works on raw pointers and never creates a String.

let CR: UInt8 = 0x0D
let LF: UInt8 = 0x0A
let SP: UInt8 = 0x20
let HTAB: UInt8 = 0x09
let COLON: UInt8 = 0x3A
let COMMA: UInt8 = 0x2C
let SEMI: UInt8 = 0x3B
let EQUALS: UInt8 = 0x3D
let DQUOTE: UInt8 = 0x22
let BACKSLASH: UInt8 = 0x5C

/// tchar (RFC 9110 5.6.2) as a 128-bit set split in two words: no table in memory,
/// so no lazy global initialisation or bounds check on the hot path.
private let tcharLow: UInt64 = 0x03ff_6cfa_0000_0000   // 0x00-0x3F
private let tcharHigh: UInt64 = 0x57ff_ffff_c7ff_fffe  // 0x40-0x7F

@inline(__always)
func isTokenChar(_ b: UInt8) -> Bool {
    if b < 64 { return (tcharLow >> UInt64(b)) & 1 != 0 }
    if b < 128 { return (tcharHigh >> UInt64(b &- 64)) & 1 != 0 }
    return false
}

/// A control character (including DEL) that is never allowed anywhere except HTAB in values.
@inline(__always)
func isCtl(_ b: UInt8) -> Bool { b < 0x20 || b == 0x7F }

@inline(__always)
func isOWS(_ b: UInt8) -> Bool { b == SP || b == HTAB }

@inline(__always)
func asciiLower(_ b: UInt8) -> UInt8 { (b &- 0x41) < 26 ? b | 0x20 : b }

@inline(__always)
func hexValue(_ b: UInt8) -> UInt8? {
    if b &- 0x30 < 10 { return b &- 0x30 }
    let l = b | 0x20
    if l &- 0x61 < 6 { return l &- 0x61 &+ 10 }
    return nil
}

@inline(__always)
func byteAt(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }

/// Compares `p[start..<end]` with a literal made only of lowercase letters, digits and '-',
/// ignoring ASCII case. `b | 0x20` is a valid case fold here because the only other bytes
/// it could map onto those characters are control characters, which callers have already
/// rejected.
@inline(__always)
func equalsLowercaseLiteral(_ p: UnsafeRawPointer, _ start: Int, _ end: Int, _ literal: StaticString) -> Bool {
    let n = literal.utf8CodeUnitCount
    guard end - start == n else { return false }
    let l = literal.utf8Start
    var i = 0
    while i < n {
        if byteAt(p, start + i) | 0x20 != l[i] { return false }
        i += 1
    }
    return true
}

/// Case-insensitive comparison of two arbitrary byte ranges of the same buffer.
@inline(__always)
func equalsIgnoringCase(_ p: UnsafeRawPointer, _ a: Int, _ aEnd: Int, _ b: Int, _ bEnd: Int) -> Bool {
    let n = aEnd - a
    guard bEnd - b == n else { return false }
    var i = 0
    while i < n {
        if asciiLower(byteAt(p, a + i)) != asciiLower(byteAt(p, b + i)) { return false }
        i += 1
    }
    return true
}

// MARK: - SWAR scanning
//
// Field values and the head-end search look at 8 bytes per step. The classic
// "has a byte less than n" trick flags the lowest matching byte exactly (a borrow only
// propagates upwards from a real match), which is all we need: we stop at the first one.

private let ones: UInt64 = 0x0101_0101_0101_0101
private let highs: UInt64 = 0x8080_8080_8080_8080

@inline(__always)
private func load8(_ p: UnsafeRawPointer, _ i: Int) -> UInt64 {
    UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
}

@inline(__always)
private func zeroBytes(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }

/// Index of the first byte in `from..<to` that is a control character or DEL
/// (what ends or invalidates a field value), or `to`.
@inline(__always)
func firstCtl(_ p: UnsafeRawPointer, from: Int, to: Int) -> Int {
    var i = from
    while i + 8 <= to {
        let x = load8(p, i)
        let below20 = (x &- ones &* 0x20) & ~x & highs
        let del = zeroBytes(x ^ (ones &* 0x7F))
        let m = below20 | del
        if m != 0 { return i + m.trailingZeroBitCount >> 3 }
        i += 8
    }
    while i < to {
        if isCtl(byteAt(p, i)) { return i }
        i += 1
    }
    return to
}

/// Index of the first byte in `from..<to` that is not visible ASCII (`<= SP` or `>= DEL`),
/// which is what ends a request-target, or `to`.
@inline(__always)
func firstNonVisible(_ p: UnsafeRawPointer, from: Int, to: Int) -> Int {
    var i = from
    while i + 8 <= to {
        let x = load8(p, i)
        let atMostSpace = (x &- ones &* 0x21) & ~x & highs
        let delOrHigh = ((x &+ ones) | x) & highs   // only a flagged 0xFF can carry upwards
        let m = atMostSpace | delOrHigh
        if m != 0 { return i + m.trailingZeroBitCount >> 3 }
        i += 8
    }
    while i < to {
        let b = byteAt(p, i)
        if b <= SP || b >= 0x7F { return i }
        i += 1
    }
    return to
}

/// Index of the first LF in `from..<to`, or `to`.
@inline(__always)
func firstLF(_ p: UnsafeRawPointer, from: Int, to: Int) -> Int {
    var i = from
    while i + 8 <= to {
        let m = zeroBytes(load8(p, i) ^ (ones &* 0x0A))
        if m != 0 { return i + m.trailingZeroBitCount >> 3 }
        i += 8
    }
    while i < to {
        if byteAt(p, i) == LF { return i }
        i += 1
    }
    return to
}
