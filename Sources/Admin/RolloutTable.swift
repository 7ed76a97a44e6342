import AdminProtocol

/// `yardctl rollout ...` output: the rollout object of a reply as a few readable lines.
/// Like the other tables, fields that are absent are left out and unknown ones ignored.
///
///     rollout 1764082000123 (plan green): green from blue, running, 5% on green (generation 12)
///     steps  1 [5] 25 50 100
///     held 12s of 60s
///     window 12.3s, verdict healthy
///       POOL         REQUESTS  ERRORS  ERR%  P99ms
///       green (new)       812       3  0.37   12.5
///       blue (old)      15110      40  0.26   11.0
///     thresholds: max-error-rate 1%, max-p99 1.5x, min-requests 200
public enum RolloutTable {
    public static func render(_ reply: JSONValue) -> String {
        guard let r = reply["rollout"], !r.isNull else { return "no rollout has been started\n" }
        var lines = [header(r, generation: reply["generation"])]
        if let l = ladder(r) { lines.append(l) }
        if let p = progress(r) { lines.append(p) }
        lines += window(r)
        if let t = thresholds(r) { lines.append(t) }
        if let reason = r["reason"]?.stringValue { lines.append("reason: \(reason)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// "rollout 1764082000123 (plan green): green from blue, running, 5% on green (generation 12)"
    static func header(_ r: JSONValue, generation: JSONValue?) -> String {
        let plan = r["plan"]?.stringValue.map { " (plan \($0))" } ?? ""
        var s = "rollout \(Cell.text(r["id"]))\(plan): \(Cell.text(r["new_pool"])) from \(Cell.text(r["old_pool"]))"
        s += ", \(Cell.text(r["state"])), \(Cell.text(r["percent"]))% on \(Cell.text(r["new_pool"]))"
        if let g = generation, !g.isNull { s += " (generation \(Cell.text(g)))" }
        return s
    }

    /// "steps  1 [5] 25 50 100" while running or paused; once ended, no step is current, so the
    /// furthest step reached (from the events) is named instead.
    static func ladder(_ r: JSONValue) -> String? {
        guard let steps = r["steps"]?.arrayValue, !steps.isEmpty else { return nil }
        let current = r["step"]?.intValue
        let cells = steps.enumerated().map { i, p in i == current ? "[\(Cell.text(p))]" : Cell.text(p) }
        var s = "steps  " + cells.joined(separator: " ")
        if current == nil, let reached = reachedPercent(r) { s += "  (reached \(reached)%)" }
        return s
    }

    /// The highest percent a `started` or `step` event gave the new pool.
    static func reachedPercent(_ r: JSONValue) -> Int? {
        (r["events"]?.arrayValue ?? [])
            .filter { ["started", "step"].contains($0["event"]?.stringValue ?? "") }
            .compactMap { $0["percent"]?.intValue }
            .max()
    }

    /// Where the current step's hold stands, or when the rollout ended.
    static func progress(_ r: JSONValue) -> String? {
        let hold = r["hold_s"]?.doubleValue.map(seconds) ?? "-"
        let elapsed = r["step_elapsed_s"]?.doubleValue.map(seconds) ?? "-"
        switch r["state"]?.stringValue {
        case "running":
            guard r["waiting_for_data"]?.boolValue == true else { return "held \(elapsed) of \(hold)" }
            return "waiting for data: \(Cell.text(r["window"]?["new"]?["requests"])) of \(Cell.text(r["min_requests"])) requests"
                + " on \(Cell.text(r["new_pool"])) in the window (at this step for \(elapsed); hold \(hold))"
        case "paused":
            return "paused after \(elapsed) of the \(hold) hold (resume starts the hold over)"
        default:
            guard let ended = r["ended_s_ago"]?.doubleValue else { return nil }
            var s = "ended \(seconds(ended)) ago"
            if let started = r["started_s_ago"]?.doubleValue, started >= ended { s += ", after \(seconds(started - ended))" }
            return s
        }
    }

    /// The judge's window: one row per pool, the new one first.
    static func window(_ r: JSONValue) -> [String] {
        let verdict = r["verdict"].flatMap { $0.isNull ? nil : Cell.text($0) }.map { "verdict \($0)" } ?? "not judged yet"
        guard let w = r["window"], !w.isNull else { return [verdict] }
        var table = TextTable(["POOL", "REQUESTS", "ERRORS", "ERR%", "P99ms"], rightAligned: [1, 2, 3, 4])
        for (key, pool) in [("new", "new_pool"), ("old", "old_pool")] {
            guard let p = w[key], !p.isNull else { continue }
            table.add(["\(Cell.text(r[pool])) (\(key))", Cell.text(p["requests"]), Cell.text(p["errors"]),
                       errorPercent(p), Cell.ms(p["p99_ms"])])
        }
        let length = w["seconds"]?.doubleValue.map { "window \(seconds($0)), " } ?? ""
        return [length + verdict, table.render()]
    }

    /// "0.37": the window's error rate in percent, two decimals (thresholds are around 1%).
    /// From the counts when there are any: replies carry decimals rounded to 3 digits, so
    /// `error_rate` alone only has 0.1% steps.
    static func errorPercent(_ pool: JSONValue) -> String {
        if let e = pool["errors"]?.doubleValue, let n = pool["requests"]?.doubleValue, n > 0 {
            return Cell.fixed(e / n * 100, 2)
        }
        return pool["error_rate"]?.doubleValue.map { Cell.fixed($0 * 100, 2) } ?? "-"
    }

    /// "thresholds: max-error-rate 1%, max-p99 1.5x, min-requests 200": the `rollout start` options.
    static func thresholds(_ r: JSONValue) -> String? {
        var parts: [String] = []
        if let e = r["max_error_rate"]?.doubleValue { parts.append("max-error-rate \(trimmed(e * 100))%") }
        if let p = r["max_p99_ratio"]?.doubleValue { parts.append("max-p99 \(trimmed(p))x") }
        if let m = r["min_requests"], !m.isNull { parts.append("min-requests \(Cell.text(m))") }
        return parts.isEmpty ? nil : "thresholds: " + parts.joined(separator: ", ")
    }

    /// At most two decimals, trailing zeros dropped: 1.0 → "1", 0.50 → "0.5", 1.25 → "1.25".
    static func trimmed(_ d: Double) -> String {
        var s = Cell.fixed(d, 2)
        guard s.contains(".") else { return s }
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }

    /// Holds are whole seconds or minutes: "0.5s", "12s", "60s", "5m 00s", "1h 30m". Rounded
    /// down, so a hold never reads as over before it is.
    static func seconds(_ d: Double) -> String {
        guard d.isFinite, d >= 0 else { return "-" }
        if d < 10 && d != d.rounded(.down) { return Cell.fixed((d * 10).rounded(.down) / 10, 1) + "s" }
        let s = Int(d)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if s < 120 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m \(two(s % 60))s" }
        return "\(s / 3600)h \(two(s / 60 % 60))m"
    }
}
