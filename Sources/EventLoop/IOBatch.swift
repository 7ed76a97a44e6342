import CSystemShims
import Glibc

/// Socket receives and sends of one loop round, batched into one `io_uring_enter(2)` each.
///
/// Receives: after `epoll_wait`, each readable handler that wants to read at once
/// (`Selectable.recvTarget`) gets a recv queued; one syscall runs them all, and each result goes
/// back (`Selectable.recvCompleted`) before any event is dispatched.
/// Sends: a handler may queue a send (`EventLoop.queueSend`) instead of calling send(2); the
/// loop runs the round's sends together after dispatching, and hands each result back
/// (`Selectable.sendCompleted`). The bytes stay where they are (the handler's buffer) and the
/// handler writes nothing else to that socket until then.
///
/// On a busy proxy a round covers dozens of sockets, so the four socket syscalls of a request
/// become a small fraction of two. Every entry uses MSG_DONTWAIT: the kernel completes it inline
/// (bytes, or -EAGAIN) and never keeps one, or its buffer, past the batch. A lone entry runs as
/// a plain syscall (cheaper than a ring round trip).
///
/// Without io_uring (an old kernel, or a seccomp profile that refuses it) the loop uses plain
/// syscalls as before; if a submission ever fails, the batch finishes its entries with plain
/// syscalls and the loop stops using the ring.
final class IOBatch {
    private let ring: UnsafeMutablePointer<shim_uring>
    /// Per queued entry, by position in the batch (its user_data): bytes asked for, the caller's
    /// tag, and (after `run`) the result.
    private let lengths: UnsafeMutablePointer<Int>
    private let tags: UnsafeMutablePointer<Int>
    private let results: UnsafeMutablePointer<Int>
    let capacity: Int
    /// A submission failed: the ring is closed and must not be used again.
    private(set) var broken = false
    /// Tests: the next submission fails as if the kernel refused it.
    var failNextSubmission = false
    /// Tests: receives are queued without MSG_DONTWAIT, so one on an empty blocking socket parks.
    var queueBlockingReceives = false

    /// nil when the kernel refuses io_uring (the errno is in `setupError`).
    init?(capacity: Int) {
        ring = .allocate(capacity: 1)
        let r = shim_uring_init(ring, UInt32(capacity))
        guard r == 0, Int(ring.pointee.sq_entries) >= capacity else {
            IOBatch.setupError = r == 0 ? ENOMEM : -r
            if r == 0 { shim_uring_free(ring) }
            ring.deallocate()
            return nil
        }
        self.capacity = capacity
        lengths = .allocate(capacity: capacity)
        tags = .allocate(capacity: capacity)
        results = .allocate(capacity: capacity)
    }

    deinit {
        shim_uring_free(ring)
        ring.deallocate()
        lengths.deallocate()
        tags.deallocate()
        results.deallocate()
    }

    /// user_data of the cancel entry (positions are small).
    static let cancelTag = UInt64.max

    /// The errno of the last refused setup (0 = none), for the startup log.
    nonisolated(unsafe) static var setupError: Int32 = 0

    /// A broken batch (its ring closed) takes nothing more: full, with nothing queued.
    @inline(__always) var queued: Int { broken ? 0 : Int(shim_uring_queued(ring)) }
    @inline(__always) var isFull: Bool { broken || queued >= capacity }

    /// Queues a recv; `tag` comes back with its result. The caller checks `isFull` first.
    @inline(__always)
    func queueRecv(fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int, tag: Int) {
        let k = queued
        lengths[k] = count
        tags[k] = tag
        shim_uring_prep_socket_op(ring, shim_IORING_OP_RECV(), fd, buf, UInt32(count), 0, queueBlockingReceives ? 0 : 1, UInt64(k))
    }

    /// Queues a send; returns its position in this batch (for `cancel`).
    @inline(__always)
    func queueSend(fd: Int32, _ buf: UnsafeRawPointer, _ count: Int, tag: Int) -> Int {
        let k = queued
        lengths[k] = count
        tags[k] = tag
        shim_uring_prep_send(ring, fd, buf, UInt32(count), UInt64(k))
        return k
    }

    /// The entry at position `k` (queued, not yet run) will do nothing: its socket is closing.
    func cancel(position k: Int) {
        guard !broken else { return }
        shim_uring_cancel_queued(ring, UInt32(k))
    }

    /// Runs every queued entry and calls `done(tag, result, requested)` for each, in queue
    /// order, result as the syscall gives it (bytes or -errno; 0 for a cancelled entry). All
    /// results are collected before the first `done`, so `done` may queue the next batch.
    func run(_ done: (Int, Int, Int) -> Void) {
        let n = queued
        if n == 0 { return }
        let start = shim_uring_batch_start(ring)
        if n == 1 {
            runQueuedDirectly(start: start, from: 0, count: 1)
            shim_uring_unqueue(ring)
        } else {
            var submitted = failNextSubmission ? -Int(EBUSY) : shim_uring_enter(ring, 0)
            while submitted == -Int(EINTR) { submitted = shim_uring_enter(ring, 0) }
            let taken = max(0, min(submitted, n))
            // Entries the kernel took own their buffers until they complete: reap every one.
            // Non-blocking entries complete inside the submission; one that did not was parked
            // by the kernel (it did not honour MSG_DONTWAIT), so cancel what is in flight, wait
            // for every completion (a cancelled entry moved no bytes: -EAGAIN), and stop using
            // the ring rather than let a parked entry stall the loop.
            var reaped = 0
            var cancelling = false
            var cancelDone = false
            var userData: UInt64 = 0
            var res: Int32 = 0
            while reaped < taken || (cancelling && !cancelDone) {
                if shim_uring_reap(ring, &userData, &res) == 0 {
                    if !cancelling {
                        cancelling = true
                        shim_uring_prep_cancel_all(ring, IOBatch.cancelTag)
                    }
                    _ = shim_uring_enter(ring, 1)   // submits the cancel (once), waits for a completion
                    continue
                }
                if userData == IOBatch.cancelTag { cancelDone = true; continue }
                // Completions may come in any order: user_data is the entry's position.
                results[Int(userData)] = res == -ECANCELED ? -Int(EAGAIN) : Int(res)
                reaped += 1
            }
            if taken < n || cancelling {
                // The kernel refused part of the batch, or parked an entry. Finish what it did
                // not take with plain syscalls, then drop the ring (its unconsumed entries must
                // never run later).
                if taken < n { runQueuedDirectly(start: start, from: taken, count: n - taken) }
                broken = true
                shim_uring_free(ring)
            }
        }
        for k in 0..<n {
            done(tags[k], results[k], lengths[k])
        }
    }

    /// Performs queued entries `from..<from+count` with plain syscalls, recording each result.
    private func runQueuedDirectly(start: UInt32, from: Int, count: Int) {
        for k in from..<(from + count) {
            let sqe = shim_uring_sqe_at(ring, start &+ UInt32(k))!.pointee
            let op = Int32(sqe.opcode)
            if op == shim_IORING_OP_RECV() {
                results[k] = Sys.recv(sqe.fd, UnsafeMutableRawPointer(bitPattern: UInt(sqe.addr))!, Int(sqe.len))
            } else if op == shim_IORING_OP_SEND() {
                results[k] = Sys.write(sqe.fd, UnsafeRawPointer(bitPattern: UInt(sqe.addr))!, Int(sqe.len))
            } else {
                results[k] = 0   // cancelled
            }
        }
    }
}
