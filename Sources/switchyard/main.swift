import Admin
import Balancing
import EventLoop
import Glibc
import Origin
import Proxy

/// switchyard — blue/green HTTP/1.1 reverse proxy.
let version = "0.1.0"

func usage() -> Never {
    print("""
    usage: switchyard --config FILE        run the proxy
           switchyard check --config FILE  validate a config and exit (0 = valid)
           switchyard demo                 run blue and green storefronts and a proxy on 127.0.0.1:8080
           switchyard --version
    """)
    exit(2)
}

func fail(_ message: String) -> Never {
    FileHandleStderr.write("switchyard: \(message)\n")
    exit(1)
}

enum FileHandleStderr {
    static func write(_ s: String) {
        var b = Array(s.utf8)
        _ = b.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

struct ReadError: Error {}

func readFileText(_ path: String) throws -> String {
    guard let f = fopen(path, "r") else { throw ReadError() }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

func readFile(_ path: String) -> String {
    do { return try readFileText(path) } catch { fail("cannot open \(path): \(Sys.errorString(errno))") }
}

func loadConfig(_ path: String) -> ProxyConfig {
    do {
        return try ConfigParser.parse(readFile(path), file: path)
    } catch let e as ConfigError {
        fail("invalid configuration: \(e)")
    } catch {
        fail("invalid configuration: \(error)")
    }
}

/// Runs the proxy until a graceful shutdown completes. Signals arrive through a signalfd on the
/// main thread's own loop (which also hosts the admin socket), never as async handlers; they
/// are blocked in every thread at the top of main.swift.
func runProxy(config: ProxyConfig, configPath: String?, banner: String?, onStop: @escaping () -> Void = {}) -> Never {
    let proxy: ProxyServer
    do {
        proxy = try ProxyServer(config: config, file: configPath ?? "<demo>")
        try proxy.start()
    } catch {
        fail("cannot start: \(error)")
    }
    let loop: EventLoop
    do { loop = try EventLoop(index: -1, bufferSize: 4096) } catch { fail("\(error)") }
    let control = ProxyControl(proxy: proxy, control: loop, version: version)
    var stopping = false

    func reload() -> Result<(replaced: [String], notes: [String]), ControlError> {
        guard let path = configPath else {
            return .failure(ControlError("not_implemented", "the demo runs on its embedded configuration; there is no file to reload"))
        }
        guard let text = try? readFileText(path) else {
            return .failure(ControlError("invalid_config", "cannot read \(path): \(Sys.errorString(errno))"))
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

    func shutdown(_ why: String) {
        if stopping { return }
        stopping = true
        let t = control.config.timeouts
        Log.info("\(why): graceful shutdown (shutdown-delay \(t.shutdownDelay) ms, drain up to \(t.drain) ms)")
        proxy.beginShutdown(delayMS: t.shutdownDelay, drainMS: t.drain, on: loop) { remaining, inFlight in
            if remaining > 0 {
                Log.warn("shutdown: drain timeout reached; cutting \(remaining) client connection(s), \(inFlight) request(s) in flight")
            } else {
                Log.info("shutdown: drained")
            }
            loop.stop()
        }
    }

    let signals: SignalSource
    do {
        signals = try SignalSource(signals: [SIGINT, SIGTERM, SIGHUP, SIGUSR1], loop: loop) { sig in
            if sig == SIGHUP {
                _ = reload()
                return
            }
            if sig == SIGUSR1 {
                do throws(ControlError) {
                    try control.reopenLogs()
                    Log.info("SIGUSR1: access log reopened")
                } catch {
                    Log.error("SIGUSR1: \(error.message)")
                }
                return
            }
            if stopping {
                Log.warn("second signal: exiting at once")
                exit(1)
            }
            shutdown(sig == SIGINT ? "SIGINT" : "SIGTERM")
        }
    } catch { fail("\(error)") }
    _ = signals

    // The admin socket lives on this control loop: commands never touch the request path.
    var admin: AdminServer?
    let bridge = AdminBridge(control: control)
    bridge.onShutdown = { shutdown("admin shutdown") }
    bridge.onReload = { reply in
        switch reload() {
        case .success(let r):
            reply(AdminReply.ok([
                ("generation", .int(Int64(control.generation))),
                ("replaced_runtime_changes", .array(r.replaced.map { .string($0) })),
                ("notes", .array(r.notes.map { .string($0) })),
            ]))
        case .failure(let e):
            reply(AdminReply.error(AdminError(code: e.code, message: e.message)))
        }
    }
    do {
        bridge.audit = try AuditLog(path: config.auditLog)
    } catch {
        proxy.stop()
        fail("\(error)")
    }
    if let path = config.adminSocket {
        do {
            admin = try AdminServer(path: path, group: config.adminGroup, loop: loop, handler: bridge)
            Log.info("admin socket on \(path)")
        } catch {
            proxy.stop()
            fail("\(error)")
        }
    }
    var metrics: MetricsServer?
    if let m = config.metrics {
        do {
            metrics = try MetricsServer(address: m, control: control)
            Log.info("metrics on http://\(m)/metrics (and /ready, /live)")
        } catch {
            proxy.stop()
            fail("cannot start the metrics listener: \(error)")
        }
    }
    let addrs = proxy.listenAddresses.map(\.description).joined(separator: ", ")
    Log.info("switchyard \(version) listening on \(addrs) with \(proxy.workerCount) worker(s), connection limit \(proxy.connectionLimit); \(proxy.ioDescription)")
    if let banner { print(banner); fflush(nil) }
    loop.run()
    metrics?.close()
    admin?.close()
    proxy.stop()
    onStop()
    Log.info("stopped")
    exit(0)
}

func option(_ name: String, in args: inout [String]) -> String? {
    guard let i = args.firstIndex(of: name) else { return nil }
    guard i + 1 < args.count else { fail("\(name) needs a value") }
    let v = args[i + 1]
    args.removeSubrange(i...(i + 1))
    return v
}

// Before any thread exists (the demo's storefronts start threads before the proxy does): every
// thread inherits these signals blocked, so they reach only the control loop's signalfd and
// never a worker or storefront thread, where their default action would kill the process.
signal(SIGPIPE, SIG_IGN)
SignalSource.blockInThisThread([SIGINT, SIGTERM, SIGHUP, SIGUSR1])

var args = Array(CommandLine.arguments.dropFirst())
if args.contains("--version") { print("switchyard \(version)"); exit(0) }
if args.contains("--help") || args.contains("-h") { usage() }

switch args.first {
case "check":
    args.removeFirst()
    guard let path = option("--config", in: &args) ?? args.first else { usage() }
    let c = loadConfig(path)
    if let sticky = c.sticky {
        do { _ = try StickySessions.load(sticky, file: path) } catch { fail("invalid configuration: \(error)") }
    }
    print("\(path): OK (\(c.listeners.count) listener(s), \(c.pools.count) pool(s))")
    exit(0)
case "demo":
    args.removeFirst()
    Demo.run(port: UInt16(option("--port", in: &args) ?? "8080") ?? 8080)
case nil:
    usage()
default:
    guard let path = option("--config", in: &args) else { usage() }
    runProxy(config: loadConfig(path), configPath: path, banner: nil)
}
