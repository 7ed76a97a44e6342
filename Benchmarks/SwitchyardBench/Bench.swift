/// Runs the scenarios: for each scenario a warm-up per contender, then rounds in which the
/// contenders take turns (A B C A B C …) so drift (thermal, other load) hits all of them alike.
struct Bench {
    let options: Options
    let dir: String
    let proxyCore: Int?
    let loadCore: Int?
    let useWrk: Bool
    let loadSide: LoadSide

    /// What one run measured besides the load result: CPU seconds and core busy fractions.
    struct CPU {
        var proxySeconds: Double?
        var loadSideSeconds: Double
        var proxyCoreBusy: Double?
        var loadCoreBusy: Double?
    }

    /// Runs one load against one contender and measures both sides' CPU around it.
    func measure(_ c: Contender, _ scenario: Scenario, seconds: Double) throws -> (LoadResult, CPU) {
        let cpu0 = c.cpuSeconds()
        let load0 = ProcStat.loadSideSeconds()
        let proxyTicks = proxyCore.flatMap { ProcStat.coreTicks($0) }
        let loadTicks = loadCore.flatMap { ProcStat.coreTicks($0) }
        let load: LoadResult
        if useWrk {
            load = try Wrk.run(port: c.port, scenario: scenario, seconds: seconds, core: loadCore, dir: dir)
        } else {
            load = try loadSide.run(port: c.port, scenario: scenario, seconds: seconds)
        }
        let cpu = c.cpuSeconds().flatMap { end in cpu0.map { end - $0 } }
        return (load, CPU(proxySeconds: cpu, loadSideSeconds: ProcStat.loadSideSeconds() - load0,
                          proxyCoreBusy: Self.busy(proxyCore, since: proxyTicks),
                          loadCoreBusy: Self.busy(loadCore, since: loadTicks)))
    }

    /// Busy fraction of `core` since the /proc/stat sample `start`.
    static func busy(_ core: Int?, since start: (busy: UInt64, total: UInt64)?) -> Double? {
        guard let core, let a = start, let b = ProcStat.coreTicks(core), b.total > a.total else { return nil }
        return Double(b.busy - a.busy) / Double(b.total - a.total)
    }

    func run(scenarios: [Scenario], contenders: inout [Contender]) -> [RunRecord] {
        var records: [RunRecord] = []
        for scenario in scenarios {
            print("\n-- \(scenario.name): \(scenario.summary); \(options.rounds) rounds × \(Report.fixed(options.seconds, 0)) s")
            for c in contenders {
                _ = try? measure(c, scenario, seconds: options.warmupSeconds)
            }
            for round in 1...options.rounds {
                for c in contenders {
                    if let child = c.child, !child.isRunning {
                        print("   \(c.name) has exited (status \(child.exitStatus ?? -1)); log tail:\n\(child.logTail())")
                        continue
                    }
                    do {
                        records.append(try measureRound(c, scenario, round))
                    } catch {
                        print("   round \(round) \(c.name): \(error)")
                    }
                }
            }
            contenders.removeAll { c in c.child.map { !$0.isRunning } ?? false }
            Report.printScenario(scenario, records.filter { $0.scenario == scenario.name },
                                 contenders: contenders.map(\.name), rounds: options.rounds)
        }
        return records
    }

    /// One round of one contender. A run during which other processes used more than 5% of the
    /// proxy core or of the load core is repeated (up to `--retries` times) and the cleanest attempt kept: on a
    /// shared machine that is the difference between a counted round and a wasted one.
    private func measureRound(_ c: Contender, _ scenario: Scenario, _ round: Int) throws -> RunRecord {
        var best: RunRecord? = nil
        for attempt in 0...options.retries {
            let (load, cpu) = try measure(c, scenario, seconds: options.seconds)
            let rec = RunRecord(scenario: scenario.name, contender: c.name, round: round, load: load,
                                proxyCPUSeconds: cpu.proxySeconds, loadSideCPUSeconds: cpu.loadSideSeconds,
                                proxyCoreBusy: cpu.proxyCoreBusy, loadCoreBusy: cpu.loadCoreBusy)
            printProgress(rec)
            if best == nil || rec.otherWork < best!.otherWork { best = rec }
            guard rec.otherWork > Report.noiseThreshold, attempt < options.retries else { break }
            print("     (other processes used the cores: repeating, attempt \(attempt + 2) of \(options.retries + 1))")
            Clock.sleep(ms: 500)
        }
        return best!
    }

    private func printProgress(_ r: RunRecord) {
        var line = "   round \(r.round) \(r.contender.padding(11)) \(Report.grouped(r.load.rps).leftPadding(9)) req/s"
        line += "  p50 \(Report.latency(r.load.p50US).leftPadding(8))  p99 \(Report.latency(r.load.p99US).leftPadding(8))"
        if let b = r.busy { line += "  proxy \(Report.fixed(b * 100, 1))% busy" }
        if let c = r.cpuPerRequestUS { line += "  \(Report.fixed(c, 2)) µs/req" }
        if let l = r.loadCoreBusy { line += "  load core \(Report.fixed(l * 100, 0))%" }
        if let o = r.otherWorkOnProxyCore, o > Report.noiseThreshold { line += "  [other work on proxy core: \(Report.fixed(o * 100, 0))%]" }
        if let o = r.otherWorkOnLoadCore, o > Report.noiseThreshold { line += "  [other work on load core: \(Report.fixed(o * 100, 0))%]" }
        if r.load.errors + r.load.non2xx > 0 { line += "  errors \(r.load.errors) non-2xx \(r.load.non2xx)" }
        print(line)
    }
}
