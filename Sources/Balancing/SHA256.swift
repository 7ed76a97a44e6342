/// SHA-256 (FIPS 180-4), here because the toolchain has no CryptoKit on Linux and the proxy takes
/// no third-party packages. Its user is HMAC-SHA256 for sticky cookies, which runs on the request
/// path, so hashing touches no heap: the state and the pending partial block are fixed-size
/// fields of this struct, input is read straight from the caller's buffer, and the message
/// schedule lives on the stack.
///
/// Not a general crypto library: no other hash sizes, no streaming of more than 2^61 bytes.
public struct SHA256: Sendable {
    public static let blockByteCount = 64
    public static let digestByteCount = 32

    /// The eight chaining words H0...H7.
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)
    /// Input not yet compressed: the first `pendingCount` bytes of these 64.
    private var pending: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    private var pendingCount: Int
    /// Bytes absorbed so far (the padding encodes it in bits).
    private var totalByteCount: UInt64

    public init() {
        h = (0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19)
        pending = (0, 0, 0, 0, 0, 0, 0, 0)
        pendingCount = 0
        totalByteCount = 0
    }

    /// Absorbs `bytes`. Whole blocks are compressed directly from the caller's memory; only a
    /// trailing partial block is copied.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return }
        var remaining = bytes.count
        totalByteCount &+= UInt64(remaining)

        if pendingCount > 0 {
            let offset = pendingCount
            let take = Swift.min(Self.blockByteCount - offset, remaining)
            withUnsafeMutableBytes(of: &pending) { buf in
                (buf.baseAddress! + offset).copyMemory(from: p, byteCount: take)
            }
            pendingCount += take
            p += take
            remaining -= take
            guard pendingCount == Self.blockByteCount else { return }
            compressPending()
        }

        let wholeBlocks = remaining / Self.blockByteCount
        if wholeBlocks > 0 {
            Self.compress(&h, blocks: p, count: wholeBlocks)
            p += wholeBlocks * Self.blockByteCount
            remaining -= wholeBlocks * Self.blockByteCount
        }

        if remaining > 0 {
            withUnsafeMutableBytes(of: &pending) { buf in
                buf.baseAddress!.copyMemory(from: p, byteCount: remaining)
            }
            pendingCount = remaining
        }
    }

    /// Pads, compresses the last block(s) and returns the digest. The hasher is reset to a fresh
    /// state afterwards, so a reused value never continues from a finished message.
    public mutating func finalize() -> Digest {
        let bitLength = totalByteCount &* 8
        var offset = pendingCount
        withUnsafeMutableBytes(of: &pending) { buf in
            buf[offset] = 0x80
            offset += 1
            if offset > 56 {
                // No room for the length in this block: finish it, the length goes in the next.
                for i in offset..<64 { buf[i] = 0 }
            }
        }
        if offset > 56 {
            compressPending()
            offset = 0
        }
        withUnsafeMutableBytes(of: &pending) { buf in
            for i in offset..<56 { buf[i] = 0 }
            buf.storeBytes(of: bitLength.bigEndian, toByteOffset: 56, as: UInt64.self)
        }
        compressPending()
        let d = Digest(words: (h.0.bigEndian, h.1.bigEndian, h.2.bigEndian, h.3.bigEndian,
                               h.4.bigEndian, h.5.bigEndian, h.6.bigEndian, h.7.bigEndian))
        self = SHA256()
        return d
    }

    /// One-shot hash of a byte collection (contiguous collections such as `[UInt8]`, `ArraySlice`
    /// and `String.UTF8View` are read in place; others are copied once).
    public static func hash<C: Collection>(_ bytes: C) -> Digest where C.Element == UInt8 {
        var hasher = SHA256()
        let done: Void? = bytes.withContiguousStorageIfAvailable { hasher.update(UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(bytes).withUnsafeBytes { hasher.update($0) }
        }
        return hasher.finalize()
    }

    public static func hash(_ bytes: UnsafeRawBufferPointer) -> Digest {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    private mutating func compressPending() {
        let block = pending
        withUnsafeBytes(of: block) { Self.compress(&h, blocks: $0.baseAddress!, count: 1) }
        pendingCount = 0
    }

    /// The FIPS 180-4 compression function over `count` consecutive 64-byte blocks at `p`
    /// (no alignment required). The state stays in locals across blocks.
    private static func compress(
        _ state: inout (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32),
        blocks p: UnsafeRawPointer, count: Int
    ) {
        var (h0, h1, h2, h3, h4, h5, h6, h7) = state
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            k.withUnsafeBufferPointer { k in
                for blockIndex in 0..<count {
                    let block = p + blockIndex * blockByteCount
                    for t in 0..<16 {
                        w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: t * 4, as: UInt32.self))
                    }
                    for t in 16..<64 {
                        let x = w[t - 15], y = w[t - 2]
                        let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x &>> 3)
                        let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y &>> 10)
                        w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                    }
                    var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7
                    for t in 0..<64 {
                        let bigS1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                        let ch = (e & f) ^ (~e & g)
                        let t1 = h &+ bigS1 &+ ch &+ k[t] &+ w[t]
                        let bigS0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                        let maj = (a & b) ^ (a & c) ^ (b & c)
                        let t2 = bigS0 &+ maj
                        h = g
                        g = f
                        f = e
                        e = d &+ t1
                        d = c
                        c = b
                        b = a
                        a = t1 &+ t2
                    }
                    h0 &+= a; h1 &+= b; h2 &+= c; h3 &+= d
                    h4 &+= e; h5 &+= f; h6 &+= g; h7 &+= h
                }
            }
        }
        state = (h0, h1, h2, h3, h4, h5, h6, h7)
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x &>> n) | (x &<< (32 &- n))
    }

    /// Round constants: the first 32 bits of the fractional parts of the cube roots of the
    /// first 64 primes.
    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]
}

extension SHA256 {
    /// A 32-byte SHA-256 digest, stored inline (no heap). `==` is an ordinary early-exit
    /// comparison: compare MACs with `HMACSHA256.isEqualConstantTime` instead.
    public struct Digest: Hashable, Sendable, CustomStringConvertible {
        /// The digest bytes in order, as memory (words already big-endian).
        private var words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)

        fileprivate init(words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)) {
            self.words = words
        }

        /// Nil unless `bytes` has exactly 32 elements.
        public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
            guard bytes.count == SHA256.digestByteCount else { return nil }
            words = (0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &words) { buf in
                for (i, b) in bytes.enumerated() { buf[i] = b }
            }
        }

        public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            try Swift.withUnsafeBytes(of: words, body)
        }

        public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

        /// Lowercase hex, 64 characters.
        public var hex: String {
            let digits: [UInt8] = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            out.reserveCapacity(64)
            withUnsafeBytes { buf in
                for b in buf {
                    out.append(digits[Int(b >> 4)])
                    out.append(digits[Int(b & 0xF)])
                }
            }
            return String(decoding: out, as: UTF8.self)
        }

        public var description: String { hex }

        public static func == (a: Digest, b: Digest) -> Bool {
            a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
                && a.words.4 == b.words.4 && a.words.5 == b.words.5 && a.words.6 == b.words.6 && a.words.7 == b.words.7
        }

        public func hash(into hasher: inout Hasher) {
            withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}
