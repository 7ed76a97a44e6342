import Admin
import Balancing
import EventLoop
import Glibc
import Proxy
import XCTest

// Support for MetricsTests (their proxy is a `TestProxy` with a metrics listener): a scrape
// client, the metric names the deploy/ files use, and finding promtool.

extension TestProxy {
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

// MARK: finding promtool

/// The full path of `name` in a directory of $PATH, if it is there and executable.
func metricsFindOnPath(_ name: String) -> String? {
    guard let path = getenv("PATH") else { return nil }
    for dir in String(cString: path).split(separator: ":") where !dir.isEmpty {
        let candidate = "\(dir)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}
