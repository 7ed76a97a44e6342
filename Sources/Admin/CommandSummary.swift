import AdminProtocol

/// One-line summaries of ok replies to commands other than status and stats, for `yardctl`.
public enum CommandSummary {
    public static func render(_ command: AdminCommand, reply: JSONValue) -> String {
        switch command {
        case .ifGeneration(_, let inner):
            return render(inner, reply: reply)
        case .rolloutStart, .rolloutStatus, .rollout:
            return RolloutTable.render(reply)
        case .undo:
            let split = reply["split"].map(StatusTable.splitText) ?? "(not reported)"
            return "undone: back to the previous configuration; split is \(split)"
                + (reply["generation"].map { " (generation \(Cell.text($0)))" } ?? "")
        case .split:
            let split = reply["split"].map(StatusTable.splitText) ?? "(not reported)"
            return "split is now \(split)" + (reply["generation"].map { " (generation \(Cell.text($0)))" } ?? "")
        case .serverWeight(let pool, let address, _):
            return server("weight set", pool, address, reply)
        case .serverDrain(let pool, let address):
            return server("draining", pool, address, reply)
        case .serverReady(let pool, let address):
            return server("ready", pool, address, reply)
        case .serverAdd(let pool, let address, _):
            return server("added", pool, address, reply)
        case .serverRemove(let pool, let address):
            return server("removed", pool, address, reply)
        case .help:
            let lines = reply["commands"]?.arrayValue ?? []
            return (["commands:"] + lines.map { "  " + Cell.text($0) }).joined(separator: "\n")
        case .status:
            return StatusTable.render(reply)
        case .stats:
            return StatsTable.render(reply)
        case .reload:
            var lines = ["reloaded" + (reply["generation"].map { " (generation \(Cell.text($0)))" } ?? "")]
            let replaced = reply["replaced_runtime_changes"]?.arrayValue ?? []
            if !replaced.isEmpty {
                lines.append("runtime changes replaced by the file: " + replaced.map { Cell.text($0) }.joined(separator: ", "))
            }
            lines += (reply["notes"]?.arrayValue ?? []).map { "note: " + Cell.text($0) }
            return lines.joined(separator: "\n")
        case .shutdown:
            return reply["shutting_down"]?.boolValue == true
                ? "shutting down: draining connections, then exiting" : "shutdown: ok"
        }
    }

    /// "draining: pool blue server 127.0.0.1:9101 (weight 2, state draining, in-flight 3)"
    private static func server(_ verb: String, _ pool: String, _ address: String, _ reply: JSONValue) -> String {
        let s = reply["server"]
        let shownPool = reply["pool"]?.stringValue ?? pool
        let shownAddress = s?["address"]?.stringValue ?? address
        var details: [String] = []
        if let w = s?["weight"] { details.append("weight \(Cell.text(w))") }
        if let st = s?["state"] { details.append("state \(Cell.text(st))") }
        if let f = s?["in_flight"] { details.append("in-flight \(Cell.text(f))") }
        if let g = reply["generation"] { details.append("generation \(Cell.text(g))") }
        return "\(verb): pool \(shownPool) server \(shownAddress)" + (details.isEmpty ? "" : " (\(details.joined(separator: ", ")))")
    }
}
