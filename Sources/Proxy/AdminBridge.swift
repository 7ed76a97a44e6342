import AdminProtocol
import Balancing
import EventLoop

/// Maps admin-socket commands onto `ProxyControl` and renders the documented JSON replies
/// (docs/admin-protocol.md). Runs on the control loop's thread.
public final class AdminBridge: AdminHandler, @unchecked Sendable {
    public let control: ProxyControl
    /// Set by `ProxyDaemon`, which owns the configuration file and the process's life (reload
    /// from file, graceful shutdown); without them both commands answer not_implemented.
    public var onReload: ((@escaping (JSONValue) -> Void) -> Void)?
    public var onShutdown: (() -> Void)?

    public init(control: ProxyControl) {
        self.control = control
    }

    /// `reply` must be called on the control loop's thread; gather callbacks run there too, so
    /// carrying it through them is safe even though the closure type is not Sendable.
    struct Reply: @unchecked Sendable {
        let call: (JSONValue) -> Void
        func callAsFunction(_ v: JSONValue) { call(v) }
    }

    /// Where changes are recorded (time, caller uid/pid, command, old and new values).
    public var audit: AuditLog?

    public func handle(_ command: AdminCommand, peer: AdminPeer, reply replyClosure: @escaping (JSONValue) -> Void) {
        var command = command
        if case .ifGeneration(let expected, let inner) = command {
            guard expected == control.generation else {
                replyClosure(AdminReply.error(AdminError(code: AdminError.Code.generationConflict,
                    message: "the configuration is at generation \(control.generation), not \(expected); re-read 'status' and retry")))
                return
            }
            command = inner
        }
        guard command.isMutating, command != .shutdown, let audit else {
            dispatch(command, peer: peer, reply: replyClosure)
            return
        }
        let before = control.auditView
        let generationBefore = control.generation
        let line = command.description
        // Rollout commands are recorded when accepted even if the split did not move (pause, resume).
        let isRollout: Bool
        switch command {
        case .rolloutStart, .rollout: isRollout = true
        default: isRollout = false
        }
        dispatch(command, peer: peer) { [control] result in
            if control.generation != generationBefore || (isRollout && result["ok"]?.boolValue == true) {
                audit.record(peer: peer, command: line, generationBefore: generationBefore,
                             generationAfter: control.generation, old: before, new: control.auditView)
            }
            replyClosure(result)
        }
    }

    private func dispatch(_ command: AdminCommand, peer: AdminPeer, reply replyClosure: @escaping (JSONValue) -> Void) {
        let reply = Reply(call: replyClosure)
        do throws(ControlError) {
            switch command {
            case .help:
                reply(AdminReply.help())
            case .status:
                control.proxy.report(on: control.control, counters: false) { [self] report in
                    reply(statusReply(report))
                }
            case .stats:
                control.proxy.report(on: control.control, counters: true) { [self] report in
                    reply(statsReply(report))
                }
            case .split(let entries):
                let split = try control.setSplit(entries.map { (pool: $0.pool, weight: $0.weight) })
                reply(AdminReply.ok([
                    ("split", .object(split.map { ($0.0, .int(Int64($0.1))) })),
                    ("generation", .int(Int64(control.generation))),
                ]))
            case .serverWeight(let pool, let address, let weight):
                try control.setWeight(pool: pool, address: address, weight: weight)
                serverReply(pool: pool, address: address, reply: reply)
            case .serverDrain(let pool, let address):
                try control.drain(pool: pool, address: address)
                serverReply(pool: pool, address: address, reply: reply)
            case .serverReady(let pool, let address):
                try control.ready(pool: pool, address: address)
                serverReply(pool: pool, address: address, reply: reply)
            case .serverAdd(let pool, let address, let weight):
                try control.addServer(pool: pool, address: address, weight: weight)
                serverReply(pool: pool, address: address, reply: reply)
            case .serverRemove(let pool, let address):
                try control.removeServer(pool: pool, address: address)
                serverReply(pool: pool, address: address, reply: reply)
            case .reload:
                guard let onReload else { throw ControlError("not_implemented", "reload is not available in this build") }
                onReload(replyClosure)
            case .undo:
                try control.undo()
                let cfg = control.config
                reply(AdminReply.ok([
                    ("split", .object(zip(cfg.pools, cfg.split).map { ($0.name, .int(Int64($1))) })),
                    ("generation", .int(Int64(control.generation))),
                ]))
            case .rolloutStart(let args):
                try control.rollouts.start(arguments: args)
                reply(rolloutReply())
            case .rolloutStatus:
                reply(rolloutReply())
            case .rollout(let verb):
                switch verb {
                case .pause: try control.rollouts.pause()
                case .resume: try control.rollouts.resume()
                case .promote: try control.rollouts.promote()
                case .abort: try control.rollouts.abort()
                }
                reply(rolloutReply())
            case .ifGeneration(_, let inner):
                dispatch(inner, peer: peer, reply: replyClosure)
            case .shutdown:
                guard let onShutdown else { throw ControlError("not_implemented", "shutdown is not available in this build") }
                reply(AdminReply.ok([("shutting_down", .bool(true))]))
                onShutdown()
            }
        } catch {
            reply(AdminReply.error(AdminError(code: error.code, message: error.message)))
        }
    }

    // MARK: replies

    /// The reply to `reload` (docs/admin-protocol.md): the new generation and what the file
    /// replaced, or the reason nothing changed.
    public func reloadReply(_ result: Result<(replaced: [String], notes: [String]), ControlError>) -> JSONValue {
        switch result {
        case .success(let r):
            return AdminReply.ok([
                ("generation", .int(Int64(control.generation))),
                ("replaced_runtime_changes", .array(r.replaced.map { .string($0) })),
                ("notes", .array(r.notes.map { .string($0) })),
            ])
        case .failure(let e):
            return AdminReply.error(AdminError(code: e.code, message: e.message))
        }
    }

    private func serverReply(pool: String, address: String, reply: Reply) {
        control.proxy.report(on: control.control, counters: false) { [self] report in
            let spec = SocketAddressSpec.parse(address)
            let key = spec.map { ServerSnapshot.key(pool: pool, address: $0) } ?? ""
            let servers = serverObjects(pool: pool, report: report)
            let match = servers.first { $0.0 == key }?.1 ?? .null
            reply(AdminReply.ok([("pool", .string(pool)), ("server", match), ("generation", .int(Int64(control.generation)))]))
        }
    }

    /// Server objects for one pool: configured servers first, then removed ones still finishing.
    private func serverObjects(pool: String, report: MergedReport) -> [(String, JSONValue)] {
        guard let p = control.config.pools.first(where: { $0.name == pool }) else { return [] }
        var out: [(String, JSONValue)] = []
        for s in p.servers {
            let key = ServerSnapshot.key(pool: pool, address: s.address)
            out.append((key, .object(configuredServer(s, key: key, pool: pool, report[key]))))
        }
        let configured = Set(out.map(\.0))
        for s in report.servers(in: pool).filter({ $0.retiring && !configured.contains($0.key) }).sorted(by: { $0.key < $1.key }) {
            out.append((s.key, .object([
                ("address", .string(s.address)), ("weight", .int(0)), ("removed", .bool(true)),
                ("state", .string(s.inFlight == 0 ? "drained" : "draining")),
                ("in_flight", .int(Int64(s.inFlight))), ("connections", .int(Int64(s.connections))),
            ])))
        }
        return out
    }

    /// A configured server's fields: weight, state, load and what health checking says.
    private func configuredServer(_ s: ServerConfig, key: String, pool: String, _ merged: MergedReport.Server?) -> [(String, JSONValue)] {
        let busy = merged?.inFlight ?? 0
        let state = control.draining.contains(key) ? (busy == 0 ? "drained" : "draining") : "ready"
        var fields: [(String, JSONValue)] = [
            ("address", .string(s.address.description)),
            ("weight", .int(Int64(s.weight))),
        ]
        if let fw = control.fileWeight(pool: pool, address: s.address) {
            fields.append(("config_weight", .int(Int64(fw))))
        } else {
            fields.append(("added", .bool(true)))
        }
        fields += [("state", .string(state)), ("in_flight", .int(Int64(busy))), ("connections", .int(Int64(merged?.connections ?? 0)))]
        if let h = control.health.health(key) {
            let now = HealthMonitor.nowMS
            fields.append(("health", .string(h.stateName)))
            if let c = h.lastCheck {
                fields.append(("last_check", .object([
                    ("passed", .bool(c.passed)), ("detail", .string(c.detail)),
                    ("age_s", .double(Double(now - c.atMS) / 1000)),
                ])))
            }
            fields.append(("ejections", .int(Int64(h.ejections))))
            if let until = h.ejectedUntilMS {
                fields.append(("ejected_for_s", .double(Double(max(0, until - now)) / 1000)))
            }
        }
        return fields
    }

    func statusReply(_ report: MergedReport) -> JSONValue {
        let cfg = control.config
        let split = JSONValue.object(zip(cfg.pools, cfg.split).map { ($0.name, .int(Int64($1))) })
        let fileSplit = JSONValue.object(zip(control.fileConfig.pools, control.fileConfig.split).map { ($0.name, .int(Int64($1))) })
        let pools = JSONValue.object(zip(cfg.pools, cfg.split).map { pool, w in
            (pool.name, .object([
                ("split", .int(Int64(w))),
                ("failed_over", .bool(control.proxy.store.snapshot.failedOver.contains { control.config.pools[$0].name == pool.name })),
                ("servers", .array(serverObjects(pool: pool.name, report: report).map(\.1))),
            ]))
        })
        return AdminReply.ok([
            ("version", .string(control.version)),
            ("ready", .bool(control.proxy.isReady)),
            ("uptime_s", .double(control.uptimeSeconds)),
            ("workers", .int(Int64(control.proxy.workerCount))),
            ("generation", .int(Int64(control.generation))),
            ("clients", .int(Int64(report.clients))),
            ("split", split),
            ("config_split", fileSplit),
            ("overrides", .array(control.overrides.map { .string($0) })),
            ("rollout", rolloutSummary()),
            ("pools", pools),
        ])
    }

    private static func counters(_ c: TrafficCounters, windowSeconds: Double?) -> [(String, JSONValue)] {
        var f: [(String, JSONValue)] = [("requests", .int(Int64(c.requests)))]
        if let w = windowSeconds { f.append(("rate", .double(Double(c.requests) / w))) }
        f.append(("responses", .object([
            ("2xx", .int(Int64(c.responses.1))), ("3xx", .int(Int64(c.responses.2))),
            ("4xx", .int(Int64(c.responses.3))), ("5xx", .int(Int64(c.responses.4))),
        ])))
        f.append(("proxy_errors", .object([
            ("502", .int(Int64(c.proxy502))), ("503", .int(Int64(c.proxy503))), ("504", .int(Int64(c.proxy504))),
        ])))
        f.append(("retries", .int(Int64(c.retries))))
        f.append(("drain_cut", .int(Int64(c.drainCut))))
        return f
    }

    /// Percentiles in ms; null when there are no samples (0.0 would read as "fast").
    private static func latency(_ h: LatencyHistogram) -> JSONValue {
        func q(_ v: Double) -> JSONValue { h.total == 0 ? .null : .double(h.percentileMS(v)) }
        return .object([("p50", q(0.50)), ("p90", q(0.90)), ("p99", q(0.99))])
    }

    func statsReply(_ report: MergedReport) -> JSONValue {
        let window = Double(WindowedCounters.slots)
        var pools: [(String, JSONValue)] = []
        for pool in control.config.pools {
            // Configured servers first, then the others the workers still report (removed ones).
            let configured = pool.servers.map { ServerSnapshot.key(pool: pool.name, address: $0.address) }
            let others = report.servers(in: pool.name).map(\.key).filter { !configured.contains($0) }
            let servers: [JSONValue] = (configured + others).compactMap { key in
                guard let s = report[key] else { return nil }
                var f: [(String, JSONValue)] = [("address", .string(s.address))]
                f += Self.counters(s.total, windowSeconds: nil)
                f.append(("rate", .double(Double(s.window.requests) / window)))
                f.append(("in_flight", .int(Int64(s.inFlight))))
                f.append(("latency_ms", .object([("window", Self.latency(s.window.latency)), ("total", Self.latency(s.total.latency))])))
                return .object(f)
            }
            pools.append((pool.name, .object([
                ("split", .int(Int64(control.config.split[control.config.poolIndex(named: pool.name) ?? 0]))),
                ("proxy_errors", .object([("503", .int(Int64(report.pools[pool.name]?.total.proxy503 ?? 0)))])),
                ("servers", .array(servers)),
            ])))
        }
        return AdminReply.ok([("window_s", .int(Int64(WindowedCounters.slots))), ("pools", .object(pools))])
    }
}
