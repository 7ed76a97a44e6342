import Testing

@testable import Balancing

@Suite struct SHA256Tests {
    // FIPS 180-4 / NIST CAVS example vectors.
    @Test func nistVectors() {
        #expect(SHA256.hash(Array("".utf8)).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash("abc".utf8).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8).hex
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        #expect(SHA256.hash(m896.utf8).hex == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    @Test func oneMillionA() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)).hex == expected)
        // Streamed in uneven pieces too.
        var h = SHA256()
        let piece = [UInt8](repeating: 0x61, count: 999)
        var left = 1_000_000
        while left > 0 {
            let n = min(left, piece.count)
            piece.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            left -= n
        }
        #expect(h.finalize().hex == expected)
    }

    /// Padding edge cases around the 55/56/64-byte boundaries (expected values from
    /// Python's hashlib, message bytes i % 251).
    @Test func blockBoundaryLengths() {
        let expected: [(Int, String)] = [
            (55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"),
            (56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"),
            (57, "2fe741af801cc238602ac0ec6a7b0c3a8a87c7fc7d7f02a3fe03d1c12eac4d8f"),
            (63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"),
            (64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"),
            (65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"),
            (119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"),
            (120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c"),
            (127, "92ca0fa6651ee2f97b884b7246a562fa71250fedefe5ebf270d31c546bfea976"),
            (128, "471fb943aa23c511f6f72f8d1652d9c880cfa392ad80503120547703e56a2be5"),
        ]
        for (n, hex) in expected {
            let msg = (0..<n).map { UInt8($0 % 251) }
            #expect(SHA256.hash(msg).hex == hex, "length \(n)")
        }
    }

    @Test func incrementalEqualsOneShotAtEverySplit() {
        let msg = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let oneShot = SHA256.hash(msg)
        msg.withUnsafeBytes { all in
            for cut in 0...msg.count {
                var h = SHA256()
                h.update(UnsafeRawBufferPointer(rebasing: all[0..<cut]))
                h.update(UnsafeRawBufferPointer(rebasing: all[cut...]))
                #expect(h.finalize() == oneShot, "split at \(cut)")
            }
            // Three pieces, including empty ones and pieces smaller than a block.
            for a in stride(from: 0, through: 200, by: 7) {
                for b in stride(from: a, through: 200, by: 13) {
                    var h = SHA256()
                    h.update(UnsafeRawBufferPointer(rebasing: all[0..<a]))
                    h.update(UnsafeRawBufferPointer(rebasing: all[a..<b]))
                    h.update(UnsafeRawBufferPointer(rebasing: all[b...]))
                    #expect(h.finalize() == oneShot, "splits at \(a), \(b)")
                }
            }
            // Byte at a time.
            var h = SHA256()
            for i in 0..<all.count { h.update(UnsafeRawBufferPointer(rebasing: all[i..<(i + 1)])) }
            #expect(h.finalize() == oneShot)
        }
    }

    @Test func finalizeResetsAndNonContiguousInput() {
        var h = SHA256()
        "abc".utf8.withContiguousStorageIfAvailable { h.update(UnsafeRawBufferPointer($0)) }
        _ = h.finalize()
        #expect(h.finalize() == SHA256.hash([UInt8]()))
        // A lazy (non-contiguous) collection hashes the same as its array.
        let lazy = (0..<300).lazy.map { UInt8($0 & 0xFF) }
        #expect(SHA256.hash(lazy) == SHA256.hash(Array(lazy)))
    }

    @Test func digestValue() {
        let d = SHA256.hash("abc".utf8)
        #expect(d.bytes.count == 32)
        #expect(d.bytes.first == 0xBA && d.bytes.last == 0xAD)
        #expect(SHA256.Digest(bytes: d.bytes) == d)
        #expect(SHA256.Digest(bytes: d.bytes.dropLast()) == nil)
        #expect(d != SHA256.hash("abd".utf8))
        #expect(Set([d, SHA256.hash("abc".utf8)]).count == 1)
        #expect("\(d)" == d.hex)
    }
}

@Suite struct HMACSHA256Tests {
    private static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let hi = it.next(), let lo = it.next() {
            out.append(UInt8(String(decoding: [hi, lo], as: UTF8.self), radix: 16)!)
        }
        return out
    }

    private static func mac(key: [UInt8], data: [UInt8]) -> SHA256.Digest {
        HMACSHA256(key: key).authenticationCode(for: data)
    }

    // RFC 4231 section 4.
    @Test func rfc4231Case1() {
        let d = Self.mac(key: [UInt8](repeating: 0x0B, count: 20), data: Array("Hi There".utf8))
        #expect(d.hex == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    @Test func rfc4231Case2KeyShorterThanOutput() {
        let d = Self.mac(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(d.hex == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func rfc4231Case3() {
        let d = Self.mac(key: [UInt8](repeating: 0xAA, count: 20), data: [UInt8](repeating: 0xDD, count: 50))
        #expect(d.hex == "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe")
    }

    @Test func rfc4231Case4() {
        let d = Self.mac(key: Array(1...25), data: [UInt8](repeating: 0xCD, count: 50))
        #expect(d.hex == "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b")
    }

    @Test func rfc4231Case5Truncated128() {
        let d = Self.mac(key: [UInt8](repeating: 0x0C, count: 20), data: Array("Test With Truncation".utf8))
        let expected = Self.bytes(hex: "a3b6167473100ee06e0c796c2955552b")
        #expect(Array(d.bytes.prefix(16)) == expected)
        let equal = d.withUnsafeBytes { got in
            expected.withUnsafeBytes { HMACSHA256.isEqualConstantTime(UnsafeRawBufferPointer(rebasing: got[0..<16]), $0) }
        }
        #expect(equal)
    }

    @Test func rfc4231Case6KeyLongerThanBlock() {
        let d = Self.mac(key: [UInt8](repeating: 0xAA, count: 131),
                         data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
        #expect(d.hex == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func rfc4231Case7LongKeyAndData() {
        let data = "This is a test using a larger than block-size key and a larger than block-size data."
            + " The key needs to be hashed before being used by the HMAC algorithm."
        let d = Self.mac(key: [UInt8](repeating: 0xAA, count: 131), data: Array(data.utf8))
        #expect(d.hex == "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")
    }

    /// Exactly one block of key is used as is; one byte more is hashed (values from Python's hmac).
    @Test func keyLengthAtBlockBoundary() {
        #expect(Self.mac(key: [UInt8](repeating: 0x6B, count: 64), data: []).hex
                == "83026a325aaee70e36cfe607536aa1054104ad1077c36134810d4ccded1ccd3b")
        #expect(Self.mac(key: [UInt8](repeating: 0x6B, count: 65), data: []).hex
                == "41f1c4cc3107cd5b8d92460f61032902bfdb06484eef17e861b83a5012d3b7f3")
    }

    @Test func reuseGivesSameMACAndInputFormsAgree() {
        let h = HMACSHA256(key: Array("Jefe".utf8))
        let msg = Array("what do ya want for nothing?".utf8)
        let a = h.authenticationCode(for: msg)
        #expect(h.authenticationCode(for: msg) == a)
        #expect(h.authenticationCode(for: msg[...]) == a)
        #expect(h.authenticationCode(for: "what do ya want for nothing?".utf8) == a)
        #expect(h.authenticationCode(for: msg.lazy.map { $0 }) == a)
        #expect(msg.withUnsafeBytes { h.authenticationCode(for: $0) } == a)
    }

    @Test func constantTimeEquality() {
        let a = SHA256.hash("a".utf8), b = SHA256.hash("b".utf8)
        #expect(HMACSHA256.isEqualConstantTime(a, a))
        #expect(!HMACSHA256.isEqualConstantTime(a, b))
        var c = a.bytes
        c[31] ^= 1
        #expect(!HMACSHA256.isEqualConstantTime(a, SHA256.Digest(bytes: c)!))
        let x: [UInt8] = [1, 2, 3], y: [UInt8] = [1, 2]
        x.withUnsafeBytes { x in
            y.withUnsafeBytes { y in
                #expect(!HMACSHA256.isEqualConstantTime(x, y))
                #expect(HMACSHA256.isEqualConstantTime(UnsafeRawBufferPointer(rebasing: x[0..<2]), y))
            }
        }
        #expect(HMACSHA256.isEqualConstantTime(UnsafeRawBufferPointer(start: nil, count: 0),
                                               UnsafeRawBufferPointer(start: nil, count: 0)))
    }
}
