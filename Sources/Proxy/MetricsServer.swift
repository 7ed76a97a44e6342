import Balancing
import EventLoop
import Glibc
import HTTP1

/// `metrics ADDR:PORT`: a small HTTP endpoint on the control loop serving `/metrics`
/// (Prometheus text format), `/ready` (200 while serving, 503 once a shutdown began) and `/live`.
/// One request per connection; it never touches the request path: numbers come from a `report`.
public final class MetricsServer: Acceptor, @unchecked Sendable {
    let control: ProxyControl

    public init(address spec: SocketAddressSpec, control: ProxyControl) throws {
        guard let addr = SocketAddress(ip: spec.host, port: spec.port) else {
            throw SocketError("metrics: bad address \(spec)", EINVAL)
        }
        let socket = try Socket.listening(on: addr, reusePort: false, backlog: 128)
        self.control = control
        super.init(loop: control.control, socket: socket, noDelay: false)
        do {
            try loop.register(self, events: Events.readable | Events.edgeTriggered)
        } catch {
            socket.close()
            throw error
        }
    }

    public var port: UInt16 { socket.localAddress?.port ?? 0 }

    public override func accepted(_ socket: Socket, peer: SocketAddress) {
        MetricsConnection.start(socket, server: self)
    }

    public func close() { loop.close(self) }
}

/// Lives on the control loop only; Sendable so a report callback (same thread) can answer it.
final class MetricsConnection: StreamSocket, @unchecked Sendable {
    static let maxHeadBytes = 16384
    unowned let server: MetricsServer
    /// The request head so far: `input` (a pooled buffer, as small as the control loop's) is
    /// emptied into it at once.
    private var request = [UInt8]()
    private var response = [UInt8]()
    private var sent = 0
    private var answered = false
    private var isHead = false

    static func start(_ socket: Socket, server: MetricsServer) {
        let c = MetricsConnection(server: server, socket: socket)
        do { try server.loop.register(c) } catch { socket.close(); return }
        server.loop.setTimeout(c, ms: 5000)
    }

    private init(server: MetricsServer, socket: Socket) {
        self.server = server
        super.init(loop: server.loop, socket: socket)
    }

    override func handleTimeout() { closeSocket() }

    override func loopWillClose() { input.release(loop.buffers) }

    override func handleEvents(_ events: UInt32) {
        noteReadiness(events)
        guard !answered else {
            flush()
            return
        }
        var ended = false
        reading: while true {
            switch receive() {
            case .bytes:
                request.append(contentsOf: input.readBytes)
                input.consume(input.readable)
                if request.count > Self.maxHeadBytes { respond(431, "text/plain", "request head too large\n"); return }
            case .wouldBlock:
                break reading   // everything queued is read (after a hang-up, `receive` reads on to the end)
            case .end, .failed:
                ended = true   // a client may half-close right after its request
                break reading
            }
        }
        input.releaseIfEmpty(loop.buffers)
        answer(ended: ended)
    }

    /// Parses what has arrived and answers once the head is complete.
    private func answer(ended: Bool) {
        var head = MessageHead()
        let parser = HTTPHeadParser(limits: HTTPLimits(maxHeadBytes: Self.maxHeadBytes))
        let result = request.withUnsafeBytes { parser.parseRequest($0, into: &head) }
        switch result {
        case .incomplete:
            if ended { closeSocket() }
            return
        case .error(let e): respond(e.status, "text/plain", "\(e.reason)\n"); return
        case .complete: break
        }
        let target = request.withUnsafeBytes {
            String(decoding: $0[Int(head.targetStart)..<Int(head.targetEnd)], as: UTF8.self)
        }
        isHead = head.method == .head
        route(method: head.method, path: String(target.split(separator: "?", maxSplits: 1).first ?? ""))
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
            control.proxy.report(on: control.control, counters: true) { [self] report in
                respond(200, "text/plain; version=0.0.4; charset=utf-8", MetricsRenderer.render(control, report))
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
        sending: while sent < response.count {
            switch response.withUnsafeBytes({ self.send($0.baseAddress! + sent, count: response.count - sent) }) {
            case .bytes(let n): sent += n
            case .wouldBlock: return
            case .end, .failed: break sending
            }
        }
        closeSocket()
    }
}

/// Renders the Prometheus text exposition format (version 0.0.4) from the merged report.
struct MetricsRenderer {
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

    static func render(_ control: ProxyControl, _ report: MergedReport) -> String {
        var r = MetricsRenderer(control: control, report: report)
        r.process()
        r.pools()
        r.rollouts()
        r.traffic()
        r.health()
        r.latency()
        return r.out
    }

    private let control: ProxyControl
    private let report: MergedReport
    private var out = ""

    private init(control: ProxyControl, report: MergedReport) {
        self.control = control
        self.report = report
    }

    private mutating func family(_ name: String, _ type: String, _ help: String) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    private func labels(_ s: MergedReport.Server) -> String {
        "pool=\"\(Self.escape(s.pool))\",server=\"\(Self.escape(s.address))\""
    }

    /// One line per server: `name{pool=...,server=...} value`.
    private mutating func perServer(_ name: String, _ value: (MergedReport.Server) -> String) {
        for s in report.servers { out += "\(name){\(labels(s))} \(value(s))\n" }
    }

    private mutating func process() {
        family("switchyard_up", "gauge", "1 while the process runs.")
        out += "switchyard_up 1\n"
        family("switchyard_ready", "gauge", "1 while accepting traffic, 0 once a graceful shutdown began.")
        out += "switchyard_ready \(control.proxy.isReady ? 1 : 0)\n"
        family("switchyard_config_generation", "gauge", "Generation of the running configuration.")
        out += "switchyard_config_generation \(control.generation)\n"
        family("switchyard_uptime_seconds", "gauge", "Seconds since start.")
        out += "switchyard_uptime_seconds \(Self.num((control.uptimeSeconds * 1000).rounded() / 1000))\n"
        family("switchyard_client_connections", "gauge", "Open client connections.")
        out += "switchyard_client_connections \(report.clients)\n"
    }

    private mutating func pools() {
        let snapshot = control.proxy.store.snapshot
        family("switchyard_split_weight", "gauge", "Configured split weight per pool.")
        for (i, p) in control.config.pools.enumerated() {
            out += "switchyard_split_weight{pool=\"\(Self.escape(p.name))\"} \(control.config.split[i])\n"
        }
        family("switchyard_pool_failed_over", "gauge", "1 when the pool has no usable server and its share went to the other pools.")
        for (i, p) in snapshot.pools.enumerated() {
            out += "switchyard_pool_failed_over{pool=\"\(Self.escape(p.name))\"} \(snapshot.failedOver.contains(i) ? 1 : 0)\n"
        }
    }

    private mutating func rollouts() {
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
    }

    private mutating func traffic() {
        family("switchyard_requests_total", "counter", "Requests sent to an upstream server (each retry counts).")
        perServer("switchyard_requests_total") { "\($0.total.requests)" }
        family("switchyard_responses_total", "counter", "Upstream responses by status class.")
        for s in report.servers {
            let r = s.total.responses
            for (cls, v) in [("2xx", r.1), ("3xx", r.2), ("4xx", r.3), ("5xx", r.4)] {
                out += "switchyard_responses_total{\(labels(s)),class=\"\(cls)\"} \(v)\n"
            }
        }
        family("switchyard_proxy_errors_total", "counter", "Errors the proxy answered itself (502/503/504).")
        for s in report.servers {
            let t = s.total
            for (code, v) in [("502", t.proxy502), ("503", t.proxy503), ("504", t.proxy504)] {
                out += "switchyard_proxy_errors_total{\(labels(s)),code=\"\(code)\"} \(v)\n"
            }
        }
        for (pool, p) in report.pools.sorted(by: { $0.key < $1.key }) {
            out += "switchyard_proxy_errors_total{pool=\"\(Self.escape(pool))\",server=\"\",code=\"503\"} \(p.total.proxy503)\n"
        }
        family("switchyard_retries_total", "counter", "Requests retried on this server after a failure elsewhere.")
        perServer("switchyard_retries_total") { "\($0.total.retries)" }
        family("switchyard_in_flight", "gauge", "Requests in flight to the server.")
        perServer("switchyard_in_flight") { "\($0.inFlight)" }
        family("switchyard_upstream_connections", "gauge", "Open connections to the server (active and pooled).")
        perServer("switchyard_upstream_connections") { "\($0.connections)" }
    }

    private mutating func health() {
        family("switchyard_server_healthy", "gauge", "1 when the server may receive requests (health up, not ejected).")
        for s in report.servers {
            if let h = control.health.health(s.key) { out += "switchyard_server_healthy{\(labels(s))} \(h.isUsable ? 1 : 0)\n" }
        }
        family("switchyard_server_ejections_total", "counter", "Passive outlier ejections of the server.")
        for s in report.servers {
            if let h = control.health.health(s.key) { out += "switchyard_server_ejections_total{\(labels(s))} \(h.ejections)\n" }
        }
    }

    private mutating func latency() {
        family("switchyard_request_duration_seconds", "histogram", "Time from the request head to the end of the response.")
        for s in report.servers { histogram(s) }
    }

    private mutating func histogram(_ s: MergedReport.Server) {
        let h = s.total.latency
        let labels = labels(s)
        var cumulative: UInt64 = 0
        var b = 0
        var sum = 0.0
        for (i, c) in h.counts.enumerated() where c > 0 {
            // Bucket midpoints: within half a bucket (6%) of the true sum.
            let lo = LatencyHistogram.lowerBound(i)
            let hi = i + 1 < h.counts.count ? LatencyHistogram.lowerBound(i + 1) : lo
            sum += Double(c) * Double(lo + hi) / 2 / 1e6
        }
        for le in Self.bounds {
            let limitUS = UInt64(le * 1e6)
            while b < h.counts.count && (b + 1 < h.counts.count ? LatencyHistogram.lowerBound(b + 1) : UInt64.max) <= limitUS {
                cumulative += h.counts[b]
                b += 1
            }
            out += "switchyard_request_duration_seconds_bucket{\(labels),le=\"\(Self.num(le))\"} \(cumulative)\n"
        }
        out += "switchyard_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(h.total)\n"
        out += "switchyard_request_duration_seconds_sum{\(labels)} \(Self.num((sum * 1e6).rounded() / 1e6))\n"
        out += "switchyard_request_duration_seconds_count{\(labels)} \(h.total)\n"
    }
}
