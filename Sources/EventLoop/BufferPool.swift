/// Fixed-size I/O buffers shared by one loop's connections. A connection holds a buffer only
/// while it has unprocessed bytes, so an idle keep-alive connection holds none (nginx and HAProxy
/// do the same; it is what keeps 10,000 idle clients under 1 KiB each).
public final class BufferPool {
    public let bufferSize: Int
    private var free: [UnsafeMutableRawPointer] = []
    private let maxFree: Int
    public private(set) var outstanding = 0

    public init(bufferSize: Int, maxFree: Int = 512) {
        self.bufferSize = bufferSize
        self.maxFree = maxFree
        free.reserveCapacity(maxFree)
    }

    @inline(__always)
    public func take() -> UnsafeMutableRawPointer {
        outstanding += 1
        if let p = free.popLast() { return p }
        return UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
    }

    @inline(__always)
    public func give(_ p: UnsafeMutableRawPointer) {
        outstanding -= 1
        if free.count < maxFree { free.append(p) } else { p.deallocate() }
    }

    deinit {
        for p in free { p.deallocate() }
    }
}

/// A window [readIndex, writeIndex) into a pooled buffer. A plain struct: the owner must return
/// `base` to its pool (`release`) — connections do that when they empty or close.
public struct IOBuffer {
    public var base: UnsafeMutableRawPointer? = nil
    public var readIndex = 0
    public var writeIndex = 0

    public init() {}

    @inline(__always) public var readable: Int { writeIndex - readIndex }
    @inline(__always) public var isEmpty: Bool { writeIndex == readIndex }
    @inline(__always) public var hasStorage: Bool { base != nil }

    @inline(__always)
    public var readPointer: UnsafeMutableRawPointer { base! + readIndex }

    @inline(__always)
    public var readBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base! + readIndex, count: writeIndex - readIndex)
    }

    @inline(__always)
    public mutating func ensure(_ pool: BufferPool) {
        if base == nil { base = pool.take(); readIndex = 0; writeIndex = 0 }
    }

    /// Readies the buffer for a read: storage from the pool if it has none, unread bytes moved
    /// to the front once the end is reached. Returns the free space after `writeIndex` (0: full).
    @inline(__always)
    public mutating func prepareForRead(_ pool: BufferPool) -> Int {
        ensure(pool)
        if writeIndex == pool.bufferSize { compact() }
        return pool.bufferSize - writeIndex
    }

    /// Moves unread bytes to the front so a read can fill the rest.
    public mutating func compact() {
        guard let b = base, readIndex > 0 else { return }
        let n = writeIndex - readIndex
        if n > 0 { b.copyMemory(from: b + readIndex, byteCount: n) }
        readIndex = 0
        writeIndex = n
    }

    @inline(__always)
    public mutating func consume(_ n: Int) {
        readIndex += n
        if readIndex == writeIndex { readIndex = 0; writeIndex = 0 }
    }

    /// Returns the storage to the pool when nothing unread remains.
    @inline(__always)
    public mutating func releaseIfEmpty(_ pool: BufferPool) {
        if let b = base, readIndex == writeIndex { pool.give(b); base = nil; readIndex = 0; writeIndex = 0 }
    }

    public mutating func release(_ pool: BufferPool) {
        if let b = base { pool.give(b); base = nil }
        readIndex = 0
        writeIndex = 0
    }

    public mutating func append(_ bytes: UnsafeRawPointer, _ count: Int, pool: BufferPool) {
        ensure(pool)
        if writeIndex + count > pool.bufferSize { compact() }
        precondition(writeIndex + count <= pool.bufferSize, "IOBuffer overflow")
        (base! + writeIndex).copyMemory(from: bytes, byteCount: count)
        writeIndex += count
    }
}
