@testable import EventLoop
import Synchronization
import Testing
import TestSupport

/// Deterministic deadlines for the heap tests (the suite's seeded generator), so a failing seed
/// reproduces.
private struct Deadlines {
    var random: SplitMix64
    init(state: UInt64) { random = SplitMix64(seed: state) }
    mutating func next(below bound: UInt64) -> UInt64 { random.next() % bound }
}

/// One heap entry, comparable so that two multisets of entries can be compared sorted.
private struct Entry: Comparable {
    var deadline: UInt64
    var target: ObjectIdentifier
    static func < (a: Entry, b: Entry) -> Bool { (a.deadline, a.target) < (b.deadline, b.target) }
}

/// `TimerHeap` on its own: a min-heap of (deadline, target) that keeps every entry it is given.
@Suite struct TimerHeapTests {
    @Test(arguments: [1, 7, 42, 1234] as [UInt64])
    func popsEveryEntryInDeadlineOrder(seed: UInt64) {
        var rng = Deadlines(state: seed)
        var heap = TimerHeap()
        #expect(heap.isEmpty && heap.first == nil)
        let targets = (0..<500).map { _ in Selectable() }
        var pushed: [Entry] = []
        for t in targets {
            // A narrow range, so many deadlines tie.
            let deadline = 1 + rng.next(below: 200)
            heap.push(deadline, t)
            pushed.append(Entry(deadline: deadline, target: ObjectIdentifier(t)))
        }
        #expect(heap.entries.count == 500)
        #expect(heap.first == pushed.map(\.deadline).min())
        var popped: [Entry] = []
        while !heap.isEmpty {
            let e = heap.pop()
            popped.append(Entry(deadline: e.deadline, target: ObjectIdentifier(e.target)))
        }
        #expect(popped.map(\.deadline) == pushed.map(\.deadline).sorted())
        // The same (deadline, target) pairs came out: none lost, doubled or re-paired.
        #expect(popped.sorted() == pushed.sorted())
    }

    /// Pushes and pops interleaved, against a plain sorted array.
    @Test(arguments: [3, 99, 2024] as [UInt64])
    func interleavedPushesAndPopsMatchASortedModel(seed: UInt64) {
        var rng = Deadlines(state: seed)
        var heap = TimerHeap()
        var model: [Entry] = []
        let targets = (0..<64).map { _ in Selectable() }
        for _ in 0..<5000 {
            if model.isEmpty || rng.next(below: 3) != 0 {
                let t = targets[Int(rng.next(below: UInt64(targets.count)))]
                let deadline = 1 + rng.next(below: 1000)
                heap.push(deadline, t)
                model.append(Entry(deadline: deadline, target: ObjectIdentifier(t)))
            } else {
                let e = heap.pop()
                let entry = Entry(deadline: e.deadline, target: ObjectIdentifier(e.target))
                guard e.deadline == model.map(\.deadline).min() else {
                    Issue.record("popped \(e.deadline) before \(model.map(\.deadline).min() ?? 0)")
                    return
                }
                guard let at = model.firstIndex(of: entry) else {
                    Issue.record("popped \(entry), which was never pushed (or popped twice)")
                    return
                }
                model.remove(at: at)
            }
            // Stop at the first difference: later steps would only repeat it.
            guard heap.first == model.map(\.deadline).min(), heap.entries.count == model.count else {
                Issue.record("heap first \(heap.first ?? 0) / \(heap.entries.count) entries, model \(model.map(\.deadline).min() ?? 0) / \(model.count)")
                return
            }
        }
    }

    @Test func theSameTargetMayBeInTheHeapSeveralTimes() {
        var heap = TimerHeap()
        let t = Selectable()
        for d: UInt64 in [30, 10, 20, 10] { heap.push(d, t) }
        var out: [UInt64] = []
        while !heap.isEmpty {
            let e = heap.pop()
            #expect(e.target === t)
            out.append(e.deadline)
        }
        #expect(out == [10, 10, 20, 30])
    }
}

/// The order in which several `TimerProbe`s fired, by name.
final class FiringOrder: Sendable {
    let names = Mutex<[Int]>([])
}

/// Records the loop's clock at each timeout, and the order timeouts fire in across probes.
final class TimerProbe: Selectable, @unchecked Sendable {
    let loop: EventLoop
    let name: Int
    let firedAt = Mutex<[UInt64]>([])
    let order: FiringOrder?

    init(loop: EventLoop, name: Int = 0, order: FiringOrder? = nil) {
        self.loop = loop
        self.name = name
        self.order = order
        super.init()
    }

    override func handleTimeout() {
        firedAt.withLock { $0.append(loop.now) }
        order?.names.withLock { $0.append(name) }
    }

    var fired: [UInt64] { firedAt.withLock { $0 } }
}

/// The heap's lazy rescheduling as `EventLoop` uses it: moving a deadline is a field write, and
/// the stale entry is corrected when it pops. A moved deadline fires at its new time, once; a
/// cleared one never fires. Runs without io_uring.
@Suite struct LoopTimerTests {
    /// Runs `body` on the loop and returns what it returns (a deadline to check against).
    private func onLoop(_ h: Harness, _ body: @escaping @Sendable () -> UInt64) throws -> UInt64 {
        let result = Mutex<UInt64?>(nil)
        h.onLoop { let v = body(); result.withLock { $0 = v } }
        try h.waitUntil { result.withLock { $0 != nil } }
        return result.withLock { $0 } ?? 0
    }

    /// Waits for a timer `ms` from now to fire: every deadline before it has been handled then.
    private func waitPast(_ h: Harness, ms: Int64) throws {
        let sentinel = TimerProbe(loop: h.loop)
        h.onLoop { h.loop.setTimeout(sentinel, ms: ms) }
        try h.waitUntil { !sentinel.fired.isEmpty }
    }

    @Test func aDeadlineMovedLaterFiresAtItsNewTime() throws {
        let h = try Harness(batch: false)
        defer { h.stop() }
        let probe = TimerProbe(loop: h.loop)
        let moved = try onLoop(h) {
            h.loop.setTimeout(probe, ms: 10)
            let later = h.loop.now + 80_000_000
            h.loop.setDeadline(probe, later)
            return later
        }
        try h.waitUntil { !probe.fired.isEmpty }
        try waitPast(h, ms: 20)
        #expect(probe.fired.count == 1)
        #expect(probe.fired.first.map { $0 >= moved } == true)
        #expect(probe.deadline == 0)
    }

    @Test func aDeadlineMovedEarlierFiresAtItsNewTimeAndNotAgainAtTheOld() throws {
        let h = try Harness(batch: false)
        defer { h.stop() }
        let probe = TimerProbe(loop: h.loop)
        let times = Mutex<(early: UInt64, old: UInt64)>((0, 0))
        _ = try onLoop(h) {
            h.loop.setTimeout(probe, ms: 1000)
            let old = probe.deadline
            let early = h.loop.now + 10_000_000
            h.loop.setDeadline(probe, early)
            times.withLock { $0 = (early, old) }
            return early
        }
        try h.waitUntil { !probe.fired.isEmpty }
        let t = times.withLock { $0 }
        #expect(probe.fired.first.map { $0 >= t.early && $0 < t.old } == true)
        try waitPast(h, ms: 1100)   // past the stale entry at the old deadline
        #expect(probe.fired.count == 1)
    }

    @Test func aClearedDeadlineDoesNotFire() throws {
        let h = try Harness(batch: false)
        defer { h.stop() }
        let cleared = TimerProbe(loop: h.loop)
        let timer = Mutex<Bool>(false)
        _ = try onLoop(h) {
            h.loop.setTimeout(cleared, ms: 10)
            h.loop.setDeadline(cleared, 0)
            let t = h.loop.schedule(afterMS: 10) { timer.withLock { $0 = true } }
            t.cancel()
            return 0
        }
        try waitPast(h, ms: 60)
        #expect(cleared.fired.isEmpty)
        #expect(timer.withLock { $0 } == false)
    }

    @Test func aClearedThenRearmedDeadlineFiresOnceAtTheNewTime() throws {
        let h = try Harness(batch: false)
        defer { h.stop() }
        let probe = TimerProbe(loop: h.loop)
        let rearmed = try onLoop(h) {
            h.loop.setTimeout(probe, ms: 10)
            h.loop.setDeadline(probe, 0)
            h.loop.setTimeout(probe, ms: 50)
            return probe.deadline
        }
        try waitPast(h, ms: 100)
        #expect(probe.fired.count == 1)
        #expect(probe.fired.first.map { $0 >= rearmed } == true)
    }

    /// Many timers, each moved a few times: each fires once, at or after its final deadline,
    /// and they fire in the order of their final deadlines.
    @Test func movedTimersFireInTheOrderOfTheirFinalDeadlines() throws {
        let h = try Harness(batch: false)
        defer { h.stop() }
        let order = FiringOrder()
        let probes = (0..<40).map { TimerProbe(loop: h.loop, name: $0, order: order) }
        let finals = Mutex<[UInt64]>([])
        _ = try onLoop(h) {
            var rng = Deadlines(state: 5)
            let start = h.loop.now
            var last: [UInt64] = []
            for p in probes {
                for _ in 0..<4 { h.loop.setDeadline(p, start + (5 + rng.next(below: 150)) * 1_000_000) }
                last.append(p.deadline)
            }
            finals.withLock { $0 = last }
            return 0
        }
        try h.waitUntil { probes.allSatisfy { !$0.fired.isEmpty } }
        try waitPast(h, ms: 20)
        let final = finals.withLock { $0 }
        for (i, p) in probes.enumerated() {
            #expect(p.fired.count == 1, "timer \(i) fired \(p.fired.count) times")
            #expect(p.fired.first.map { $0 >= final[i] } == true, "timer \(i) fired before its deadline")
        }
        let fired = order.names.withLock { $0 }
        #expect(fired.count == probes.count)
        #expect(fired.map { final[$0] } == fired.map { final[$0] }.sorted())
    }
}
