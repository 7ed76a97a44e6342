/// HMAC-SHA256 (RFC 2104 / RFC 4231) over the in-house `SHA256`.
///
/// The key is turned into the two padded blocks once, in `init`, and the hasher states after
/// absorbing them are kept: a MAC then copies those states (plain values, no heap) and costs only
/// the compressions of the message and of the inner digest, instead of re-hashing both pads
/// every time.
public struct HMACSHA256: Sendable {
    /// SHA-256 after absorbing key XOR ipad.
    private let inner: SHA256
    /// SHA-256 after absorbing key XOR opad.
    private let outer: SHA256

    /// Any key length works; keys longer than the 64-byte block are hashed first, as HMAC
    /// specifies. (Security needs at least 32 bytes of real key material: the caller's job.)
    public init(key: [UInt8]) {
        var block: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &block) { buf in
            if key.count > SHA256.blockByteCount {
                SHA256.hash(key).withUnsafeBytes { buf.copyMemory(from: $0) }
            } else {
                key.withUnsafeBytes { buf.copyMemory(from: $0) }
            }
        }
        var ipad = block, opad = block
        withUnsafeMutableBytes(of: &ipad) { buf in for i in buf.indices { buf[i] ^= 0x36 } }
        withUnsafeMutableBytes(of: &opad) { buf in for i in buf.indices { buf[i] ^= 0x5C } }
        var i = SHA256(), o = SHA256()
        withUnsafeBytes(of: ipad) { i.update($0) }
        withUnsafeBytes(of: opad) { o.update($0) }
        inner = i
        outer = o
    }

    public func authenticationCode(for message: UnsafeRawBufferPointer) -> SHA256.Digest {
        var i = inner
        i.update(message)
        let innerDigest = i.finalize()
        var o = outer
        innerDigest.withUnsafeBytes { o.update($0) }
        return o.finalize()
    }

    /// Contiguous collections (`[UInt8]`, `ArraySlice`, `String.UTF8View`) are read in place.
    public func authenticationCode<C: Collection>(for message: C) -> SHA256.Digest where C.Element == UInt8 {
        if let d = message.withContiguousStorageIfAvailable({ authenticationCode(for: UnsafeRawBufferPointer($0)) }) {
            return d
        }
        return Array(message).withUnsafeBytes { authenticationCode(for: $0) }
    }

    /// Equality whose running time does not depend on where the digests differ, so a forger
    /// cannot learn a valid MAC byte by byte from response timing.
    public static func isEqualConstantTime(_ a: SHA256.Digest, _ b: SHA256.Digest) -> Bool {
        a.withUnsafeBytes { a in b.withUnsafeBytes { b in isEqualConstantTime(a, b) } }
    }

    /// As above for raw bytes (e.g. a truncated MAC). Different lengths are unequal at once: the
    /// length of a MAC is public, only its contents are secret.
    public static func isEqualConstantTime(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
