import Glibc

/// Runs a closure on a dedicated pthread (one per event loop) and can be joined.
public final class LoopThread: @unchecked Sendable {
    private var thread = pthread_t()
    private final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }

    public init(_ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let r = pthread_create(&thread, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            b.body()
            return nil
        }, box)
        precondition(r == 0, "pthread_create failed: \(r)")
    }

    public func join() {
        pthread_join(thread, nil)
    }
}
