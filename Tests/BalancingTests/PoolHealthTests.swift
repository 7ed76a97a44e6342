import Testing

@testable import Balancing

struct MayEjectCase: Sendable, CustomTestStringConvertible {
    var ejectedNow: Int
    var poolSize: Int
    var maxPercent: Int
    var expected: Bool
    var testDescription: String { "\(ejectedNow) of \(poolSize) ejected, max \(maxPercent)% -> \(expected)" }

    init(_ ejectedNow: Int, _ poolSize: Int, _ maxPercent: Int, _ expected: Bool) {
        self.ejectedNow = ejectedNow
        self.poolSize = poolSize
        self.maxPercent = maxPercent
        self.expected = expected
    }
}

@Suite struct EjectionPolicyTests {
    static let cases: [MayEjectCase] = [
        .init(0, 2, 50, true), .init(1, 2, 50, false),      // 2 servers, 50%: one may go
        .init(0, 1, 50, false),                              // 1 server, 50%: none
        .init(0, 1, 99, false), .init(0, 1, 100, true), .init(1, 1, 100, false),
        .init(0, 3, 50, true), .init(1, 3, 50, false),      // floor(1.5) = 1
        .init(1, 4, 50, true), .init(2, 4, 50, false),
        .init(1, 10, 25, true), .init(2, 10, 25, false),    // floor(2.5) = 2
        .init(0, 10, 9, false), .init(0, 10, 10, true), .init(1, 10, 10, false),
        .init(9, 10, 100, true), .init(10, 10, 100, false),
        .init(0, 10, 0, false), .init(0, 0, 50, false), .init(0, 0, 100, false),
        .init(0, 5, 150, true), .init(5, 5, 150, false),    // above 100% counts as 100%
        .init(-1, 2, 50, true), .init(0, 2, -5, false),
    ]

    @Test(arguments: cases)
    func mayEject(_ c: MayEjectCase) {
        #expect(EjectionPolicy.mayEject(ejectedNow: c.ejectedNow, poolSize: c.poolSize, maxPercent: c.maxPercent) == c.expected)
    }
}

@Suite struct PoolHealthTests {
    private static let policy = HealthPolicy(activeChecks: false, ejectAfter: 2)

    private func fail(_ pool: inout PoolHealth, _ server: Int, times: Int, nowMS: Int64) -> ServerHealth.Transition? {
        var last: ServerHealth.Transition?
        for _ in 0..<times { last = pool.passiveFailure(server: server, nowMS: nowMS) }
        return last
    }

    @Test func maxEjectHalfOfTwo() {
        var pool = PoolHealth(policy: Self.policy, serverCount: 2, maxEjectPercent: 50, nowMS: 0)
        #expect(fail(&pool, 0, times: 2, nowMS: 100) != nil)
        #expect(pool.ejectedCount == 1)
        // The second server reaches the threshold but stays: 1 of 2 is the cap.
        #expect(fail(&pool, 1, times: 5, nowMS: 200) == nil)
        #expect(pool.usable == [false, true])
        #expect(pool.servers[1].consecutiveFailures == 5)
        // Once the first is back, the next failure of the second ejects it.
        let changes = pool.tick(nowMS: 10_100)
        #expect(changes == [PoolHealth.Change(server: 0, transition: .probation)])
        #expect(pool.requestStarted(server: 0) == true)
        #expect(pool.passiveSuccess(server: 0, nowMS: 10_200) == .restored)
        #expect(pool.ejectedCount == 0)
        #expect(pool.passiveFailure(server: 1, nowMS: 10_300) == .ejected(untilMS: 20_300,
            reason: "6 consecutive failed requests; ejection 1 in a row, for 10s"))
        #expect(pool.usable == [true, false])
    }

    @Test func singleServerPool() {
        var half = PoolHealth(policy: Self.policy, serverCount: 1, maxEjectPercent: 50, nowMS: 0)
        #expect(fail(&half, 0, times: 10, nowMS: 1) == nil)
        #expect(half.hasUsableServer)
        var all = PoolHealth(policy: Self.policy, serverCount: 1, maxEjectPercent: 100, nowMS: 0)
        #expect(fail(&all, 0, times: 2, nowMS: 1) != nil)
        #expect(!all.hasUsableServer)
    }

    /// A server on probation is already counted as ejected: its failed probe ejects it again
    /// even though the pool is at its cap.
    @Test func probationFailureIgnoresTheCap() {
        var pool = PoolHealth(policy: Self.policy, serverCount: 2, maxEjectPercent: 50, nowMS: 0)
        _ = fail(&pool, 0, times: 2, nowMS: 0)
        _ = pool.tick(nowMS: 10_000)
        pool.requestStarted(server: 0)
        #expect(pool.ejectedCount == 1)
        let t = pool.passiveFailure(server: 0, nowMS: 10_001)
        #expect(t == .ejected(untilMS: 30_001, reason: "probation request failed; ejection 2 in a row, for 20s"))
    }

    @Test func zeroPercentNeverEjects() {
        var pool = PoolHealth(policy: Self.policy, serverCount: 4, maxEjectPercent: 0, nowMS: 0)
        for s in 0..<4 { #expect(fail(&pool, s, times: 20, nowMS: 0) == nil) }
        #expect(pool.usable == [true, true, true, true])
    }

    @Test func tickReportsChangesInServerOrderAndNextDeadline() {
        var pool = PoolHealth(policy: Self.policy, serverCount: 4, maxEjectPercent: 100, nowMS: 0)
        #expect(pool.nextEjectionEndMS == nil)
        _ = fail(&pool, 2, times: 2, nowMS: 500)
        _ = fail(&pool, 0, times: 2, nowMS: 1000)
        #expect(pool.nextEjectionEndMS == 10_500)
        #expect(pool.tick(nowMS: 10_499).isEmpty)
        #expect(pool.tick(nowMS: 11_000) == [PoolHealth.Change(server: 0, transition: .probation),
                                             PoolHealth.Change(server: 2, transition: .probation)])
        #expect(pool.nextEjectionEndMS == nil)
        #expect(pool.usable == [true, true, true, true])
        #expect(pool.ejectedCount == 2)  // probation still counts against the cap
    }

    @Test func hasUsableServerFollowsChecks() {
        var pool = PoolHealth(policy: HealthPolicy(activeChecks: true, rise: 1, fall: 1), serverCount: 2, maxEjectPercent: 50, nowMS: 0)
        #expect(!pool.hasUsableServer)
        #expect(pool.checkResult(server: 1, passed: true, nowMS: 1) == .up)
        #expect(pool.hasUsableServer && pool.usable == [false, true])
        #expect(pool.checkResult(server: 1, passed: false, nowMS: 2, detail: "timeout") == .down(reason: "1 consecutive failed checks (last: timeout)"))
        #expect(!pool.hasUsableServer)
    }

    @Test func fromPoolConfig() {
        let config = PoolConfig(name: "blue", servers: [
            ServerConfig(address: SocketAddressSpec(host: "10.0.0.1", port: 80)),
            ServerConfig(address: SocketAddressSpec(host: "10.0.0.2", port: 80)),
            ServerConfig(address: SocketAddressSpec(host: "10.0.0.3", port: 80)),
        ], health: HealthCheckConfig(rise: 3, initialUp: true), ejectAfter: 7, maxEjectPercent: 34)
        let pool = PoolHealth(pool: config, nowMS: 42)
        #expect(pool.servers.count == 3)
        #expect(pool.maxEjectPercent == 34)
        #expect(pool.policy == HealthPolicy(activeChecks: true, rise: 3, fall: 3, initialUp: true, ejectAfter: 7))
        #expect(pool.servers.allSatisfy { $0.isUsable && $0.inRotationSinceMS == 42 })
    }

    @Test func reconfigureAppliesToEveryServer() {
        var pool = PoolHealth(policy: Self.policy, serverCount: 2, maxEjectPercent: 100, nowMS: 0)
        _ = fail(&pool, 0, times: 2, nowMS: 0)
        pool.reconfigure(pool: PoolConfig(name: "p", ejectAfter: nil, maxEjectPercent: 10), nowMS: 100)
        #expect(pool.maxEjectPercent == 10 && pool.policy.ejectAfter == nil)
        #expect(pool.usable == [true, true])
        #expect(pool.servers.allSatisfy { $0.policy.ejectAfter == nil })
    }

    @Test func outOfRangeIndicesAreIgnored() {
        var pool = PoolHealth(policy: Self.policy, serverCount: 1, maxEjectPercent: 100, nowMS: 0)
        #expect(pool.passiveFailure(server: 1, nowMS: 0) == nil)
        #expect(pool.passiveFailure(server: -1, nowMS: 0) == nil)
        #expect(pool.passiveSuccess(server: 5, nowMS: 0) == nil)
        #expect(pool.checkResult(server: 5, passed: true, nowMS: 0) == nil)
        #expect(pool.requestStarted(server: 5) == false)
        pool.probeAbandoned(server: 5)
        #expect(pool.servers.count == 1 && pool.servers[0].consecutiveFailures == 0)
    }
}
