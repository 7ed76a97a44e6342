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

func readFile(_ path: String) -> String {
    guard let f = fopen(path, "r") else { fail("cannot open \(path): \(Sys.errorString(errno))") }
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

func loadConfig(_ path: String) -> ProxyConfig {
    do {
        return try ConfigParser.parse(readFile(path), file: path)
    } catch let e as ConfigError {
        fail("invalid configuration: \(e)")
    } catch {
        fail("invalid configuration: \(error)")
    }
}

/// Runs the proxy until SIGINT/SIGTERM. Signals arrive through a signalfd on the main thread's
/// own loop (which will also host the admin socket), never as async handlers.
func runProxy(config: ProxyConfig, banner: String?, onStop: @escaping () -> Void = {}) -> Never {
    signal(SIGPIPE, SIG_IGN)
    SignalSource.blockInThisThread([SIGINT, SIGTERM, SIGHUP])
    let proxy: ProxyServer
    do {
        proxy = try ProxyServer(config: config)
        try proxy.start()
    } catch {
        fail("cannot start: \(error)")
    }
    let control: EventLoop
    do { control = try EventLoop(index: -1, bufferSize: 4096) } catch { fail("\(error)") }
    var stopping = false
    let signals: SignalSource
    do {
        signals = try SignalSource(signals: [SIGINT, SIGTERM, SIGHUP], loop: control) { sig in
            if sig == SIGHUP {
                Log.info("SIGHUP: reload is not implemented yet; configuration unchanged")
                return
            }
            if stopping {
                Log.warn("second signal: exiting at once")
                exit(1)
            }
            stopping = true
            Log.info("signal \(sig): shutting down")
            control.stop()
        }
    } catch { fail("\(error)") }
    _ = signals
    let addrs = proxy.listenAddresses.map(\.description).joined(separator: ", ")
    Log.info("switchyard \(version) listening on \(addrs) with \(proxy.workerCount) worker(s), connection limit \(proxy.connectionLimit)")
    if let banner { print(banner); fflush(nil) }
    control.run()
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

var args = Array(CommandLine.arguments.dropFirst())
if args.contains("--version") { print("switchyard \(version)"); exit(0) }
if args.contains("--help") || args.contains("-h") { usage() }

switch args.first {
case "check":
    args.removeFirst()
    guard let path = option("--config", in: &args) ?? args.first else { usage() }
    let c = loadConfig(path)
    print("\(path): OK (\(c.listeners.count) listener(s), \(c.pools.count) pool(s))")
    exit(0)
case "demo":
    args.removeFirst()
    Demo.run(port: UInt16(option("--port", in: &args) ?? "8080") ?? 8080)
case nil:
    usage()
default:
    guard let path = option("--config", in: &args) else { usage() }
    runProxy(config: loadConfig(path), banner: nil)
}
