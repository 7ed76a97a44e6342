import CSystemShims
import Glibc
import Synchronization

/// One epoll reactor, owned by one thread. Everything registered with it is touched only from
/// that thread; other threads reach it through `execute`, which queues a closure and writes the
/// loop's eventfd (only when no wake-up is already pending).
public final class EventLoop: @unchecked Sendable {
    public let epollFD: Int32
    private let wakeFD: Int32
    private var handlers: [Selectable?] = []
    private var nextGeneration: UInt32 = 1
    private var timers = TimerHeap()
    private let events: UnsafeMutablePointer<epoll_event>
    private let maxEvents: Int32 = 256
    private var running = false

    private let tasks = Mutex<[@Sendable () -> Void]>([])
    private let wakePending = Atomic<Bool>(false)

    /// Monotonic ns, refreshed once per loop iteration.
    public private(set) var now: UInt64
    /// Loop-local buffer pool.
    public let buffers: BufferPool
    /// Loop index (0...workers-1), for logs and per-loop state.
    public let index: Int
    /// Batch each round's socket receives and sends through io_uring (`IOBatch`) when the kernel
    /// allows it. Set before `run()`.
    public var batchIO = false
    /// True while `run()` batches I/O (false if io_uring was refused or failed).
    public var ioBatched: Bool { ioBatch != nil }
    private(set) var ioBatch: IOBatch? = nil
    /// Owners of the queued sends, by tag; nil once cancelled. `spareOwners` is the other half
    /// of a double buffer, so completing one batch can queue the next without allocating.
    private var sendOwners: [Selectable?] = []
    private var spareOwners: [Selectable?] = []
    /// Sends may be queued: inside `run()`'s round, where the loop flushes them before waiting.
    private var inRound = false

    public init(index: Int = 0, bufferSize: Int = 32 * 1024) throws {
        self.index = index
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw SocketError("epoll_create1", errno) }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw SocketError("eventfd", errno) }
        events = .allocate(capacity: Int(maxEvents))
        now = MonotonicClock.now()
        buffers = BufferPool(bufferSize: bufferSize)
        var ev = epoll_event()
        ev.events = Events.readable
        ev.data.u64 = UInt64.max
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &ev) == 0 else { throw SocketError("epoll_ctl(eventfd)", errno) }
    }

    deinit {
        Sys.close(wakeFD)
        Sys.close(epollFD)
        events.deallocate()
    }

    /// Registers `s` (whose `fd` is set) for edge-triggered readiness in both directions.
    public func register(_ s: Selectable, events mask: UInt32 = Events.readable | Events.writable | Events.readHangup | Events.edgeTriggered) throws(SocketError) {
        let fd = Int(s.fd)
        if fd >= handlers.count {
            handlers.append(contentsOf: repeatElement(nil, count: max(fd + 1 - handlers.count, handlers.count)))
        }
        nextGeneration &+= 1
        if nextGeneration == UInt32.max { nextGeneration = 1 }
        s.generation = nextGeneration
        s.isClosed = false
        handlers[fd] = s
        var ev = epoll_event()
        ev.events = mask
        ev.data.u64 = UInt64(s.generation) << 32 | UInt64(UInt32(bitPattern: s.fd))
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, s.fd, &ev) != 0 {
            handlers[fd] = nil
            throw SocketError("epoll_ctl(add)", errno)
        }
    }

    /// Removes `s` from the loop and closes its descriptor (close removes it from epoll).
    public func close(_ s: Selectable, abortive: Bool = false) {
        guard !s.isClosed else { return }
        cancelSend(s)
        s.isClosed = true
        s.deadline = 0
        if s.fd >= 0 {
            if Int(s.fd) < handlers.count, handlers[Int(s.fd)] === s { handlers[Int(s.fd)] = nil }
            if abortive { Sys.abortiveClose(s.fd) } else { Sys.close(s.fd) }
            s.fd = -1
        }
    }

    /// Closes everything still registered (after `run()` returned), so a stopped loop leaks no
    /// descriptors even when connections were mid-exchange.
    public func closeAll() {
        for case let h? in handlers {
            h.loopWillClose()
            close(h)
        }
        timers = TimerHeap()
    }

    /// Removes `s` from epoll without closing the fd (for handing a descriptor elsewhere).
    public func deregister(_ s: Selectable) {
        guard s.fd >= 0 else { return }
        cancelSend(s)
        var ev = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, s.fd, &ev)
        if Int(s.fd) < handlers.count, handlers[Int(s.fd)] === s { handlers[Int(s.fd)] = nil }
        s.isClosed = true
        s.deadline = 0
    }

    /// Arms (or moves, or with 0 clears) `s`'s single deadline.
    @inline(__always)
    public func setDeadline(_ s: Selectable, _ at: UInt64) {
        s.deadline = at
        if at != 0 && (s.heapDeadline == 0 || at < s.heapDeadline) {
            s.heapDeadline = at
            timers.push(at, s)
        }
    }

    /// Deadline `ms` milliseconds from the loop's cached clock.
    @inline(__always)
    public func setTimeout(_ s: Selectable, ms: Int64) {
        setDeadline(s, now &+ UInt64(ms) &* 1_000_000)
    }

    /// Runs `body` on this loop's thread after `ms` milliseconds (call from the loop's thread).
    /// Returns the timer; `cancel` it to drop it.
    @discardableResult
    public func schedule(afterMS ms: Int64, _ body: @escaping () -> Void) -> LoopTimer {
        let t = LoopTimer(body)
        setTimeout(t, ms: ms)
        return t
    }

    /// Runs `task` on this loop's thread (thread-safe).
    public func execute(_ task: @escaping @Sendable () -> Void) {
        tasks.withLock { $0.append(task) }
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing) {
            var one: UInt64 = 1
            _ = Glibc.write(wakeFD, &one, 8)
        }
    }

    /// Stops `run()` after the current iteration (thread-safe).
    public func stop() {
        execute { [unowned self] in self.running = false }
    }

    /// Runs until `stop()`.
    public func run() {
        running = true
        if batchIO && ioBatch == nil {
            ioBatch = IOBatch(capacity: Int(maxEvents) * 4)
        }
        inRound = true
        defer { inRound = false }
        while running {
            let timeout = nextTimeoutMS()
            let n = shim_epoll_wait(epollFD, events, maxEvents, timeout)
            now = MonotonicClock.now()
            if n < 0 {
                if n == -Int(EINTR) { continue }
                fatalError("epoll_wait: \(SocketError.text(Int32(-n)))")
            }
            if n > 1, let batch = ioBatch { receiveBatched(Int(n), batch) }
            var i = 0
            while i < Int(n) {
                let ev = events[i]
                i += 1
                if ev.data.u64 == UInt64.max { drainTasks(); continue }
                handler(ev.data.u64)?.handleEvents(ev.events)
            }
            runTimers()
            flushSends()
        }
    }

    /// Whether this kernel lets a loop batch I/O through io_uring: 0, or the errno that setting up
    /// a ring failed with (ENOSYS on old kernels, EPERM under seccomp or io_uring_disabled).
    public static func ioUringProbe() -> Int32 {
        if IOBatch(capacity: 8) != nil { return 0 }
        return IOBatch.setupError
    }

    /// Queues a send of `count` bytes at `buf` to `s`'s socket, run with the round's other sends
    /// before the loop waits again; the result comes to `s.sendCompleted`. Until then the bytes
    /// must stay put and nothing else may be written to the socket. False when sends are not
    /// batched (no io_uring, outside the loop's round, one already queued for `s`, or the batch
    /// is full): send it yourself.
    public func queueSend(_ s: Selectable, _ buf: UnsafeRawPointer, _ count: Int) -> Bool {
        guard inRound, let batch = ioBatch, s.sendPosition < 0, !batch.isFull, count <= Int(UInt32.max) else { return false }
        // Only sends are queued between rounds' receive batches, so an entry's position in the
        // batch is its owner's index in sendOwners.
        s.sendPosition = batch.queueSend(fd: s.fd, buf, count, tag: sendOwners.count)
        assert(s.sendPosition == sendOwners.count)
        sendOwners.append(s)
        return true
    }

    /// Drops `s`'s queued send: it will not run, and no result comes (closing does this too).
    public func cancelQueuedSend(_ s: Selectable) { cancelSend(s) }

    private func cancelSend(_ s: Selectable) {
        guard s.sendPosition >= 0, let batch = ioBatch else { return }
        batch.cancel(position: s.sendPosition)
        sendOwners[s.sendPosition] = nil
        s.sendPosition = -1
    }

    /// Runs the queued sends, and those their completions queue, until none is left.
    private func flushSends() {
        while let batch = ioBatch, batch.queued > 0 {
            swap(&sendOwners, &spareOwners)
            // From here these entries cannot be cancelled (they run now), and a completion below
            // may queue a new send for its owner.
            for case let s? in spareOwners { s.sendPosition = -1 }
            batch.run { [self] tag, result, requested in
                // A completion before this one may have closed it (e.g. a client and its upstream).
                guard let s = spareOwners[tag], !s.isClosed else { return }
                s.sendCompleted(result, requested: requested)
            }
            spareOwners.removeAll(keepingCapacity: true)
            if batch.broken { dropBatch() }
        }
    }

    private func dropBatch() {
        ioBatch = nil
        let line = Array("switchyard: worker \(index): io_uring submission failed; plain socket syscalls from now on\n".utf8)
        _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress!, $0.count) }
    }

    /// The live handler an event's data names (fd and generation), or nil for a stale event.
    @inline(__always)
    private func handler(_ data: UInt64) -> Selectable? {
        let fd = Int(UInt32(truncatingIfNeeded: data))
        let gen = UInt32(truncatingIfNeeded: data >> 32)
        guard fd < handlers.count, let h = handlers[fd], h.generation == gen, !h.isClosed else { return nil }
        return h
    }

    /// Runs the receives of this round's readable sockets as one batch (see `IOBatch`).
    /// Nothing else runs between `recvTarget` and `recvCompleted`, so every handler is still
    /// the one its event names.
    private func receiveBatched(_ n: Int, _ batch: IOBatch) {
        var i = 0
        while i < n && !batch.isFull {
            let ev = events[i]
            i += 1
            guard ev.events & Events.readable != 0, ev.data.u64 != UInt64.max,
                  let h = handler(ev.data.u64), let target = h.recvTarget() else { continue }
            batch.queueRecv(fd: h.fd, target.baseAddress!, target.count, tag: i - 1)
        }
        batch.run { [self] event, result, requested in
            let fd = Int(UInt32(truncatingIfNeeded: events[event].data.u64))
            if handlers[fd]!.recvCompleted(result, requested: requested) {
                events[event].events &= ~Events.readable
            }
        }
        if batch.broken { dropBatch() }
    }

    private func nextTimeoutMS() -> Int32 {
        guard let first = timers.first else { return 1000 }
        if first <= now { return 0 }
        let ms = (first - now + 999_999) / 1_000_000
        return Int32(min(ms, 1000))
    }

    private func runTimers() {
        while let first = timers.first, first <= now {
            let (at, s) = timers.pop()
            guard at == s.heapDeadline else { continue }   // superseded by an earlier entry
            s.heapDeadline = 0
            guard !s.isClosed, s.deadline != 0 else { continue }
            if s.deadline > now {
                s.heapDeadline = s.deadline
                timers.push(s.deadline, s)
                continue
            }
            s.deadline = 0
            s.handleTimeout()
        }
    }

    private func drainTasks() {
        var counter: UInt64 = 0
        _ = Glibc.read(wakeFD, &counter, 8)
        wakePending.store(false, ordering: .releasing)
        let batch = tasks.withLock { t -> [@Sendable () -> Void] in
            let b = t
            t.removeAll()
            return b
        }
        for t in batch { t() }
    }
}
