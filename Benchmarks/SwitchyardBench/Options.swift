import Glibc

/// Command-line options. `--quick` is 2 rounds of 2 s; explicit --rounds/--duration win.
struct Options {
    enum LoadDriver: String { case auto, wrk, builtin }

    var rounds = 5
    var seconds = 5.0
    var warmupSeconds = 1.0
    var quick = false
    var jsonPath: String? = nil
    var upstream = "origin"
    var loadDriver = LoadDriver.auto
    var contenders: [ContenderKind] = ContenderKind.allCases.filter { $0 != .baseline }
    var scenarioFilter: [String] = []
    var switchyardPath: String? = nil
    var baselinePath: String? = nil
    var keepTemp = false
    /// Extra attempts for a run disturbed by other work on the proxy core.
    var retries = 2

    static let usage = """
    usage: switchyard-bench origin [PORT [THREADS]]     (serve only the benchmark upstream)
           switchyard-bench [--quick] [--json FILE] [--upstream origin|nginx] [--rounds N] [--duration S]
                            [--only switchyard,haproxy,nginx,direct] [--scenario NAME[,NAME]]
                            [--loadgen auto|wrk|builtin] [--switchyard PATH] [--baseline PATH] [--retries N] [--keep]
      --quick        2 rounds of 2 s (default: 5 rounds of 5 s)
      --json FILE    write every raw run and the summary as JSON
      --upstream     origin: in-process Origin servers (default); nginx: an nginx child
      --only         contenders to run (default: all that are available)
      --scenario     run only scenarios whose name contains one of these strings
      --loadgen      wrk when installed (auto), or the built-in epoll load generator
      --switchyard   proxy binary (default: next to this binary, then .build/release/switchyard)
      --baseline     a second Switchyard binary run as contender `baseline` (e.g. the previous
                     build), so a change is measured against it in the same interleaved rounds
      --retries N    repeat a run disturbed by other work on the proxy core up to N times (default 2)
      --keep         keep the temp dir with configs and logs
    scenarios: \(Scenario.all.map(\.name).joined(separator: ", "))
    """

    static func parse(_ args: [String]) throws -> Options {
        var o = Options()
        var explicitRounds = false, explicitSeconds = false
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw BenchError("\(args[i - 1]) needs a value\n\(usage)") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--quick": o.quick = true
            case "--json": o.jsonPath = try value()
            case "--upstream":
                o.upstream = try value()
                guard ["origin", "nginx"].contains(o.upstream) else { throw BenchError("--upstream is origin or nginx") }
            case "--rounds":
                guard let n = Int(try value()), n > 0 else { throw BenchError("--rounds needs a positive integer") }
                o.rounds = n; explicitRounds = true
            case "--duration":
                guard let s = Double(try value()), s >= 1 else { throw BenchError("--duration needs seconds >= 1") }
                o.seconds = s; explicitSeconds = true
            case "--only":
                o.contenders = try (try value()).split(separator: ",").map {
                    guard let k = ContenderKind(rawValue: String($0)) else { throw BenchError("unknown contender \($0)") }
                    return k
                }
            case "--scenario": o.scenarioFilter = (try value()).split(separator: ",").map(String.init)
            case "--loadgen":
                guard let d = LoadDriver(rawValue: try value()) else { throw BenchError("--loadgen is auto, wrk or builtin") }
                o.loadDriver = d
            case "--switchyard": o.switchyardPath = try value()
            case "--baseline": o.baselinePath = try value()
            case "--keep": o.keepTemp = true
            case "--retries":
                guard let n = Int(try value()), n >= 0 else { throw BenchError("--retries needs a number >= 0") }
                o.retries = n
            case "-h", "--help": print(usage); exit(0)
            default: throw BenchError("unknown option \(args[i])\n\(usage)")
            }
            i += 1
        }
        if o.quick {
            if !explicitRounds { o.rounds = 2 }
            if !explicitSeconds { o.seconds = 2 }
        }
        if o.baselinePath != nil && !o.contenders.contains(.baseline) {
            // Right after `switchyard`, so the two builds run back to back in every round.
            let at = (o.contenders.firstIndex(of: .switchyard) ?? -1) + 1
            o.contenders.insert(.baseline, at: at)
        }
        return o
    }

    /// Each filter picks the scenario of that exact name, or else every name containing it.
    var scenarios: [Scenario] {
        guard !scenarioFilter.isEmpty else { return Scenario.all }
        return Scenario.all.filter { s in
            scenarioFilter.contains { f in
                Scenario.all.contains { $0.name == f } ? s.name == f : s.name.contains(f)
            }
        }
    }
}
