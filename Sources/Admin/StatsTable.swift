import AdminProtocol

/// Renders a `stats` reply for people: one table per pool, a total row when a pool has several
/// rows. Error % counts 5xx responses plus the proxy's own 502/503/504 against requests.
/// A pool's own `proxy_errors` are requests that failed before any server was chosen (no server
/// ready): shown as a "(no server)" row and counted as requests in the total.
public enum StatsTable {
    static let headers = ["SERVER", "REQUESTS", "REQ/S", "2XX", "3XX", "4XX", "5XX", "502", "503", "504",
                          "ERR%", "P50ms", "P99ms", "IN-FLIGHT"]

    public static func render(_ reply: JSONValue) -> String {
        var out: [String] = []
        let window = reply["window_s"].map { Cell.text($0) } ?? "?"
        out.append("counts since start; REQ/S and latency (ms) over the last \(window) s")
        let pools = reply["pools"]?.objectValue ?? []
        if pools.isEmpty { out.append("(no pools)") }
        for (name, pool) in pools {
            out.append("")
            out.append("pool \(name)" + (pool["split"].map { " (split \(Cell.text($0)))" } ?? ""))
            let servers = pool["servers"]?.arrayValue ?? []
            let unrouted = pool["proxy_errors"].map(Counts.init(poolErrors:))
            if servers.isEmpty && (unrouted?.requests ?? 0) == 0 {
                out.append("  (no servers)")
                continue
            }
            var table = TextTable(headers, rightAligned: Set(1..<headers.count))
            var total = Counts()
            for s in servers {
                let c = Counts(s)
                total.add(c)
                let latency = s["latency_ms"]?["window"] ?? s["latency_ms"]?["total"]
                table.add([Cell.text(s["address"])] + c.cells(Cell.text(s["rate"]))
                          + [Cell.ms(latency?["p50"]), Cell.ms(latency?["p99"]), Cell.text(s["in_flight"])])
            }
            var rows = servers.count
            if let unrouted, unrouted.requests > 0 {
                total.add(unrouted)
                table.add(["(no server)"] + unrouted.cells("-") + ["-", "-", "-"])
                rows += 1
            }
            if rows > 1 {
                table.add(["total"] + total.cells(Cell.fixed(total.rate, 1)) + ["-", "-", String(total.inFlight)])
            }
            out.append(table.render())
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// The additive columns of one server (or of a pool's total).
    struct Counts {
        var requests = 0, rate = 0.0, inFlight = 0
        var classes = [0, 0, 0, 0]   // 2xx 3xx 4xx 5xx
        var proxy = [0, 0, 0]        // 502 503 504
        var present = Set<String>()

        init() {}

        init(_ s: JSONValue) {
            func int(_ v: JSONValue?, _ key: String) -> Int {
                if let i = v?.intValue { present.insert(key); return i }
                return 0
            }
            requests = int(s["requests"], "requests")
            rate = s["rate"]?.doubleValue ?? 0
            inFlight = s["in_flight"]?.intValue ?? 0
            for (i, k) in ["2xx", "3xx", "4xx", "5xx"].enumerated() { classes[i] = int(s["responses"]?[k], k) }
            for (i, k) in ["502", "503", "504"].enumerated() { proxy[i] = int(s["proxy_errors"]?[k], k) }
        }

        /// A pool's errors made before a server was chosen; each one is a request.
        init(poolErrors v: JSONValue) {
            for (i, k) in ["502", "503", "504"].enumerated() {
                if let n = v[k]?.intValue { proxy[i] = n; present.insert(k) }
            }
            requests = proxy.reduce(0, +)
            present.insert("requests")
        }

        mutating func add(_ o: Counts) {
            requests += o.requests
            rate += o.rate
            inFlight += o.inFlight
            for i in 0..<4 { classes[i] += o.classes[i] }
            for i in 0..<3 { proxy[i] += o.proxy[i] }
            present.formUnion(o.present)
        }

        func cells(_ rate: String) -> [String] {
            func c(_ key: String, _ v: Int) -> String { present.contains(key) ? String(v) : "-" }
            let errors = Double(classes[3] + proxy.reduce(0, +))
            return [c("requests", requests), rate]
                + zip(["2xx", "3xx", "4xx", "5xx"], classes).map { c($0, $1) }
                + zip(["502", "503", "504"], proxy).map { c($0, $1) }
                + [present.contains("requests") ? Cell.percent(errors, of: Double(requests)) : "-"]
        }
    }
}
