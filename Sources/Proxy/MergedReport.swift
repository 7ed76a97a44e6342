import EventLoop

/// Every worker's `WorkerReport` merged once: per server (by its "pool/address" key) and per
/// pool. What `status`, `stats` and `/metrics` render, so the three cannot add up differently.
/// Built on the control loop from one `gather`; nothing here touches the request path.
public struct MergedReport: Sendable {
    /// One server summed over the workers.
    public struct Server: Sendable {
        public let key: String
        public let pool: String
        public let address: String
        public var inFlight = 0
        public var connections = 0
        public var total = TrafficCounters()
        public var window = TrafficCounters()
        /// Removed from the configuration, still finishing requests (on some worker).
        public var retiring = false
    }

    /// Counters of requests that failed before a server was chosen, summed over the workers.
    public struct Pool: Sendable {
        public var total = TrafficCounters()
        public var window = TrafficCounters()
    }

    /// Every reported server, in the order the workers first reported them.
    public private(set) var servers: [Server] = []
    private var positions: [String: Int] = [:]
    /// By pool name.
    public private(set) var pools: [String: Pool] = [:]
    /// Open client connections on every worker.
    public private(set) var clients = 0

    public init(_ reports: [WorkerReport]) {
        for r in reports {
            clients += r.clients
            for s in r.servers { add(s) }
            for p in r.pools {
                pools[p.pool, default: Pool()].total.add(p.total)
                pools[p.pool, default: Pool()].window.add(p.window)
            }
        }
    }

    private mutating func add(_ s: ServerReport) {
        let i: Int
        if let known = positions[s.key] {
            i = known
        } else {
            i = servers.count
            positions[s.key] = i
            servers.append(Server(key: s.key, pool: s.pool, address: s.address))
        }
        servers[i].inFlight += s.inFlight
        servers[i].connections += s.connections
        servers[i].total.add(s.total)
        servers[i].window.add(s.window)
        if s.retiring { servers[i].retiring = true }
    }

    /// The server reported under `key` ("pool/address"), if any worker reported it.
    public subscript(key: String) -> Server? {
        positions[key].map { servers[$0] }
    }

    /// The servers of `pool`, in first-reported order.
    public func servers(in pool: String) -> [Server] {
        servers.filter { $0.pool == pool }
    }
}

extension ProxyServer {
    /// Every worker's report, merged, delivered on `control`'s thread (`status`, `stats`, `/metrics`).
    public func report(on control: EventLoop, counters: Bool, _ done: @escaping @Sendable (MergedReport) -> Void) {
        gather(on: control, counters: counters) { done(MergedReport($0)) }
    }
}
