import AdminProtocol
import AdminSocket
import Balancing
import EventLoop
import Glibc

/// The whole proxy as one process runs it, built from a configuration: the workers
/// (`ProxyServer`), the control loop hosting `ProxyControl` (health checks, rollouts), the admin
/// socket and the metrics listener on that loop, and — for the executable — the signals.
/// `switchyard` runs one on its main thread; tests run one on a thread of their own and `stop` it.
public final class ProxyDaemon: @unchecked Sendable {
    /// Where the configuration came from.
    public enum Source: Sendable {
        /// A file: SIGHUP and the admin `reload` command re-read it.
        case file(String)
        /// Built in (the demo's, a test's): nothing to reload; `name` stands for the file in
        /// messages (file:line).
        case embedded(name: String)

        var name: String {
            switch self {
            case .file(let path): return path
            case .embedded(let name): return name
            }
        }
    }

    /// What the daemon needs besides the configuration.
    public struct Options: Sendable {
        /// Reported by `status` and the start-up line.
        public var version: String
        public var source: Source
        /// Printed on stdout once everything listens (the demo's instructions).
        public var banner: String?
        /// SIGINT/SIGTERM (graceful shutdown), SIGHUP (reload) and SIGUSR1 (reopen the access
        /// log) through a signalfd on the control loop. Only for a process that called
        /// `prepareProcess()` before starting any thread; a test process leaves its signals alone.
        public var handlesSignals: Bool

        public init(version: String, source: Source, banner: String? = nil, handlesSignals: Bool = false) {
            self.version = version
            self.source = source
            self.banner = banner
            self.handlesSignals = handlesSignals
        }
    }

    /// Why the daemon could not start: `description` is what `switchyard: ` prefixes on stderr.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public let options: Options
    public let proxy: ProxyServer
    /// The control loop: everything but the request path runs on its thread.
    public let loop: EventLoop
    public let control: ProxyControl
    public let bridge: AdminBridge
    public private(set) var admin: AdminServer?
    public private(set) var metrics: MetricsServer?
    /// Runs once the workers stopped, before the last log line (the demo stops its storefronts).
    public var onStop: (() -> Void)?
    private var signals: SignalSource?
    private var stopping = false

    /// Starts the workers, then builds the control loop and opens the admin socket and the
    /// metrics listener the configuration names (each logged); nothing runs on the control loop
    /// until `run`. On a failure whatever was started is stopped again.
    public init(config: ProxyConfig, options: Options) throws(StartError) {
        self.options = options
        proxy = try Self.startProxy(config: config, file: options.source.name)
        do {
            loop = try EventLoop(index: -1, bufferSize: 4096)
        } catch {
            proxy.stop()
            throw StartError("\(error)")
        }
        control = ProxyControl(proxy: proxy, control: loop, version: options.version)
        bridge = AdminBridge(control: control)
        do throws(StartError) {
            if options.handlesSignals { try handleSignals() }
            try openControlSockets(config)
        } catch {
            closeControlSockets()
            proxy.stop()
            throw error
        }
    }

    /// The workers alone, built and started: the first thing the daemon starts, and all a test of
    /// the request path needs (no control loop, so no health checks and no admin socket).
    public static func startProxy(config: ProxyConfig, file: String) throws(StartError) -> ProxyServer {
        do {
            let proxy = try ProxyServer(config: config, file: file)
            try proxy.start()
            return proxy
        } catch {
            throw StartError("cannot start: \(error)")
        }
    }

    /// The admin socket (with its audit log) and the metrics listener, both on the control loop.
    private func openControlSockets(_ config: ProxyConfig) throws(StartError) {
        bridge.onShutdown = { [weak self] in self?.shutdown("admin shutdown") }
        bridge.onReload = { [weak self] reply in
            guard let self else { return }
            reply(bridge.reloadReply(reload()))
        }
        do { bridge.audit = try AuditLog(path: config.auditLog) } catch { throw StartError("\(error)") }
        if let path = config.adminSocket {
            do {
                admin = try AdminServer(path: path, group: config.adminGroup, loop: loop, handler: bridge)
            } catch {
                throw StartError("\(error)")
            }
            Log.info("admin socket on \(path)")
        }
        if let address = config.metrics {
            do { metrics = try MetricsServer(address: address, control: control) } catch {
                throw StartError("cannot start the metrics listener: \(error)")
            }
            Log.info("metrics on http://\(address)/metrics (and /ready, /live)")
        }
    }

    /// The admin socket is closed first so its path is unlinked (closing the loop alone would not).
    private func closeControlSockets() {
        metrics?.close()
        admin?.close()
        loop.closeAll()
    }

    /// Announces the listeners, then serves until the control loop stops (a graceful shutdown
    /// finished, or `stop`), then closes everything. Call once, on the thread that is to run the
    /// control loop.
    public func run() {
        let addresses = proxy.listenAddresses.map(\.description).joined(separator: ", ")
        Log.info("switchyard \(options.version) listening on \(addresses) with \(proxy.workerCount) worker(s), "
            + "connection limit \(proxy.connectionLimit); \(proxy.ioDescription)")
        if let banner = options.banner { Files.writeStandardOutput(banner + "\n") }
        loop.run()
        closeControlSockets()
        proxy.stop()
        onStop?()
        Log.info("stopped")
    }

    /// Ends `run` at once, from any thread, without a drain (connections are cut).
    public func stop() { loop.stop() }

    /// Graceful shutdown (SIGINT, SIGTERM, the admin `shutdown`): not ready at once, no new
    /// connections after `shutdown-delay`, requests in flight finish for up to `timeout drain`,
    /// then `run` returns. Later calls change nothing. Call on the control loop's thread.
    public func shutdown(_ why: String) {
        if stopping { return }
        stopping = true
        let t = control.config.timeouts
        Log.info("\(why): graceful shutdown (shutdown-delay \(t.shutdownDelay) ms, drain up to \(t.drain) ms)")
        proxy.beginShutdown(delayMS: t.shutdownDelay, drainMS: t.drain, on: loop) { [loop] remaining, inFlight in
            if remaining > 0 {
                Log.warn("shutdown: drain timeout reached; cutting \(remaining) client connection(s), \(inFlight) request(s) in flight")
            } else {
                Log.info("shutdown: drained")
            }
            loop.stop()
        }
    }

    /// Re-reads the configuration file and applies it (SIGHUP, the admin `reload`), logging the
    /// outcome; an invalid file changes nothing. Call on the control loop's thread.
    public func reload() -> Result<(replaced: [String], notes: [String]), ControlError> {
        guard case .file(let path) = options.source else {
            return .failure(ControlError("not_implemented", "the demo runs on its embedded configuration; there is no file to reload"))
        }
        let text: String
        do { text = String(decoding: try Files.read(path), as: UTF8.self) } catch {
            return .failure(ControlError("invalid_config", "\(error)"))
        }
        do throws(ControlError) {
            let r = try control.reload(text: text, file: path)
            Log.info("reload: applied \(path) (generation \(control.generation))"
                + (r.replaced.isEmpty ? "" : "; runtime changes replaced: \(r.replaced.joined(separator: ", "))")
                + (r.notes.isEmpty ? "" : "; \(r.notes.joined(separator: "; "))"))
            return .success(r)
        } catch {
            Log.error("reload: \(error.message); still serving the previous configuration")
            return .failure(error)
        }
    }
}

// MARK: signals

extension ProxyDaemon {
    /// The signals the daemon takes through its signalfd.
    public static let handledSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGUSR1]

    /// First thing in `main`, before any thread exists (the demo's storefronts start threads
    /// before the proxy does): every thread inherits `handledSignals` blocked, so they reach only
    /// the control loop's signalfd and never a worker or storefront thread, where their default
    /// action would kill the process. SIGPIPE is ignored: a vanished peer is an error, not a kill.
    public static func prepareProcess() {
        signal(SIGPIPE, SIG_IGN)
        SignalSource.blockInThisThread(handledSignals)
    }

    private func handleSignals() throws(StartError) {
        do {
            signals = try SignalSource(signals: Self.handledSignals, loop: loop) { [weak self] sig in self?.onSignal(sig) }
        } catch {
            throw StartError("\(error)")
        }
    }

    private func onSignal(_ sig: Int32) {
        switch sig {
        case SIGHUP:
            _ = reload()
        case SIGUSR1:
            do throws(ControlError) {
                try control.reopenLogs()
                Log.info("SIGUSR1: access log reopened")
            } catch {
                Log.error("SIGUSR1: \(error.message)")
            }
        default:
            if stopping {
                Log.warn("second signal: exiting at once")
                exit(1)
            }
            shutdown(sig == SIGINT ? "SIGINT" : "SIGTERM")
        }
    }
}

// MARK: the executable

extension ProxyDaemon {
    /// The configuration file read and parsed, or the message `switchyard` prints when it cannot be.
    public static func loadConfig(path: String) throws(StartError) -> ProxyConfig {
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch {
            throw StartError("\(SocketError("cannot open \(path)", error.errno))")
        }
        do {
            return try ConfigParser.parse(String(decoding: bytes, as: UTF8.self), file: path)
        } catch {
            throw StartError("invalid configuration: \(error)")
        }
    }

    /// The rest of the process's life: builds the daemon, runs it until it stops and exits 0;
    /// when it cannot start, says why on stderr and exits 1.
    public static func runProcess(config: ProxyConfig, options: Options, onStop: (() -> Void)? = nil) -> Never {
        let daemon: ProxyDaemon
        do { daemon = try ProxyDaemon(config: config, options: options) } catch { fail("\(error)") }
        daemon.onStop = onStop
        daemon.run()
        exit(0)
    }

    /// `switchyard: MESSAGE` on stderr, then exit status 1.
    public static func fail(_ message: String) -> Never {
        Files.writeStandardError("switchyard: \(message)\n")
        exit(1)
    }
}
