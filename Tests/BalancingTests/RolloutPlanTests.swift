import Testing

@testable import Balancing

@Suite struct RolloutSpecParseTests {
    func parse(_ text: String, old: String? = "blue") -> Result<RolloutSpec, RolloutSpecError> {
        RolloutSpec.parse(arguments: text.split(separator: " ").map(String.init), oldPool: old)
    }

    /// The error message, or nil if the text parsed.
    func error(_ text: String, old: String? = "blue") -> String? {
        if case .failure(let e) = parse(text, old: old) { return e.message }
        return nil
    }

    @Test func fullCommand() throws {
        let spec = try parse("green steps 1,5,25,50,100 hold 60s max-error-rate 1% max-p99 1.5x min-requests 200").get()
        #expect(spec == (try RolloutSpec(newPool: "green", oldPool: "blue")))
        let custom = try parse("green from blue2 steps 10%,100 hold 2m max-error-rate 0.5% max-p99 2x min-requests 1000", old: nil).get()
        #expect(custom.oldPool == "blue2" && custom.steps == [10, 100] && custom.holdMS == 120_000)
        #expect(custom.maxErrorRate == 0.005 && custom.maxP99Ratio == 2 && custom.minRequests == 1000)
    }

    @Test func defaultsAndOrder() throws {
        let spec = try parse("green").get()
        #expect(spec.newPool == "green" && spec.oldPool == "blue")
        #expect(spec.steps == [1, 5, 25, 50, 100] && spec.holdMS == 60_000)
        #expect(spec.maxErrorRate == 0.01 && spec.maxP99Ratio == 1.5 && spec.minRequests == 200)
        let reordered = try parse("green min-requests 50 hold 500ms").get()
        #expect(reordered.minRequests == 50 && reordered.holdMS == 500 && reordered.steps == [1, 5, 25, 50, 100])
        #expect(try parse("green steps 100").get().steps == [100])
        #expect(try parse("green from red", old: "blue").get().oldPool == "red")  // 'from' wins
        #expect(try parse("green max-error-rate 0% max-p99 1x").get().maxErrorRate == 0)
    }

    @Test func invalidSpecsNameTheBadToken() {
        let cases: [(String, String)] = [
            ("", "missing the new pool"),
            ("steps 1,100", "missing the new pool"),
            ("green", "no old pool: add 'from POOL'"),
            ("green from green", "new and old pool are both 'green'"),
            ("green speed 5", "unknown option 'speed'"),
            ("green hold 1s hold 2s", "hold: given twice"),
            ("green hold", "hold: missing value"),
            ("green hold steps 1,100", "hold: missing value"),
            ("green steps 1,5,5,100", "steps: 5 after 5 does not increase"),
            ("green steps 50,25,100", "steps: 25 after 50 does not increase"),
            ("green steps 1,5,50", "steps: the last step must be 100, got 50"),
            ("green steps 0,100", "steps: '0' in '0,100' is not a percentage 1...100"),
            ("green steps 1,101", "steps: '101' in '1,101' is not a percentage 1...100"),
            ("green steps 1,,100", "steps: empty step in '1,,100'"),
            ("green steps 1,five,100", "steps: 'five' in '1,five,100'"),
            ("green hold 60", "hold: duration needs a unit (ms, s, m or h), got '60'"),
            ("green hold 0s", "hold: must be positive"),
            ("green hold 2d", "hold: unknown duration unit 'd'"),
            ("green max-error-rate 1", "max-error-rate: must be a percentage 0%...100% such as 1% or 0.5%, got '1'"),
            ("green max-error-rate 101%", "got '101%'"),
            ("green max-error-rate -1%", "got '-1%'"),
            ("green max-error-rate nan%", "got 'nan%'"),
            ("green max-error-rate 1e1%", "got '1e1%'"),
            ("green max-error-rate .5%", "got '.5%'"),
            ("green max-p99 1.5", "max-p99: must be a ratio to the old pool's p99 such as 1.5x, got '1.5'"),
            ("green max-p99 200ms", "got '200ms'"),
            ("green max-p99 0.5x", "max-p99: must be at least 1x, got '0.5x'"),
            ("green min-requests 0", "min-requests: must be a count 1...10000000, got 0"),
            ("green min-requests lots", "got 'lots'"),
            ("green min-requests 99999999999", "got 99999999999"),
        ]
        for (text, expected) in cases {
            let message = error(text, old: text.hasPrefix("green from") || text == "green" ? nil : "blue")
            #expect(message?.contains(expected) == true, "\(text): \(message ?? "parsed")")
        }
    }

    @Test func initializerRejectsWhatParseRejects() {
        #expect(throws: RolloutSpecError.self) { try RolloutSpec(newPool: "green", oldPool: "blue", steps: []) }
        #expect(throws: RolloutSpecError.self) { try RolloutSpec(newPool: "green", oldPool: "blue", steps: [50]) }
        #expect(throws: RolloutSpecError.self) { try RolloutSpec(newPool: "green", oldPool: "blue", holdMS: 0) }
        #expect(throws: RolloutSpecError.self) { try RolloutSpec(newPool: "green", oldPool: "blue", maxErrorRate: 1.5) }
        #expect(throws: RolloutSpecError.self) { try RolloutSpec(newPool: "green", oldPool: "blue", maxErrorRate: .nan) }
        #expect(throws: RolloutSpecError.self) { try RolloutSpec(newPool: "green", oldPool: "blue", maxP99Ratio: 0.9) }
        #expect(throws: RolloutSpecError.self) { try RolloutSpec(newPool: "green", oldPool: "blue", maxP99Ratio: .infinity) }
        #expect(throws: RolloutSpecError.self) { try RolloutSpec(newPool: "green", oldPool: "blue", minRequests: 0) }
        #expect(throws: RolloutSpecError.self) { try RolloutSpec(newPool: "", oldPool: "blue") }
    }
}

@Suite struct RolloutPlanTests {
    let spec = try! RolloutSpec(newPool: "green", oldPool: "blue", steps: [1, 5, 100], holdMS: 60_000)
    let breach = RolloutVerdict.breach(
        reason: "error rate 20.00%",
        figures: RolloutJudge(maxErrorRate: 0.01, maxP99Ratio: 1.5, minRequests: 200)
            .figures(old: PoolWindow(requests: 60_000, errors: 300), new: PoolWindow(requests: 200, errors: 40)))

    @Test func splitMapsPercentToWeights() {
        for (percent, old, new) in [(1, 99, 1), (25, 75, 25), (100, 0, 100), (0, 100, 0), (-3, 100, 0), (250, 0, 100)] {
            let split = Rollout.split(percent: percent)
            #expect(split.old == old && split.new == new, "\(percent)%")
        }
    }

    @Test func stepAdvancesOnlyAfterTheHoldAndWhenHealthy() {
        var r = Rollout(id: 7, spec: spec, nowMS: 1_000)
        #expect(r.state == .running(step: 0) && r.newPercent == 1 && r.holdEndsMS == 61_000)
        #expect(r.tick(nowMS: 30_000, verdict: .healthy) == nil)
        #expect(r.tick(nowMS: 60_999, verdict: .healthy) == nil)
        #expect(r.tick(nowMS: 61_000, verdict: .insufficientData) == nil)  // hold over, no data: holds
        #expect(r.isWaitingForData(nowMS: 61_000))
        #expect(r.tick(nowMS: 600_000, verdict: .insufficientData) == nil)  // ...indefinitely
        #expect(r.state == .running(step: 0))
        #expect(r.tick(nowMS: 600_001, verdict: .healthy) == .setSplit(newPercent: 5))
        #expect(r.state == .running(step: 1) && r.stepStartedMS == 600_001 && !r.isWaitingForData(nowMS: 600_001))
        #expect(r.tick(nowMS: 660_000, verdict: .healthy) == nil)  // the hold starts over at each step
        #expect(r.tick(nowMS: 660_001, verdict: .healthy) == .setSplit(newPercent: 100))
        #expect(r.tick(nowMS: 660_002, verdict: .healthy) == nil)  // one step per hold, also at 100
    }

    @Test func completesAfterTheLastStepHeldHealthy() {
        var r = Rollout(id: 1, spec: spec, nowMS: 0)
        var actions: [RolloutAction] = []
        for second in 1...400 {
            if let a = r.tick(nowMS: Int64(second) * 1000, verdict: .healthy) { actions.append(a) }
        }
        #expect(actions == [.setSplit(newPercent: 5), .setSplit(newPercent: 100), .complete])
        #expect(r.state == .completed && r.newPercent == 100 && r.endedMS == 180_000 && r.isFinished)
        let single = try! RolloutSpec(newPool: "green", oldPool: "blue", steps: [100], holdMS: 1000)
        var s = Rollout(id: 2, spec: single, nowMS: 0)
        #expect(s.newPercent == 100 && s.tick(nowMS: 1000, verdict: .healthy) == .complete)
    }

    @Test func breachRollsBackAtOnceAndIsTerminal() {
        var r = Rollout(id: 3, spec: spec, nowMS: 0)
        _ = r.tick(nowMS: 60_000, verdict: .healthy)
        #expect(r.tick(nowMS: 61_000, verdict: breach) == .rollBack(reason: "error rate 20.00%"))  // mid-hold
        guard case .rolledBack(let reason, let figures) = r.state else {
            Issue.record("state \(r.state)")
            return
        }
        #expect(reason == "error rate 20.00%" && figures.new.errors == 40 && figures.tripped == .errorRate)
        #expect(r.state.name == "rolled-back" && r.newPercent == 0 && r.endedMS == 61_000 && r.step == nil)
        #expect(r.tick(nowMS: 200_000, verdict: .healthy) == nil)
        #expect(r.tick(nowMS: 200_000, verdict: breach) == nil)
        #expect(r.holdEndsMS == nil)
        let ended = Result<RolloutAction, RolloutCommandError>.failure(RolloutCommandError("rollout 3 has ended (rolled-back)"))
        #expect(r.pause(nowMS: 1) == ended)
        #expect(r.resume(nowMS: 1) == ended)
        #expect(r.promote(nowMS: 1) == ended)
        #expect(r.abort(nowMS: 1) == ended)
        #expect(r.newPercent == 0)
    }

    @Test func pauseStopsAdvancingButNotTheGuard() {
        var r = Rollout(id: 4, spec: spec, nowMS: 0)
        #expect(r.pause(nowMS: 10_000) == .success(.setSplit(newPercent: 1)))
        #expect(r.state == .paused(step: 0) && r.holdEndsMS == nil)
        #expect(r.pause(nowMS: 10_000) == .failure(RolloutCommandError("rollout 4 is already paused")))
        #expect(r.tick(nowMS: 500_000, verdict: .healthy) == nil)  // no advance while paused
        #expect(r.resume(nowMS: 500_000) == .success(.setSplit(newPercent: 1)))
        #expect(r.resume(nowMS: 500_000) == .failure(RolloutCommandError("rollout 4 is not paused")))
        #expect(r.holdEndsMS == 560_000)  // a full hold after resuming
        #expect(r.tick(nowMS: 559_999, verdict: .healthy) == nil)
        #expect(r.tick(nowMS: 560_000, verdict: .healthy) == .setSplit(newPercent: 5))
        _ = r.pause(nowMS: 570_000)
        #expect(r.tick(nowMS: 571_000, verdict: breach) == .rollBack(reason: "error rate 20.00%"))
        #expect(r.state.name == "rolled-back")
    }

    @Test func promoteJumpsToAllNewAndEnds() {
        var r = Rollout(id: 5, spec: spec, nowMS: 0)
        _ = r.pause(nowMS: 1)
        #expect(r.promote(nowMS: 2) == .success(.setSplit(newPercent: 100)))
        #expect(r.state == .promoted && r.newPercent == 100 && r.endedMS == 2)
        #expect(r.tick(nowMS: 3, verdict: breach) == nil)  // the operator overrode the judge
        #expect(r.abort(nowMS: 4) == .failure(RolloutCommandError("rollout 5 has ended (promoted)")))
    }

    @Test func abortGoesBackToTheOldPool() {
        var r = Rollout(id: 6, spec: spec, nowMS: 0)
        _ = r.tick(nowMS: 60_000, verdict: .healthy)
        #expect(r.abort(nowMS: 61_000) == .success(.setSplit(newPercent: 0)))
        #expect(r.state == .aborted && r.state.name == "aborted" && r.newPercent == 0 && r.endedMS == 61_000)
        #expect(r.tick(nowMS: 200_000, verdict: .healthy) == nil)
        #expect(r.resume(nowMS: 1) == .failure(RolloutCommandError("rollout 6 has ended (aborted)")))
    }

    @Test func clockGoingBackwardsDoesNotAdvance() {
        var r = Rollout(id: 8, spec: spec, nowMS: 100_000)
        #expect(r.tick(nowMS: 0, verdict: .healthy) == nil)
        #expect(r.tick(nowMS: .min, verdict: .healthy) == nil)
        var late = Rollout(id: 9, spec: spec, nowMS: .max - 10)
        #expect(late.holdEndsMS == .max && late.tick(nowMS: .max - 1, verdict: .healthy) == nil)
    }
}
