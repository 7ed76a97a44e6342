import Glibc

/// The two upstream servers every contender forwards to, weighted blue 90 / green 10.
struct Upstreams {
    let blue: UInt16
    let green: UInt16
}

enum ContenderKind: String, CaseIterable {
    /// `baseline`: a second Switchyard binary (`--baseline PATH`, e.g. the previous commit's
    /// build), run like `switchyard`, so a change is measured against the build before it in
    /// the same interleaved rounds, with the same noise.
    case switchyard, baseline, haproxy, nginx, direct

    /// Runs a Switchyard binary (the build under test or the baseline).
    var isSwitchyard: Bool { self == .switchyard || self == .baseline }
}

/// A running proxy under test (or "direct": the load goes straight to the blue upstream, as the
/// ceiling the load side can reach without any proxy).
final class Contender {
    let kind: ContenderKind
    let port: UInt16
    let child: Child?
    /// Runtime API socket: Switchyard's admin socket, HAProxy's stats socket (level admin).
    let adminSocket: String?
    /// Started with two workers/threads and not pinned (the `workers-auto` scenario).
    let multi: Bool
    var name: String { kind.rawValue }
    var isProxy: Bool { child != nil }

    init(kind: ContenderKind, port: UInt16, child: Child?, adminSocket: String? = nil, multi: Bool = false) {
        self.kind = kind
        self.port = port
        self.child = child
        self.adminSocket = adminSocket
        self.multi = multi
    }

    /// CPU seconds used so far by the proxy's process tree; nil for direct.
    func cpuSeconds() -> Double? {
        child.map { ProcStat.treeSeconds($0.pid) }
    }

    func stop() { child?.stop() }
}

/// How to configure and start each contender: 1 worker, no logging, keep-alive to both
/// upstreams, split 90/10, pinned to the proxy core. With `multi`: two workers/threads
/// (Switchyard `workers auto` on this 2-core machine), unpinned, files suffixed `-multi`.
enum Contenders {
    /// The `baseline` contender's binary (`--baseline PATH`).
    nonisolated(unsafe) static var baselinePath: String? = nil

    static func start(_ kind: ContenderKind, upstreams: Upstreams, dir: String, switchyard: String?,
                      core: Int?, multi: Bool = false, suffix label: String? = nil) throws -> Contender {
        if kind == .direct { return Contender(kind: .direct, port: upstreams.blue, child: nil, multi: multi) }
        let port = try Probe.freePort()
        let suffix = label ?? (multi ? "-multi" : "")
        let argv: [String]
        var admin: String? = nil
        switch kind {
        case .switchyard, .baseline:
            let name = kind.rawValue
            let path = kind == .baseline ? baselinePath : switchyard
            guard let bin = path else { throw BenchError("\(name) binary not found (build it: swift build -c release --product switchyard)") }
            let file = "\(dir)/\(name)\(suffix).conf"
            admin = "\(dir)/\(name)-admin\(suffix).sock"
            try writeTextFile(file, switchyardConfig(port: port, upstreams: upstreams, admin: admin!, workers: multi ? "auto" : "1"))
            // Run a private copy: a rebuild during the bench neither changes the binary under
            // test nor fails with ETXTBSY.
            let copy = "\(dir)/\(name)"
            if access(copy, X_OK) != 0 { try copyFile(bin, to: copy, mode: 0o755) }
            argv = [copy, "--config", file]
        case .nginx:
            guard let bin = Tools.nginx else { throw BenchError("nginx is not installed") }
            let prefix = "\(dir)/nginx\(suffix)"
            mkdir(prefix, 0o755)
            try writeTextFile("\(prefix)/nginx.conf", nginxConfig(port: port, upstreams: upstreams, prefix: prefix, workers: multi ? 2 : 1))
            argv = [bin, "-p", prefix, "-e", "stderr", "-c", "\(prefix)/nginx.conf"]
        case .haproxy:
            guard let bin = Tools.haproxy else { throw BenchError("haproxy is not installed") }
            let file = "\(dir)/haproxy\(suffix).cfg"
            admin = "\(dir)/haproxy\(suffix).sock"
            try writeTextFile(file, haproxyConfig(port: port, upstreams: upstreams, statsSocket: admin!, threads: multi ? 2 : 1))
            argv = [bin, "-db", "-f", file]
        case .direct:
            fatalError("unreachable")
        }
        let child = try Child(name: kind.rawValue + suffix, argv: multi ? Tools.allCores(argv) : Tools.pinned(argv, core: core),
                              logPath: "\(dir)/\(kind.rawValue)\(suffix).log")
        guard Probe.waitUntilServing(port: port, path: "/2b", timeoutMS: 10_000, while: { child.isRunning }) else {
            child.stop()
            throw BenchError("\(kind.rawValue)\(suffix) did not start serving on 127.0.0.1:\(port) within 10 s; its log:\n\(child.logTail())")
        }
        return Contender(kind: kind, port: port, child: child, adminSocket: admin, multi: multi)
    }

    /// Switchyard's default connection limit is (RLIMIT_NOFILE − 64) / 2, i.e. 9,968 under a
    /// 20,000 hard limit: too few for idle-10k, whose idle connections need only one descriptor
    /// each. Below 12,000 the limit is set explicitly (capped at the hard limit − 1000).
    static var connectionLimitLine: String {
        let hard = FileLimit.hard
        return (hard - 64) / 2 >= 12_000 ? "" : "limit connections \(min(12_000, hard - 1000))"
    }

    /// `admin PATH` opens the runtime API the split scenarios use (no cost when unused).
    static func switchyardConfig(port: UInt16, upstreams: Upstreams, admin: String, workers: String = "1") -> String {
        """
        listen 127.0.0.1:\(port)
        workers \(workers)
        admin \(admin)
        \(connectionLimitLine)
        pool blue {
            server 127.0.0.1:\(upstreams.blue)
        }
        pool green {
            server 127.0.0.1:\(upstreams.green)
        }
        split blue=90 green=10

        """
    }

    /// nginx as a plain reverse proxy. Raised from the defaults: keepalive_requests (1000 would
    /// make wrk reconnect every 1000 requests), worker_connections; temp files disabled so a
    /// 100 KiB response never touches disk.
    /// Uploads: `client_max_body_size 0` (no 1 MiB cap) and `proxy_request_buffering off`, so a
    /// request body is streamed to the upstream like HAProxy and Switchyard do, not spooled to
    /// a temp file first.
    static func nginxConfig(port: UInt16, upstreams: Upstreams, prefix: String, workers: Int = 1) -> String {
        return nginxPreamble(prefix: prefix, workers: workers, fileLimit: FileLimit.hard) + """
            upstream storefront {
                server 127.0.0.1:\(upstreams.blue) weight=90;
                server 127.0.0.1:\(upstreams.green) weight=10;
                keepalive 1024;
                keepalive_requests 100000000;
            }
            server {
                listen 127.0.0.1:\(port) backlog=4096;
                location / {
                    proxy_pass http://storefront;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_max_temp_file_size 0;
                    proxy_request_buffering off;
                    client_max_body_size 0;
                }
            }
        }

        """
    }

    /// HAProxy in HTTP mode: one thread, round robin 90/10, idle server connections reused
    /// by any client (`http-reuse always`), no log lines configured.
    /// `maxconn 25000` so the idle-10k scenario fits (see `no strict-limits` below); the stats socket at
    /// level admin is the runtime API the split-flip scenario uses (`set weight`).
    static func haproxyConfig(port: UInt16, upstreams: Upstreams, statsSocket: String, threads: Int = 1) -> String {
        // HAProxy wants 2 descriptors per connection (maxsock ≈ 2 × maxconn). Under a lower hard
        // limit `no strict-limits` makes the failed setrlimit a warning: it then runs with the
        // hard limit, which still holds 10,000 idle client connections (one descriptor each).
        let enough = FileLimit.hard >= 2 * 25000 + 1000
        return """
        global
            nbthread \(threads)
            maxconn 25000
            \(enough ? "ulimit-n \(2 * 25000 + 1000)" : "no strict-limits")
            stats socket \(statsSocket) level admin

        defaults
            mode http
            timeout connect 5s
            timeout client 120s
            timeout server 120s
            timeout http-keep-alive 120s
            timeout http-request 30s

        frontend fe
            bind 127.0.0.1:\(port)
            default_backend storefront

        backend storefront
            balance roundrobin
            http-reuse always
            server blue 127.0.0.1:\(upstreams.blue) weight 90
            server green 127.0.0.1:\(upstreams.green) weight 10

        """
    }

    /// Sends `count` GETs over one connection and counts who served them (X-Served-By).
    static func splitCheck(port: UInt16, count: Int = 100) -> [String: Int]? {
        guard let probe = Probe(port: port) else { return nil }
        var seen: [String: Int] = [:]
        for _ in 0..<count {
            guard let r = probe.get("/2b"), r.status == 200 else { return nil }
            seen[r.servedBy ?? "?", default: 0] += 1
        }
        return seen
    }
}

/// The part of an nginx config both nginx roles share (proxy contender and `--upstream nginx`):
/// process settings, no logging, long keep-alive, temp paths under `prefix`. Opens `http {`.
func nginxPreamble(prefix: String, workers: Int, fileLimit: Int) -> String {
    let user = geteuid() == 0 ? "user root;\n" : ""
    return """
    \(user)worker_processes \(workers);
    daemon off;
    pid \(prefix)/nginx.pid;
    error_log stderr crit;
    worker_rlimit_nofile \(fileLimit);
    events { worker_connections 20000; }
    http {
        access_log off;
        keepalive_requests 100000000;
        keepalive_timeout 120s;
        client_body_temp_path \(prefix)/client_body;
        proxy_temp_path \(prefix)/proxy;
        fastcgi_temp_path \(prefix)/fastcgi;
        uwsgi_temp_path \(prefix)/uwsgi;
        scgi_temp_path \(prefix)/scgi;

    """
}
