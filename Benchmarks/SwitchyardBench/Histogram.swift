/// Log-linear latency histogram in nanoseconds (the HdrHistogram idea): 32 linear sub-buckets
/// per power of two, so any percentile is within ~3% while recording is a shift and an add.
struct Histogram {
    private static let subBits = 5
    private static let sub = 1 << subBits
    private(set) var counts = [UInt64](repeating: 0, count: 64 * (1 << 5))
    private(set) var total: UInt64 = 0
    private(set) var maxValue: UInt64 = 0

    @inline(__always)
    static func index(_ v: UInt64) -> Int {
        if v < UInt64(sub) { return Int(v) }
        let msb = 63 - v.leadingZeroBitCount
        let shift = msb - subBits
        return (shift + 1) * sub + Int(v >> UInt64(shift)) - sub
    }

    /// Midpoint of the bucket at `i`.
    static func value(_ i: Int) -> UInt64 {
        if i < sub { return UInt64(i) }
        let shift = i / sub - 1
        let low = UInt64(i % sub + sub) << UInt64(shift)
        return low + (UInt64(1) << UInt64(shift)) / 2
    }

    @inline(__always)
    mutating func record(_ ns: UInt64) {
        counts[Self.index(ns)] &+= 1
        total &+= 1
        if ns > maxValue { maxValue = ns }
    }

    mutating func merge(_ other: Histogram) {
        for i in 0..<counts.count { counts[i] &+= other.counts[i] }
        total &+= other.total
        maxValue = max(maxValue, other.maxValue)
    }

    /// The value below which `p` (0…1) of the samples fall, in ns.
    func percentile(_ p: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = max(1, UInt64((p * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= rank { return min(Self.value(i), maxValue) }
        }
        return maxValue
    }
}
