import AdminProtocol

/// Renders a `status` reply for people. Only fields that are present are shown and unknown
/// fields are ignored, so an older yardctl still works against a newer proxy.
public enum StatusTable {
    /// Marks a value that differs from the config file.
    public static let marker = "*"

    public static func render(_ reply: JSONValue) -> String {
        var out: [String] = []
        var header: [String] = []
        if let v = reply["version"]?.stringValue { header.append("switchyard \(v)") }
        if let u = reply["uptime_s"]?.doubleValue { header.append("up \(Cell.duration(u))") }
        if let w = reply["workers"]?.intValue { header.append("\(w) worker\(w == 1 ? "" : "s")") }
        if let g = reply["generation"]?.intValue { header.append("generation \(g)") }
        if let c = reply["clients"]?.intValue { header.append("\(c) client\(c == 1 ? "" : "s")") }
        if reply["ready"]?.boolValue == false { header.append("NOT READY (shutting down)") }
        if !header.isEmpty { out.append(header.joined(separator: ", ")) }

        let overrides = (reply["overrides"]?.arrayValue ?? []).map { Cell.text($0) }
        var marked = false
        if let split = reply["split"] {
            var line = "split: \(splitText(split))"
            let config = reply["config_split"]
            if overrides.contains("split") || (config != nil && config != split) {
                line += " \(marker)"
                marked = true
                if let config { line += "  (config: \(splitText(config)))" }
            }
            out.append(line)
        }

        // The running (or last) rollout, in one line: `yardctl rollout status` has the details.
        if let r = reply["rollout"], r != .null, let state = r["state"]?.stringValue {
            var line = "rollout \(Cell.text(r["id"])): \(Cell.text(r["new_pool"])) from \(Cell.text(r["old_pool"])), \(state)"
            if let p = r["percent"]?.intValue { line += ", \(p)% on \(Cell.text(r["new_pool"]))" }
            if state == "running" || state == "paused" { line += " (yardctl rollout status)" }
            out.append(line)
        }

        for (name, pool) in reply["pools"]?.objectValue ?? [] {
            out.append("")
            out.append("pool \(name)" + (pool["split"].map { " (split \(Cell.text($0)))" } ?? ""))
            let servers = pool["servers"]?.arrayValue ?? []
            if servers.isEmpty {
                out.append("  (no servers)")
                continue
            }
            let health = servers.contains { $0["health"] != nil }
            var table = TextTable(["SERVER", "WEIGHT", "STATE"] + (health ? ["HEALTH"] : []) + ["IN-FLIGHT", "CONNS"],
                                  rightAligned: health ? [1, 4, 5] : [1, 3, 4])
            for s in servers {
                // Servers added at runtime have no config weight; removed ones finish what they had.
                let added = s["added"]?.boolValue == true || s["config_weight"]?.isNull == true
                let removed = s["removed"]?.boolValue == true
                var weight = Cell.text(s["weight"])
                if added || removed || (s["config_weight"].map { $0 != s["weight"] } ?? false) {
                    weight += marker
                    marked = true
                }
                // Draining is only ever an admin decision, so it too differs from the config.
                var state = Cell.text(s["state"])
                if state == "draining" || state == "drained" {
                    state += marker
                    marked = true
                }
                if added { state += " (added)" }
                if removed { state += " (removed)" }
                table.add([Cell.text(s["address"]), weight, state]
                          + (health ? [Cell.text(s["health"])] : [])
                          + [Cell.text(s["in_flight"]), Cell.text(s["connections"])])
            }
            out.append(table.render())
        }

        if marked || !overrides.isEmpty {
            out.append("")
            var note = marked ? "\(marker) differs from the config file" : "differs from the config file"
            if !overrides.isEmpty { note += " (overrides: \(overrides.joined(separator: ", ")))" }
            out.append(note)
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// `{"blue":90,"green":10}` as "blue=90 green=10".
    static func splitText(_ v: JSONValue) -> String {
        guard let fields = v.objectValue else { return Cell.text(v) }
        if fields.isEmpty { return "(empty)" }
        return fields.map { "\($0.0)=\(Cell.text($0.1))" }.joined(separator: " ")
    }
}
