/// `yardctl rollout ...` output: the rollout object of a reply as a few readable lines.
public enum RolloutTable {
    public static func render(_ reply: JSONValue) -> String {
        guard let r = reply["rollout"], r != .null else { return "no rollout has been started" }
        func t(_ key: String) -> String { r[key].map(Cell.text) ?? "-" }
        var lines = ["rollout \(t("id")): \(t("new_pool")) from \(t("old_pool")), \(t("state")), \(t("percent"))% on \(t("new_pool"))"]
        if let reason = r["reason"]?.stringValue { lines.append("reason: \(reason)") }
        return lines.joined(separator: "\n")
    }
}
