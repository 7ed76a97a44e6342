/// `slow-start D`: a server that comes (back) into rotation gets a reduced weight that grows
/// linearly to its configured weight over D, so a cold server (empty caches, JIT warm-up) is not
/// handed its full share at once.
///
/// The ramp starts at 10 % of the weight (at least 1), not at 0, so the server gets some traffic
/// to warm up with from the first moment: weight(t) = start + (configured - start) x t / D,
/// rounded down, start = max(1, configured / 10); full at t >= D.
///
/// Integer weights cannot ramp below 1, and a weight of 1 (the default) cannot ramp at all. So
/// callers give the picker `scaledWeight` for every server of the pool (the configured weight
/// times `scale`): smooth weighted round robin gives the same sequence for weights multiplied
/// by a constant, so servers not ramping behave exactly as before.
public enum SlowStart {
    /// Factor for `scaledWeight`: weight 1 ramps 10, 10.9, ... 100 in steps of 1/100.
    public static let scale = 100

    /// The weight to use `sinceUpMS` after the server came into rotation (see
    /// `ServerHealth.inRotationSinceMS`). `slowStartMS` <= 0 (off) or `sinceUpMS >= slowStartMS`:
    /// `configured`. A negative `sinceUpMS` counts as 0; a `configured` weight <= 0 is returned
    /// unchanged (a zero weight stays zero).
    public static func weight(configured: Int, sinceUpMS: Int64, slowStartMS: Int64) -> Int {
        guard configured > 0, slowStartMS > 0, sinceUpMS < slowStartMS else { return configured }
        let elapsed = Int(max(0, sinceUpMS))
        let start = max(1, configured / 10)
        guard configured > start else { return configured }
        // (configured - start) * elapsed / period without overflow: the result is below configured.
        let product = (configured - start).multipliedFullWidth(by: elapsed)
        let (ramp, _) = Int(slowStartMS).dividingFullWidth((high: product.high, low: product.low))
        return start + ramp
    }

    /// `weight(configured: configured * scale, ...)`: use it for every server of a pool with slow
    /// start, so weights of 1 can ramp too.
    public static func scaledWeight(configured: Int, sinceUpMS: Int64, slowStartMS: Int64) -> Int {
        let (scaled, overflow) = max(0, configured).multipliedReportingOverflow(by: scale)
        return weight(configured: overflow ? Int.max : scaled, sinceUpMS: sinceUpMS, slowStartMS: slowStartMS)
    }
}
