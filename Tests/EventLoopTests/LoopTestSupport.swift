@testable import EventLoop
import Glibc
import Synchronization
import Testing
import TestSupport

/// A socket the loop drives, recording what it is told.
final class Probe: Selectable, @unchecked Sendable {
    struct State { var received: [UInt8] = []; var recvResults: [Int] = []; var events: [UInt32] = []; var sendResults: [Int] = [] }
    let state = Mutex(State())
    let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
    let wantRecv: Bool
    let message: [UInt8]

    init(fd: Int32, wantRecv: Bool = true) {
        self.wantRecv = wantRecv
        self.message = Array("message for fd \(fd)".utf8)
        super.init()
        self.fd = fd
    }
    deinit { storage.deallocate() }

    override func recvTarget() -> UnsafeMutableRawBufferPointer? { wantRecv ? storage : nil }
    override func recvCompleted(_ result: Int, requested: Int) -> Bool {
        state.withLock {
            $0.recvResults.append(result)
            if result > 0 { $0.received += storage[0..<result] }
        }
        return result >= 0 && result < requested && result != 0
    }
    override func handleEvents(_ events: UInt32) { state.withLock { $0.events.append(events) } }
    override func sendCompleted(_ result: Int, requested: Int) { state.withLock { $0.sendResults.append(result) } }
}

/// One loop on its own thread; `onLoop` runs a closure inside one of its rounds.
final class Harness: @unchecked Sendable {
    let loop: EventLoop
    let thread: LoopThread
    init(batch: Bool) throws {
        let loop = try EventLoop(index: 0, bufferSize: 4096)
        loop.batchIO = batch
        self.loop = loop
        thread = LoopThread { loop.run() }
    }
    func onLoop(_ body: @escaping @Sendable () -> Void) { loop.execute(body) }
    /// Waits up to 5 s for `done` (the tests' one poll-until), recording a failure if it never holds.
    func waitUntil(_ done: () -> Bool) throws {
        if !pollUntil(timeout: 5, done) { Issue.record("timed out after 5 s") }
    }
    func stop() {
        loop.stop()
        thread.join()
        loop.closeAll()
    }
}

/// A non-blocking AF_UNIX stream pair: `local` goes to the loop, the test uses the peer end.
final class SocketPair: @unchecked Sendable {
    let local: Int32
    let peer: Int32
    init() throws {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw SocketPairError(errno: errno) }
        local = fds[0]
        peer = fds[1]
        _ = fcntl(local, F_SETFL, fcntl(local, F_GETFL) | O_NONBLOCK)
        // A small send buffer, so a large send is partial.
        var size: Int32 = 64 * 1024
        _ = setsockopt(local, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    func peerWrite(_ s: String) { _ = Array(s.utf8).withUnsafeBytes { write(peer, $0.baseAddress!, $0.count) } }
    func peerShutdown() { _ = shutdown(peer, Int32(SHUT_WR)) }
    func peerRead() -> [UInt8] { SocketPair.readAvailable(peer) }
    /// What is readable right now, without blocking.
    static func readAvailable(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }
    func close() { Glibc.close(peer) }   // `local` belongs to the loop (closed by it)
}

struct SocketPairError: Error { let errno: Int32 }
