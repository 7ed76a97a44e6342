/// Anything the loop delivers readiness or a timeout to: a listener, a client or upstream
/// connection, a signalfd. Subclasses are `final`; dispatch is one vtable call per event.
///
/// Sockets are registered once, edge-triggered, for both directions, so there is no
/// `epoll_ctl` churn when a connection switches between reading and writing.
open class Selectable {
    /// The descriptor, or -1 once closed.
    public final var fd: Int32 = -1
    /// Generation stored in epoll's data next to the fd; an event for a reused fd number is stale.
    final var generation: UInt32 = 0
    /// Absolute monotonic deadline in ns (0 = none). Moving it is a field write: the timer heap
    /// is only corrected lazily when an old entry fires (see `TimerHeap`).
    public final var deadline: UInt64 = 0
    final var heapDeadline: UInt64 = 0
    public final var isClosed: Bool = false
    /// Position of this object's send in the loop's current batch (`EventLoop.queueSend`), or -1.
    public internal(set) final var sendPosition = -1
    /// A send is queued: write nothing else to the socket until `sendCompleted`.
    @inline(__always) public final var sendQueued: Bool { sendPosition >= 0 }

    public init() {}

    /// `events` is a mask of `Events` bits.
    open func handleEvents(_ events: UInt32) {}
    /// Called once when `deadline` passes; the deadline is cleared before the call.
    open func handleTimeout() {}
    /// Batched receive (`RecvBatch`): where to receive into now that epoll reported this socket
    /// readable, or nil to leave reading to `handleEvents`. Must have no other effect.
    open func recvTarget() -> UnsafeMutableRawBufferPointer? { nil }
    /// The batched receive's result, as recv(2) returns it (bytes, or -errno), delivered before
    /// `handleEvents`. Return true when the socket is known to be empty now: the event is then
    /// delivered without its readable bit, so no recv(2) is spent finding EAGAIN.
    open func recvCompleted(_ result: Int, requested: Int) -> Bool { false }
    /// The result of the send queued with `EventLoop.queueSend`, as send(2) returns it (bytes
    /// taken, or -errno), and the bytes it asked for. Not called if the socket was closed first.
    open func sendCompleted(_ result: Int, requested: Int) {}
    /// Called by `EventLoop.closeAll` before the descriptor is closed: drop references to other
    /// objects (breaking cycles) and return buffers.
    open func loopWillClose() {}
}

/// epoll event bits, imported once.
public enum Events {
    public static let readable: UInt32 = 0x001      // EPOLLIN
    public static let writable: UInt32 = 0x004      // EPOLLOUT
    public static let error: UInt32 = 0x008         // EPOLLERR
    public static let hangup: UInt32 = 0x010        // EPOLLHUP
    public static let readHangup: UInt32 = 0x2000   // EPOLLRDHUP
    public static let edgeTriggered: UInt32 = 1 << 31
}

/// Min-heap of (deadline, target). Entries are never removed early: when one pops, the loop
/// checks the target's current deadline and re-inserts it if it moved later (HAProxy/nginx keep
/// one ordered structure per worker too; this variant makes "extend timeout" free).
struct TimerHeap {
    private(set) var entries: [(deadline: UInt64, target: Selectable)] = []

    var isEmpty: Bool { entries.isEmpty }
    var first: UInt64? { entries.first?.deadline }

    mutating func push(_ deadline: UInt64, _ target: Selectable) {
        entries.append((deadline, target))
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) >> 1
            if entries[parent].deadline <= entries[i].deadline { break }
            entries.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> (deadline: UInt64, target: Selectable) {
        let top = entries[0]
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var i = 0
            let n = entries.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var c = l
                if l + 1 < n && entries[l + 1].deadline < entries[l].deadline { c = l + 1 }
                if entries[i].deadline <= entries[c].deadline { break }
                entries.swapAt(i, c)
                i = c
            }
        }
        return top
    }
}

/// A one-shot timer with no descriptor (see `EventLoop.schedule`).
public final class LoopTimer: Selectable {
    private var body: (() -> Void)?
    init(_ body: @escaping () -> Void) {
        self.body = body
        super.init()
    }
    public func cancel() {
        body = nil
        deadline = 0
    }
    public override func handleTimeout() {
        let b = body
        body = nil
        b?()
    }
}
