import Balancing
import EventLoop
import Glibc
import Synchronization

/// The running proxy: one worker (event loop + thread) per core, each with its own SO_REUSEPORT
/// listener per `listen` address, all routing by the snapshot in `store`.
public final class ProxyServer: @unchecked Sendable {
    public let store: SnapshotStore
    /// Passive health events from the workers (attach a monitor before `start`).
    public let healthSink = HealthSink()
    /// The bound listener addresses (ephemeral ports resolved), in config order.
    public private(set) var listenAddresses: [SocketAddress] = []
    public private(set) var workerCount = 0
    public private(set) var connectionLimit = 0
    /// `io-uring on` in the config, and not overridden by SWITCHYARD_IO_URING=off.
    public private(set) var ioUringRequested = false
    private var loops: [EventLoop] = []
    private let readyFlag = Atomic<Bool>(true)
    /// False once a graceful shutdown began (reported by `status`, later by `/ready`).
    public var isReady: Bool { readyFlag.load(ordering: .acquiring) }
    private var workers: [Worker] = []
    private var threads: [LoopThread] = []

    /// Reads what the configuration names besides itself (the sticky cookie key); `file` is
    /// for error messages (file:line).
    public init(config: ProxyConfig, file: String = "config") throws {
        let sticky = try config.sticky.map { c throws(ConfigError) in try StickySessions.load(c, file: file) }
        store = SnapshotStore(try ProxySnapshot(version: 1, config: config, sticky: sticky))
    }

    /// I/O buffer size: room for the largest allowed head plus what we add to it.
    static func bufferSize(for limits: Limits) -> Int {
        let wanted = max(32 * 1024, limits.headerBytes + 4096)
        return (wanted + 4095) & ~4095
    }

    public func start() throws {
        let config = store.snapshot.config
        let nofile = DescriptorLimit.raiseToHardLimit()
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        workerCount = config.workers ?? cores
        // Each proxied request holds two descriptors (client + upstream); keep some for the rest.
        connectionLimit = config.limits.connections ?? max(16, (nofile - 64) / 2)
        let perWorker = max(1, (connectionLimit + workerCount - 1) / workerCount)

        var addresses: [SocketAddress] = []
        for spec in config.listeners {
            guard let a = SocketAddress(ip: spec.host, port: spec.port) else {
                throw SocketError("bad listen address \(spec)", EINVAL)
            }
            addresses.append(a)
        }
        let size = Self.bufferSize(for: config.limits)
        var sockets: [[Socket]] = []
        do {
            for i in 0..<workerCount {
                var row: [Socket] = []
                for (j, addr) in addresses.enumerated() {
                    let socket = try Socket.listening(on: addr, reusePort: true)
                    row.append(socket)
                    if i == 0, let bound = socket.localAddress {
                        // Port 0: every other loop must bind the port the first one got.
                        addresses[j] = bound
                    }
                }
                sockets.append(row)
            }
        } catch {
            for row in sockets { for socket in row { socket.close() } }
            throw error
        }
        listenAddresses = addresses
        ioUringRequested = config.ioUring && Self.ioUringAllowedByEnvironment
        let accessLog = try config.accessLog.map { try AccessLogFile(path: $0.path) }
        for i in 0..<workerCount {
            let loop = try EventLoop(index: i, bufferSize: size)
            loop.batchIO = ioUringRequested
            let worker = Worker(loop: loop, store: store, maxClients: perWorker, workerCount: workerCount, healthSink: healthSink)
            for (j, socket) in sockets[i].enumerated() {
                let l = Listener(worker: worker, socket: socket, address: addresses[j])
                worker.listeners.append(l)
                try loop.register(l, events: Events.readable | Events.edgeTriggered)
            }
            if let accessLog, let c = config.accessLog {
                worker.setAccessLog(accessLog, capacity: c.bufferBytes, flushMS: c.flushMS)
            }
            loops.append(loop)
            workers.append(worker)
        }
        for (i, loop) in loops.enumerated() {
            let worker = workers[i]
            threads.append(LoopThread {
                loop.run()
                worker.accessLog?.flush()
                loop.closeAll()
                worker.accessLog?.flush()   // the worker lives as long as its loop runs
            })
        }
    }

    /// Worker loops batching their socket I/O through io_uring right now (for tests and status).
    public var batchedLoopCount: Int { loops.filter(\.ioBatched).count }

    /// For the startup line: how the loops do their socket I/O.
    public var ioDescription: String {
        if !ioUringRequested { return "io-uring off: plain socket syscalls" }
        let e = EventLoop.ioUringProbe()
        return e == 0 ? "socket I/O batched with io_uring" : "io_uring unavailable (\(SocketError.text(e))): plain socket syscalls"
    }

    /// SWITCHYARD_IO_URING=off (or 0) overrides `io-uring on`: for trying a host without
    /// io_uring without editing the config.
    static var ioUringAllowedByEnvironment: Bool {
        guard let v = getenv("SWITCHYARD_IO_URING") else { return true }
        let s = String(cString: v)
        return !(s == "off" || s == "0" || s == "no")
    }

    /// Stops every loop at once (connections are closed) and waits for the threads.
    public func stop() {
        for loop in loops { loop.stop() }
        for t in threads { t.join() }
        threads.removeAll()
        workers.removeAll()
        loops.removeAll()
    }
}

extension ProxyServer {
    /// Runs `body` on every worker's own thread and calls `done` on `control`'s thread with the
    /// results (in arrival order). Nothing on the request path is locked: each worker copies its
    /// own state between two events.
    func collect<T: Sendable>(on control: EventLoop, _ body: @escaping @Sendable (Worker) -> T,
                              _ done: @escaping @Sendable ([T]) -> Void) {
        let collector = WorkerResults<T>()
        let expected = workers.count
        if expected == 0 { control.execute { done([]) }; return }
        for w in workers {
            w.loop.execute {
                let r = body(w)
                control.execute {
                    collector.results.append(r)
                    if collector.results.count == expected { done(collector.results) }
                }
            }
        }
    }

    /// Every worker's report (`status`, `stats`, metrics, the shutdown poll).
    public func gather(on control: EventLoop, counters: Bool, _ done: @escaping @Sendable ([WorkerReport]) -> Void) {
        collect(on: control, { $0.report(withCounters: counters) }, done)
    }

    /// Per-pool totals summed over every worker (see `Worker.poolTotals`): what a rollout judges.
    public func gatherPoolTotals(on control: EventLoop, _ done: @escaping @Sendable ([String: TrafficCounters]) -> Void) {
        collect(on: control, { $0.poolTotals() }) { perWorker in
            var sum: [String: TrafficCounters] = [:]
            for totals in perWorker { for (k, v) in totals { sum[k, default: TrafficCounters()].add(v) } }
            done(sum)
        }
    }
}

/// Results of `collect`, touched only on the control loop's thread.
private final class WorkerResults<T>: @unchecked Sendable {
    var results: [T] = []
}

// MARK: graceful shutdown and listener changes

extension ProxyServer {
    /// Graceful shutdown, driven from the control loop: report not-ready and keep serving for
    /// `delayMS`, then every worker stops accepting and closes idle connections; `done` is called
    /// on the control loop with the number of client connections still open when everything
    /// finished (0) or when `drainMS` ran out (those are cut when the process exits).
    public func beginShutdown(delayMS: Int64, drainMS: Int64, on control: EventLoop,
                              _ done: @escaping @Sendable (_ remaining: Int, _ inFlight: Int) -> Void) {
        readyFlag.store(false, ordering: .releasing)
        control.schedule(afterMS: max(delayMS, 0)) { [self] in
            Log.info("shutdown: no longer accepting; draining in-flight requests (up to \(drainMS) ms)")
            for w in workers { w.loop.execute { w.beginDrain() } }
            let deadline = MonotonicClock.now() + UInt64(max(drainMS, 0)) * 1_000_000
            awaitDrain(control: control, deadline: deadline, done)
        }
    }

    private func awaitDrain(control: EventLoop, deadline: UInt64, _ done: @escaping @Sendable (Int, Int) -> Void) {
        gather(on: control, counters: false) { [self] reports in
            let clients = reports.reduce(0) { $0 + $1.clients }
            let inFlight = reports.reduce(0) { $0 + $1.servers.reduce(0) { $0 + $1.inFlight } }
            if clients == 0 || MonotonicClock.now() >= deadline {
                done(clients, inFlight)
                return
            }
            control.schedule(afterMS: 20) { [self] in awaitDrain(control: control, deadline: deadline, done) }
        }
    }

    /// Brings the listeners in line with `specs` (a reload): binds new addresses on every worker,
    /// closes removed ones (after taking their queued connections). Throws before changing
    /// anything when a new address cannot be bound.
    public func updateListeners(_ specs: [SocketAddressSpec]) throws {
        var wanted: [SocketAddress] = []
        for spec in specs {
            guard let a = SocketAddress(ip: spec.host, port: spec.port) else {
                throw SocketError("bad listen address \(spec)", EINVAL)
            }
            wanted.append(a)
        }
        let current = listenAddresses.map(\.description)
        let added = wanted.filter { !current.contains($0.description) }
        let removed = listenAddresses.filter { a in !wanted.contains { $0.description == a.description } }
        var sockets: [[Socket]] = []
        do {
            for _ in workers {
                sockets.append(try added.map { try Socket.listening(on: $0, reusePort: true) })
            }
        } catch {
            for row in sockets { for socket in row { socket.close() } }
            throw error
        }
        for (i, w) in workers.enumerated() {
            let row = sockets[i]
            let addedAddresses = added
            w.loop.execute {
                for (j, socket) in row.enumerated() { w.addListener(socket, address: addedAddresses[j]) }
                for a in removed { w.removeListener(a) }
            }
        }
        listenAddresses = listenAddresses.filter { a in !removed.contains { $0.description == a.description } } + added
    }
}

extension ProxyServer {
    /// Opens the access log afresh (`config` nil: off) and moves every worker to it once it has
    /// written its buffer: log rotation (SIGUSR1) and reloads that change `access-log`. The old
    /// file is closed when the last worker lets go of it.
    public func reopenAccessLog(_ config: AccessLogConfig?) throws(SocketError) {
        let file = try config.map { c throws(SocketError) in try AccessLogFile(path: c.path) }
        let capacity = config?.bufferBytes ?? 0, flushMS = config?.flushMS ?? 1000
        for w in workers { w.loop.execute { w.setAccessLog(file, capacity: capacity, flushMS: flushMS) } }
    }

    /// Cuts the requests still in flight on a drained server, on every worker.
    func cutDrained(_ key: String) {
        for w in workers { w.loop.execute { w.cutDrained(key) } }
    }
}
