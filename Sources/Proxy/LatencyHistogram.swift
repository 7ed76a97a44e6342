/// Log-linear latency histogram in microseconds (8 sub-buckets per power of two, so any
/// percentile is within 12.5% of the truth), fixed size, no allocation when recording.
public struct LatencyHistogram: Sendable {
    static let subBits = 3
    static let bucketCount = 8 * 28   // up to 2^28 us (about 4.5 minutes)
    public private(set) var counts: [UInt64]
    public private(set) var total: UInt64 = 0

    public init() { counts = [UInt64](repeating: 0, count: Self.bucketCount) }

    @inline(__always)
    static func bucket(_ us: UInt64) -> Int {
        if us < 8 { return Int(us) }
        let e = 63 - us.leadingZeroBitCount          // >= 3
        let sub = Int((us >> UInt64(e - subBits)) & 7)
        return min((e - subBits + 1) * 8 + sub, bucketCount - 1)
    }

    /// Lower bound of a bucket, in microseconds.
    static func lowerBound(_ b: Int) -> UInt64 {
        if b < 8 { return UInt64(b) }
        let e = b / 8 + subBits - 1
        return (UInt64(8 + b % 8)) << UInt64(e - subBits)
    }

    @inline(__always)
    public mutating func record(us: UInt64) {
        counts[Self.bucket(us)] &+= 1
        total &+= 1
    }

    public mutating func add(_ other: LatencyHistogram) {
        for i in 0..<counts.count { counts[i] &+= other.counts[i] }
        total &+= other.total
    }

    /// This histogram minus an earlier state of it (counts taken later minus counts taken
    /// before: a window). Buckets that would go negative count as 0.
    public func minus(_ earlier: LatencyHistogram) -> LatencyHistogram {
        var out = self
        var total: UInt64 = 0
        for i in 0..<out.counts.count {
            let c = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : 0
            out.counts[i] = c
            total &+= c
        }
        out.total = total
        return out
    }

    public mutating func reset() {
        for i in 0..<counts.count { counts[i] = 0 }
        total = 0
    }

    /// The value at quantile q (0...1) in milliseconds, 0 when empty: the midpoint of the bucket.
    public func percentileMS(_ q: Double) -> Double {
        guard total > 0 else { return 0 }
        let rank = UInt64((Double(total) * q).rounded(.up))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= max(rank, 1) {
                let lo = Self.lowerBound(i)
                let hi = i + 1 < Self.bucketCount ? Self.lowerBound(i + 1) : lo
                return Double(lo + hi) / 2 / 1000
            }
        }
        return Double(Self.lowerBound(Self.bucketCount - 1)) / 1000
    }
}

/// Counters of one server (or one pool, for errors made before a server was chosen) on one loop.
/// Plain integers: only the owning loop writes them; reports copy them out on that loop.
public struct TrafficCounters: Sendable {
    public var requests: UInt64 = 0
    public var responses: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)  // 1xx-class unused, 2xx, 3xx, 4xx, 5xx
    public var proxy502: UInt64 = 0
    public var proxy503: UInt64 = 0
    public var proxy504: UInt64 = 0
    public var retries: UInt64 = 0
    /// Requests cut because a drained server did not finish them within `timeout drain`.
    public var drainCut: UInt64 = 0
    /// Responses the upstream broke off after their head (the client connection was cut).
    public var aborted: UInt64 = 0
    public var latency = LatencyHistogram()

    public init() {}

    public mutating func add(_ o: TrafficCounters) {
        requests &+= o.requests
        responses.1 &+= o.responses.1
        responses.2 &+= o.responses.2
        responses.3 &+= o.responses.3
        responses.4 &+= o.responses.4
        proxy502 &+= o.proxy502
        proxy503 &+= o.proxy503
        proxy504 &+= o.proxy504
        retries &+= o.retries
        drainCut &+= o.drainCut
        aborted &+= o.aborted
        latency.add(o.latency)
    }

    /// Requests that ended, whatever the outcome: upstream responses, proxy-made 502/503/504
    /// and responses broken off mid-body.
    public var completed: UInt64 {
        responses.0 &+ responses.1 &+ responses.2 &+ responses.3 &+ responses.4 &+ proxy502 &+ proxy503 &+ proxy504 &+ aborted
    }

    /// What a rollout counts as a failed request: upstream 5xx, proxy-made 502/503/504 and
    /// responses broken off mid-body.
    public var failed: UInt64 { responses.4 &+ proxy502 &+ proxy503 &+ proxy504 &+ aborted }

    @inline(__always)
    mutating func countStatus(_ status: Int) {
        switch status / 100 {
        case 2: responses.1 &+= 1
        case 3: responses.2 &+= 1
        case 4: responses.3 &+= 1
        case 5: responses.4 &+= 1
        default: break
        }
    }

    @inline(__always)
    mutating func countProxyError(_ status: Int) {
        switch status {
        case 502: proxy502 &+= 1
        case 503: proxy503 &+= 1
        case 504: proxy504 &+= 1
        default: break
        }
    }
}

/// Totals since start plus a ring of one-second slots for the sliding 10 s window.
struct WindowedCounters {
    static let slots = 10
    var total = TrafficCounters()
    var ring = [TrafficCounters](repeating: TrafficCounters(), count: WindowedCounters.slots)
    var ringSecond = [UInt64](repeating: UInt64.max, count: WindowedCounters.slots)

    @inline(__always)
    mutating func slot(_ nowNS: UInt64) -> Int {
        let sec = nowNS / 1_000_000_000
        let i = Int(sec % UInt64(Self.slots))
        if ringSecond[i] != sec {
            ring[i] = TrafficCounters()
            ringSecond[i] = sec
        }
        return i
    }

    mutating func request(now: UInt64) {
        total.requests &+= 1
        ring[slot(now)].requests &+= 1
    }

    mutating func response(status: Int, latencyUS: UInt64, now: UInt64) {
        total.countStatus(status)
        total.latency.record(us: latencyUS)
        let i = slot(now)
        ring[i].countStatus(status)
        ring[i].latency.record(us: latencyUS)
    }

    mutating func proxyError(_ status: Int, now: UInt64) {
        total.countProxyError(status)
        ring[slot(now)].countProxyError(status)
    }

    mutating func abort(now: UInt64) {
        total.aborted &+= 1
        ring[slot(now)].aborted &+= 1
    }

    mutating func retry(now: UInt64) {
        total.retries &+= 1
        ring[slot(now)].retries &+= 1
    }

    /// Sum of the slots within the last `slots` seconds.
    func window(now: UInt64) -> TrafficCounters {
        let sec = now / 1_000_000_000
        var w = TrafficCounters()
        for i in 0..<Self.slots where ringSecond[i] != UInt64.max && sec - ringSecond[i] < UInt64(Self.slots) {
            w.add(ring[i])
        }
        return w
    }
}
