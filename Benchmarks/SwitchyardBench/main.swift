import EventLoop
import Origin
@preconcurrency import Glibc

// switchyard-bench: Switchyard vs HAProxy vs nginx vs direct, all on 127.0.0.1. The proxy under
// test runs alone on core 0; this process (load generator + upstream origins) runs on core 1.

setvbuf(stdout, nil, _IOLBF, 0)

// `switchyard-bench origin [PORT [THREADS]]`: only serve the benchmark upstream, for manual checks.
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "origin" {
    let args = CommandLine.arguments
    let port = args.count > 2 ? UInt16(args[2]) ?? 9101 : 9101
    let threads = args.count > 3 ? Int(args[3]) ?? 1 : 1
    do {
        let server = try OriginServer(config: .benchmark(port: port, threads: threads))
        server.start()
        print("origin serving the benchmark routes on 127.0.0.1:\(server.port) with \(threads) thread(s); Ctrl-C stops")
        while true { pause() }
    } catch {
        print("error: \(error)")
        exit(1)
    }
}

let options: Options
do {
    options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    print(error)
    exit(2)
}

Child.installSignalCleanup()
atexit { killRegisteredChildren() }
// idle-10k: 10,000 client sockets here, and as many (plus upstream ones) in each proxy.
FileLimit.raise(to: 65536)

// Pin before any thread exists, so the origin and load threads inherit the load core.
let proxyCore: Int?, loadCore: Int?
if Affinity.coreCount >= 2 && Affinity.pinSelf(to: 1) {
    (proxyCore, loadCore) = (0, 1)
} else {
    (proxyCore, loadCore) = (nil, nil)
    print("warning: fewer than 2 cores (or no affinity): nothing is pinned, busy-core numbers mean little")
}

@MainActor func resolveSwitchyard() -> String? {
    if let p = options.switchyardPath { return access(p, X_OK) == 0 ? p : nil }
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    if n > 0 {
        let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let slash = exe.lastIndex(of: "/") {
            let sibling = exe[..<slash] + "/switchyard"
            if access(String(sibling), X_OK) == 0 { return String(sibling) }
        }
    }
    return access(".build/release/switchyard", X_OK) == 0 ? ".build/release/switchyard" : nil
}

let useWrk: Bool
switch options.loadDriver {
case .auto: useWrk = Tools.wrk != nil
case .wrk:
    guard Tools.wrk != nil else { print("--loadgen wrk: wrk is not installed (apt-get install -y wrk)"); exit(2) }
    useWrk = true
case .builtin: useWrk = false
}

let missing = [("wrk", Tools.wrk), ("nginx-light", Tools.nginx), ("haproxy", Tools.haproxy)].filter { $0.1 == nil }.map(\.0)
if !missing.isEmpty {
    print("missing: \(missing.joined(separator: ", ")) — install with: apt-get install -y nginx-light haproxy wrk")
    print("running with what is available.")
}

var template = Array("/tmp/switchyard-bench.XXXXXX".utf8CString)
guard let dirPtr = mkdtemp(&template) else { print("mkdtemp failed"); exit(1) }
let dir = String(cString: dirPtr)

var contenders: [Contender] = []
var upstream: UpstreamSet? = nil
var loadSide: LoadSide? = nil
var failed = false

/// Children first, then the load loop, then the upstreams attached to it.
@MainActor func cleanup() {
    for c in contenders { c.stop() }
    loadSide?.stop()
    upstream?.stop()
    if options.keepTemp || failed {
        print("configs and logs kept in \(dir)")
    } else if let rm = try? Child(name: "rm", argv: ["rm", "-rf", dir], logPath: "/dev/null") {
        rm.wait(ms: 5000)
    }
}

do {
    let side = try LoadSide()
    loadSide = side
    upstream = options.upstream == "nginx" ? try UpstreamSet.nginx(dir: dir, core: loadCore) : try UpstreamSet.origin(on: side.loop)
    side.start()
    let ports = upstream!.ports
    print("switchyard-bench: proxy core \(proxyCore.map(String.init) ?? "-"), load+upstream core \(loadCore.map(String.init) ?? "-")")
    print("upstreams: \(upstream!.label), blue 127.0.0.1:\(ports.blue) (weight 90), green 127.0.0.1:\(ports.green) (weight 10)")
    print("open-file limit \(FileLimit.soft) (hard \(FileLimit.hard)), inherited by every contender")
    print("load: \(useWrk ? "wrk -t1 (\(Tools.wrk!))" : "built-in load generator on the upstream's loop (1 thread)"); \(options.rounds) rounds × \(Report.fixed(options.seconds, 0)) s, warm-up \(Report.fixed(options.warmupSeconds, 0)) s")

    // Benchmarks on a shared machine are noise: say so up front when the cores are not idle.
    if let p = proxyCore, let l = loadCore {
        let a = ProcStat.coreTicks(p), b = ProcStat.coreTicks(l)
        Clock.sleep(ms: 1000)
        let pb = Bench.busy(p, since: a) ?? 0, lb = Bench.busy(l, since: b) ?? 0
        if pb > 0.1 || lb > 0.1 {
            print("warning: the machine is not idle before the bench (core \(p) \(Report.fixed(pb * 100, 0))%, core \(l) \(Report.fixed(lb * 100, 0))% busy); expect noisy numbers")
        }
    }

    let switchyard = resolveSwitchyard()
    if let b = options.baselinePath {
        guard access(b, X_OK) == 0 else { throw BenchError("--baseline \(b): not an executable file") }
        Contenders.baselinePath = b
    }
    for kind in options.contenders {
        do {
            let c = try Contenders.start(kind, upstreams: ports, dir: dir, switchyard: switchyard, core: proxyCore)
            var note = ""
            if let split = Contenders.splitCheck(port: c.port) {
                note = "split " + split.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: " / ")
            } else {
                note = "split check failed"
            }
            print("  \(kind.rawValue.padding(11)) 127.0.0.1:\(c.port)\(c.child.map { "  pid \($0.pid)" } ?? "")  \(note)")
            contenders.append(c)
        } catch {
            print("  \(kind.rawValue.padding(11)) skipped: \(error)")
        }
    }
    guard contenders.contains(where: { $0.isProxy }) || contenders.count > 0 else { throw BenchError("no contender could start") }

    var bench = Bench(options: options, dir: dir, proxyCore: proxyCore, loadCore: loadCore, useWrk: useWrk, loadSide: side)
    // workers-auto: a second set of contenders with two workers each, unpinned, started only for
    // that scenario (and stopped after it); the pinned set stays up, idle.
    bench.startMulti = {
        var set: [Contender] = []
        for kind in options.contenders {
            do {
                let c = try Contenders.start(kind, upstreams: ports, dir: dir, switchyard: switchyard, core: nil, multi: true)
                print("   \(kind.rawValue.padding(11)) 2 workers, unpinned: 127.0.0.1:\(c.port)\(c.child.map { "  pid \($0.pid)" } ?? "")")
                set.append(c)
            } catch {
                print("   \(kind.rawValue.padding(11)) skipped: \(error)")
            }
        }
        return set
    }
    bench.startFresh = {
        var set: [Contender] = []
        for kind in options.contenders {
            do {
                let c = try Contenders.start(kind, upstreams: ports, dir: dir, switchyard: switchyard, core: proxyCore, suffix: "-fresh")
                print("   \(kind.rawValue.padding(11)) started afresh: 127.0.0.1:\(c.port)\(c.child.map { "  pid \($0.pid)" } ?? "")")
                set.append(c)
            } catch {
                print("   \(kind.rawValue.padding(11)) skipped: \(error)")
            }
        }
        return set
    }
    let scenarios = options.scenarios
    guard !scenarios.isEmpty else { throw BenchError("no scenario matches \(options.scenarioFilter)") }
    let records = bench.run(scenarios: scenarios, contenders: &contenders)

    print("\nreq/s ratios count only rounds where every proxy in the ratio kept its core >= 95% busy;")
    print("otherwise the load side (\(useWrk ? "wrk" : "load generator") + upstreams on core \(loadCore.map(String.init) ?? "-")) or other work was the bottleneck. See Benchmarks/README.md.")

    if let path = options.jsonPath {
        let doc = JSON.object([
            ("settings", .object([
                ("rounds", .int(options.rounds)), ("seconds", .number(options.seconds)),
                ("warmup_seconds", .number(options.warmupSeconds)), ("upstream", .string(options.upstream)),
                ("load_driver", .string(useWrk ? "wrk" : "builtin")),
                ("proxy_core", proxyCore.map { .int($0) } ?? .null), ("load_core", loadCore.map { .int($0) } ?? .null),
                ("busy_threshold", .number(Report.busyThreshold)), ("noise_threshold", .number(Report.noiseThreshold)),
                ("retries", .int(options.retries)),
            ])),
            ("contenders", .array(contenders.map { .object([("name", .string($0.name)), ("port", .int(Int($0.port)))]) })),
            ("scenarios", .array(scenarios.map { s in .object([
                ("name", .string(s.name)), ("summary", .string(s.summary)), ("method", .string(s.method)),
                ("path", .string(s.path)), ("connections", .int(s.connections)), ("body_bytes", .int(s.bodyBytes)),
                ("new_connection_per_request", .bool(s.newConnectionPerRequest)),
                ("kind", .string(s.kindName)), ("multi_worker_unpinned", .bool(s.multiWorkerUnpinned)),
            ]) })),
            ("runs", .array(records.map(\.json))),
            ("summary", .array(scenarios.map { s in
                Report.summaryJSON(s, records.filter { $0.scenario == s.name }, contenders: contenders.map(\.name), rounds: options.rounds)
            })),
        ])
        try writeTextFile(path, doc.render() + "\n")
        print("raw numbers written to \(path)")
    }
} catch {
    print("error: \(error)")
    failed = true
}
cleanup()
exit(failed ? 1 : 0)
