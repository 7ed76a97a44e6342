import AdminProtocol
import Balancing

extension AdminBridge {
    /// The reply to every rollout command (docs/admin-protocol.md, "rollout").
    func rolloutReply() -> JSONValue {
        AdminReply.ok([
            ("generation", .int(Int64(control.generation))),
            ("rollout", rolloutObject()),
        ])
    }

    /// The few rollout fields `status` carries (null before any rollout).
    func rolloutSummary() -> JSONValue {
        guard let r = control.rollouts.rollout else { return .null }
        return .object([
            ("id", .int(Int64(bitPattern: r.id))), ("state", .string(r.state.name)),
            ("new_pool", .string(r.spec.newPool)), ("old_pool", .string(r.spec.oldPool)),
            ("percent", .int(Int64(r.newPercent))),
        ])
    }

    func rolloutObject() -> JSONValue {
        let rc = control.rollouts!
        guard let r = rc.rollout else { return .null }
        let now = RolloutController.nowMS
        func seconds(_ ms: Int64) -> JSONValue { .double(Double(ms) / 1000) }
        func pool(_ w: PoolWindow) -> JSONValue {
            .object([
                ("requests", .int(Int64(w.requests))), ("errors", .int(Int64(w.errors))),
                ("error_rate", .double(w.errorRate)), ("p99_ms", w.p99MS.map { .double($0) } ?? .null),
            ])
        }
        var verdict: JSONValue = .null
        switch r.lastVerdict {
        case .healthy?: verdict = .string("healthy")
        case .insufficientData?: verdict = .string("insufficient-data")
        case .breach?: verdict = .string("breach")
        case nil: break
        }
        var reason: JSONValue = .null
        if case .rolledBack(let why, let figures) = r.state {
            reason = .string("\(why); \(figures)")
        } else if let note = rc.endNote, case .aborted = r.state {
            reason = .string(note)
        }
        var window: JSONValue = .null
        if let w = rc.lastWindow {
            window = .object([("seconds", .double(w.seconds)), ("new", pool(w.new)), ("old", pool(w.old))])
        }
        return .object([
            ("id", .int(Int64(bitPattern: r.id))),
            ("plan", rc.planName.map { .string($0) } ?? .null),
            ("state", .string(r.state.name)),
            ("new_pool", .string(r.spec.newPool)),
            ("old_pool", .string(r.spec.oldPool)),
            ("steps", .array(r.spec.steps.map { .int(Int64($0)) })),
            ("step", r.step.map { .int(Int64($0)) } ?? .null),
            ("percent", .int(Int64(r.newPercent))),
            ("hold_s", seconds(r.spec.holdMS)),
            ("step_elapsed_s", r.isFinished ? .null : seconds(now - r.stepStartedMS)),
            ("waiting_for_data", .bool(r.isWaitingForData(nowMS: now))),
            ("max_error_rate", .double(r.spec.maxErrorRate)),
            ("max_p99_ratio", .double(r.spec.maxP99Ratio)),
            ("min_requests", .int(Int64(r.spec.minRequests))),
            ("started_s_ago", seconds(now - r.startedMS)),
            ("ended_s_ago", r.endedMS.map { seconds(now - $0) } ?? .null),
            ("verdict", verdict),
            ("window", window),
            ("reason", reason),
            ("events", .array(rc.events.map { e in
                .object([("at_s", seconds(e.atMS - r.startedMS)), ("event", .string(e.event)), ("percent", .int(Int64(e.percent)))])
            })),
        ])
    }
}
