import CSystemShims
import Glibc

/// Delivers signals through the loop (signalfd) instead of async handlers, so a handler may do
/// anything a normal loop callback may. Call `SignalSource.blockInThisThread` before spawning
/// threads so every thread inherits the mask and the signals only reach the signalfd.
public final class SignalSource: Selectable {
    private let onSignal: (Int32) -> Void

    public static func blockInThisThread(_ signals: [Int32]) {
        _ = signals.withUnsafeBufferPointer { shim_block_signals($0.baseAddress, Int32($0.count), nil) }
    }

    public init(signals: [Int32], loop: EventLoop, onSignal: @escaping (Int32) -> Void) throws {
        self.onSignal = onSignal
        super.init()
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        let fd = signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC))
        guard fd >= 0 else { throw SocketError("signalfd", errno) }
        self.fd = fd
        try loop.register(self, events: Events.readable)
    }

    public override func handleEvents(_ events: UInt32) {
        var info = signalfd_siginfo()
        while true {
            let n = Sys.read(fd, &info, MemoryLayout<signalfd_siginfo>.size)
            if n != MemoryLayout<signalfd_siginfo>.size { return }
            onSignal(Int32(info.ssi_signo))
        }
    }
}
