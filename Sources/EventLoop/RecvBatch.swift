import CSystemShims
import Glibc

/// The receives of one epoll round, batched into one `io_uring_enter(2)`.
///
/// After `epoll_wait`, each readable handler that wants to read at once (`Selectable.recvTarget`)
/// gets a non-blocking recv queued on a per-loop io_uring; one syscall runs them all, and each
/// result goes back (`Selectable.recvCompleted`) before any event is dispatched. On a busy
/// proxy an epoll round reports dozens of sockets, so the two recv(2) calls of every request
/// become a fraction of one syscall. The receives use MSG_DONTWAIT, so the kernel completes
/// each inline (data or -EAGAIN) and never keeps one, or its buffer, past the batch.
///
/// Without io_uring (an old kernel, or a seccomp profile that refuses it) the loop reads with
/// recv(2) as before; `EventLoop.batchReceives` turns the batch off altogether.
final class RecvBatch {
    private let ring: UnsafeMutablePointer<shim_uring>
    /// Bytes asked for, by event index.
    private let requested: UnsafeMutablePointer<Int>
    let capacity: Int

    /// nil when the kernel refuses io_uring (the reason is in `setupError`).
    init?(capacity: Int) {
        ring = .allocate(capacity: 1)
        requested = .allocate(capacity: capacity)
        self.capacity = capacity
        let r = shim_uring_init(ring, UInt32(capacity))
        guard r == 0, Int(ring.pointee.sq_entries) >= capacity else {
            RecvBatch.setupError = r == 0 ? -ENOMEM : -r
            if r == 0 { shim_uring_free(ring) }
            ring.deallocate()
            requested.deallocate()
            return nil
        }
    }

    deinit {
        shim_uring_free(ring)
        ring.deallocate()
        requested.deallocate()
    }

    /// The errno of the last refused setup (0 = none), for the startup log.
    nonisolated(unsafe) static var setupError: Int32 = 0

    @inline(__always)
    func queue(fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int, event: Int) {
        requested[event] = count
        shim_uring_prep_recv(ring, fd, buf, UInt32(count), UInt64(event))
    }

    var queued: Int { Int(shim_uring_queued(ring)) }

    /// Runs the queued receives and calls `done(event, result, requested)` for each, result as
    /// recv(2) gives it (bytes or -errno). A lone receive runs as a plain recv(2) (cheaper than
    /// a ring round trip). Returns false if the ring failed: the caller must stop using it
    /// (events without a result are then read the ordinary way).
    func run(_ done: (Int, Int, Int) -> Void) -> Bool {
        let n = queued
        if n == 0 { return true }
        if n == 1 {
            let sqe = shim_uring_queued_sqe(ring, 0)!.pointee
            shim_uring_unqueue(ring)
            let event = Int(sqe.user_data)
            let res = Sys.recv(sqe.fd, UnsafeMutableRawPointer(bitPattern: UInt(sqe.addr))!, Int(sqe.len))
            done(event, res, requested[event])
            return true
        }
        var submitted = shim_uring_enter(ring, 0)
        while submitted == -Int(EINTR) { submitted = shim_uring_enter(ring, 0) }
        let ok = submitted == n
        // Entries the kernel took own their buffers until they complete: reap every one.
        let expect = max(submitted, 0)
        var reaped = 0
        var userData: UInt64 = 0
        var res: Int32 = 0
        while reaped < expect {
            if shim_uring_reap(ring, &userData, &res) == 0 {
                _ = shim_uring_enter(ring, UInt32(expect - reaped))   // not inline: wait for it
                continue
            }
            reaped += 1
            let event = Int(userData)
            done(event, Int(res), requested[event])
        }
        if !ok { shim_uring_unqueue(ring) }
        return ok
    }
}
