/// One `server ADDRESS [weight N]` line of a pool.
public struct ServerConfig: Hashable, Sendable {
    public var address: SocketAddressSpec
    /// 1...1000. Draining a server is a runtime state, not a weight of 0.
    public var weight: Int
    /// 1-based line in the config file (0 if built in code).
    public var line: Int

    public init(address: SocketAddressSpec, weight: Int = 1, line: Int = 0) {
        self.address = address
        self.weight = weight
        self.line = line
    }
}

/// A `pool NAME { ... }` block: one deployment colour (blue, green, canary...).
public struct PoolConfig: Hashable, Sendable {
    public var name: String
    public var servers: [ServerConfig]
    /// Line of `pool NAME {` (0 if built in code).
    public var line: Int

    public init(name: String, servers: [ServerConfig] = [], line: Int = 0) {
        self.name = name
        self.servers = servers
        self.line = line
    }
}

/// All values in milliseconds.
public struct Timeouts: Hashable, Sendable {
    /// Establishing the upstream TCP connection.
    public var connect: Int64 = 2000
    /// Receiving a complete request head from the client (slowloris guard).
    public var clientHeader: Int64 = 10_000
    /// A kept-alive client connection with no request in flight.
    public var clientIdle: Int64 = 60_000
    /// Waiting for upstream response bytes (between reads, not total).
    public var upstream: Int64 = 30_000
    /// A pooled idle upstream connection before we close it; kept below the
    /// typical upstream keep-alive timeout (5s) so we close first and avoid
    /// reusing a connection the upstream is closing.
    public var upstreamIdle: Int64 = 4000
    /// Graceful shutdown / reload: how long in-flight requests may finish.
    public var drain: Int64 = 30_000
    /// Graceful shutdown: keep serving (reporting not-ready) this long before we stop accepting.
    public var shutdownDelay: Int64 = 0

    public init(connect: Int64 = 2000, clientHeader: Int64 = 10_000, clientIdle: Int64 = 60_000,
                upstream: Int64 = 30_000, upstreamIdle: Int64 = 4000, drain: Int64 = 30_000) {
        self.connect = connect
        self.clientHeader = clientHeader
        self.clientIdle = clientIdle
        self.upstream = upstream
        self.upstreamIdle = upstreamIdle
        self.drain = drain
    }
}

public struct Limits: Hashable, Sendable {
    /// Maximum request head size (request line + headers).
    public var headerBytes: Int = 32768
    /// Maximum request body. 0 means no request bodies.
    public var bodyBytes: UInt64 = 100 * 1024 * 1024
    /// Maximum concurrent client connections; nil: derived from RLIMIT_NOFILE by the proxy.
    public var connections: Int? = nil

    public init(headerBytes: Int = 32768, bodyBytes: UInt64 = 100 * 1024 * 1024, connections: Int? = nil) {
        self.headerBytes = headerBytes
        self.bodyBytes = bodyBytes
        self.connections = connections
    }
}

/// The whole parsed configuration. A plain value: the proxy builds its
/// runtime state from it and a reload is a new value.
public struct ProxyConfig: Hashable, Sendable {
    /// At least one after a successful parse.
    public var listeners: [SocketAddressSpec]
    /// nil = auto (one per core).
    public var workers: Int?
    /// Unix socket path of the admin interface; `admin PATH [group NAME]`.
    public var adminSocket: String?
    /// Group that may use the admin socket (the proxy chowns/chmods it).
    public var adminGroup: String?
    /// In file order.
    public var pools: [PoolConfig]
    /// Relative weights aligned with `pools`. Without a `split` directive the
    /// first pool gets 100 and all others 0.
    public var split: [Int]
    public var timeouts: Timeouts
    public var limits: Limits
    /// Peers allowed to supply X-Forwarded-For.
    public var trustedProxies: [CIDR]

    /// Empty: no listeners, no pools, default timeouts and limits.
    public init() {
        listeners = []
        workers = nil
        adminSocket = nil
        adminGroup = nil
        pools = []
        split = []
        timeouts = Timeouts()
        limits = Limits()
        trustedProxies = []
    }

    public func poolIndex(named name: String) -> Int? {
        pools.firstIndex { $0.name == name }
    }

    /// True if `address` falls inside any trusted-proxies CIDR.
    public func isTrustedProxy(_ address: IPAddress) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }
}
