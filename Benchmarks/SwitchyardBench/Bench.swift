/// Runs the scenarios: for each scenario a warm-up per contender, then rounds in which the
/// contenders take turns (A B C A B C …) so drift (thermal, other load) hits all of them alike.
struct Bench {
    let options: Options
    let dir: String
    let proxyCore: Int?
    let loadCore: Int?
    let useWrk: Bool
    let loadSide: LoadSide
    /// Starts the two-worker, unpinned contender set for `multiWorkerUnpinned` scenarios.
    var startMulti: (() -> [Contender])? = nil
    /// Starts a fresh pinned, one-worker set: the idle-memory scenario needs processes that have
    /// not served load yet (allocators keep freed memory, so a process that ran 500 connections
    /// before would hold 10,000 idle ones in memory it already has: "0 B per connection").
    var startFresh: (() -> [Contender])? = nil

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
            print("\n-- \(scenario.name): \(scenario.summary); \(options.rounds) rounds\(scenario.isLoad ? " × \(Report.fixed(options.seconds, 0)) s" : "")")
            switch scenario.kind {
            case .load:
                if scenario.multiWorkerUnpinned {
                    guard let startMulti else { print("   skipped: no way to start the multi-worker contenders"); continue }
                    var multi = startMulti()
                    records += runLoad(scenario, contenders: &multi)
                    for c in multi { c.stop() }
                } else {
                    records += runLoad(scenario, contenders: &contenders)
                }
            case .idle(let n):
                if let startFresh {
                    let fresh = startFresh()
                    records += runIdle(scenario, connections: n, contenders: fresh)
                    for c in fresh { c.stop() }
                } else {
                    records += runIdle(scenario, connections: n, contenders: contenders)
                }
            case .splitFlip(let ms):
                records += runSplitFlip(scenario, intervalMS: ms, contenders: contenders)
            case .splitPropagation(let flips):
                records += runPropagation(scenario, flips: flips, contenders: contenders)
            }
            contenders.removeAll { c in c.child.map { !$0.isRunning } ?? false }
        }
        return records
    }

    /// Closed-loop load: warm-up per contender, then interleaved rounds, then the table.
    private func runLoad(_ scenario: Scenario, contenders: inout [Contender]) -> [RunRecord] {
        var records: [RunRecord] = []
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
        Report.printScenario(scenario, records, contenders: contenders.map(\.name), rounds: options.rounds)
        return records
    }

    /// One round of one contender. A run during which other processes used more than 5% of the
    /// proxy core or of the load core is repeated (up to `--retries` times) and the cleanest attempt kept: on a
    /// shared machine that is the difference between a counted round and a wasted one.
    /// `flipMS`: flip the split every that many ms during the run (split-flip), then restore 90/10.
    func measureRound(_ c: Contender, _ scenario: Scenario, _ round: Int, variant: String? = nil,
                      flipMS: Int? = nil) throws -> RunRecord {
        var best: RunRecord? = nil
        for attempt in 0...options.retries {
            let flipper = flipMS.map { SplitFlipper(c, intervalMS: $0) }
            let measured = Result { try measure(c, scenario, seconds: options.seconds) }
            var metrics: [(String, Double)] = []
            if let flipper {
                let (flips, failures, lastError) = flipper.stop()
                metrics = [("flips", Double(flips)), ("flip_failures", Double(failures))]
                if let lastError { print("     flip command failed \(failures)×, last: \(lastError)") }
                if let e = SplitControl.set(c, blue: 90, green: 10) { print("     restoring the 90/10 split failed: \(e)") }
            }
            let (load, cpu) = try measured.get()
            var rec = RunRecord(scenario: scenario.name, contender: c.name, round: round, load: load,
                                proxyCPUSeconds: cpu.proxySeconds, loadSideCPUSeconds: cpu.loadSideSeconds,
                                proxyCoreBusy: cpu.proxyCoreBusy, loadCoreBusy: cpu.loadCoreBusy)
            rec.variant = variant
            rec.unpinned = c.multi
            rec.metrics = metrics
            printProgress(rec)
            if best == nil || rec.otherWork < best!.otherWork { best = rec }
            guard rec.otherWork > Report.noiseThreshold, attempt < options.retries else { break }
            if flipMS != nil { Clock.sleep(ms: 200) }
            print("     (other processes used the cores: repeating, attempt \(attempt + 2) of \(options.retries + 1))")
            Clock.sleep(ms: 500)
        }
        return best!
    }

    private func printProgress(_ r: RunRecord) {
        let who = r.variant.map { "\(r.contender) \($0)" } ?? r.contender
        var line = "   round \(r.round) \(who.padding(11)) \(Report.grouped(r.load.rps).leftPadding(9)) req/s"
        line += "  p50 \(Report.latency(r.load.p50US).leftPadding(8))  p99 \(Report.latency(r.load.p99US).leftPadding(8))"
        if r.unpinned {
            if let b = r.busy { line += "  proxy \(Report.fixed(b, 2)) cores" }
            if let c0 = r.proxyCoreBusy { line += "  core0 \(Report.fixed(c0 * 100, 0))%" }
        } else if let b = r.busy { line += "  proxy \(Report.fixed(b * 100, 1))% busy" }
        if let c = r.cpuPerRequestUS { line += "  \(Report.fixed(c, 2)) µs/req" }
        if let f = r.metric("flips") { line += "  \(Int(f)) flips" }
        if let l = r.loadCoreBusy { line += r.unpinned ? "  core1 \(Report.fixed(l * 100, 0))%" : "  load core \(Report.fixed(l * 100, 0))%" }
        if let o = r.otherWorkOnProxyCore, o > Report.noiseThreshold { line += "  [other work on proxy core: \(Report.fixed(o * 100, 0))%]" }
        if let o = r.otherWorkOnLoadCore, o > Report.noiseThreshold { line += "  [other work on load core: \(Report.fixed(o * 100, 0))%]" }
        if r.load.errors + r.load.non2xx > 0 { line += "  errors \(r.load.errors) non-2xx \(r.load.non2xx)" }
        print(line)
    }
}
