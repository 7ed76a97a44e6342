/// One `server ADDRESS [weight N] [max-conn N]` line of a pool.
public struct ServerConfig: Hashable, Sendable {
    public var address: SocketAddressSpec
    /// 1...1000. Draining a server is a runtime state, not a weight of 0.
    public var weight: Int
    /// `max-conn N` (1...100000): at most N requests in flight to this server at once; further
    /// requests wait (up to `timeout queue`) for a free slot. nil: no limit.
    public var maxConn: Int?
    /// 1-based line in the config file (0 if built in code).
    public var line: Int

    public init(address: SocketAddressSpec, weight: Int = 1, maxConn: Int? = nil, line: Int = 0) {
        self.address = address
        self.weight = weight
        self.maxConn = maxConn
        self.line = line
    }
}

/// `health [METHOD PATH] [interval D] [timeout D] [rise N] [fall N] [expect NNN[-NNN]] [initial up|down]`
/// inside a pool: active HTTP checks of every server of the pool. The defaults are those of a
/// bare `health` line.
public struct HealthCheckConfig: Hashable, Sendable {
    /// GET, HEAD or OPTIONS.
    public var method: String
    /// Request target of the check; starts with "/", printable ASCII without spaces.
    public var path: String
    /// Time between the starts of two checks of one server.
    public var intervalMS: Int64
    /// A check without a complete response head within this time fails. Always < intervalMS.
    public var timeoutMS: Int64
    /// Consecutive passing checks that bring a down server up (1...100).
    public var rise: Int
    /// Consecutive failing checks that take an up server down (1...100).
    public var fall: Int
    /// Passing status codes: expectLow...expectHigh, within 100...599.
    public var expectLow: Int
    public var expectHigh: Int
    /// State of a server before its first checks (new server, proxy start). Default down:
    /// a server receives traffic only after `rise` passing checks.
    public var initialUp: Bool

    public init(method: String = "GET", path: String = "/healthz", intervalMS: Int64 = 2000, timeoutMS: Int64 = 1000,
                rise: Int = 2, fall: Int = 3, expectLow: Int = 200, expectHigh: Int = 399, initialUp: Bool = false) {
        self.method = method
        self.path = path
        self.intervalMS = intervalMS
        self.timeoutMS = timeoutMS
        self.rise = rise
        self.fall = fall
        self.expectLow = expectLow
        self.expectHigh = expectHigh
        self.initialUp = initialUp
    }

    /// True if a check response with this status code passes.
    public func expects(status: Int) -> Bool {
        (expectLow...expectHigh).contains(status)
    }
}

/// A `pool NAME { ... }` block: one deployment colour (blue, green, canary...).
public struct PoolConfig: Hashable, Sendable {
    public var name: String
    public var servers: [ServerConfig]
    /// Line of `pool NAME {` (0 if built in code).
    public var line: Int
    /// `health ...`: active checks; nil = no active checks (servers count as up).
    public var health: HealthCheckConfig?
    /// `eject-after N|off`: passive outlier detection ejects a server after N consecutive
    /// failed requests (1...1000). nil = passive detection off. Default 5.
    public var ejectAfter: Int?
    /// `eject-on 5xx`: upstream 5xx responses count as failures too (not only connect errors,
    /// resets and timeouts). Default off.
    public var ejectOn5xx: Bool
    /// `max-eject P%`: passive detection never ejects more than this share of the pool's servers
    /// (0...100, floor of the server count). Default 50.
    public var maxEjectPercent: Int
    /// `slow-start D|off`: after coming (back) into rotation, a server's weight ramps from 10 %
    /// to full over this period. 0 = off (the default).
    public var slowStartMS: Int64
    /// `retries N` (0...10): a request that failed before any response byte reached the client
    /// may be retried this many times on other servers of the same pool. Default 2.
    public var retries: Int
    /// `failover on|off`: when the pool has no usable server, its split share goes to the other
    /// pools with a non-zero split (on, the default); off: its requests get 503.
    public var failover: Bool

    public static let defaultEjectAfter = 5
    public static let defaultMaxEjectPercent = 50
    public static let defaultRetries = 2

    public init(name: String, servers: [ServerConfig] = [], line: Int = 0, health: HealthCheckConfig? = nil,
                ejectAfter: Int? = PoolConfig.defaultEjectAfter, ejectOn5xx: Bool = false,
                maxEjectPercent: Int = PoolConfig.defaultMaxEjectPercent, slowStartMS: Int64 = 0,
                retries: Int = PoolConfig.defaultRetries, failover: Bool = true) {
        self.name = name
        self.servers = servers
        self.line = line
        self.health = health
        self.ejectAfter = ejectAfter
        self.ejectOn5xx = ejectOn5xx
        self.maxEjectPercent = maxEjectPercent
        self.slowStartMS = slowStartMS
        self.retries = retries
        self.failover = failover
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
    /// How long a request may wait for a free slot when every usable server of its pool is at
    /// its `max-conn`; then 503.
    public var queue: Int64 = 5000

    public init(connect: Int64 = 2000, clientHeader: Int64 = 10_000, clientIdle: Int64 = 60_000,
                upstream: Int64 = 30_000, upstreamIdle: Int64 = 4000, drain: Int64 = 30_000, queue: Int64 = 5000) {
        self.connect = connect
        self.clientHeader = clientHeader
        self.clientIdle = clientIdle
        self.upstream = upstream
        self.upstreamIdle = upstreamIdle
        self.drain = drain
        self.queue = queue
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

/// `sticky cookie NAME key FILE [max-age DURATION]`: keep a client on the colour it was first
/// sent to, with a signed cookie (`StickyCookie`) for the length of a rollout.
public struct StickyConfig: Hashable, Sendable {
    /// The cookie's name: RFC 6265 token characters only (tchar of RFC 9110), 1...64 bytes.
    public var cookieName: String
    /// The file with the signing key, as written (the proxy reads it, not the parser).
    public var keyFile: String
    /// How long a cookie keeps a client on its colour; 1s...30 days.
    public var maxAgeMS: Int64
    /// 1-based line in the config file (0 if built in code).
    public var line: Int

    public static let defaultMaxAgeMS: Int64 = 43_200_000

    public init(cookieName: String, keyFile: String, maxAgeMS: Int64 = StickyConfig.defaultMaxAgeMS, line: Int = 0) {
        self.cookieName = cookieName
        self.keyFile = keyFile
        self.maxAgeMS = maxAgeMS
        self.line = line
    }
}

/// `access-log PATH [buffer SIZE] [flush DURATION]`: one line per request, written in the
/// background from a buffer.
public struct AccessLogConfig: Hashable, Sendable {
    /// The log file, as written.
    public var path: String
    /// Size of the in-memory buffer, 4 KiB...16 MiB.
    public var bufferBytes: Int
    /// A non-empty buffer is written out at least this often, 10ms...60s.
    public var flushMS: Int64
    /// 1-based line in the config file (0 if built in code).
    public var line: Int

    public static let defaultBufferBytes = 64 * 1024
    public static let defaultFlushMS: Int64 = 1000

    public init(path: String, bufferBytes: Int = AccessLogConfig.defaultBufferBytes,
                flushMS: Int64 = AccessLogConfig.defaultFlushMS, line: Int = 0) {
        self.path = path
        self.bufferBytes = bufferBytes
        self.flushMS = flushMS
        self.line = line
    }
}

/// `rollout NAME { ... }`: a named rollout plan, started over the admin socket with
/// `rollout start NAME`.
public struct RolloutPlanConfig: Hashable, Sendable {
    /// Same syntax as pool names; may equal a pool name (`rollout green { ... }`).
    public var name: String
    /// The pools and thresholds, validated like the arguments of `rollout start`.
    public var spec: RolloutSpec
    /// Line of `rollout NAME {` (0 if built in code).
    public var line: Int

    public init(name: String, spec: RolloutSpec, line: Int = 0) {
        self.name = name
        self.spec = spec
        self.line = line
    }
}

/// The whole parsed configuration. A plain value: the proxy builds its
/// runtime state from it and a reload is a new value.
public struct ProxyConfig: Hashable, Sendable {
    /// At least one after a successful parse.
    public var listeners: [SocketAddressSpec]
    /// nil = auto (one per core).
    public var workers: Int?
    /// `io-uring on|off`: batch each loop round's socket receives and sends through io_uring
    /// (on by default; where the kernel refuses io_uring the proxy uses plain syscalls anyway).
    public var ioUring = true
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
    /// `metrics ADDR:PORT`: Prometheus `/metrics` plus `/ready` and `/live` (nil = off).
    public var metrics: SocketAddressSpec? = nil
    /// `audit-log PATH`: where admin changes are recorded (nil: the operational log).
    public var auditLog: String? = nil
    /// `sticky cookie NAME key FILE [max-age D]` (nil = no sticky sessions).
    public var sticky: StickyConfig? = nil
    /// `access-log PATH [buffer SIZE] [flush D]` (nil = no access log).
    public var accessLog: AccessLogConfig? = nil
    /// `rollout NAME { ... }` plans, in file order, names unique.
    public var rollouts: [RolloutPlanConfig] = []

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

    /// The `rollout NAME { ... }` plan called `named`, if any.
    public func rolloutPlan(named name: String) -> RolloutPlanConfig? {
        rollouts.first { $0.name == name }
    }

    /// True if `address` falls inside any trusted-proxies CIDR.
    public func isTrustedProxy(_ address: IPAddress) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }
}
