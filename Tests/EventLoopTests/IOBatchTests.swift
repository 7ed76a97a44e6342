@testable import EventLoop
import Glibc
import Synchronization
import Testing

/// Why the io_uring tests cannot run here (the kernel refused a ring: before Linux 6.0, under a
/// seccomp profile such as Docker's default, or with kernel.io_uring_disabled), or nil.
let ioUringUnavailable: String? = {
    let errno = EventLoop.ioUringProbe()
    guard errno != 0 else { return nil }
    return "io_uring is not available here (setting up a ring failed: \(String(cString: strerror(errno)))); "
        + "the loop tests that need no ring run in UnbatchedLoopTests"
}()

/// The io_uring batch (`IOBatch`) through a real loop and real sockets (AF_UNIX socket pairs):
/// receives of one round, queued sends, a send cancelled by a close, partial sends, a refused
/// submission, a parked entry. Skipped, with the reason, where the kernel refuses io_uring.
@Suite(.enabled(if: ioUringUnavailable == nil, Comment(rawValue: ioUringUnavailable ?? "")))
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
}

/// The loop's plain-syscall path, which needs no io_uring: these run whether or not the kernel
/// allows a ring.
@Suite struct UnbatchedLoopTests {
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

    @Test func withoutBatchingReceivesAreLeftToTheHandler() throws {
        let h = try Harness(batch: false)
        defer { h.stop() }
        let pair = try SocketPair()
        pair.peerWrite("hello")
        let probe = Probe(fd: pair.local)
        h.onLoop { try! h.loop.register(probe) }
        try h.waitUntil { probe.state.withLock { !$0.events.isEmpty } }
        let s = probe.state.withLock { $0 }
        #expect(s.recvResults.isEmpty)          // recvTarget was never asked
        #expect(s.received.isEmpty)
        #expect(s.events.first.map { $0 & Events.readable } == Events.readable)
        #expect(SocketPair.readAvailable(pair.local) == Array("hello".utf8))
        pair.close()
    }

    /// Where the kernel refuses io_uring, a loop asked to batch runs on plain syscalls.
    @Test(.enabled(if: ioUringUnavailable != nil, "io_uring works here, so a refused ring cannot be observed"))
    func aLoopAskedToBatchWithoutIoUringUsesPlainSyscalls() throws {
        let h = try Harness(batch: true)
        defer { h.stop() }
        let pair = try SocketPair()
        pair.peerWrite("hello")
        let probe = Probe(fd: pair.local)
        let queued = Mutex<Bool?>(nil)
        h.onLoop {
            try! h.loop.register(probe)
            let ok = probe.message.withUnsafeBytes { h.loop.queueSend(probe, $0.baseAddress!, $0.count) }
            queued.withLock { $0 = ok }
        }
        try h.waitUntil { probe.state.withLock { !$0.events.isEmpty } && queued.withLock { $0 != nil } }
        #expect(h.loop.ioBatched == false)
        #expect(queued.withLock { $0 } == false)
        #expect(probe.state.withLock { $0.recvResults }.isEmpty)
        #expect(SocketPair.readAvailable(pair.local) == Array("hello".utf8))
        pair.close()
    }
}
