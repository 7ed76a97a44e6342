@testable import EventLoop
import Testing

@Suite struct BufferPoolTests {
    @Test func takeAllocatesAndGiveKeepsTheBufferForTheNextTake() {
        let pool = BufferPool(bufferSize: 64, maxFree: 4)
        let a = pool.take()
        let b = pool.take()
        #expect(a != b)
        #expect(pool.outstanding == 2)
        pool.give(a)
        #expect(pool.outstanding == 1)
        // The freed buffer is reused, not a new allocation.
        #expect(pool.take() == a)
        #expect(pool.outstanding == 2)
        pool.give(a)
        pool.give(b)
        #expect(pool.outstanding == 0)
        // Most recently given first (still warm in the cache).
        #expect(pool.take() == b)
        #expect(pool.take() == a)
        pool.give(a)
        pool.give(b)
    }

    @Test func atMostMaxFreeBuffersAreKept() {
        let pool = BufferPool(bufferSize: 64, maxFree: 2)
        let taken = (0..<3).map { _ in pool.take() }
        for p in taken { pool.give(p) }   // the third is freed, not kept
        #expect(pool.outstanding == 0)
        #expect(pool.take() == taken[1])
        #expect(pool.take() == taken[0])
        let fresh = pool.take()
        #expect(fresh != taken[0] && fresh != taken[1])
        #expect(pool.outstanding == 3)
        pool.give(fresh)
        pool.give(taken[0])
        pool.give(taken[1])
    }
}

@Suite struct IOBufferTests {
    /// Pretends a read delivered `bytes` at the write index.
    private func receive(_ buf: inout IOBuffer, _ bytes: String) {
        let data = Array(bytes.utf8)
        data.withUnsafeBytes { (buf.base! + buf.writeIndex).copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        buf.writeIndex += data.count
    }

    private func unread(_ buf: IOBuffer) -> String { String(decoding: buf.readBytes, as: UTF8.self) }

    @Test func aNewBufferHasNoStorageUntilItReads() {
        let pool = BufferPool(bufferSize: 16)
        var buf = IOBuffer()
        #expect(!buf.hasStorage && buf.isEmpty && buf.readable == 0)
        #expect(buf.prepareForRead(pool) == 16)
        #expect(buf.hasStorage)
        #expect(pool.outstanding == 1)
        buf.release(pool)
        #expect(!buf.hasStorage && pool.outstanding == 0)
    }

    @Test func consumeAdvancesAndRewindsOnceEverythingIsRead() {
        let pool = BufferPool(bufferSize: 16)
        var buf = IOBuffer()
        _ = buf.prepareForRead(pool)
        receive(&buf, "hello world")
        #expect(buf.readable == 11)
        buf.consume(6)
        #expect(unread(buf) == "world")
        #expect(buf.readIndex == 6 && buf.writeIndex == 11)
        buf.consume(5)
        // Empty: both indices back at 0, the storage kept.
        #expect(buf.readIndex == 0 && buf.writeIndex == 0 && buf.isEmpty && buf.hasStorage)
        buf.release(pool)
    }

    @Test func compactMovesTheUnreadBytesToTheFront() {
        let pool = BufferPool(bufferSize: 16)
        var buf = IOBuffer()
        _ = buf.prepareForRead(pool)
        receive(&buf, "0123456789")
        buf.consume(7)
        buf.compact()
        #expect(buf.readIndex == 0 && buf.writeIndex == 3)
        #expect(unread(buf) == "789")
        // Nothing to move: unchanged.
        buf.compact()
        #expect(buf.readIndex == 0 && buf.writeIndex == 3 && unread(buf) == "789")
        buf.release(pool)
    }

    @Test func prepareForReadCompactsOnlyWhenTheEndIsReached() {
        let pool = BufferPool(bufferSize: 16)
        var buf = IOBuffer()
        _ = buf.prepareForRead(pool)
        receive(&buf, "abcdefgh")
        buf.consume(5)
        // Room after the write index: nothing moves.
        #expect(buf.prepareForRead(pool) == 8)
        #expect(buf.readIndex == 5 && unread(buf) == "fgh")
        receive(&buf, "ijklmnop")   // now full up to the end
        #expect(buf.writeIndex == 16)
        #expect(buf.prepareForRead(pool) == 5)
        #expect(buf.readIndex == 0 && buf.writeIndex == 11 && unread(buf) == "fghijklmnop")
        // Full from the front: no space at all.
        receive(&buf, "qrstu")
        #expect(buf.prepareForRead(pool) == 0)
        #expect(unread(buf) == "fghijklmnopqrstu")
        buf.release(pool)
    }

    @Test func releaseIfEmptyReturnsTheStorageOnlyWhenNothingIsUnread() {
        let pool = BufferPool(bufferSize: 16)
        var buf = IOBuffer()
        _ = buf.prepareForRead(pool)
        let storage = buf.base
        receive(&buf, "abc")
        buf.releaseIfEmpty(pool)
        #expect(buf.base == storage && pool.outstanding == 1 && unread(buf) == "abc")
        buf.consume(3)
        buf.releaseIfEmpty(pool)
        #expect(!buf.hasStorage && pool.outstanding == 0)
        #expect(buf.readIndex == 0 && buf.writeIndex == 0)
        // The next read gets the same buffer back from the pool.
        _ = buf.prepareForRead(pool)
        #expect(buf.base == storage)
        buf.release(pool)
    }

    @Test func releaseDropsUnreadBytes() {
        let pool = BufferPool(bufferSize: 16)
        var buf = IOBuffer()
        _ = buf.prepareForRead(pool)
        receive(&buf, "abc")
        buf.release(pool)
        #expect(!buf.hasStorage && buf.isEmpty && pool.outstanding == 0)
    }

    @Test func appendCompactsToMakeRoom() {
        let pool = BufferPool(bufferSize: 16)
        var buf = IOBuffer()
        let first = Array("0123456789ab".utf8)
        first.withUnsafeBytes { buf.append($0.baseAddress!, $0.count, pool: pool) }
        #expect(buf.hasStorage && unread(buf) == "0123456789ab")
        buf.consume(10)
        let second = Array("cdefgh".utf8)   // 12 + 6 > 16: fits only after compacting
        second.withUnsafeBytes { buf.append($0.baseAddress!, $0.count, pool: pool) }
        #expect(buf.readIndex == 0 && buf.writeIndex == 8)
        #expect(unread(buf) == "abcdefgh")
        buf.release(pool)
    }
}
