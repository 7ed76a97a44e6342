import Admin
import Balancing
import EventLoop
import Glibc
import Proxy
import XCTest

// Support for MetricsTests: an in-process proxy with its ProxyControl and MetricsServer on a
// control loop of their own (wired as Sources/switchyard/main.swift does it), a scrape client,
// the metric names the deploy/ files use, and a small process runner for promtool.

/// A proxy running in this process with `/metrics`, `/ready` and `/live` served by a real
/// MetricsServer on a control EventLoop thread.
final class MetricsTestProxy: @unchecked Sendable {
    let proxy: ProxyServer
    let control: ProxyControl
    let loop: EventLoop
    let metrics: MetricsServer
    /// The proxy's (first) listener port.
    let port: UInt16
    /// The port MetricsServer bound.
    let metricsPort: UInt16
    private var thread: LoopThread?

    /// `config` may carry `metrics ADDR:PORT` (as main.swift reads it); without it the server
    /// binds 127.0.0.1 on an ephemeral port.
    init(config text: String) throws {
        Log.quiet = getenv("PROXYTESTS_LOG") == nil
        let config = try ConfigParser.parse(text, file: "metrics-test.conf")
        proxy = try ProxyServer(config: config)
        try proxy.start()
        port = proxy.listenAddresses[0].port
        do {
            loop = try EventLoop(index: -1, bufferSize: 4096)
        } catch {
            proxy.stop()
            throw error
        }
        control = ProxyControl(proxy: proxy, control: loop, version: "metrics-test")
        do {
            // Created before the loop runs, so this thread may register it.
            metrics = try MetricsServer(address: config.metrics ?? SocketAddressSpec(host: "127.0.0.1", port: 0),
                                        control: control)
        } catch {
            proxy.stop()
            throw error
        }
        metricsPort = metrics.port
        let loop = self.loop
        thread = LoopThread {
            loop.run()
            loop.closeAll()
        }
    }

    /// Runs `body` on the control loop's thread and waits (bounded) for its result.
    func onControlLoop<T: Sendable>(timeout: Double = 5, _ body: @escaping @Sendable () -> T) -> T? {
        runOnLoop(loop, timeout: timeout, body)
    }

    /// One request to the metrics endpoint on a fresh connection (it answers one per connection).
    func metricsRequest(_ method: String = "GET", _ target: String, body: String? = nil,
                        timeout: Double = 5) throws -> TestResponse {
        let c = try TestClient(port: metricsPort, timeout: timeout)
        defer { c.close() }
        var text = "\(method) \(target) HTTP/1.1\r\nHost: metrics.test\r\n"
        if let body { text += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { text += "\r\n" }
        try c.send(text)
        return try c.readResponse(head: method == "HEAD")
    }

    /// GET /metrics: the raw text (XCTFail-free; callers assert the status).
    func scrapeText() throws -> (status: Int, contentType: String?, text: String) {
        let r = try metricsRequest("GET", "/metrics")
        return (r.status, r.header("Content-Type"), r.text)
    }

    /// GET /metrics parsed with `options`.
    func scrape(options: PrometheusTextParser.Options) throws -> PromExposition {
        let r = try scrapeText()
        guard r.status == 200 else { throw MetricsTestError("GET /metrics answered \(r.status): \(r.text)") }
        return try PrometheusTextParser.parse(r.text, options: options)
    }

    func stop() {
        guard let t = thread else { return }
        thread = nil
        let metrics = self.metrics
        loop.execute { metrics.close() }
        loop.stop()
        t.join()
        proxy.stop()
    }

    deinit { stop() }
}

struct MetricsTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

// MARK: the deploy/ files

enum MetricsDeployFiles {
    /// <package root>, found from this file's path (.../Tests/ProxyTests/Support/X.swift).
    static var packageRoot: String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)
        return parts.joined(separator: "/")
    }

    static var dashboardPath: String { packageRoot + "/deploy/grafana/switchyard.json" }
    static var alertsPath: String { packageRoot + "/deploy/prometheus/alerts.yml" }

    /// Every query string anywhere in a Grafana dashboard: `expr` of targets (panels, nested
    /// rows) and the `query`/`definition` strings of template variables.
    static func dashboardExpressions(_ dashboard: JSONValue) -> [String] {
        var out: [String] = []
        func walk(_ v: JSONValue) {
            switch v {
            case .object(let fields):
                for (k, child) in fields {
                    if ["expr", "query", "definition"].contains(k), let s = child.stringValue {
                        out.append(s)
                    } else {
                        walk(child)
                    }
                }
            case .array(let items):
                items.forEach(walk)
            default:
                break
            }
        }
        walk(dashboard)
        return out
    }

    /// The `expr:` values of a Prometheus rules file: single-line values (quotes removed) and
    /// block scalars (`expr: |` / `expr: >`, the more-indented lines that follow).
    static func ruleExpressions(_ yaml: String) -> [String] {
        var out: [String] = []
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var i = 0
        func indent(_ s: String) -> Int { s.prefix { $0 == " " }.count }
        while i < lines.count {
            let line = lines[i]
            let trimmed = line.drop { $0 == " " }
            let body = trimmed.hasPrefix("- ") ? trimmed.dropFirst(2).drop { $0 == " " } : trimmed
            guard body.hasPrefix("expr:") else { i += 1; continue }
            var value = String(body.dropFirst("expr:".count)).metricsTrimmed
            if value.hasPrefix("|") || value.hasPrefix(">") {
                let base = indent(line)
                var block: [String] = []
                i += 1
                while i < lines.count, lines[i].metricsTrimmed.isEmpty || indent(lines[i]) > base {
                    block.append(lines[i].metricsTrimmed)
                    i += 1
                }
                out.append(block.joined(separator: " ").metricsTrimmed)
                continue
            }
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
            }
            out.append(value)
            i += 1
        }
        return out
    }

    /// Names matching `switchyard_[a-z_]+` in `exprs`.
    static func switchyardNames(in exprs: [String]) -> Set<String> {
        let re = try! Regex("switchyard_[a-z_]+")
        var names = Set<String>()
        for e in exprs { for m in e.matches(of: re) { names.insert(String(e[m.range])) } }
        return names
    }

    /// The family a referenced series name belongs to: itself when the scrape declares it, else
    /// the name without `_bucket`/`_sum`/`_count`.
    static func familyName(_ series: String, declared: Set<String>) -> String {
        if declared.contains(series) { return series }
        for suffix in ["_bucket", "_sum", "_count"] where series.hasSuffix(suffix) {
            return String(series.dropLast(suffix.count))
        }
        return series
    }

    /// Label names used in `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`,
    /// `group_left (...)`, `group_right (...)` clauses and `{label op "..."}` matchers.
    static func labelNames(in exprs: [String]) -> Set<String> {
        let clause = try! Regex(#"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"#)
        let matcher = try! Regex(#"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*""#)
        let selector = try! Regex(#"\{([^}]*)\}"#)
        var out = Set<String>()
        for e in exprs {
            for m in e.matches(of: clause) {
                if let list = m.output[1].substring {
                    for part in list.split(separator: ",") {
                        let name = part.metricsTrimmed
                        if !name.isEmpty { out.insert(name) }
                    }
                }
            }
            for s in e.matches(of: selector) {
                guard let inside = s.output[1].substring else { continue }
                let text = String(inside)
                for m in text.matches(of: matcher) {
                    if let n = m.output[1].substring { out.insert(String(n)) }
                }
            }
        }
        return out
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var metricsTrimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

// MARK: running a program (promtool)

/// The full path of `name` in a directory of $PATH, if it is there and executable.
func metricsFindOnPath(_ name: String) -> String? {
    guard let path = getenv("PATH") else { return nil }
    for dir in String(cString: path).split(separator: ":") where !dir.isEmpty {
        let candidate = "\(dir)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}

/// Runs `argv` (argv[0] a full path) with stdin from `stdinPath` (or /dev/null), stdout and
/// stderr together captured, killed after `timeout` seconds. Returns the exit status (-1 if
/// killed or abnormal) and the output.
func metricsRunProgram(_ argv: [String], stdinPath: String? = nil, timeout: Double = 20) throws -> (status: Int32, output: String) {
    let scratch = try ScratchDirectory(prefix: "sym")
    defer { scratch.remove() }
    let outPath = scratch.file("out")
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdinPath ?? "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for a in cargs { free(a) } }
    var pid: pid_t = 0
    let r = posix_spawn(&pid, argv[0], &actions, nil, cargs, environ)
    guard r == 0 else { throw MetricsTestError("posix_spawn \(argv[0]): \(String(cString: strerror(r)))") }
    var status: Int32 = 0
    let until = monotonicSeconds() + timeout
    var exited = false
    while monotonicSeconds() < until {
        let w = waitpid(pid, &status, WNOHANG)
        if w == pid { exited = true; break }
        sleepMilliseconds(10)
    }
    if !exited {
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        return (-1, readWholeFile(outPath) + "\n(killed after \(timeout) s)")
    }
    // WIFEXITED / WEXITSTATUS by hand (the C macros are not imported).
    let code: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -1
    return (code, readWholeFile(outPath))
}
