import Balancing
import Glibc
import EventLoop
import Proxy

/// Config text for a proxy on an ephemeral port with one worker (so the split sequence is exact).
func proxyConfigText(pools: [(name: String, ports: [UInt16])], split: String, extra: String = "") -> String {
    var text = "listen 127.0.0.1:0\nworkers 1\n"
    for p in pools {
        text += "pool \(p.name) {\n"
        for port in p.ports { text += "    server 127.0.0.1:\(port)\n" }
        text += "}\n"
    }
    text += "split \(split)\n"
    text += extra
    return text
}

/// A started ProxyServer; `stop()` it (tests do, in a defer).
final class RunningProxy {
    let server: ProxyServer
    let port: UInt16

    init(config text: String) throws {
        // PROXYTESTS_LOG=1 shows the proxy's own log lines (stderr) when debugging a failure.
        Log.quiet = getenv("PROXYTESTS_LOG") == nil
        let config = try ConfigParser.parse(text, file: "test.conf")
        server = try ProxyServer(config: config)
        try server.start()
        port = server.listenAddresses[0].port
    }

    convenience init(pools: [(name: String, ports: [UInt16])], split: String, extra: String = "") throws {
        try self.init(config: proxyConfigText(pools: pools, split: split, extra: extra))
    }

    func client(timeout: Double = 10, receiveBuffer: Int32? = nil) throws -> TestClient {
        try TestClient(port: port, timeout: timeout, receiveBuffer: receiveBuffer)
    }

    func publish(_ text: String) throws {
        try server.store.publish(ConfigParser.parse(text, file: "test.conf"))
    }

    func stop() { server.stop() }
}
