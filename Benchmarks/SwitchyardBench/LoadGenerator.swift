import EventLoop
import Glibc
import Synchronization

/// What one load run measured, whichever driver produced it.
struct LoadResult {
    var requests = 0
    var seconds = 0.0
    var p50US = 0.0
    var p99US = 0.0
    var errors = 0
    var non2xx = 0
    var rps: Double { seconds > 0 ? Double(requests) / seconds : 0 }
}

/// The load core's one event loop, running for the whole bench on its own thread. The built-in
/// load generator's clients and (with `--upstream origin`) both origin servers share it, so a
/// request going client → proxy → upstream → proxy → client costs the load core no context
/// switch at all: one epoll_wait collects client and upstream events alike. That keeps the load
/// side cheaper than the proxy under test, which is the point (see the busy-core rule).
final class LoadSide: @unchecked Sendable {
    let loop: EventLoop
    private var thread: LoopThread? = nil
    private let finished = Mutex<LoadResult?>(nil)

    init() throws {
        loop = try EventLoop(index: 0, bufferSize: 64 * 1024)
    }

    /// Starts the loop thread (after anything that must be registered before it runs).
    func start() {
        let loop = self.loop
        thread = LoopThread { loop.run() }
    }

    /// Runs `scenario` with the built-in generator against 127.0.0.1:`port` for `seconds`.
    func run(port: UInt16, scenario: Scenario, seconds: Double) throws -> LoadResult {
        let box = UncheckedBox(LoadGenerator(loop: loop, port: port, scenario: scenario))
        finished.withLock { $0 = nil }
        loop.execute { box.value.begin() }
        Clock.sleep(ms: Int(seconds * 1000))
        loop.execute { [self] in
            let r = box.value.finish()
            finished.withLock { $0 = r }
        }
        let deadline = Clock.nowNS() + 10_000_000_000
        while Clock.nowNS() < deadline {
            if let r = finished.withLock({ $0 }) { return r }
            Clock.sleep(ms: 2)
        }
        throw BenchError("load loop did not answer within 10 s")
    }

    /// Stops the loop and joins its thread (bounded: the loop wakes at least once a second).
    func stop() {
        guard let t = thread else { return }
        loop.stop()
        t.join()
        thread = nil
    }
}

/// The built-in load driver: `connections` closed-loop clients on the load loop. Each sends a
/// request, reads the whole response, records the latency and sends the next one.
final class LoadGenerator {
    let loop: EventLoop
    let address: SocketAddress
    let request: UnsafeMutableRawPointer
    let requestLength: Int
    let scenario: Scenario
    var histogram = Histogram()
    var errors = 0
    var non2xx = 0
    var stopping = false
    private var clients: [LoadClient] = []
    private var startedAt: UInt64 = 0

    init(loop: EventLoop, port: UInt16, scenario: Scenario) {
        self.loop = loop
        address = SocketAddress(ip: "127.0.0.1", port: port)!
        self.scenario = scenario
        var bytes = Array(scenario.requestHead(port: port).utf8)
        bytes += [UInt8](repeating: 120, count: scenario.bodyBytes)
        requestLength = bytes.count
        request = .allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { request.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    }

    deinit { request.deallocate() }

    /// Opens every client connection (on the loop thread).
    func begin() {
        startedAt = Clock.nowNS()
        for _ in 0..<scenario.connections {
            let c = LoadClient(gen: self)
            clients.append(c)
            c.connect()
        }
    }

    /// Closes every client and reports (on the loop thread).
    func finish() -> LoadResult {
        let elapsed = Double(Clock.nowNS() - startedAt) / 1e9
        stopping = true
        for c in clients { c.shut() }
        clients.removeAll()
        return LoadResult(requests: Int(histogram.total), seconds: elapsed,
                          p50US: Double(histogram.percentile(0.50)) / 1000,
                          p99US: Double(histogram.percentile(0.99)) / 1000,
                          errors: errors, non2xx: non2xx)
    }
}

/// Carries a non-Sendable reference into the load thread; only that thread touches it until join.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}

/// One closed-loop client connection.
final class LoadClient: Selectable {
    private unowned let gen: LoadGenerator
    private var input = IOBuffer()
    private enum State { case idle, connecting, sending, awaitingHead, body }
    private var state = State.idle
    private var sent = 0
    private var bodyLeft = 0
    private var closeAfter = false
    private var startedAt: UInt64 = 0

    init(gen: LoadGenerator) {
        self.gen = gen
        super.init()
    }

    func connect() {
        guard !gen.stopping else { return }
        guard let (s, inProgress) = try? Socket.connecting(to: gen.address) else { gen.errors += 1; retryLater(); return }
        fd = s.descriptor
        do { try gen.loop.register(self) } catch { s.close(); fd = -1; gen.errors += 1; return }
        startedAt = Clock.nowNS()
        if inProgress { state = .connecting } else { beginRequest(fresh: false) }
    }

    /// Backs off 10 ms after a failed connect so a dead server does not spin the loop.
    private func retryLater() {
        isClosed = false
        gen.loop.setTimeout(self, ms: 10)
    }

    override func handleTimeout() { connect() }

    func shut() {
        if !isClosed { gen.loop.close(self) }
        input.release(gen.loop.buffers)
    }

    override func handleEvents(_ events: UInt32) {
        switch state {
        case .connecting:
            guard events & (Events.writable | Events.error | Events.hangup) != 0 else { return }
            if socket.connectError() != 0 { failed(); return }
            beginRequest(fresh: false)
        case .sending:
            send()
        case .awaitingHead, .body:
            receive()
        case .idle:
            break
        }
    }

    /// Starts the next request; a keep-alive connection measures from here, a new one from connect.
    private func beginRequest(fresh: Bool) {
        if fresh { startedAt = Clock.nowNS() }
        sent = 0
        state = .sending
        send()
    }

    private func send() {
        while sent < gen.requestLength {
            switch socket.send(gen.request + sent, count: gen.requestLength - sent) {
            case .bytes(let n) where n > 0: sent += n
            case .wouldBlock: return
            default: failed(); return
            }
        }
        // The response raises a new EPOLLIN edge when it arrives.
        state = .awaitingHead
    }

    private func receive() {
        let pool = gen.loop.buffers
        while !isClosed {
            input.ensure(pool)
            if input.writeIndex == pool.bufferSize { input.compact() }
            let space = pool.bufferSize - input.writeIndex
            let n: Int
            switch socket.read(into: input.base! + input.writeIndex, count: space) {
            case .bytes(let k): n = k
            case .wouldBlock: input.releaseIfEmpty(pool); return
            case .end, .failed: failed(); return
            }
            input.writeIndex += n
            if !parse() { return }
            // A short read drained the socket: the next arrival raises a new edge.
            if n < space { input.releaseIfEmpty(pool); return }
        }
    }

    /// Consumes buffered response bytes. False when the connection was replaced or failed.
    private func parse() -> Bool {
        if state == .awaitingHead {
            guard let head = ResponseHead.parse(input.readBytes) else {
                if input.readable >= gen.loop.buffers.bufferSize { failed(); return false }
                return true
            }
            guard head.contentLength >= 0 else { failed(); return false }   // only Content-Length framing
            if head.status < 200 || head.status >= 300 { gen.non2xx += 1 }
            closeAfter = head.close || gen.scenario.newConnectionPerRequest
            input.consume(head.length)
            bodyLeft = head.contentLength
            state = .body
        }
        let k = min(bodyLeft, input.readable)
        input.consume(k)
        bodyLeft -= k
        guard bodyLeft == 0 else { return true }
        if !input.isEmpty { failed(); return false }   // bytes we never asked for
        gen.histogram.record(Clock.nowNS() &- startedAt)
        if gen.stopping { return false }
        if closeAfter {
            reconnect()
            return false
        }
        beginRequest(fresh: true)
        return false
    }

    private func failed() {
        gen.errors += 1
        reconnect()
    }

    private func reconnect() {
        shut()
        state = .idle
        connect()
    }
}
