import Balancing
import EventLoop
import Glibc
import HTTP1

/// `metrics ADDR:PORT`: a small HTTP endpoint on the control loop serving `/metrics`
/// (Prometheus text format), `/ready` (200 while serving, 503 once a shutdown began) and `/live`.
/// One request per connection; it never touches the request path: numbers come from a `gather`.
public final class MetricsServer: Selectable, @unchecked Sendable {
    let control: ProxyControl
    private var peer = sockaddr_storage()

    public init(address spec: SocketAddressSpec, control: ProxyControl) throws {
        self.control = control
        super.init()
        guard let addr = SocketAddress(ip: spec.host, port: spec.port) else {
            throw SocketError("metrics: bad address \(spec)", EINVAL)
        }
        fd = try Sys.listen(addr, reusePort: false, backlog: 128)
        try control.control.register(self, events: Events.readable | Events.edgeTriggered)
    }

    public var port: UInt16 { Sys.localAddress(fd)?.port ?? 0 }

    public override func handleEvents(_ events: UInt32) {
        while true {
            let c = Sys.accept(fd, &peer)
            if c < 0 { return }
            MetricsConnection.start(fd: c, server: self)
        }
    }

    public func close() { control.control.close(self) }
}

/// Lives on the control loop only; Sendable so a gather callback (same thread) can answer it.
final class MetricsConnection: Selectable, @unchecked Sendable {
    unowned let server: MetricsServer
    private var request = [UInt8]()
    private var response = [UInt8]()
    private var sent = 0
    private var answered = false
    private var isHead = false

    static func start(fd: Int32, server: MetricsServer) {
        let c = MetricsConnection(server: server)
        c.fd = fd
        do { try server.control.control.register(c) } catch { Sys.close(fd); return }
        server.control.control.setTimeout(c, ms: 5000)
    }

    private init(server: MetricsServer) {
        self.server = server
        super.init()
    }

    override func handleTimeout() { server.control.control.close(self) }

    override func handleEvents(_ events: UInt32) {
        if !answered {
            var chunk = [UInt8](repeating: 0, count: 2048)
            var ended = false
            while true {
                let n = chunk.withUnsafeMutableBytes { Sys.read(fd, $0.baseAddress!, $0.count) }
                if n == -Int(EAGAIN) { break }
                if n <= 0 { ended = true; break }   // a client may half-close right after its request
                request.append(contentsOf: chunk[0..<n])
                if request.count > 16384 { respond(431, "text/plain", "request head too large\n"); return }
            }
            var head = MessageHead()
            let parser = HTTPHeadParser(limits: HTTPLimits(maxHeadBytes: 16384))
            let result = request.withUnsafeBytes { parser.parseRequest($0, into: &head) }
            switch result {
            case .incomplete:
                if ended { server.control.control.close(self) }
                return
            case .error(let e): respond(e.status, "text/plain", "\(e.reason)\n"); return
            case .complete: break
            }
            let target = request.withUnsafeBytes {
                String(decoding: $0[Int(head.targetStart)..<Int(head.targetEnd)], as: UTF8.self)
            }
            isHead = head.method == .head
            route(method: head.method, path: String(target.split(separator: "?", maxSplits: 1).first ?? ""))
            return
        }
        flush()
    }

    private func route(method: HTTPMethod, path: String) {
        guard method == .get || method == .head else {
            respond(405, "text/plain", "only GET and HEAD\n", extra: "Allow: GET, HEAD\r\n")
            return
        }
        let control = server.control
        switch path {
        case "/metrics":
            answered = true
            control.proxy.gather(on: control.control, counters: true) { [self] reports in
                respond(200, "text/plain; version=0.0.4; charset=utf-8", MetricsRenderer.render(control, reports))
            }
        case "/ready":
            control.proxy.isReady ? respond(200, "text/plain", "ready\n") : respond(503, "text/plain", "shutting down\n")
        case "/live", "/healthz":
            respond(200, "text/plain", "ok\n")
        default:
            respond(404, "text/plain", "not found: try /metrics, /ready or /live\n")
        }
    }

    private func respond(_ status: Int, _ type: String, _ body: String, extra: String = "") {
        answered = true
        let b = Array(body.utf8)
        let head = "HTTP/1.1 \(status) \(ErrorResponse.reasonPhrase(status))\r\nContent-Type: \(type)\r\nContent-Length: \(b.count)\r\n\(extra)Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        response = Array(head.utf8) + (isHead ? [] : b)   // HEAD: the same head, no content
        flush()
    }

    private func flush() {
        guard !isClosed, !response.isEmpty else { return }
        while sent < response.count {
            let n = response.withUnsafeBytes { Sys.write(fd, $0.baseAddress! + sent, response.count - sent) }
            if n == -Int(EAGAIN) { return }
            if n < 0 { break }
            sent += n
        }
        server.control.control.close(self)
    }
}

/// Renders the Prometheus text exposition format (version 0.0.4) from worker reports.
enum MetricsRenderer {
    /// Latency histogram bucket bounds in seconds.
    static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    static func num(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }

    static func render(_ control: ProxyControl, _ reports: [WorkerReport]) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        // Merge per server key.
        var servers: [String: (pool: String, address: String, inFlight: Int, conns: Int, total: TrafficCounters)] = [:]
        var order: [String] = []
        for r in reports {
            for s in r.servers {
                if servers[s.key] == nil {
                    servers[s.key] = (s.pool, s.address, 0, 0, TrafficCounters())
                    order.append(s.key)
                }
                servers[s.key]!.inFlight += s.inFlight
                servers[s.key]!.conns += s.connections
                servers[s.key]!.total.add(s.total)
            }
        }
        var poolTotals: [String: TrafficCounters] = [:]
        for r in reports { for p in r.pools { poolTotals[p.pool, default: TrafficCounters()].add(p.total) } }
        func labels(_ key: String) -> String {
            let s = servers[key]!
            return "pool=\"\(escape(s.pool))\",server=\"\(escape(s.address))\""
        }

        family("switchyard_up", "gauge", "1 while the process runs.")
        out += "switchyard_up 1\n"
        family("switchyard_ready", "gauge", "1 while accepting traffic, 0 once a graceful shutdown began.")
        out += "switchyard_ready \(control.proxy.isReady ? 1 : 0)\n"
        family("switchyard_config_generation", "gauge", "Generation of the running configuration.")
        out += "switchyard_config_generation \(control.generation)\n"
        family("switchyard_uptime_seconds", "gauge", "Seconds since start.")
        out += "switchyard_uptime_seconds \(num((control.uptimeSeconds * 1000).rounded() / 1000))\n"
        family("switchyard_client_connections", "gauge", "Open client connections.")
        out += "switchyard_client_connections \(reports.reduce(0) { $0 + $1.clients })\n"

        let snapshot = control.proxy.store.snapshot
        family("switchyard_split_weight", "gauge", "Configured split weight per pool.")
        for (i, p) in control.config.pools.enumerated() {
            out += "switchyard_split_weight{pool=\"\(escape(p.name))\"} \(control.config.split[i])\n"
        }
        family("switchyard_pool_failed_over", "gauge", "1 when the pool has no usable server and its share went to the other pools.")
        for (i, p) in snapshot.pools.enumerated() {
            out += "switchyard_pool_failed_over{pool=\"\(escape(p.name))\"} \(snapshot.failedOver.contains(i) ? 1 : 0)\n"
        }

        let rollouts = control.rollouts!
        let rollout = rollouts.rollout
        family("switchyard_rollout_active", "gauge", "1 while a rollout is running or paused.")
        out += "switchyard_rollout_active \(rollouts.isActive ? 1 : 0)\n"
        family("switchyard_rollout_step_percent", "gauge", "The new pool's share of traffic the current rollout gives it (0 without one).")
        out += "switchyard_rollout_step_percent \(rollout?.newPercent ?? 0)\n"
        family("switchyard_rollout_state", "gauge", "1 for the state of the current (or last) rollout.")
        for state in ["running", "paused", "completed", "promoted", "rolled-back", "aborted"] {
            out += "switchyard_rollout_state{state=\"\(state)\"} \(rollout?.state.name == state ? 1 : 0)\n"
        }
        family("switchyard_rollouts_total", "counter", "Finished rollouts by outcome.")
        for outcome in RolloutController.outcomeNames {
            out += "switchyard_rollouts_total{outcome=\"\(outcome)\"} \(rollouts.outcomes[outcome] ?? 0)\n"
        }

        family("switchyard_requests_total", "counter", "Requests sent to an upstream server (each retry counts).")
        for k in order { out += "switchyard_requests_total{\(labels(k))} \(servers[k]!.total.requests)\n" }
        family("switchyard_responses_total", "counter", "Upstream responses by status class.")
        for k in order {
            let r = servers[k]!.total.responses
            for (cls, v) in [("2xx", r.1), ("3xx", r.2), ("4xx", r.3), ("5xx", r.4)] {
                out += "switchyard_responses_total{\(labels(k)),class=\"\(cls)\"} \(v)\n"
            }
        }
        family("switchyard_proxy_errors_total", "counter", "Errors the proxy answered itself (502/503/504).")
        for k in order {
            let t = servers[k]!.total
            for (code, v) in [("502", t.proxy502), ("503", t.proxy503), ("504", t.proxy504)] {
                out += "switchyard_proxy_errors_total{\(labels(k)),code=\"\(code)\"} \(v)\n"
            }
        }
        for (pool, t) in poolTotals.sorted(by: { $0.key < $1.key }) {
            out += "switchyard_proxy_errors_total{pool=\"\(escape(pool))\",server=\"\",code=\"503\"} \(t.proxy503)\n"
        }
        family("switchyard_retries_total", "counter", "Requests retried on this server after a failure elsewhere.")
        for k in order { out += "switchyard_retries_total{\(labels(k))} \(servers[k]!.total.retries)\n" }
        family("switchyard_in_flight", "gauge", "Requests in flight to the server.")
        for k in order { out += "switchyard_in_flight{\(labels(k))} \(servers[k]!.inFlight)\n" }
        family("switchyard_upstream_connections", "gauge", "Open connections to the server (active and pooled).")
        for k in order { out += "switchyard_upstream_connections{\(labels(k))} \(servers[k]!.conns)\n" }
        family("switchyard_server_healthy", "gauge", "1 when the server may receive requests (health up, not ejected).")
        for k in order {
            if let h = control.health.health(k) { out += "switchyard_server_healthy{\(labels(k))} \(h.isUsable ? 1 : 0)\n" }
        }
        family("switchyard_server_ejections_total", "counter", "Passive outlier ejections of the server.")
        for k in order {
            if let h = control.health.health(k) { out += "switchyard_server_ejections_total{\(labels(k))} \(h.ejections)\n" }
        }
        family("switchyard_request_duration_seconds", "histogram", "Time from the request head to the end of the response.")
        for k in order {
            let h = servers[k]!.total.latency
            var cumulative: UInt64 = 0
            var b = 0
            var sum = 0.0
            for (i, c) in h.counts.enumerated() where c > 0 {
                // Bucket midpoints: within half a bucket (6%) of the true sum.
                let lo = LatencyHistogram.lowerBound(i)
                let hi = i + 1 < h.counts.count ? LatencyHistogram.lowerBound(i + 1) : lo
                sum += Double(c) * Double(lo + hi) / 2 / 1e6
            }
            for le in bounds {
                let limitUS = UInt64(le * 1e6)
                while b < h.counts.count && (b + 1 < h.counts.count ? LatencyHistogram.lowerBound(b + 1) : UInt64.max) <= limitUS {
                    cumulative += h.counts[b]
                    b += 1
                }
                out += "switchyard_request_duration_seconds_bucket{\(labels(k)),le=\"\(num(le))\"} \(cumulative)\n"
            }
            out += "switchyard_request_duration_seconds_bucket{\(labels(k)),le=\"+Inf\"} \(h.total)\n"
            out += "switchyard_request_duration_seconds_sum{\(labels(k))} \(num((sum * 1e6).rounded() / 1e6))\n"
            out += "switchyard_request_duration_seconds_count{\(labels(k))} \(h.total)\n"
        }
        return out
    }
}
