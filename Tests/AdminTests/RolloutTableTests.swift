@testable import Admin
import Testing

/// The rollout reply of docs/admin-protocol.md, verbatim.
let sampleRollout = #"{"ok":true,"generation":12,"rollout":{"id":1764082000123,"plan":"green","state":"running","new_pool":"green","old_pool":"blue","steps":[1,5,25,50,100],"step":1,"percent":5,"hold_s":60.0,"step_elapsed_s":12.3,"waiting_for_data":false,"max_error_rate":0.01,"max_p99_ratio":1.5,"min_requests":200,"started_s_ago":100.2,"ended_s_ago":null,"verdict":"healthy","window":{"seconds":12.3,"new":{"requests":812,"errors":3,"error_rate":0.0037,"p99_ms":12.5},"old":{"requests":15110,"errors":40,"error_rate":0.0026,"p99_ms":11.0}},"reason":null,"events":[{"at_s":0.0,"event":"started","percent":1},{"at_s":60.2,"event":"step","percent":5}]}}"#

/// `sampleRollout` with some fields of the rollout object replaced (the rest keep their order).
func rolloutReply(_ changes: [String: JSONValue], generation: Int64 = 12) throws -> JSONValue {
    let fields = try #require(JSONValue.parse(sampleRollout)["rollout"]?.objectValue)
    var rollout = fields.map { ($0.0, changes[$0.0] ?? $0.1) }
    rollout += changes.filter { key, _ in !fields.contains { $0.0 == key } }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    return .object([("ok", true), ("generation", .int(generation)), ("rollout", .object(rollout))])
}

@Suite struct RolloutTableTests {
    @Test func running() throws {
        #expect(RolloutTable.render(try JSONValue.parse(sampleRollout)) == """
        rollout 1764082000123 (plan green): green from blue, running, 5% on green (generation 12)
        steps  1 [5] 25 50 100
        held 12s of 60s
        window 12s, verdict healthy
          POOL         REQUESTS  ERRORS  ERR%  P99ms
          green (new)       812       3  0.37   12.5
          blue (old)      15110      40  0.26   11.0
        thresholds: max-error-rate 1%, max-p99 1.5x, min-requests 200

        """)
    }

    @Test func pausedWithoutPlanOrVerdict() throws {
        let reply = try rolloutReply(["plan": nil, "state": "paused", "step": 0, "percent": 1, "step_elapsed_s": 7.25,
                                      "verdict": nil, "max_error_rate": 0.005, "max_p99_ratio": 2.0])
        #expect(RolloutTable.render(reply) == """
        rollout 1764082000123: green from blue, paused, 1% on green (generation 12)
        steps  [1] 5 25 50 100
        paused after 7.2s of the 60s hold (resume starts the hold over)
        window 12s, not judged yet
          POOL         REQUESTS  ERRORS  ERR%  P99ms
          green (new)       812       3  0.37   12.5
          blue (old)      15110      40  0.26   11.0
        thresholds: max-error-rate 0.5%, max-p99 2x, min-requests 200

        """)
    }

    /// Hold over, too few new-pool requests to judge: the step waits; a p99 without samples is "-".
    @Test func waitingForData() throws {
        let reply = try rolloutReply([
            "step": 0, "percent": 1, "hold_s": 300.0, "step_elapsed_s": 412.0, "waiting_for_data": true,
            "verdict": "insufficient-data",
            "window": ["seconds": 60.0,
                       "new": ["requests": 42, "errors": 0, "error_rate": 0.0, "p99_ms": nil],
                       "old": ["requests": 4158, "errors": 2, "error_rate": 0.0005, "p99_ms": 8.25]],
        ])
        #expect(RolloutTable.render(reply) == """
        rollout 1764082000123 (plan green): green from blue, running, 1% on green (generation 12)
        steps  [1] 5 25 50 100
        waiting for data: 42 of 200 requests on green in the window (at this step for 6m 52s; hold 5m 00s)
        window 60s, verdict insufficient-data
          POOL         REQUESTS  ERRORS  ERR%  P99ms
          green (new)        42       0  0.00      -
          blue (old)       4158       2  0.05   8.25
        thresholds: max-error-rate 1%, max-p99 1.5x, min-requests 200

        """)
    }

    @Test func rolledBackWithReason() throws {
        let reason = "error rate 4.10% (41 of 1000 requests) is above max-error-rate 1.00% with 99% confidence (lower bound 2.87%)"
        let reply = try rolloutReply([
            "state": "rolled-back", "step": nil, "percent": 0, "step_elapsed_s": nil, "verdict": "breach",
            "started_s_ago": 80.5, "ended_s_ago": 4.0, "reason": .string(reason),
            "window": ["seconds": 15.5,
                       "new": ["requests": 1000, "errors": 41, "error_rate": 0.041, "p99_ms": 130.0],
                       "old": ["requests": 19000, "errors": 50, "error_rate": 0.00263, "p99_ms": 11.0]],
            "events": [["at_s": 0.0, "event": "started", "percent": 1], ["at_s": 60.2, "event": "step", "percent": 5],
                       ["at_s": 76.5, "event": "rolled-back", "percent": 0]],
        ], generation: 14)
        #expect(RolloutTable.render(reply) == """
        rollout 1764082000123 (plan green): green from blue, rolled-back, 0% on green (generation 14)
        steps  1 5 25 50 100  (reached 5%)
        ended 4s ago, after 76s
        window 15s, verdict breach
          POOL         REQUESTS  ERRORS  ERR%  P99ms
          green (new)      1000      41  4.10    130
          blue (old)      19000      50  0.26   11.0
        thresholds: max-error-rate 1%, max-p99 1.5x, min-requests 200
        reason: \(reason)

        """)
    }

    @Test func noRolloutAndSparseReplies() throws {
        #expect(RolloutTable.render(try JSONValue.parse(#"{"ok":true,"generation":3,"rollout":null}"#))
                == "no rollout has been started\n")
        #expect(RolloutTable.render(["ok": true]) == "no rollout has been started\n")
        // Only what is there is shown; an unknown field changes nothing.
        let sparse: JSONValue = ["ok": true, "rollout": ["id": 7, "state": "aborted", "new_pool": "green",
                                                         "old_pool": "blue", "percent": 0, "future": ["x": 1],
                                                         "reason": "by the operator"]]
        #expect(RolloutTable.render(sparse) == """
        rollout 7: green from blue, aborted, 0% on green
        not judged yet
        reason: by the operator

        """)
    }

    @Test func durations() {
        #expect(RolloutTable.seconds(0.5) == "0.5s")
        #expect(RolloutTable.seconds(2) == "2s")
        #expect(RolloutTable.seconds(59.9) == "59s")
        #expect(RolloutTable.seconds(119) == "119s")
        #expect(RolloutTable.seconds(120) == "2m 00s")
        #expect(RolloutTable.seconds(5400) == "1h 30m")
        #expect(RolloutTable.seconds(-1) == "-")
        #expect(RolloutTable.trimmed(1) == "1")
        #expect(RolloutTable.trimmed(0.125) == "0.13")
        #expect(RolloutTable.trimmed(12.5) == "12.5")
    }
}

@Suite struct RolloutFollowTests {
    func rollout(_ changes: [String: JSONValue]) throws -> JSONValue {
        try #require(try rolloutReply(changes)["rollout"])
    }

    @Test func stepStateAndVerdictChanges() throws {
        let started = try rollout(["step": 0, "percent": 1, "verdict": nil, "window": nil])
        let judged = try rollout(["step": 0, "percent": 1, "verdict": "insufficient-data",
                                  "window": ["seconds": 3.0, "new": ["requests": 9, "errors": 0, "error_rate": 0.0, "p99_ms": 4.0],
                                             "old": ["requests": 900, "errors": 1, "error_rate": 0.0011, "p99_ms": 5.0]]])
        let healthy = try rollout(["step": 0, "percent": 1])
        let stepped = try rollout([:])
        let paused = try rollout(["state": "paused"])
        let resumed = try rollout(["step_elapsed_s": 0.0])
        let waiting = try rollout(["waiting_for_data": true, "verdict": "insufficient-data", "step_elapsed_s": 61.0,
                                   "window": ["seconds": 60.0, "new": ["requests": 150, "errors": 0, "error_rate": 0.0, "p99_ms": 9.0],
                                              "old": ["requests": 2850, "errors": 3, "error_rate": 0.0011, "p99_ms": 8.0]]])

        #expect(RolloutFollow.changes(from: started, to: started) == [])
        #expect(RolloutFollow.changes(from: started, to: judged) == ["verdict insufficient-data: 9 of 200 requests on green in the window"])
        #expect(RolloutFollow.changes(from: judged, to: healthy)
                == ["verdict healthy: green 3 errors of 812 (0.37%), p99 12.5ms; blue 40 of 15110 (0.26%), p99 11.0ms"])
        #expect(RolloutFollow.changes(from: healthy, to: stepped) == ["step 2 of 5: 5% on green"])
        #expect(RolloutFollow.changes(from: stepped, to: paused) == ["paused at step 2 of 5: 5% on green"])
        #expect(RolloutFollow.changes(from: paused, to: resumed) == ["resumed, the hold starts over; step 2 of 5: 5% on green"])
        #expect(RolloutFollow.changes(from: resumed, to: waiting)
                == ["verdict insufficient-data: 150 of 200 requests on green in the window",
                    "hold over, waiting for data: 150 of 200 requests on green in the window"])
        // A verdict that goes back to "not judged yet" (a new step's window) is no news.
        #expect(RolloutFollow.changes(from: stepped, to: try rollout(["verdict": nil])) == [])
    }

    @Test func terminalStates() throws {
        let running = try rollout([:])
        let rolledBack = try rollout(["state": "rolled-back", "step": nil, "percent": 0, "verdict": "breach",
                                      "reason": "p99 40.0ms is above 1.50x the old pool's 11.0ms (limit 24.1ms with the noise margin)"])
        #expect(RolloutFollow.changes(from: running, to: rolledBack)
                == ["ROLLED BACK: all traffic on blue again: p99 40.0ms is above 1.50x the old pool's 11.0ms (limit 24.1ms with the noise margin)"])
        #expect(RolloutFollow.changes(from: running, to: try rollout(["state": "aborted", "step": nil, "percent": 0, "reason": "by the operator"]))
                == ["aborted: all traffic on blue again: by the operator"])
        #expect(RolloutFollow.changes(from: running, to: try rollout(["state": "completed", "step": nil, "percent": 100]))
                == ["completed: every step held healthy, 100% on green"])
        #expect(RolloutFollow.changes(from: running, to: try rollout(["state": "promoted", "step": nil, "percent": 100]))
                == ["promoted: 100% on green"])

        for (state, done, success) in [("running", false, false), ("paused", false, false), ("completed", true, true),
                                       ("promoted", true, true), ("rolled-back", true, false), ("aborted", true, false)] {
            let r = try rollout(["state": .string(state)])
            #expect(RolloutFollow.isTerminal(r) == done)
            #expect(RolloutFollow.succeeded(r) == success)
        }
    }

    @Test func progressLine() throws {
        #expect(RolloutFollow.progressLine(try rollout([:]))
                == "running 5% on green (step 2 of 5), held 12s of 60s, healthy | green 3/812 0.37% p99 12.5ms | blue 40/15110 0.26% p99 11.0ms")
        #expect(RolloutFollow.progressLine(try rollout(["verdict": nil, "window": nil]))
                == "running 5% on green (step 2 of 5), held 12s of 60s, not judged yet")
    }
}
