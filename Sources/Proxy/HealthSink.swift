import EventLoop
import Synchronization

/// A passive health observation from a worker, delivered to the control loop's monitor.
public struct HealthEvent: Sendable {
    public enum Kind: Sendable {
        case failure(String)
        case success
        case probeStarted
        case probeAbandoned
    }
    public var key: String
    public var kind: Kind
    /// When the request started (monotonic ms): the monitor ignores results older than a state change.
    public var startedMS: Int64
}

/// Where workers send health events: the control loop, once a monitor is attached. Until then
/// (and in tests that run no monitor) events are dropped.
public final class HealthSink: Sendable {
    private struct Target: @unchecked Sendable {
        let loop: EventLoop
        let handler: (HealthEvent) -> Void
    }
    /// Taken only when an event is sent: failures and probation, never for a healthy request.
    private let target = Mutex<Target?>(nil)

    public init() {}

    /// `handler` runs on `loop`'s thread.
    public func attach(loop: EventLoop, handler: @escaping (HealthEvent) -> Void) {
        target.withLock { $0 = Target(loop: loop, handler: handler) }
    }

    func send(_ e: HealthEvent) {
        guard let t = target.withLock({ $0 }) else { return }
        t.loop.execute { t.handler(e) }
    }
}
