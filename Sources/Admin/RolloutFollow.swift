import AdminProtocol

/// What `yardctl rollout start|watch` prints while it follows a rollout: a line for each change
/// between two consecutive `rollout status` replies, and the one-line progress for a terminal.
/// Pure: it compares the `rollout` objects of two replies; the caller polls and adds the time.
public enum RolloutFollow {
    /// States from which a rollout never moves again.
    public static let terminalStates: Set<String> = ["completed", "promoted", "rolled-back", "aborted"]

    public static func isTerminal(_ rollout: JSONValue) -> Bool {
        terminalStates.contains(rollout["state"]?.stringValue ?? "")
    }

    /// Whether an ended rollout left the traffic on the new pool (completed or promoted).
    public static func succeeded(_ rollout: JSONValue) -> Bool {
        ["completed", "promoted"].contains(rollout["state"]?.stringValue ?? "")
    }

    /// The changes from `old` to `new` (the same rollout, one poll apart), in the order they
    /// matter: the state or step first, then the judge's verdict. Nothing when nothing changed.
    public static func changes(from old: JSONValue, to new: JSONValue) -> [String] {
        var lines: [String] = []
        let state = new["state"]?.stringValue ?? "-"
        let stateChanged = state != old["state"]?.stringValue
        if stateChanged {
            lines.append(stateLine(new, wasPaused: old["state"]?.stringValue == "paused"))
        } else if new["step"] != old["step"], new["step"]?.intValue != nil {
            lines.append(stepLine(new))
        }
        // An ended rollout says everything in its state line (a breach is in the reason).
        if isTerminal(new) && stateChanged { return lines }
        if let verdict = new["verdict"]?.stringValue, verdict != old["verdict"]?.stringValue {
            lines.append(verdictLine(new, verdict: verdict))
        }
        if new["waiting_for_data"]?.boolValue == true && old["waiting_for_data"]?.boolValue != true {
            lines.append("hold over, waiting for data: \(Cell.text(new["window"]?["new"]?["requests"])) of "
                         + "\(Cell.text(new["min_requests"])) requests on \(Cell.text(new["new_pool"])) in the window")
        }
        return lines
    }

    /// "step 3 of 5: 25% on green"
    static func stepLine(_ r: JSONValue) -> String {
        let count = r["steps"]?.arrayValue?.count
        let position = (r["step"]?.intValue).map { "step \($0 + 1)" + (count.map { " of \($0)" } ?? "") } ?? "step -"
        return "\(position): \(Cell.text(r["percent"]))% on \(Cell.text(r["new_pool"]))"
    }

    static func stateLine(_ r: JSONValue, wasPaused: Bool) -> String {
        let newPool = Cell.text(r["new_pool"]), oldPool = Cell.text(r["old_pool"])
        let reason = r["reason"]?.stringValue.map { ": \($0)" } ?? ""
        switch r["state"]?.stringValue {
        case "running":
            return (wasPaused ? "resumed, the hold starts over; " : "running, ") + stepLine(r)
        case "paused":
            return "paused at " + stepLine(r)
        case "completed":
            return "completed: every step held healthy, 100% on \(newPool)"
        case "promoted":
            return "promoted: 100% on \(newPool)"
        case "rolled-back":
            return "ROLLED BACK: all traffic on \(oldPool) again" + reason
        case "aborted":
            return "aborted: all traffic on \(oldPool) again" + reason
        default:
            return "state \(Cell.text(r["state"]))"
        }
    }

    /// "verdict healthy: green 3 errors of 812 (0.37%), p99 12.5ms; blue 40 of 15110 (0.26%), p99 11.0ms"
    static func verdictLine(_ r: JSONValue, verdict: String) -> String {
        guard let w = r["window"], !w.isNull else { return "verdict \(verdict)" }
        if verdict == "insufficient-data" {
            return "verdict insufficient-data: \(Cell.text(w["new"]?["requests"])) of \(Cell.text(r["min_requests"])) requests"
                + " on \(Cell.text(r["new_pool"])) in the window"
        }
        return "verdict \(verdict): " + windowText(r, w)
    }

    static func windowText(_ r: JSONValue, _ w: JSONValue) -> String {
        func pool(_ key: String, _ name: String, long: Bool) -> String {
            let p = w[key]
            let counts = long ? "\(Cell.text(p?["errors"])) errors of \(Cell.text(p?["requests"]))"
                              : "\(Cell.text(p?["errors"])) of \(Cell.text(p?["requests"]))"
            return "\(Cell.text(r[name])) \(counts) (\(p.map(RolloutTable.errorPercent) ?? "-")%), p99 \(Cell.ms(p?["p99_ms"]))ms"
        }
        return pool("new", "new_pool", long: true) + "; " + pool("old", "old_pool", long: false)
    }

    /// One line for a refreshing terminal display, the figures last (a narrow terminal cuts them):
    /// "running 5% on green (step 2 of 5), held 12s of 60s, healthy | green 3/812 0.37% p99 12.5ms | blue 40/15110 0.26% p99 11.0ms"
    public static func progressLine(_ r: JSONValue) -> String {
        var parts = ["\(Cell.text(r["state"])) \(Cell.text(r["percent"]))% on \(Cell.text(r["new_pool"]))"]
        if let step = r["step"]?.intValue, let count = r["steps"]?.arrayValue?.count {
            parts[0] += " (step \(step + 1) of \(count))"
        }
        if let p = RolloutTable.progress(r) { parts[0] += ", " + p }
        parts[0] += ", " + (r["verdict"]?.stringValue ?? "not judged yet")
        if let w = r["window"], !w.isNull {
            for (key, name) in [("new", "new_pool"), ("old", "old_pool")] {
                guard let p = w[key], !p.isNull else { continue }
                parts.append("\(Cell.text(r[name])) \(Cell.text(p["errors"]))/\(Cell.text(p["requests"]))"
                             + " \(RolloutTable.errorPercent(p))% p99 \(Cell.ms(p["p99_ms"]))ms")
            }
        }
        return parts.joined(separator: " | ")
    }
}
