/// A minimal JSON value and writer (the bench avoids Foundation).
indirect enum JSON {
    case number(Double)
    case int(Int)
    case string(String)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    static func opt(_ d: Double?) -> JSON { d.map { .number($0) } ?? .null }

    func render(_ indent: String = "") -> String {
        switch self {
        case .number(let d): return d.isFinite ? "\(d)" : "null"
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .string(let s): return JSON.quote(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            let inner = indent + "  "
            return "[\n" + items.map { inner + $0.render(inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let fields):
            if fields.isEmpty { return "{}" }
            let inner = indent + "  "
            return "{\n" + fields.map { inner + JSON.quote($0.0) + ": " + $0.1.render(inner) }.joined(separator: ",\n") + "\n\(indent)}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

extension RunRecord {
    var json: JSON {
        .object([
            ("scenario", .string(scenario)), ("contender", .string(contender)), ("round", .int(round)),
            ("requests", .int(load.requests)), ("seconds", .number(load.seconds)), ("rps", .number(load.rps)),
            ("p50_us", .number(load.p50US)), ("p99_us", .number(load.p99US)),
            ("errors", .int(load.errors)), ("non_2xx", .int(load.non2xx)),
            ("proxy_cpu_seconds", .opt(proxyCPUSeconds)), ("proxy_busy", .opt(busy)),
            ("proxy_cpu_us_per_request", .opt(cpuPerRequestUS)), ("proxy_core_busy_total", .opt(proxyCoreBusy)), ("load_core_busy_total", .opt(loadCoreBusy)),
            ("load_side_cpu_seconds", .number(loadSideCPUSeconds)),
            ("other_work_proxy_core", .opt(otherWorkOnProxyCore)), ("other_work_load_core", .opt(otherWorkOnLoadCore)),
            ("counted", .bool(saturated)),
            ("variant", variant.map { .string($0) } ?? .null), ("unpinned", .bool(unpinned)),
            ("metrics", .object(metrics.map { ($0.0, .number($0.1)) })),
        ])
    }
}

extension Stats {
    var json: JSON {
        .object([("median", .number(median)), ("min", .number(min)), ("max", .number(max)), ("count", .int(count))])
    }
}

extension Report {
    /// Per scenario: each contender's medians and the ratios, as printed in the tables.
    static func summaryJSON(_ scenario: Scenario, _ records: [RunRecord], contenders: [String], rounds: Int) -> JSON {
        if !scenario.isLoad { return specialSummaryJSON(scenario, records, contenders: contenders, rounds: rounds) }
        let rows: [JSON] = contenders.compactMap { c in
            let rs = records.filter { $0.contender == c }
            guard let rps = Stats(rs.map { $0.load.rps }) else { return nil }
            return .object([
                ("contender", .string(c)), ("rps", rps.json),
                ("p50_us", Stats(rs.map { $0.load.p50US })!.json), ("p99_us", Stats(rs.map { $0.load.p99US })!.json),
                ("proxy_cpu_us_per_request", Stats(rs.compactMap { $0.cpuPerRequestUS })?.json ?? .null),
                ("proxy_busy", Stats(rs.compactMap { $0.busy })?.json ?? .null),
            ])
        }
        let ratios: [JSON] = Report.ratios(records, contenders: contenders, rounds: rounds).map { r in
            .object([("pair", .string("\(r.subject)/\(r.peer)")), ("rps_ratio_counted", r.rps?.json ?? .null),
                     ("cpu_per_request_ratio", r.cpu?.json ?? .null), ("not_counted", .array(r.skipped.map { .string($0) }))])
        }
        return .object([("scenario", .string(scenario.name)), ("contenders", .array(rows)), ("ratios", .array(ratios))])
    }
}
