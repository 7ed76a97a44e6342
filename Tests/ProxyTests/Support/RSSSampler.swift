import Synchronization
import TestSupport

/// Samples VmRSS every few milliseconds on its own thread and keeps the maximum, so a transient
/// peak during a transfer is caught, not only the value at the end.
final class RSSSampler: Sendable {
    let baseline: Int
    private let peak = Atomic<Int>(0)
    private let stopFlag = StopFlag()
    private let thread = Mutex<TestThread?>(nil)

    init(intervalMs: Int = 5) {
        baseline = residentSetBytes()
        peak.store(baseline, ordering: .releasing)
        let t = TestThread { [self] in
            while !stopFlag.isRaised {
                let r = residentSetBytes()
                if r > peak.load(ordering: .acquiring) { peak.store(r, ordering: .releasing) }
                sleepMilliseconds(intervalMs)
            }
        }
        thread.withLock { $0 = t }
    }

    /// Stops sampling; returns the largest growth over the baseline seen, in bytes.
    func finish() -> Int {
        stopFlag.raise()
        if let t = thread.withLock({ x -> TestThread? in let t = x; x = nil; return t }) { t.join() }
        let r = residentSetBytes()
        return max(peak.load(ordering: .acquiring), r) - baseline
    }
}
