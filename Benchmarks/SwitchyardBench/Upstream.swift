import EventLoop
import Glibc
import Origin

/// The fast upstream pair (blue and green) on the load core: in-process `OriginServer`s
/// (default), or one nginx child serving the same routes (`--upstream nginx`).
final class UpstreamSet {
    let ports: Upstreams
    let label: String
    private let servers: [OriginServer]
    private let child: Child?

    private init(ports: Upstreams, label: String, servers: [OriginServer], child: Child?) {
        self.ports = ports
        self.label = label
        self.servers = servers
        self.child = child
    }

    /// Two in-process origins on ephemeral ports, attached to the load loop (which runs on the
    /// load core). Call before the loop starts; `stop()` after it has stopped.
    static func origin(on loop: EventLoop) throws -> UpstreamSet {
        var servers: [OriginServer] = []
        for colour in ["blue", "green"] {
            var config = OriginConfig.benchmark(port: 0, threads: 1)
            config.extraHeaders = [("X-Served-By", colour)]
            servers.append(try OriginServer(config: config, loop: loop))
        }
        return UpstreamSet(ports: Upstreams(blue: servers[0].port, green: servers[1].port),
                           label: "in-process Origin servers on the load loop", servers: servers, child: nil)
    }

    /// nginx serving /, /2b, /1k, /100k and /upload on two ports (one worker, pinned to `core`).
    static func nginx(dir: String, core: Int?) throws -> UpstreamSet {
        guard let bin = Tools.nginx else { throw BenchError("--upstream nginx needs nginx installed") }
        let prefix = "\(dir)/upstream-nginx"
        mkdir(prefix, 0o755)
        mkdir("\(prefix)/www", 0o755)
        try writeTextFile("\(prefix)/www/1k", String(decoding: OriginConfig.benchmark(port: 0, threads: 1)
            .routes.first { $0.path == "/1k" }!.body, as: UTF8.self))
        try writeTextFile("\(prefix)/www/100k", String(decoding: OriginConfig.benchmark(port: 0, threads: 1)
            .routes.first { $0.path == "/100k" }!.body, as: UTF8.self))
        let blue = try Probe.freePort(), green = try Probe.freePort()
        func server(_ port: UInt16, _ colour: String) -> String {
            """
                server {
                    listen 127.0.0.1:\(port) backlog=4096;
                    root \(prefix)/www;
                    default_type text/plain;
                    add_header X-Served-By \(colour);
                    location = / { return 200 "ok"; }
                    location = /2b { return 200 "ok"; }
                    location = /upload { client_max_body_size 0; return 200 "ok"; }
                    location / { }
                }

            """
        }
        let conf = nginxPreamble(prefix: prefix, workers: 1, fileLimit: 65536) + """
        \(server(blue, "blue"))\(server(green, "green"))}

        """
        try writeTextFile("\(prefix)/nginx.conf", conf)
        let child = try Child(name: "upstream-nginx",
                              argv: Tools.pinned([bin, "-p", prefix, "-e", "stderr", "-c", "\(prefix)/nginx.conf"], core: core),
                              logPath: "\(dir)/upstream-nginx.log")
        for port in [blue, green] {
            guard Probe.waitUntilServing(port: port, path: "/2b", timeoutMS: 10_000, while: { child.isRunning }) else {
                child.stop()
                throw BenchError("upstream nginx did not start; its log:\n\(child.logTail())")
            }
        }
        return UpstreamSet(ports: Upstreams(blue: blue, green: green), label: "nginx (1 worker)",
                           servers: [], child: child)
    }

    func stop() {
        for s in servers { s.stop() }
        child?.stop()
    }
}
