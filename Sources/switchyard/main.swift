import Balancing
import Glibc
import Proxy

/// switchyard — blue/green HTTP/1.1 reverse proxy. This file only reads the command line:
/// `ProxyDaemon` (Proxy module) builds and runs the proxy.
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

func fail(_ message: String) -> Never { ProxyDaemon.fail(message) }

func loadConfig(_ path: String) -> ProxyConfig {
    do { return try ProxyDaemon.loadConfig(path: path) } catch { fail("\(error)") }
}

func option(_ name: String, in args: inout [String]) -> String? {
    guard let i = args.firstIndex(of: name) else { return nil }
    guard i + 1 < args.count else { fail("\(name) needs a value") }
    let v = args[i + 1]
    args.removeSubrange(i...(i + 1))
    return v
}

// Before any thread exists: see `prepareProcess`.
ProxyDaemon.prepareProcess()

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
    ProxyDaemon.runProcess(config: loadConfig(path),
                           options: ProxyDaemon.Options(version: version, source: .file(path), handlesSignals: true))
}
