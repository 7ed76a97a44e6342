import Balancing
import EventLoop
import Synchronization

/// One server as the workers see it in a snapshot: resolved address, weight, and the key that
/// ties it to per-loop state (idle connections, counters) across snapshots.
public struct ServerSnapshot: Sendable {
    public let key: String            // "pool/address"
    public let spec: SocketAddressSpec
    public let address: SocketAddress
    public let weight: Int
    /// Drained by the admin socket: no new requests, idle connections closed.
    public let draining: Bool
    /// What health checking says (usable, slow-start weight, probation).
    public let health: ServerView
    public let maxConn: Int?
    /// The weight pickers use, scaled by `SlowStart.scale`: 0 while draining or unusable.
    public var effectiveWeight: Int { draining || !health.usable ? 0 : health.scaledWeight ?? weight * SlowStart.scale }

    /// The key that names a server across snapshots, workers and reports: "pool/address".
    public static func key(pool: String, address: SocketAddressSpec) -> String { "\(pool)/\(address)" }
}

/// Health's verdict on one server, published with the snapshot.
public struct ServerView: Sendable, Equatable {
    public var usable: Bool
    /// Slow-start weight (configured x SlowStart.scale when not ramping); nil = configured.
    public var scaledWeight: Int?
    /// Ejection over, one trial request allowed (worker 0 sends it).
    public var probation: Bool
    public init(usable: Bool = true, scaledWeight: Int? = nil, probation: Bool = false) {
        self.usable = usable
        self.scaledWeight = scaledWeight
        self.probation = probation
    }
}

public struct PoolSnapshot: Sendable {
    public let name: String
    public let servers: [ServerSnapshot]
    public let config: PoolConfig
}

/// The immutable configuration every worker routes by. A change (reload, admin command) builds a
/// new one and publishes it; workers pick it up at the next request head, and their pickers
/// restart from zero.
public final class ProxySnapshot: Sendable {
    public let version: UInt64
    public let config: ProxyConfig
    public let pools: [PoolSnapshot]
    /// The configured split, and the split pickers use after failover (a pool with a non-zero
    /// split and no usable server gives its share to the others, unless `failover off`).
    public let configuredSplit: [Int]
    public let split: [Int]
    public let failedOver: [Int]

    /// Keys ("pool/address") of servers being drained.
    public let draining: Set<String>
    /// The id sticky cookies must carry to be honoured: the current (or last) rollout's, 0
    /// before any rollout. A new rollout re-assigns every shopper.
    public let stickyEpoch: UInt64
    /// `sticky cookie ...` with its key loaded; nil when not configured.
    public let sticky: StickySessions?

    public init(version: UInt64, config: ProxyConfig, draining: Set<String> = [], health: [String: ServerView] = [:],
                stickyEpoch: UInt64 = 0, sticky: StickySessions? = nil) throws {
        self.draining = draining
        self.stickyEpoch = stickyEpoch
        self.sticky = sticky
        self.version = version
        self.config = config
        var pools: [PoolSnapshot] = []
        for p in config.pools {
            var servers: [ServerSnapshot] = []
            for s in p.servers {
                guard let addr = SocketAddress(ip: s.address.host, port: s.address.port) else {
                    throw SocketError("bad server address \(s.address)", 22)
                }
                let key = ServerSnapshot.key(pool: p.name, address: s.address)
                servers.append(ServerSnapshot(key: key, spec: s.address, address: addr, weight: s.weight,
                                              draining: draining.contains(key), health: health[key] ?? ServerView(),
                                              maxConn: s.maxConn))
            }
            pools.append(PoolSnapshot(name: p.name, servers: servers, config: p))
        }
        self.pools = pools
        self.configuredSplit = config.split
        let fo = Failover.effectiveSplit(split: config.split,
                                         poolHasUsableServer: pools.map { $0.servers.contains { $0.effectiveWeight > 0 } },
                                         failover: config.pools.map(\.failover))
        self.split = fo.split
        self.failedOver = fo.failedOver
    }
}

/// Publishes snapshots to all workers without a lock on the request path: workers compare an
/// atomic version (one relaxed-acquire load per request head) and take the mutex only when it moved.
public final class SnapshotStore: Sendable {
    private let current: Mutex<ProxySnapshot>
    private let versionCounter: Atomic<UInt64>

    public init(_ initial: ProxySnapshot) {
        current = Mutex(initial)
        versionCounter = Atomic(initial.version)
    }

    @inline(__always)
    public var version: UInt64 { versionCounter.load(ordering: .acquiring) }

    public var snapshot: ProxySnapshot { current.withLock { $0 } }

    /// Builds the next snapshot from `config` and publishes it; returns it.
    @discardableResult
    public func publish(_ config: ProxyConfig, draining: Set<String> = [], health: [String: ServerView] = [:],
                        stickyEpoch: UInt64 = 0, sticky: StickySessions? = nil) throws -> ProxySnapshot {
        try current.withLock { cur in
            let next = try ProxySnapshot(version: cur.version + 1, config: config, draining: draining, health: health,
                                         stickyEpoch: stickyEpoch, sticky: sticky)
            cur = next
            versionCounter.store(next.version, ordering: .releasing)
            return next
        }
    }
}
