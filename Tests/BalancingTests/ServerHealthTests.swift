import Testing

@testable import Balancing

private let checked = HealthPolicy(activeChecks: true, rise: 2, fall: 3, initialUp: false, ejectAfter: 3)
private let unchecked = HealthPolicy(activeChecks: false, ejectAfter: 3)

/// Feeds check results ("P" pass, "F" fail) one per second from `startMS`; returns the
/// transitions in order with the index of the result that caused them.
private func feed(_ h: inout ServerHealth, _ results: String, startMS: Int64 = 0) -> [(Int, ServerHealth.Transition)] {
    var out: [(Int, ServerHealth.Transition)] = []
    for (i, c) in results.enumerated() {
        if let t = h.checkResult(passed: c == "P", nowMS: startMS + Int64(i) * 1000, detail: c == "P" ? "HTTP 200" : "HTTP 503") {
            out.append((i, t))
        }
    }
    return out
}

/// Ejects a server of a pool without checks: `ejectAfter` failures at `nowMS`.
private func ejectNow(_ h: inout ServerHealth, nowMS: Int64) -> ServerHealth.Transition? {
    var last: ServerHealth.Transition?
    for _ in 0..<(h.policy.ejectAfter ?? 0) { last = h.passiveFailure(nowMS: nowMS) }
    return last
}

private func untilMS(_ t: ServerHealth.Transition?) -> Int64? {
    if case .ejected(let until, _) = t { return until }
    return nil
}

@Suite struct ActiveCheckTests {
    @Test func startsDownAndNeedsRisePasses() {
        var h = ServerHealth(policy: checked, nowMS: 0)
        #expect(h.status == .down)
        #expect(!h.isUsable)
        #expect(h.inRotationSinceMS == nil)
        #expect(h.checkResult(passed: true, nowMS: 1000) == nil)
        #expect(!h.isUsable)
        #expect(h.checkResult(passed: true, nowMS: 2000) == .up)
        #expect(h.status == .up && h.isUsable)
        #expect(h.inRotationSinceMS == 2000)
    }

    @Test func initialUpStartsUsable() {
        var policy = checked
        policy.initialUp = true
        let h = ServerHealth(policy: policy, nowMS: 500)
        #expect(h.status == .up && h.isUsable)
        #expect(h.inRotationSinceMS == 500)
    }

    @Test func withoutChecksStartsUp() {
        let h = ServerHealth(policy: unchecked, nowMS: 7)
        #expect(h.status == .up && h.isUsable && h.inRotationSinceMS == 7)
        #expect(h.stateName == "up")
    }

    /// rise 2, fall 3: exact positions of every transition.
    @Test func riseFallExactSequence() {
        var h = ServerHealth(policy: checked, nowMS: 0)
        //                   index: 0123456789012345
        let got = feed(&h, "PFPPFFPFFFPFPPPF")
        // 0 P(1 pass) 1 F 2 P 3 P -> up at 3; 4 F 5 F 6 P(resets) 7 F 8 F 9 F -> down at 9;
        // 10 P 11 F 12 P 13 P -> up at 13; 14 P 15 F: still up.
        #expect(got.map(\.0) == [3, 9, 13])
        #expect(got.map(\.1) == [.up, .down(reason: "3 consecutive failed checks (last: HTTP 503)"), .up])
        #expect(h.status == .up)
        #expect(h.consecutiveCheckFailures == 1 && h.consecutivePasses == 0)
    }

    @Test func downNeedsConsecutivePasses() {
        var policy = checked
        policy.rise = 3
        var h = ServerHealth(policy: policy, nowMS: 0)
        #expect(feed(&h, "PPFPPFPP").isEmpty)
        #expect(h.status == .down)
        #expect(feed(&h, "P", startMS: 9000).map(\.1) == [.up])
    }

    @Test func riseOneFallOne() {
        var h = ServerHealth(policy: HealthPolicy(activeChecks: true, rise: 1, fall: 1), nowMS: 0)
        #expect(feed(&h, "PFFPP").map(\.0) == [0, 1, 3])
    }

    @Test func lastCheckIsRecorded() {
        var h = ServerHealth(policy: checked, nowMS: 0)
        #expect(h.lastCheck == nil)
        h.checkResult(passed: false, nowMS: 1234, detail: "connect refused")
        #expect(h.lastCheck == ServerHealth.CheckRecord(atMS: 1234, passed: false, detail: "connect refused"))
        h.checkResult(passed: true, nowMS: 3234)
        #expect(h.lastCheck == ServerHealth.CheckRecord(atMS: 3234, passed: true, detail: ""))
    }

    @Test func downReasonWithoutDetail() {
        var policy = checked
        policy.initialUp = true
        policy.fall = 1
        var h = ServerHealth(policy: policy, nowMS: 0)
        #expect(h.checkResult(passed: false, nowMS: 1) == .down(reason: "1 consecutive failed checks"))
        #expect(h.inRotationSinceMS == nil && h.leftRotationAtMS == 1)
    }
}

@Suite struct PassiveDetectionTests {
    @Test func ejectsAtThresholdOfConsecutiveFailures() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        #expect(h.passiveFailure(nowMS: 100) == nil)
        #expect(h.passiveFailure(nowMS: 200) == nil)
        h.passiveSuccess(nowMS: 300)  // resets the run
        #expect(h.consecutiveFailures == 0)
        #expect(h.passiveFailure(nowMS: 400) == nil)
        #expect(h.passiveFailure(nowMS: 500) == nil)
        #expect(h.isUsable)
        let t = h.passiveFailure(nowMS: 600, detail: "connection reset")
        #expect(t == .ejected(untilMS: 10_600, reason: "3 consecutive failed requests (last: connection reset); ejection 1 in a row, for 10s"))
        #expect(!h.isUsable && h.isEjected)
        #expect(h.ejectedUntilMS == 10_600)
        #expect(h.ejections == 1 && h.ejectionStreak == 1)
        #expect(h.consecutiveFailures == 0)
        #expect(h.inRotationSinceMS == nil && h.leftRotationAtMS == 600)
        #expect(h.stateName == "ejected")
    }

    @Test func passiveOffNeverEjects() {
        var h = ServerHealth(policy: HealthPolicy(activeChecks: false, ejectAfter: nil), nowMS: 0)
        for i in 0..<10_000 { #expect(h.passiveFailure(nowMS: Int64(i)) == nil) }
        #expect(h.isUsable && h.ejections == 0 && h.consecutiveFailures == 10_000)
    }

    @Test func blockedEjectionRetriesOnTheNextFailure() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        h.passiveFailure(nowMS: 1)
        h.passiveFailure(nowMS: 2)
        #expect(h.passiveFailure(nowMS: 3, mayEject: false) == nil)
        #expect(h.passiveFailure(nowMS: 4, mayEject: false) == nil)
        #expect(h.isUsable && h.consecutiveFailures == 4)
        #expect(untilMS(h.passiveFailure(nowMS: 5, mayEject: true)) == 10_005)
    }

    @Test func resultsWhileEjectedAreIgnored() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        _ = ejectNow(&h, nowMS: 0)
        for t in stride(from: Int64(1), to: 10_000, by: 1000) {
            #expect(h.passiveFailure(nowMS: t) == nil)
            #expect(h.passiveSuccess(nowMS: t) == nil)
        }
        #expect(h.ejectedUntilMS == 10_000 && h.ejections == 1)
    }

    @Test func ejectionPeriodsDoubleUpToTheCap() {
        let p = HealthPolicy()
        #expect((0...8).map { p.ejectionPeriodMS(streak: $0) } == [10_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000])
        #expect(p.ejectionPeriodMS(streak: 63) == 300_000)
        #expect(p.ejectionPeriodMS(streak: Int.max) == 300_000)
        let q = HealthPolicy(baseEjectionMS: Int64.max / 2, maxEjectionMS: Int64.max)
        #expect(q.ejectionPeriodMS(streak: 3) == Int64.max)  // overflow saturates at the cap
    }

    /// Probation failures in a row: 10 s, 20 s, 40 s, 80 s, 160 s, 300 s, 300 s.
    @Test func repeatedProbationFailuresLengthenTheEjection() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        var now: Int64 = 0
        var periods: [Int64] = []
        var until = untilMS(ejectNow(&h, nowMS: now))!
        periods.append(until - now)
        for _ in 0..<6 {
            now = until
            #expect(h.tick(nowMS: now) == .probation)
            #expect(h.requestStarted() == true)
            until = untilMS(h.passiveFailure(nowMS: now + 5))!
            periods.append(until - (now + 5))
        }
        #expect(periods == [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000])
        #expect(h.ejections == 7 && h.ejectionStreak == 7)
    }

    @Test func tickEndsTheEjectionExactlyAtItsEnd() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        _ = ejectNow(&h, nowMS: 1000)
        #expect(h.tick(nowMS: 10_999) == nil)
        #expect(h.ejectedUntilMS == 11_000)
        #expect(h.tick(nowMS: 11_000) == .probation)
        #expect(h.ejection == .probation(inFlight: false))
        #expect(h.ejectedUntilMS == nil)
        #expect(h.tick(nowMS: 12_000) == nil)  // nothing more to do
    }

    @Test func probationSuccessRestores() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        h.passiveFailure(nowMS: 0)  // one failure before the run that ejects: counts start over after
        _ = ejectNow(&h, nowMS: 0)
        h.tick(nowMS: 10_000)
        #expect(h.isUsable && h.isEjected && !h.isInRotation)
        #expect(h.stateName == "probation")
        #expect(h.requestStarted() == true)
        #expect(!h.isUsable)                      // exactly one request
        #expect(h.requestStarted() == false)
        #expect(h.ejection == .probation(inFlight: true))
        #expect(h.passiveSuccess(nowMS: 10_050) == .restored)
        #expect(h.isUsable && h.isInRotation && !h.isEjected)
        #expect(h.consecutiveFailures == 0)
        #expect(h.inRotationSinceMS == 10_050)
        #expect(h.stateName == "up")
        // Fully back: it takes `ejectAfter` failures again to eject.
        #expect(h.passiveFailure(nowMS: 11_000) == nil)
        #expect(h.passiveFailure(nowMS: 11_001) == nil)
        #expect(untilMS(h.passiveFailure(nowMS: 11_002)) == 31_002)  // 20 s: streak 2, within 5 min of the last
    }

    @Test func probationFailureEjectsAgainLonger() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        _ = ejectNow(&h, nowMS: 0)
        h.tick(nowMS: 10_000)
        h.requestStarted()
        let t = h.passiveFailure(nowMS: 10_100, detail: "HTTP 502")
        #expect(t == .ejected(untilMS: 30_100, reason: "probation request failed (last: HTTP 502); ejection 2 in a row, for 20s"))
        #expect(!h.isUsable && h.ejectionStreak == 2)
    }

    /// `mayEject` is about adding an ejected server; a server on probation already counts.
    @Test func probationFailureIgnoresMayEject() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        _ = ejectNow(&h, nowMS: 0)
        h.tick(nowMS: 10_000)
        h.requestStarted()
        #expect(untilMS(h.passiveFailure(nowMS: 10_001, mayEject: false)) == 30_001)
    }

    @Test func abandonedProbeFreesTheSlot() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        _ = ejectNow(&h, nowMS: 0)
        h.tick(nowMS: 10_000)
        #expect(h.requestStarted() == true)
        #expect(!h.isUsable)
        h.probeAbandoned()
        #expect(h.isUsable)
        #expect(h.requestStarted() == true)
        // Not on probation: nothing to take or free.
        var fresh = ServerHealth(policy: unchecked, nowMS: 0)
        #expect(fresh.requestStarted() == false)
        fresh.probeAbandoned()
        #expect(fresh.ejection == .none && fresh.isUsable)
    }

    /// A request sent before the ejection that ends during probation says nothing about the
    /// server now; the probe decides.
    @Test func staleOutcomesAreIgnored() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        _ = ejectNow(&h, nowMS: 5000)
        h.tick(nowMS: 15_000)
        #expect(h.passiveSuccess(nowMS: 15_010, startedMS: 4000) == nil)
        #expect(h.passiveFailure(nowMS: 15_020, startedMS: 4999) == nil)
        #expect(h.passiveSuccess(nowMS: 15_030, startedMS: 5000) == nil)  // sent in the millisecond of the ejection: before it
        #expect(h.ejection == .probation(inFlight: false))
        #expect(h.requestStarted() == true)
        #expect(h.passiveSuccess(nowMS: 15_100, startedMS: 15_000) == .restored)
    }

    @Test func staleAfterAFailedProbe() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        _ = ejectNow(&h, nowMS: 0)
        h.tick(nowMS: 10_000)
        h.requestStarted()
        _ = h.passiveFailure(nowMS: 10_500, startedMS: 10_000)
        #expect(h.leftRotationAtMS == 10_500)
        h.tick(nowMS: 30_500)
        // A straggler sent before the failed probe finished does not decide the new probation.
        #expect(h.passiveSuccess(nowMS: 30_600, startedMS: 10_400) == nil)
        #expect(h.passiveSuccess(nowMS: 30_700, startedMS: 30_500) == .restored)
    }

    /// Streak decay: back in rotation for 5 min without an ejection -> the next one is 10 s again.
    @Test func streakResetsAfterFiveMinutesInRotation() {
        func restoredServer() -> ServerHealth {
            var h = ServerHealth(policy: unchecked, nowMS: 0)
            _ = ejectNow(&h, nowMS: 0)
            h.tick(nowMS: 10_000)
            h.requestStarted()
            h.passiveSuccess(nowMS: 10_000)
            return h
        }
        var early = restoredServer()
        #expect(untilMS(ejectNow(&early, nowMS: 309_999)) == 329_999)  // 4:59.999 in rotation: 20 s
        var late = restoredServer()
        #expect(untilMS(ejectNow(&late, nowMS: 310_000)) == 320_000)    // 5:00 in rotation: 10 s again
        #expect(late.ejectionStreak == 1 && late.ejections == 2)
        // tick() applies the decay too, so status displays show it.
        var ticked = restoredServer()
        ticked.tick(nowMS: 309_999)
        #expect(ticked.ejectionStreak == 1)
        ticked.tick(nowMS: 310_000)
        #expect(ticked.ejectionStreak == 0 && ticked.ejections == 1)
    }

    @Test func transitionDescriptions() {
        #expect(ServerHealth.Transition.down(reason: "x").description == "down: x")
        #expect(ServerHealth.Transition.up.description == "up")
        #expect(ServerHealth.Transition.ejected(untilMS: 5, reason: "y").description == "ejected until 5 ms: y")
        #expect(ServerHealth.Transition.restored.description == "restored")
        #expect(ServerHealth.Transition.probation.description.contains("probation"))
        #expect(ServerHealth.Transition.awaitingCheck.description.contains("passing check"))
    }
}

/// Pools with active checks: an ejection ends with a passing check, not with probation.
@Suite struct ChecksAndEjectionTests {
    private func upServer() -> ServerHealth {
        var h = ServerHealth(policy: checked, nowMS: 0)
        _ = feed(&h, "PP")
        return h
    }

    @Test func ejectionEndsWithAPassingCheck() {
        var h = upServer()
        _ = ejectNow(&h, nowMS: 5000)
        #expect(h.ejectedUntilMS == 15_000)
        // Passing checks during the period do not cut it short.
        #expect(h.checkResult(passed: true, nowMS: 6000) == nil)
        #expect(!h.isUsable)
        #expect(h.tick(nowMS: 15_000) == .awaitingCheck)
        #expect(h.ejection == .awaitingCheck)
        #expect(!h.isUsable)                       // no probation request with checks
        #expect(h.requestStarted() == false)
        #expect(h.stateName == "awaiting-check")
        #expect(h.checkResult(passed: false, nowMS: 16_000) == nil)
        #expect(h.ejection == .awaitingCheck)
        #expect(h.checkResult(passed: true, nowMS: 18_000) == .restored)
        #expect(h.isUsable && h.inRotationSinceMS == 18_000)
        #expect(h.consecutiveFailures == 0)
    }

    @Test func passiveOutcomesWhileDownAreIgnored() {
        var h = ServerHealth(policy: checked, nowMS: 0)
        for i in 0..<10 { #expect(h.passiveFailure(nowMS: Int64(i)) == nil) }
        #expect(h.ejection == .none && h.consecutiveFailures == 0)
        #expect(h.passiveSuccess(nowMS: 11) == nil)
    }

    /// Down by checks while ejected: the period still runs; the passing check that completes
    /// `rise` both lifts the ejection and brings the server up.
    @Test func downDuringEjectionComesBackWithRise() {
        var h = upServer()
        _ = ejectNow(&h, nowMS: 2000)
        #expect(feed(&h, "FFF", startMS: 3000).map(\.1) == [.down(reason: "3 consecutive failed checks (last: HTTP 503)")])
        #expect(h.tick(nowMS: 12_000) == .awaitingCheck)
        #expect(h.stateName == "down")
        #expect(h.checkResult(passed: true, nowMS: 13_000) == nil)  // lifts the ejection, still down (rise 2)
        #expect(h.ejection == .none && !h.isUsable)
        #expect(h.checkResult(passed: true, nowMS: 14_000) == .up)
        #expect(h.isUsable && h.inRotationSinceMS == 14_000)
    }

    @Test func upByRiseDuringEjectionStaysEjected() {
        var h = upServer()
        _ = ejectNow(&h, nowMS: 2000)
        _ = feed(&h, "FFF", startMS: 3000)
        #expect(feed(&h, "PP", startMS: 6000).map(\.1) == [.up])
        #expect(!h.isUsable && h.ejectedUntilMS == 12_000)
        h.tick(nowMS: 12_000)
        #expect(h.checkResult(passed: true, nowMS: 12_500) == .restored)
        #expect(h.isUsable)
    }

    @Test func goingDownDuringAwaitingCheck() {
        var h = upServer()
        _ = ejectNow(&h, nowMS: 2000)
        h.tick(nowMS: 12_000)
        #expect(feed(&h, "FFF", startMS: 13_000).map(\.1) == [.down(reason: "3 consecutive failed checks (last: HTTP 503)")])
        #expect(h.ejection == .awaitingCheck && !h.isUsable)
    }
}

@Suite struct ReconfigureTests {
    @Test func removingChecksTurnsAwaitingCheckIntoProbation() {
        var h = ServerHealth(policy: HealthPolicy(activeChecks: true, initialUp: true, ejectAfter: 1), nowMS: 0)
        h.passiveFailure(nowMS: 0)
        h.tick(nowMS: 10_000)
        #expect(h.ejection == .awaitingCheck)
        h.reconfigure(HealthPolicy(activeChecks: false, ejectAfter: 1), nowMS: 11_000)
        #expect(h.ejection == .probation(inFlight: false) && h.isUsable)
    }

    @Test func removingChecksBringsADownServerUp() {
        var h = ServerHealth(policy: checked, nowMS: 0)
        #expect(!h.isUsable)
        h.reconfigure(unchecked, nowMS: 500)
        #expect(h.status == .up && h.isUsable && h.inRotationSinceMS == 500)
    }

    @Test func turningPassiveOffEndsEjections() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        _ = ejectNow(&h, nowMS: 0)
        h.reconfigure(HealthPolicy(activeChecks: false, ejectAfter: nil), nowMS: 3000)
        #expect(h.ejection == .none && h.isUsable && h.ejectionStreak == 0)
        #expect(h.inRotationSinceMS == 3000)
    }

    @Test func addingChecksKeepsAServingServerUp() {
        var h = ServerHealth(policy: unchecked, nowMS: 0)
        h.reconfigure(checked, nowMS: 100)
        #expect(h.status == .up && h.isUsable && h.inRotationSinceMS == 0)
        #expect(h.policy == checked)
    }

    @Test func policyFromPoolConfig() {
        let pool = PoolConfig(name: "p", health: HealthCheckConfig(rise: 4, fall: 6, initialUp: true), ejectAfter: nil)
        #expect(HealthPolicy(pool: pool) == HealthPolicy(activeChecks: true, rise: 4, fall: 6, initialUp: true, ejectAfter: nil))
        #expect(HealthPolicy(pool: PoolConfig(name: "q")) == HealthPolicy(activeChecks: false, ejectAfter: 5))
        #expect(HealthPolicy(pool: PoolConfig(name: "q")).baseEjectionMS == 10_000)
        #expect(HealthPolicy(pool: PoolConfig(name: "q")).maxEjectionMS == 300_000)
        #expect(HealthPolicy(pool: PoolConfig(name: "q")).streakResetMS == 300_000)
    }
}
