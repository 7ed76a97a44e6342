import Glibc

/// The scenarios that are not a plain closed-loop load: idle-connection memory, flipping the split
/// under load, and how fast a split change reaches the next request.
extension Bench {
    // MARK: idle-10k

    /// Per round and proxy: RSS of the proxy's process tree, then `n` keep-alive connections, each
    /// opened and sent ONE `GET` whose response is read before the next connection is opened
    /// (sequential, so the proxy needs only a few upstream connections), ~1 s idle, RSS again
    /// (compared with the RSS before the scenario's first round).
    /// The growth divided by the connections is the figure. Connections are then reset.
    func runIdle(_ scenario: Scenario, connections n: Int, contenders: [Contender]) -> [RunRecord] {
        var records: [RunRecord] = []
        let proxies = contenders.filter { $0.isProxy }
        let limit = FileLimit.soft
        if limit < n + 100 { print("   warning: RLIMIT_NOFILE is \(limit); fewer than \(n) connections will open") }
        // The baseline is each proxy's RSS before its first idle round: allocators keep freed
        // memory, so "before" in a later round would already include the previous round's peak.
        var baseline: [String: Int] = [:]
        for c in proxies { if let child = c.child { baseline[c.name] = ProcStat.treeRSSBytes(child.pid) } }
        for round in 1...options.rounds {
            for c in proxies {
                guard let child = c.child, child.isRunning else { continue }
                let cpu0 = c.cpuSeconds()
                let before = baseline[c.name] ?? ProcStat.treeRSSBytes(child.pid)
                var probes: [Probe] = []
                probes.reserveCapacity(n)
                var errors = 0, non2xx = 0
                let t0 = Clock.nowNS()
                while probes.count < n && errors < 20 {
                    guard let p = Probe(port: c.port), let r = p.get(scenario.path) else { errors += 1; continue }
                    if !(200..<300).contains(r.status) { non2xx += 1 }
                    p.resetOnClose()
                    probes.append(p)
                }
                let openSeconds = Double(Clock.nowNS() - t0) / 1e9
                Clock.sleep(ms: 1000)
                let after = ProcStat.treeRSSBytes(child.pid)
                let closedByProxy = probes.reduce(0) { $0 + ($1.peerClosed ? 1 : 0) }
                let opened = probes.count
                let open = opened - closedByProxy
                let cpu = c.cpuSeconds().flatMap { end in cpu0.map { end - $0 } }
                probes.removeAll()   // RST every connection
                Clock.sleep(ms: 300)
                let perConn = open > 0 ? Double(after - before) / Double(open) : 0
                var rec = RunRecord(scenario: scenario.name, contender: c.name, round: round,
                                    load: LoadResult(requests: opened, seconds: openSeconds, errors: errors, non2xx: non2xx),
                                    proxyCPUSeconds: cpu, loadSideCPUSeconds: 0, proxyCoreBusy: nil, loadCoreBusy: nil)
                rec.metrics = [("connections_open", Double(open)), ("closed_by_proxy", Double(closedByProxy)),
                               ("rss_before_bytes", Double(before)), ("rss_after_bytes", Double(after)),
                               ("bytes_per_connection", perConn)]
                print("   round \(round) \(c.name.padding(11)) \(open) idle connections open (opened in \(Report.fixed(openSeconds, 1)) s)"
                      + "  RSS \(Report.mib(before)) → \(Report.mib(after))  \(Report.grouped(perConn)) B/conn"
                      + (closedByProxy > 0 ? "  [\(closedByProxy) closed by the proxy]" : "")
                      + (errors + non2xx > 0 ? "  errors \(errors) non-2xx \(non2xx)" : ""))
                records.append(rec)
            }
        }
        Report.printIdle(scenario, records, contenders: proxies.map(\.name), rounds: options.rounds)
        return records
    }

    // MARK: split-flip

    /// Per round and proxy: a no-flip run, then (where there is a runtime API) the same load while
    /// another thread flips the split every `intervalMS`. The figure is flip req/s ÷ no-flip req/s
    /// of the same contender in the same round.
    func runSplitFlip(_ scenario: Scenario, intervalMS: Int, contenders: [Contender]) -> [RunRecord] {
        var records: [RunRecord] = []
        let proxies = contenders.filter { $0.isProxy }
        for c in proxies { _ = try? measure(c, scenario, seconds: options.warmupSeconds) }
        for round in 1...options.rounds {
            for c in proxies {
                guard let child = c.child, child.isRunning else { continue }
                do {
                    records.append(try measureRound(c, scenario, round, variant: "no-flip"))
                    if SplitControl.supported(c) {
                        records.append(try measureRound(c, scenario, round, variant: "flip", flipMS: intervalMS))
                    }
                } catch {
                    print("   round \(round) \(c.name): \(error)")
                }
            }
        }
        Report.printSplitFlip(scenario, records, contenders: proxies, rounds: options.rounds)
        return records
    }

    // MARK: split-propagation

    /// Switchyard only, no load: `flips` times, set the split all-green (then all-blue, alternating)
    /// over the admin socket and, right after the reply, send ONE request on an already-open
    /// keep-alive connection. Records whether X-Served-By names the new colour and the time from
    /// the admin reply to the response.
    func runPropagation(_ scenario: Scenario, flips: Int, contenders: [Contender]) -> [RunRecord] {
        guard let c = contenders.first(where: { $0.kind == .switchyard && $0.adminSocket != nil }) else {
            print("   skipped: Switchyard is not running")
            return []
        }
        var records: [RunRecord] = []
        for round in 1...options.rounds {
            guard let admin = SplitControl.Switchyard(path: c.adminSocket!) else {
                print("   round \(round): cannot connect to the admin socket \(c.adminSocket!)"); continue
            }
            var probe = Probe(port: c.port)
            _ = probe?.get(scenario.path)
            var latencies: [Double] = []
            var misrouted = 0, failures = 0
            for i in 0..<flips {
                let green = i % 2 == 0
                if let e = admin.set(blue: green ? 0 : 100, green: green ? 100 : 0) {
                    failures += 1
                    if failures == 1 { print("     split command failed: \(e)") }
                    continue
                }
                let t0 = Clock.nowNS()
                guard let r = probe?.get(scenario.path) else {
                    failures += 1
                    probe = Probe(port: c.port)   // the connection broke: a new one for the next flip
                    continue
                }
                latencies.append(Double(Clock.nowNS() - t0) / 1000)
                if r.servedBy != (green ? "green" : "blue") { misrouted += 1 }
            }
            if let e = admin.set(blue: 90, green: 10) { print("     restoring the 90/10 split failed: \(e)") }
            let sorted = latencies.sorted()
            func pct(_ q: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
            var rec = RunRecord(scenario: scenario.name, contender: c.name, round: round,
                                load: LoadResult(requests: latencies.count, seconds: sorted.reduce(0, +) / 1e6,
                                                 p50US: pct(0.50), p99US: pct(0.99), errors: failures, non2xx: 0),
                                proxyCPUSeconds: nil, loadSideCPUSeconds: 0, proxyCoreBusy: nil, loadCoreBusy: nil)
            rec.metrics = [("flips", Double(flips)), ("misrouted", Double(misrouted)), ("max_us", sorted.last ?? 0)]
            print("   round \(round) \(c.name.padding(11)) \(flips) flips  \(misrouted) not routed by the new split"
                  + "  reply→response p50 \(Report.latency(pct(0.50)))  p99 \(Report.latency(pct(0.99)))  max \(Report.latency(sorted.last ?? 0))"
                  + (failures > 0 ? "  failures \(failures)" : ""))
            records.append(rec)
        }
        Report.printPropagation(scenario, records, rounds: options.rounds)
        return records
    }
}

extension Report {
    static func mib(_ bytes: Int) -> String { fixed(Double(bytes) / 1_048_576, 1) + " MiB" }

    static func printIdle(_ scenario: Scenario, _ records: [RunRecord], contenders: [String], rounds: Int) {
        print("\n== \(scenario.name): \(scenario.summary)")
        let header = ["contender", "bytes/conn median", "(min–max)", "RSS baseline", "RSS with conns", "open", "closed by proxy", "errors"]
        var rows: [[String]] = []
        for c in contenders {
            let rs = records.filter { $0.contender == c }
            guard let per = Stats(rs.compactMap { $0.metric("bytes_per_connection") }) else { continue }
            let before = Stats(rs.compactMap { $0.metric("rss_before_bytes") })!, after = Stats(rs.compactMap { $0.metric("rss_after_bytes") })!
            rows.append([c, grouped(per.median), "(\(grouped(per.min))–\(grouped(per.max)))",
                         mib(Int(before.median)), mib(Int(after.median)),
                         grouped(Stats(rs.compactMap { $0.metric("connections_open") })!.median),
                         grouped(Double(rs.reduce(0) { $0 + Int($1.metric("closed_by_proxy") ?? 0) })),
                         String(rs.reduce(0) { $0 + $1.load.errors + $1.load.non2xx })])
        }
        printTable(header, rows)
        for r in idleRatios(records, contenders: contenders, rounds: rounds) {
            guard let s = r.1 else { continue }
            print("  bytes/conn \("\(r.0)".padding(22)) \(fixed(s.median, 2)) (\(fixed(s.min, 2))–\(fixed(s.max, 2)))  [lower = leaner; \(s.count)/\(rounds) rounds]")
        }
    }

    /// Per-round subject/peer ratios of bytes per idle connection.
    static func idleRatios(_ records: [RunRecord], contenders: [String], rounds: Int) -> [(String, Stats?)] {
        guard let subject = subject(contenders) else { return [] }
        return contenders.filter { $0 != subject }.map { peer in
            var ratios: [Double] = []
            for r in 1...rounds {
                guard let a = records.first(where: { $0.contender == subject && $0.round == r })?.metric("bytes_per_connection"),
                      let b = records.first(where: { $0.contender == peer && $0.round == r })?.metric("bytes_per_connection"),
                      b > 0 else { continue }
                ratios.append(a / b)
            }
            return ("\(subject)/\(peer)", Stats(ratios))
        }
    }

    static func printSplitFlip(_ scenario: Scenario, _ records: [RunRecord], contenders: [Contender], rounds: Int) {
        print("\n== \(scenario.name): \(scenario.summary)")
        let header = ["contender", "no-flip req/s", "flip req/s", "(min–max)", "flip/no-flip", "(min–max)", "flips", "flip errors", "req errors no-flip/flip"]
        var rows: [[String]] = []
        for c in contenders {
            let rs = records.filter { $0.contender == c.name }
            let plain = rs.filter { $0.variant == "no-flip" }, flip = rs.filter { $0.variant == "flip" }
            guard let p = Stats(plain.map { $0.load.rps }) else { continue }
            let errs = { (x: [RunRecord]) in String(x.reduce(0) { $0 + $1.load.errors + $1.load.non2xx }) }
            guard SplitControl.supported(c), let f = Stats(flip.map { $0.load.rps }) else {
                rows.append([c.name, grouped(p.median), "n/a", "", "n/a", "", "-", "-", errs(plain) + "/-"])
                continue
            }
            let ratio = Stats(flipRatios(plain, flip, rounds: rounds))
            rows.append([c.name, grouped(p.median), grouped(f.median), "(\(grouped(f.min))–\(grouped(f.max)))",
                         ratio.map { fixed($0.median, 3) } ?? "-", ratio.map { "(\(fixed($0.min, 3))–\(fixed($0.max, 3)))" } ?? "",
                         String(Int(flip.reduce(0) { $0 + ($1.metric("flips") ?? 0) })),
                         String(Int(flip.reduce(0) { $0 + ($1.metric("flip_failures") ?? 0) })),
                         errs(plain) + "/" + errs(flip)])
        }
        printTable(header, rows)
        if contenders.contains(where: { $0.kind == .nginx }) {
            print("  nginx: n/a — open-source nginx has no runtime weight API (that is the commercial nginx Plus `api` module)")
        }
        print("  flip/no-flip: same contender, same round; target ≥ 0.90 (within 10%) and 0 request errors")
    }

    static func flipRatios(_ plain: [RunRecord], _ flip: [RunRecord], rounds: Int) -> [Double] {
        (1...rounds).compactMap { r in
            guard let a = flip.first(where: { $0.round == r }), let b = plain.first(where: { $0.round == r }), b.load.rps > 0 else { return nil }
            return a.load.rps / b.load.rps
        }
    }

    static func printPropagation(_ scenario: Scenario, _ records: [RunRecord], rounds: Int) {
        print("\n== \(scenario.name): \(scenario.summary)")
        guard !records.isEmpty else { return }
        let header = ["contender", "flips", "not routed by new split", "p50 reply→response", "p99", "max", "failures"]
        let p50 = Stats(records.map { $0.load.p50US })!, p99 = Stats(records.map { $0.load.p99US })!
        let maxUS = records.compactMap { $0.metric("max_us") }.max() ?? 0
        printTable(header, [[records[0].contender,
                             String(Int(records.reduce(0) { $0 + ($1.metric("flips") ?? 0) })),
                             String(Int(records.reduce(0) { $0 + ($1.metric("misrouted") ?? 0) })),
                             latency(p50.median), latency(p99.median), latency(maxUS),
                             String(records.reduce(0) { $0 + $1.load.errors })]])
        print("  p50/p99: medians over the rounds; target: 0 requests not routed by the new split")
    }

    /// JSON summary for the scenarios that are not plain load.
    static func specialSummaryJSON(_ scenario: Scenario, _ records: [RunRecord], contenders: [String], rounds: Int) -> JSON {
        var fields: [(String, JSON)] = [("scenario", .string(scenario.name)), ("kind", .string(scenario.kindName))]
        switch scenario.kind {
        case .idle:
            fields.append(("contenders", .array(contenders.compactMap { c in
                let rs = records.filter { $0.contender == c }
                guard let per = Stats(rs.compactMap { $0.metric("bytes_per_connection") }) else { return nil }
                return .object([("contender", .string(c)), ("bytes_per_connection", per.json),
                                ("rss_before_bytes", Stats(rs.compactMap { $0.metric("rss_before_bytes") })?.json ?? .null),
                                ("rss_after_bytes", Stats(rs.compactMap { $0.metric("rss_after_bytes") })?.json ?? .null),
                                ("connections_open", Stats(rs.compactMap { $0.metric("connections_open") })?.json ?? .null)])
            })))
            fields.append(("ratios", .array(idleRatios(records, contenders: contenders, rounds: rounds).map {
                .object([("pair", .string($0.0)), ("bytes_per_connection_ratio", $0.1?.json ?? .null)])
            })))
        case .splitFlip:
            var rows: [JSON] = []
            for c in contenders {
                let rs = records.filter { $0.contender == c }
                let plain = rs.filter { $0.variant == "no-flip" }, flip = rs.filter { $0.variant == "flip" }
                guard let p = Stats(plain.map { $0.load.rps }) else { continue }
                let errorsPlain: Int = plain.reduce(0) { $0 + $1.load.errors + $1.load.non2xx }
                let errorsFlip: Int = flip.reduce(0) { $0 + $1.load.errors + $1.load.non2xx }
                let failures: Double = flip.reduce(0) { $0 + ($1.metric("flip_failures") ?? 0) }
                let flipRPS: JSON = Stats(flip.map { $0.load.rps })?.json ?? .string("n/a")
                let ratio: JSON = Stats(flipRatios(plain, flip, rounds: rounds))?.json ?? .string("n/a")
                var f: [(String, JSON)] = [("contender", .string(c)), ("no_flip_rps", p.json), ("flip_rps", flipRPS)]
                f.append(("flip_over_no_flip", ratio))
                f.append(("errors_no_flip", .int(errorsPlain)))
                f.append(("errors_flip", flip.isEmpty ? .string("n/a") : .int(errorsFlip)))
                f.append(("flip_command_failures", .int(Int(failures))))
                rows.append(.object(f))
            }
            fields.append(("contenders", .array(rows)))
        case .splitPropagation:
            fields.append(("flips", .int(Int(records.reduce(0) { $0 + ($1.metric("flips") ?? 0) }))))
            fields.append(("not_routed_by_new_split", .int(Int(records.reduce(0) { $0 + ($1.metric("misrouted") ?? 0) }))))
            fields.append(("p50_us", Stats(records.map { $0.load.p50US })?.json ?? .null))
            fields.append(("p99_us", Stats(records.map { $0.load.p99US })?.json ?? .null))
            fields.append(("failures", .int(records.reduce(0) { $0 + $1.load.errors })))
        case .load:
            break
        }
        return .object(fields)
    }
}
