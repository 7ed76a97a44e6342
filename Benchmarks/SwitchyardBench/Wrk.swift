/// Drives a scenario with wrk (one thread, pinned to the load core) and parses its report.
enum Wrk {
    static func run(port: UInt16, scenario: Scenario, seconds: Double, core: Int?, dir: String) throws -> LoadResult {
        guard let wrk = Tools.wrk else { throw BenchError("wrk is not installed") }
        var argv = [wrk, "-t1", "-c\(scenario.connections)", "-d\(max(1, Int(seconds.rounded())))s",
                    "--latency", "--timeout", "10s"]
        if scenario.newConnectionPerRequest { argv += ["-H", "Connection: close"] }
        if scenario.method != "GET" || scenario.bodyBytes > 0 {
            let script = "\(dir)/wrk-\(scenario.name).lua"
            var lua = "wrk.method = \"\(scenario.method)\"\n"
            if scenario.bodyBytes > 0 {
                lua += "wrk.body = string.rep(\"x\", \(scenario.bodyBytes))\n"
                lua += "wrk.headers[\"Content-Type\"] = \"application/octet-stream\"\n"
            }
            try writeTextFile(script, lua)
            argv += ["-s", script]
        }
        argv.append("http://127.0.0.1:\(port)\(scenario.path)")
        let log = "\(dir)/wrk.out"
        let child = try Child(name: "wrk", argv: Tools.pinned(argv, core: core), logPath: log)
        guard child.wait(ms: Int(seconds * 1000) + 20_000) else {
            child.stop()
            throw BenchError("wrk did not finish in time")
        }
        let text = readTextFile(log) ?? ""
        guard let result = parse(text), child.exitStatus == 0 else {
            throw BenchError("wrk failed (exit \(child.exitStatus ?? -1)):\n\(text)")
        }
        return result
    }

    /// Reads "Requests/sec", the 50%/99% latency lines, "N requests in Xs", socket errors and
    /// non-2xx counts from wrk's text report.
    static func parse(_ text: String) -> LoadResult? {
        var r = LoadResult()
        var sawRate = false
        for raw in text.split(separator: "\n") {
            let words = raw.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = words.first else { continue }
            switch first {
            case "50%": r.p50US = words.count > 1 ? duration(words[1]) * 1e6 : 0
            case "99%": r.p99US = words.count > 1 ? duration(words[1]) * 1e6 : 0
            case "Requests/sec:":
                sawRate = words.count > 1
            case "Socket":
                // Socket errors: connect 0, read 0, write 0, timeout 0
                r.errors = words.compactMap { Int($0.trimmingSuffix(",")) }.reduce(0, +)
            case "Non-2xx":
                r.non2xx = words.last.flatMap { Int($0) } ?? 0
            default:
                // "123456 requests in 5.00s, 12.34MB read"
                if words.count >= 4, words[1] == "requests", words[2] == "in", let n = Int(first) {
                    r.requests = n
                    r.seconds = duration(words[3].trimmingSuffix(","))
                }
            }
        }
        return sawRate && r.seconds > 0 ? r : nil
    }

    /// "425.00us", "1.20ms", "5.00s", "1.00m" → seconds.
    static func duration<S: StringProtocol>(_ s: S) -> Double {
        let text = String(s)
        for (suffix, scale) in [("us", 1e-6), ("ms", 1e-3), ("m", 60.0), ("s", 1.0), ("h", 3600.0)] where text.hasSuffix(suffix) {
            return (Double(text.dropLast(suffix.count)) ?? 0) * scale
        }
        return Double(text) ?? 0
    }
}

extension Substring {
    func trimmingSuffix(_ suffix: String) -> Substring {
        hasSuffix(suffix) ? dropLast(suffix.count) : self
    }
}
