/// One-line summaries of ok replies to commands other than status and stats, for `yardctl`.
public enum CommandSummary {
    public static func render(_ command: AdminCommand, reply: JSONValue) -> String {
        switch command {
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
            let lines = (reply["usage"] ?? reply["commands"])?.arrayValue ?? []
            return (["commands:"] + lines.map { "  " + Cell.text($0) }).joined(separator: "\n")
        case .status:
            return StatusTable.render(reply)
        case .stats:
            return StatsTable.render(reply)
        case .reload, .shutdown:
            return "\(command.name): ok" + (reply["message"]?.stringValue.map { ": \($0)" } ?? "")
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
        return "\(verb): pool \(shownPool) server \(shownAddress)" + (details.isEmpty ? "" : " (\(details.joined(separator: ", ")))")
    }
}
