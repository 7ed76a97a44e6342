/// Appends bytes into caller-owned, preallocated memory (used to build a forwarded head
/// in an output buffer without intermediate arrays or Strings).
///
/// Each append is all-or-nothing: if it does not fit, nothing of it is written and
/// `overflowed` is set; every later append is then ignored, so the caller can build a whole
/// head and check `overflowed` once at the end.
public struct ByteWriter {
    public let base: UnsafeMutableRawPointer
    public let capacity: Int
    public private(set) var count: Int = 0
    public private(set) var overflowed: Bool = false

    public init(_ base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base
        self.capacity = max(0, capacity)
    }

    public var remaining: Int { capacity - count }

    /// The bytes written so far.
    public var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Forgets everything written and clears `overflowed`.
    public mutating func reset() {
        count = 0
        overflowed = false
    }

    /// Reserves `n` bytes and returns where to write them, or nil (and marks overflow).
    @inline(__always)
    private mutating func reserve(_ n: Int) -> UnsafeMutableRawPointer? {
        if overflowed { return nil }
        guard n <= capacity - count else {
            overflowed = true
            return nil
        }
        let p = base + count
        count += n
        return p
    }

    public mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { append(UnsafeRawBufferPointer($0)) }
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let src = bytes.baseAddress, !bytes.isEmpty, let dst = reserve(bytes.count) else { return }
        dst.copyMemory(from: src, byteCount: bytes.count)
    }

    /// Appends `buf[start..<end]`, the form `HeaderField` and `MessageHead` offsets come in.
    public mutating func append(_ buf: UnsafeRawBufferPointer, from start: Int32, to end: Int32) {
        append(UnsafeRawBufferPointer(rebasing: buf[Int(start)..<Int(end)]))
    }

    public mutating func append(byte: UInt8) {
        reserve(1)?.storeBytes(of: byte, as: UInt8.self)
    }

    public mutating func appendDecimal(_ v: UInt64) {
        var digits = 1
        var t = v
        while t >= 10 {
            t /= 10
            digits += 1
        }
        guard let dst = reserve(digits) else { return }
        t = v
        var i = digits
        repeat {
            i -= 1
            dst.storeBytes(of: UInt8(truncatingIfNeeded: t % 10) &+ 0x30, toByteOffset: i, as: UInt8.self)
            t /= 10
        } while i > 0
    }

    /// Lowercase hex without leading zeros, as used for chunk sizes.
    public mutating func appendHex(_ v: UInt64) {
        let digits = v == 0 ? 1 : (67 - v.leadingZeroBitCount) / 4
        guard let dst = reserve(digits) else { return }
        var t = v
        var i = digits
        repeat {
            i -= 1
            let d = UInt8(truncatingIfNeeded: t & 0xF)
            dst.storeBytes(of: d < 10 ? d &+ 0x30 : d &+ 0x57, toByteOffset: i, as: UInt8.self)
            t >>= 4
        } while i > 0
    }
}
