/// One measured run of one contender in one round of one scenario.
struct RunRecord {
    let scenario: String
    let contender: String
    let round: Int
    let load: LoadResult
    /// CPU seconds the proxy's process tree used during the run (nil for direct).
    let proxyCPUSeconds: Double?
    /// CPU seconds of the load side (this process and wrk) during the run.
    let loadSideCPUSeconds: Double
    /// Whole-core busy fractions from /proc/stat: anything else running there shows up here.
    let proxyCoreBusy: Double?
    let loadCoreBusy: Double?
    /// "flip" / "no-flip" in split-flip; nil elsewhere.
    var variant: String? = nil
    /// Proxy not pinned (workers-auto): `proxyCoreBusy` is core 0, `loadCoreBusy` core 1, and a
    /// run counts when both cores were >= 95% busy (the machine was the limit).
    var unpinned = false
    /// Scenario-specific figures (idle RSS, flips, propagation latencies), also in the JSON.
    var metrics: [(String, Double)] = []

    func metric(_ name: String) -> Double? { metrics.first { $0.0 == name }?.1 }

    /// How busy the proxy kept its core: its CPU time over the load's measured duration.
    var busy: Double? { proxyCPUSeconds.map { $0 / load.seconds } }
    var cpuPerRequestUS: Double? {
        guard let c = proxyCPUSeconds, load.requests > 0 else { return nil }
        return c / Double(load.requests) * 1e6
    }
    /// The busy-core rule: only a saturated proxy's req/s says how fast it is.
    var saturated: Bool {
        if unpinned { return (proxyCoreBusy ?? 0) >= Report.busyThreshold && (loadCoreBusy ?? 0) >= Report.busyThreshold }
        return (busy ?? 0) >= Report.busyThreshold
    }

    /// Share of the proxy core used by other processes (a build, a browser…) during the run.
    var otherWorkOnProxyCore: Double? {
        if unpinned { return nil }
        guard let core = proxyCoreBusy, let b = busy else { return nil }
        return max(0, core - min(b, 1))
    }

    /// Share of the load core used by other processes: its busy time minus the load side's.
    var otherWorkOnLoadCore: Double? {
        guard let core = loadCoreBusy, load.seconds > 0 else { return nil }
        if unpinned {
            // Both cores together minus the proxy and the load side: other work anywhere.
            guard let c0 = proxyCoreBusy, let b = busy else { return nil }
            return max(0, c0 + core - b - loadSideCPUSeconds / load.seconds)
        }
        return max(0, core - min(loadSideCPUSeconds / load.seconds, 1))
    }

    /// The larger of the two interference figures (0 when unknown).
    var otherWork: Double { max(otherWorkOnProxyCore ?? 0, otherWorkOnLoadCore ?? 0) }

    /// Why a run does not count: the load side could not keep up, or something else ran on the
    /// proxy core.
    var notCountedReason: String {
        var shared: [String] = []
        if let o = otherWorkOnProxyCore, o > Report.noiseThreshold { shared.append("\(Report.fixed(o * 100, 0))% other work on its core") }
        if let o = otherWorkOnLoadCore, o > Report.noiseThreshold { shared.append("\(Report.fixed(o * 100, 0))% on the load core") }
        if unpinned {
            let base = "\(contender) cores \(Report.fixed((proxyCoreBusy ?? 0) * 100, 0))%/\(Report.fixed((loadCoreBusy ?? 0) * 100, 0))%"
            return shared.isEmpty ? base : base + " (" + shared.joined(separator: ", ") + ")"
        }
        let base = "\(contender) \(Report.fixed((busy ?? 0) * 100, 0))%"
        return shared.isEmpty ? base : base + " (" + shared.joined(separator: ", ") + ")"
    }
}

struct Stats {
    let median: Double, min: Double, max: Double, count: Int

    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        median = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        min = s.first!
        max = s.last!
        count = s.count
    }
}

enum Report {
    static let busyThreshold = 0.95
    /// Other processes' share of the proxy core above which a run is called noisy.
    static let noiseThreshold = 0.05

    /// Prints the per-scenario table and the ratio lines.
    static func printScenario(_ scenario: Scenario, _ records: [RunRecord], contenders: [String], rounds: Int) {
        print("\n== \(scenario.name): \(scenario.summary)")
        var header = ["contender", "req/s median", "(min–max)", "p50", "p99", "CPU µs/req", "core busy", "errors"]
        if scenario.bodyBytes > 0 { header.insert("MiB/s up", at: 3) }
        if scenario.multiWorkerUnpinned {
            header[6] = "proxy cores"
            header += ["core0", "core1", "load cores"]
        }
        var rows: [[String]] = []
        for c in contenders {
            let rs = records.filter { $0.contender == c }
            guard let rps = Stats(rs.map { $0.load.rps }) else { continue }
            let p50 = Stats(rs.map { $0.load.p50US })!, p99 = Stats(rs.map { $0.load.p99US })!
            let cpu = Stats(rs.compactMap { $0.cpuPerRequestUS })
            let busy = Stats(rs.compactMap { $0.busy })
            let errors = rs.reduce(0) { $0 + $1.load.errors + $1.load.non2xx }
            var row = [c, grouped(rps.median), "(\(grouped(rps.min))–\(grouped(rps.max)))",
                       latency(p50.median), latency(p99.median),
                       cpu.map { fixed($0.median, 2) } ?? "-",
                       busy.map { scenario.multiWorkerUnpinned ? fixed($0.median, 2) : fixed($0.median * 100, 1) + "%" } ?? "-",
                       String(errors)]
            if scenario.bodyBytes > 0 {
                row.insert(fixed(rps.median * Double(scenario.bodyBytes) / 1_048_576, 0), at: 3)
            }
            if scenario.multiWorkerUnpinned {
                let c0 = Stats(rs.compactMap { $0.proxyCoreBusy }), c1 = Stats(rs.compactMap { $0.loadCoreBusy })
                let ls = Stats(rs.map { $0.load.seconds > 0 ? $0.loadSideCPUSeconds / $0.load.seconds : 0 })
                row += [c0.map { fixed($0.median * 100, 0) + "%" } ?? "-", c1.map { fixed($0.median * 100, 0) + "%" } ?? "-",
                        ls.map { fixed($0.median, 2) } ?? "-"]
            }
            rows.append(row)
        }
        printTable(header, rows)
        if scenario.multiWorkerUnpinned {
            for c in contenders {
                let rs = records.filter { $0.contender == c }
                guard !rs.isEmpty else { continue }
                print("  bound: \(c.padding(11)) \(boundBy(rs))")
            }
        }
        for line in ratioLines(records, contenders: contenders, rounds: rounds) { print(line) }
    }

    /// workers-auto: what limited the run, from both cores' busy figures and who used them.
    static func boundBy(_ rs: [RunRecord]) -> String {
        let c0 = Stats(rs.compactMap { $0.proxyCoreBusy })?.median ?? 0
        let c1 = Stats(rs.compactMap { $0.loadCoreBusy })?.median ?? 0
        let proxy = Stats(rs.compactMap { $0.busy })?.median ?? 0
        let load = Stats(rs.map { $0.load.seconds > 0 ? $0.loadSideCPUSeconds / $0.load.seconds : 0 })?.median ?? 0
        let figures = "core0 \(fixed(c0 * 100, 0))%, core1 \(fixed(c1 * 100, 0))%; proxy \(fixed(proxy, 2)) cores, load side \(fixed(load, 2)) cores"
        if c0 >= busyThreshold && c1 >= busyThreshold {
            let who = proxy > load ? "the proxy used most of it" : "the load side used most of it"
            return "both cores busy — the machine (\(figures); \(who))"
        }
        if c1 >= busyThreshold { return "core 1 full (load side + whatever proxy work landed there), core 0 not — the load side (\(figures))" }
        return "neither core full — latency/scheduling, not CPU (\(figures))"
    }

    /// The subject is Switchyard when it ran, else the first proxy that did.
    static func subject(_ contenders: [String]) -> String? {
        contenders.first { $0 != "direct" }
    }

    /// One "subject/peer" comparison over the rounds of a scenario.
    struct Ratio {
        let subject: String
        let peer: String
        /// req/s ratios of the rounds that count (every proxy involved >= 95% busy).
        let rps: Stats?
        /// CPU-per-request ratios of all rounds (valid whatever the bottleneck).
        let cpu: Stats?
        /// Why rounds were left out.
        let skipped: [String]
    }

    /// Per-round req/s ratios subject/peer, kept only for rounds where every proxy involved kept
    /// its core >= 95% busy; plus CPU-per-request ratios, which hold whatever the bottleneck.
    static func ratios(_ records: [RunRecord], contenders: [String], rounds: Int) -> [Ratio] {
        guard let subject = subject(contenders) else { return [] }
        return contenders.filter { $0 != subject }.map { peer in
            var ratios: [Double] = []
            var cpuRatios: [Double] = []
            var skipped: [String] = []
            for r in 1...rounds {
                guard let a = records.first(where: { $0.contender == subject && $0.round == r }),
                      let b = records.first(where: { $0.contender == peer && $0.round == r }) else { continue }
                if let ca = a.cpuPerRequestUS, let cb = b.cpuPerRequestUS, cb > 0 { cpuRatios.append(ca / cb) }
                let bOK = peer == "direct" || b.saturated
                if a.saturated && bOK && b.load.rps > 0 {
                    ratios.append(a.load.rps / b.load.rps)
                } else {
                    if !a.saturated { skipped.append(a.notCountedReason) }
                    if !bOK { skipped.append(b.notCountedReason) }
                }
            }
            return Ratio(subject: subject, peer: peer, rps: Stats(ratios), cpu: Stats(cpuRatios), skipped: skipped)
        }
    }

    static func ratioLines(_ records: [RunRecord], contenders: [String], rounds: Int) -> [String] {
        var lines: [String] = []
        for r in ratios(records, contenders: contenders, rounds: rounds) {
            let label = "\(r.subject)/\(r.peer)".padding(22)
            if let s = r.rps {
                lines.append("  req/s   \(label) \(fixed(s.median, 2)) (\(fixed(s.min, 2))–\(fixed(s.max, 2)))  [\(s.count)/\(rounds) rounds counted]")
            } else {
                let why = records.contains { $0.unpinned }
                    ? "not both cores ≥ 95% busy, so the machine was not the limit"
                    : "proxy core below 95% busy, so the load side (or other work) was the bottleneck"
                lines.append("  req/s   \(label) not counted: \(why): \(r.skipped.prefix(3).joined(separator: ", "))")
            }
            if let s = r.cpu {
                lines.append("  CPU/req \(label) \(fixed(s.median, 2)) (\(fixed(s.min, 2))–\(fixed(s.max, 2)))  [lower = cheaper; all rounds]")
            }
        }
        return lines
    }

    static func printTable(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = (0..<header.count).map { i in all.map { $0[i].count }.max()! }
        for (n, row) in all.enumerated() {
            let cells = row.enumerated().map { i, cell in i == 0 ? cell.padding(widths[i]) : cell.leftPadding(widths[i]) }
            print("  " + cells.joined(separator: "  "))
            if n == 0 { print("  " + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
    }

    // MARK: - Formatting (no Foundation)

    static func fixed(_ x: Double, _ decimals: Int) -> String {
        guard x.isFinite else { return "-" }
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let n = Int64((abs(x) * Double(scale)).rounded())
        let sign = x < 0 && n != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(n) }
        let frac = String(n % scale)
        return sign + String(n / scale) + "." + String(repeating: "0", count: decimals - frac.count) + frac
    }

    static func grouped(_ x: Double) -> String {
        let digits = String(Int64(x.rounded()))
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return out
    }

    static func latency(_ us: Double) -> String {
        if us < 1000 { return fixed(us, 0) + "µs" }
        if us < 1_000_000 { return fixed(us / 1000, 2) + "ms" }
        return fixed(us / 1_000_000, 2) + "s"
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    func leftPadding(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
