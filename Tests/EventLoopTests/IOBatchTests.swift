@testable import EventLoop
import Glibc
import Synchronization
import Testing

/// The io_uring batch (`IOBatch`) through a real loop and real sockets (AF_UNIX socket pairs):
/// receives of one round, queued sends, a send cancelled by a close, partial sends, and the
/// plain-syscall path when batching is off. Skipped where the kernel refuses io_uring.
@Suite(.enabled(if: EventLoop.ioUringProbe() == 0, "io_uring is not available here"))
struct IOBatchTests {
    @Test func receivesOfOneRoundAreBatchedAndDeliveredBeforeEvents() throws {
        let h = try Harness(batch: true)
        defer { h.stop() }
        // Three sockets readable before the round starts: one epoll round reports all three.
        let pairs = try (0..<3).map { _ in try SocketPair() }
        for (i, p) in pairs.enumerated() { p.peerWrite("hello \(i)") }
        let probes = pairs.map { Probe(fd: $0.local) }
        h.onLoop { for p in probes { try! h.loop.register(p) } }
        try h.waitUntil { probes.allSatisfy { $0.state.withLock { !$0.events.isEmpty } } }
        for (i, p) in probes.enumerated() {
            let s = p.state.withLock { $0 }
            #expect(s.received == Array("hello \(i)".utf8))
            #expect(s.recvResults == [7])
            // Short read: the socket is known empty, so the event arrives without EPOLLIN.
            #expect(s.events.first.map { $0 & Events.readable } == 0)
        }
        for p in pairs { p.close() }
    }

    @Test func endOfStreamFromABatchedReceiveIsReported() throws {
        let h = try Harness(batch: true)
        defer { h.stop() }
        let pairs = try (0..<2).map { _ in try SocketPair() }
        for p in pairs { p.peerShutdown() }
        let probes = pairs.map { Probe(fd: $0.local) }
        h.onLoop { for p in probes { try! h.loop.register(p) } }
        try h.waitUntil { probes.allSatisfy { $0.state.withLock { !$0.events.isEmpty } } }
        for p in probes {
            let s = p.state.withLock { $0 }
            #expect(s.recvResults == [0])
            // Not "known empty": the readable bit stays so the handler reads the end itself.
            #expect(s.events.first.map { $0 & Events.readable } == Events.readable)
        }
        for p in pairs { p.close() }
    }

    @Test func queuedSendsRunAfterTheRoundAndReportBytesTaken() throws {
        let h = try Harness(batch: true)
        defer { h.stop() }
        let pairs = try (0..<3).map { _ in try SocketPair() }
        let probes = pairs.map { Probe(fd: $0.local, wantRecv: false) }
        let queued = Mutex<[Bool]>([])
        h.onLoop {
            for p in probes { try! h.loop.register(p) }
            for p in probes {
                let ok = p.message.withUnsafeBytes { h.loop.queueSend(p, $0.baseAddress!, $0.count) }
                queued.withLock { $0.append(ok) }
                // A second send for the same socket is refused until the first completes.
                let again = p.message.withUnsafeBytes { h.loop.queueSend(p, $0.baseAddress!, $0.count) }
                queued.withLock { $0.append(!again) }
            }
        }
        try h.waitUntil { probes.allSatisfy { $0.state.withLock { !$0.sendResults.isEmpty } } }
        #expect(queued.withLock { $0 } == Array(repeating: true, count: 6))
        for (i, p) in probes.enumerated() {
            #expect(p.state.withLock { $0.sendResults } == [p.message.count])
            #expect(pairs[i].peerRead() == p.message)
        }
        for p in pairs { p.close() }
    }

    @Test func aSendCancelledByCloseNeverReachesTheNextOwnerOfItsDescriptor() throws {
        let h = try Harness(batch: true)
        defer { h.stop() }
        let victim = try SocketPair()
        let other = try SocketPair()      // keeps the batch above one entry (the ring path)
        let probe = Probe(fd: victim.local, wantRecv: false)
        let bystander = Probe(fd: other.local, wantRecv: false)
        let reused = Mutex<(fd: Int32, peer: Int32)>((-1, -1))
        h.onLoop {
            try! h.loop.register(probe)
            try! h.loop.register(bystander)
            let secret = Array("secret".utf8)
            _ = secret.withUnsafeBytes { h.loop.queueSend(probe, $0.baseAddress!, $0.count) }
            _ = bystander.message.withUnsafeBytes { h.loop.queueSend(bystander, $0.baseAddress!, $0.count) }
            h.loop.close(probe)
            // The descriptor number is free again: the next socket most likely gets it.
            var fds: [Int32] = [-1, -1]
            _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
            reused.withLock { $0 = (fds[0], fds[1]) }
        }
        try h.waitUntil { bystander.state.withLock { !$0.sendResults.isEmpty } }
        #expect(probe.state.withLock { $0.sendResults }.isEmpty)
        #expect(victim.peerRead().isEmpty)              // the closed socket's peer got nothing
        let r = reused.withLock { $0 }
        #expect(SocketPair.readAvailable(r.peer).isEmpty)   // nor did the descriptor's next owner
        #expect(other.peerRead() == bystander.message)
        close(r.fd); close(r.peer)
        victim.close(); other.close()
    }

    @Test func aSendLargerThanTheSocketTakesIsReportedAsPartial() throws {
        let h = try Harness(batch: true)
        defer { h.stop() }
        let pairs = try (0..<2).map { _ in try SocketPair() }
        let big = [UInt8](repeating: 0x5a, count: 4 << 20)
        let probes = pairs.map { Probe(fd: $0.local, wantRecv: false) }
        h.onLoop {
            for p in probes { try! h.loop.register(p) }
            for p in probes { _ = big.withUnsafeBytes { h.loop.queueSend(p, $0.baseAddress!, $0.count) } }
        }
        try h.waitUntil { probes.allSatisfy { $0.state.withLock { !$0.sendResults.isEmpty } } }
        for p in probes {
            let r = p.state.withLock { $0.sendResults }
            #expect(r.count == 1)
            #expect(r[0] > 0 && r[0] < big.count)       // MSG_DONTWAIT: what fits, never parked
        }
        for p in pairs { p.close() }
    }

    @Test func aRefusedSubmissionFinishesTheBatchWithPlainSyscallsAndStopsBatching() throws {
        let h = try Harness(batch: true)
        defer { h.stop() }
        let pairs = try (0..<2).map { _ in try SocketPair() }
        let probes = pairs.map { Probe(fd: $0.local, wantRecv: false) }
        let afterwards = Mutex<Bool?>(nil)
        h.onLoop {
            for p in probes { try! h.loop.register(p) }
            h.loop.ioBatch!.failNextSubmission = true
            for p in probes { _ = p.message.withUnsafeBytes { h.loop.queueSend(p, $0.baseAddress!, $0.count) } }
        }
        try h.waitUntil { probes.allSatisfy { $0.state.withLock { !$0.sendResults.isEmpty } } }
        for (i, p) in probes.enumerated() {
            #expect(p.state.withLock { $0.sendResults } == [p.message.count])
            #expect(pairs[i].peerRead() == p.message)
        }
        h.onLoop {
            let ok = probes[0].message.withUnsafeBytes { h.loop.queueSend(probes[0], $0.baseAddress!, $0.count) }
            afterwards.withLock { $0 = ok }
        }
        try h.waitUntil { afterwards.withLock { $0 != nil } }
        #expect(afterwards.withLock { $0 } == false)   // plain syscalls from now on
        #expect(h.loop.ioBatched == false)
        for p in pairs { p.close() }
    }

    @Test func anEntryTheKernelParksIsCancelledAndTheRingDropped() throws {
        // A kernel that parked a receive instead of completing it (what MSG_DONTWAIT prevents)
        // must not stall the loop: the batch cancels it, reports EAGAIN, and stops using the ring.
        let batch = try #require(IOBatch(capacity: 8))
        let ready = try SocketPair(), idle = try SocketPair()
        for fd in [ready.local, idle.local] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
        ready.peerWrite("data")
        let a = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
        defer { a.deallocate(); b.deallocate() }
        batch.queueBlockingReceives = true
        batch.queueRecv(fd: ready.local, a.baseAddress!, a.count, tag: 10)
        batch.queueRecv(fd: idle.local, b.baseAddress!, b.count, tag: 11)
        var results: [Int: Int] = [:]
        let started = MonotonicClock.now()
        batch.run { tag, result, _ in results[tag] = result }
        #expect(MonotonicClock.now() - started < 2_000_000_000)
        #expect(results[10] == 4)
        #expect(Array(a[0..<4]) == Array("data".utf8))
        #expect(results[11] == -Int(EAGAIN))
        #expect(batch.broken)
        // The cancelled receive took nothing: what arrives now is there for a plain read.
        idle.peerWrite("late")
        #expect(SocketPair.readAvailable(idle.local) == Array("late".utf8))
        for p in [ready, idle] { close(p.local); p.close() }
    }

    @Test func withoutBatchingSendsAreNotQueued() throws {
        let h = try Harness(batch: false)
        defer { h.stop() }
        let pair = try SocketPair()
        let probe = Probe(fd: pair.local, wantRecv: false)
        let result = Mutex<Bool?>(nil)
        h.onLoop {
            try! h.loop.register(probe)
            let ok = probe.message.withUnsafeBytes { h.loop.queueSend(probe, $0.baseAddress!, $0.count) }
            result.withLock { $0 = ok }
        }
        try h.waitUntil { result.withLock { $0 != nil } }
        #expect(result.withLock { $0 } == false)
        #expect(h.loop.ioBatched == false)
        pair.close()
    }
}

/// A socket the loop drives, recording what it is told.
final class Probe: Selectable, @unchecked Sendable {
    struct State { var received: [UInt8] = []; var recvResults: [Int] = []; var events: [UInt32] = []; var sendResults: [Int] = [] }
    let state = Mutex(State())
    let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
    let wantRecv: Bool
    let message: [UInt8]

    init(fd: Int32, wantRecv: Bool = true) {
        self.wantRecv = wantRecv
        self.message = Array("message for fd \(fd)".utf8)
        super.init()
        self.fd = fd
    }
    deinit { storage.deallocate() }

    override func recvTarget() -> UnsafeMutableRawBufferPointer? { wantRecv ? storage : nil }
    override func recvCompleted(_ result: Int, requested: Int) -> Bool {
        state.withLock {
            $0.recvResults.append(result)
            if result > 0 { $0.received += storage[0..<result] }
        }
        return result >= 0 && result < requested && result != 0
    }
    override func handleEvents(_ events: UInt32) { state.withLock { $0.events.append(events) } }
    override func sendCompleted(_ result: Int, requested: Int) { state.withLock { $0.sendResults.append(result) } }
}

/// One loop on its own thread; `onLoop` runs a closure inside one of its rounds.
final class Harness: @unchecked Sendable {
    let loop: EventLoop
    let thread: LoopThread
    init(batch: Bool) throws {
        let loop = try EventLoop(index: 0, bufferSize: 4096)
        loop.batchIO = batch
        self.loop = loop
        thread = LoopThread { loop.run() }
    }
    func onLoop(_ body: @escaping @Sendable () -> Void) { loop.execute(body) }
    /// Polls `done` every 5 ms for up to 5 s.
    func waitUntil(_ done: () -> Bool) throws {
        for _ in 0..<1000 {
            if done() { return }
            usleep(5000)
        }
        Issue.record("timed out after 5 s")
    }
    func stop() {
        loop.stop()
        thread.join()
        loop.closeAll()
    }
}

/// A non-blocking AF_UNIX stream pair: `local` goes to the loop, the test uses the peer end.
final class SocketPair: @unchecked Sendable {
    let local: Int32
    let peer: Int32
    init() throws {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw SocketPairError(errno: errno) }
        local = fds[0]
        peer = fds[1]
        _ = fcntl(local, F_SETFL, fcntl(local, F_GETFL) | O_NONBLOCK)
        // A small send buffer, so a large send is partial.
        var size: Int32 = 64 * 1024
        _ = setsockopt(local, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    func peerWrite(_ s: String) { _ = Array(s.utf8).withUnsafeBytes { write(peer, $0.baseAddress!, $0.count) } }
    func peerShutdown() { _ = shutdown(peer, Int32(SHUT_WR)) }
    func peerRead() -> [UInt8] { SocketPair.readAvailable(peer) }
    /// What is readable right now, without blocking.
    static func readAvailable(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }
    func close() { Glibc.close(peer) }   // `local` belongs to the loop (closed by it)
}

struct SocketPairError: Error { let errno: Int32 }
