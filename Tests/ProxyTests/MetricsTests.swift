import Admin
import Balancing
import EventLoop
import Glibc
import Proxy
import TestSupport
import XCTest

/// The Prometheus endpoint (`metrics ADDR:PORT`: /metrics, /ready, /live) end to end over real
/// sockets on 127.0.0.1, a strict parser of the text exposition format 0.0.4 (and its own unit
/// tests), and the deploy/ files (Grafana dashboard, Prometheus alert rules) checked against a
/// real scrape.
final class MetricsTests: XCTestCase {

    // MARK: - the parser on good input

    /// The example of the exposition-format documentation, plus the odd corners of the grammar.
    static let documentationExample = #"""
    # HELP http_requests_total The total number of HTTP requests.
    # TYPE http_requests_total counter
    http_requests_total{method="post",code="200"} 1027 1395066363000
    http_requests_total{method="post",code="400"}    3 1395066363000

    # Escaping in label values and HELP:
    # HELP msdos_file_access_time_seconds Help with a \\ backslash and a \n line feed.
    # TYPE msdos_file_access_time_seconds gauge
    msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

    # TYPE metric_without_timestamp_and_labels gauge
    metric_without_timestamp_and_labels 12.47

    # TYPE something_weird gauge
    something_weird{problem="division by zero"} +Inf -3982045

    # A histogram, which has a pretty complex representation in the text format:
    # HELP http_request_duration_seconds A histogram of the request duration.
    # TYPE http_request_duration_seconds histogram
    http_request_duration_seconds_bucket{le="0.05"} 24054
    http_request_duration_seconds_bucket{le="0.1"} 33444
    http_request_duration_seconds_bucket{le="0.2"} 100392
    http_request_duration_seconds_bucket{le="0.5"} 129389
    http_request_duration_seconds_bucket{le="1"} 133988
    http_request_duration_seconds_bucket{le="+Inf"} 144320
    http_request_duration_seconds_sum 53423
    http_request_duration_seconds_count 144320

    # Finally a summary, which has a complex representation, too:
    # HELP rpc_duration_seconds A summary of the RPC duration in seconds.
    # TYPE rpc_duration_seconds summary
    rpc_duration_seconds{quantile="0.01"} 3102
    rpc_duration_seconds{quantile="0.05"} 3272
    rpc_duration_seconds{quantile="0.5"} 4773
    rpc_duration_seconds{quantile="0.9"} 9001
    rpc_duration_seconds{quantile="0.99"} 76656
    rpc_duration_seconds_sum 1.7560473e+07
    rpc_duration_seconds_count 2693
    # TYPE odd:values untyped
    odd:values{kind="nan"} NaN
    odd:values{kind="neg_inf"} -Inf
    odd:values{kind="hex"} 0x1p-2
    odd:values{kind="trailing_comma",} 5.
    odd:values {kind="blank_before_brace"} .5
    odd:values{ kind = "blanks_inside" , other="x" } 1E3
    odd:values{kind="utf8",v="héllo ✓"} -0
    odd:values{} 7
    # TYPE _underscore_and_colon: gauge
    _underscore_and_colon: 1

    """#

    func testParserAcceptsTheDocumentationExampleAndReadsItExactly() throws {
        let m = try PrometheusTextParser.parse(Self.documentationExample)
        XCTAssertEqual(m.familyNames, ["http_requests_total", "msdos_file_access_time_seconds",
                                       "metric_without_timestamp_and_labels", "something_weird",
                                       "http_request_duration_seconds", "rpc_duration_seconds", "odd:values",
                                       "_underscore_and_colon:"])
        XCTAssertEqual(m.family("http_requests_total")?.type, .counter)
        XCTAssertEqual(m.family("http_requests_total")?.help, "The total number of HTTP requests.")
        XCTAssertEqual(m.value("http_requests_total", ["method": "post", "code": "400"]), 3)
        XCTAssertEqual(m.samples("http_requests_total", ["code": "200"]).first?.timestamp, 1_395_066_363_000)
        XCTAssertEqual(m.family("msdos_file_access_time_seconds")?.help, "Help with a \\ backslash and a \n line feed.")
        let msdos = m.samples("msdos_file_access_time_seconds").first
        XCTAssertEqual(msdos?.label("path"), #"C:\DIR\FILE.TXT"#)
        XCTAssertEqual(msdos?.label("error"), "Cannot find file:\n\"FILE.TXT\"")
        XCTAssertEqual(msdos?.value, 1.458255915e9)
        XCTAssertEqual(m.value("something_weird", ["problem": "division by zero"]), .infinity)
        XCTAssertEqual(m.samples("something_weird").first?.timestamp, -3_982_045)
        XCTAssertEqual(m.family("http_request_duration_seconds")?.type, .histogram)
        XCTAssertEqual(m.family("http_request_duration_seconds")?.samples.count, 8)
        XCTAssertEqual(m.value("http_request_duration_seconds_bucket", ["le": "+Inf"]), 144_320)
        XCTAssertEqual(m.value("rpc_duration_seconds_sum"), 1.7560473e7)
        XCTAssertEqual(m.family("rpc_duration_seconds")?.type, .summary)
        XCTAssertTrue(m.value("odd:values", ["kind": "nan"])?.isNaN ?? false)
        XCTAssertEqual(m.value("odd:values", ["kind": "neg_inf"]), -.infinity)
        XCTAssertEqual(m.value("odd:values", ["kind": "hex"]), 0.25)
        XCTAssertEqual(m.value("odd:values", ["kind": "trailing_comma"]), 5)
        XCTAssertEqual(m.value("odd:values", ["kind": "blank_before_brace"]), 0.5)
        XCTAssertEqual(m.value("odd:values", ["kind": "blanks_inside", "other": "x"]), 1000)
        XCTAssertEqual(m.value("odd:values", ["kind": "utf8", "v": "héllo ✓"]), 0)
        XCTAssertEqual(m.value("odd:values", [:]), 7)
        XCTAssertEqual(m.value("_underscore_and_colon:"), 1)
        XCTAssertEqual(m.samples.count, 29)
        XCTAssertEqual(m.sum("http_requests_total"), 1030)
    }

    func testGoFloatSyntax() {
        let good: [(String, Double)] = [
            ("1", 1), ("-1.5", -1.5), (".5", 0.5), ("5.", 5), ("1e3", 1000), ("1E-3", 0.001), ("+2", 2),
            ("+Inf", .infinity), ("-Inf", -.infinity), ("Inf", .infinity), ("inf", .infinity),
            ("infinity", .infinity), ("-INFINITY", -.infinity), ("0x1p-2", 0.25), ("0X1.8P1", 3), ("0x.8p0", 0.5),
            ("007", 7), ("1.7560473e+07", 1.7560473e7),
        ]
        for (text, want) in good {
            XCTAssertEqual(PrometheusTextParser.parseGoFloat(text), want, text)
        }
        XCTAssertTrue(PrometheusTextParser.parseGoFloat("NaN")?.isNaN ?? false)
        XCTAssertTrue(PrometheusTextParser.parseGoFloat("nan")?.isNaN ?? false)
        for bad in ["", "+", "-", ".", "e3", "1e", "1e+", "1.2.3", "0x10", "0x", "1_000", "+NaN", "-nan", "Infx",
                    "1,5", " 1", "1 ", "0xg1p0", "∞", "one"] {
            XCTAssertNil(PrometheusTextParser.parseGoFloat(bad), "'\(bad)' is not a Go float")
        }
        XCTAssertEqual(PrometheusTextParser.parseInt64("-3982045"), -3_982_045)
        XCTAssertEqual(PrometheusTextParser.parseInt64("+12"), 12)
        for bad in ["", "-", "1.5", "1e3", "9223372036854775808", "12a"] {
            XCTAssertNil(PrometheusTextParser.parseInt64(bad), "'\(bad)' is not an int64")
        }
    }

    // MARK: - the parser on bad input

    /// Each text must be rejected with an error containing the fragment.
    static let badTexts: [(String, String, String)] = [
        ("empty text", "", "empty exposition"),
        ("no final line feed", "# TYPE a gauge\na 1", "does not end with a line feed"),
        ("CRLF line ends", "# TYPE a gauge\r\na 1\r\n", "carriage return"),
        ("TYPE twice", "# TYPE a gauge\n# TYPE a counter\na 1\n", "second TYPE"),
        ("TYPE after the samples", "# TYPE a gauge\na 1\n# TYPE a gauge\n", "second TYPE"),
        ("HELP twice", "# TYPE a gauge\n# HELP a x\n# HELP a y\na 1\n", "second HELP"),
        ("HELP after the samples", "# TYPE a gauge\na 1\n# HELP a late\n", "after its samples"),
        ("unknown type", "# TYPE a gauges\na 1\n", "unknown type"),
        ("type in capitals", "# TYPE a GAUGE\na 1\n", "unknown type"),
        ("text after the type", "# TYPE a gauge now\na 1\n", "unexpected text after the type"),
        ("TYPE without a type", "# TYPE a\na 1\n", "expected a type"),
        ("TYPE without a name", "# TYPE\n", "expected a metric name"),
        ("metric name starting with a digit", "# TYPE 1a gauge\n", "invalid metric name"),
        ("sample name starting with a digit", "# TYPE a gauge\n1a 1\n", "invalid metric name"),
        ("dash in a metric name", "# TYPE a gauge\na-b 1\n", "expected a blank"),
        ("label name starting with a digit", "# TYPE a gauge\na{1x=\"v\"} 1\n", "invalid label name"),
        ("colon in a label name", "# TYPE a gauge\na{b:c=\"v\"} 1\n", "expected '='"),
        ("reserved label name", "# TYPE a gauge\na{__name__=\"b\"} 1\n", "reserved"),
        ("label given twice", "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", "given twice"),
        ("bad escape in a label value", "# TYPE a gauge\na{x=\"tab\\t\"} 1\n", "invalid escape"),
        ("backslash-quote in HELP", "# HELP a say \\\"hi\\\"\n# TYPE a gauge\na 1\n", "invalid escape"),
        ("bad escape in HELP", "# HELP a bad \\q\n# TYPE a gauge\na 1\n", "invalid escape"),
        ("unterminated label value", "# TYPE a gauge\na{x=\"v} 1\n", "unterminated"),
        ("unterminated label set", "# TYPE a gauge\na{x=\"v\" 1\n", "expected ',' or '}'"),
        ("unquoted label value", "# TYPE a gauge\na{x=v} 1\n", "expected '\"'"),
        ("single-quoted label value", "# TYPE a gauge\na{x='v'} 1\n", "expected '\"'"),
        ("missing comma between labels", "# TYPE a gauge\na{x=\"1\" y=\"2\"} 1\n", "expected ',' or '}'"),
        ("no blank before the value", "# TYPE a gauge\na{x=\"v\"}1\n", "expected a blank"),
        ("missing value", "# TYPE a gauge\na\n", "missing value"),
        ("missing value after labels", "# TYPE a gauge\na{x=\"1\"}\n", "missing value"),
        ("value not a number", "# TYPE a gauge\na one\n", "invalid value"),
        ("signed NaN", "# TYPE a gauge\na -NaN\n", "invalid value"),
        ("fractional timestamp", "# TYPE a gauge\na 1 1.5\n", "invalid timestamp"),
        ("text after the timestamp", "# TYPE a gauge\na 1 2 3\n", "unexpected text after the sample"),
        ("duplicate series", "# TYPE a gauge\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n", "duplicate series"),
        ("duplicate series without labels", "# TYPE a gauge\na 1\na{} 2\n", "duplicate series"),
        ("sample without TYPE", "# TYPE a gauge\na 1\nb 1\n", "no TYPE line"),
        ("HELP does not declare", "# HELP b only help\nb 1\n", "no TYPE line"),
        ("negative counter", "# TYPE c counter\nc -1\n", "negative"),
        ("families interleaved", "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n", "not in one group"),
        ("metadata of a closed family", "# TYPE a gauge\n# TYPE b gauge\n# HELP a late\na 1\nb 1\n", "not in one group"),
        ("histogram sample without suffix", "# TYPE h histogram\nh 1\n", "without a _bucket"),
        ("bucket without le", "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n", "without an 'le' label"),
        ("le not a number", "# TYPE h histogram\nh_bucket{le=\"big\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "not a number"),
        ("le decreasing", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "not above the previous bound"),
        ("le repeated", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "not above the previous bound"),
        ("buckets not cumulative", "# TYPE h histogram\nh_bucket{le=\"0.5\"} 5\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 5\nh_sum 1\nh_count 5\n", "cumulative"),
        ("no +Inf bucket", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf"),
        ("+Inf bucket differs from _count", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", "differs from _count"),
        ("no _sum", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n", "no _sum"),
        ("no _count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 2\n", "no _count"),
        ("_count without buckets", "# TYPE h histogram\nh_bucket{x=\"a\",le=\"+Inf\"} 2\nh_sum{x=\"a\"} 2\nh_count{x=\"a\"} 2\nh_sum{x=\"b\"} 1\nh_count{x=\"b\"} 1\n", "no _bucket samples"),
        ("negative bucket", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} -1\nh_sum 0\nh_count -1\n", "not a count"),
        ("summary quantile out of range", "# TYPE s summary\ns{quantile=\"2\"} 1\ns_sum 1\ns_count 1\n", "quantile"),
        ("summary without _count", "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\n", "lacks _sum or _count"),
    ]

    func testParserRejectsInvalidInput() {
        for (what, text, fragment) in Self.badTexts {
            do {
                let m = try PrometheusTextParser.parse(text)
                XCTFail("\(what): accepted (\(m.samples.count) samples), expected an error containing '\(fragment)'")
            } catch let e as PromParseError {
                XCTAssertTrue(e.description.contains(fragment), "\(what): error '\(e)' lacks '\(fragment)'")
            } catch {
                XCTFail("\(what): unexpected error \(error)")
            }
        }
    }

    func testParserOptionsRelaxOnlyWhatTheySay() throws {
        // Grouping relaxed: interleaved families parse, and the samples land in the right family.
        let interleaved = "# TYPE a gauge\n# TYPE b counter\na 1\nb 2\na{x=\"1\"} 3\n"
        XCTAssertThrowsError(try PrometheusTextParser.parse(interleaved))
        let m = try PrometheusTextParser.parse(interleaved, options: .ungrouped)
        XCTAssertEqual(m.family("a")?.samples.count, 2)
        XCTAssertEqual(m.family("b")?.type, .counter)
        // ... but every other rule still holds.
        XCTAssertThrowsError(try PrometheusTextParser.parse("# TYPE a gauge\na 1\na 2\n", options: .ungrouped))
        XCTAssertThrowsError(try PrometheusTextParser.parse("a 1\n", options: .ungrouped))
        // TYPE not required: undeclared samples are untyped families; a late TYPE is still an error.
        var lenient = PrometheusTextParser.Options.strict
        lenient.requireTypeForEverySample = false
        let u = try PrometheusTextParser.parse("b 1\nb{x=\"y\"} 2\n", options: lenient)
        XCTAssertEqual(u.family("b")?.type, .untyped)
        XCTAssertEqual(u.family("b")?.declared, false)
        XCTAssertThrowsError(try PrometheusTextParser.parse("b 1\n# TYPE b gauge\n", options: lenient)) { e in
            XCTAssertTrue("\(e)".contains("after its samples"), "\(e)")
        }
        // Plain comments and blank lines are ignored anywhere, even inside a group.
        let c = try PrometheusTextParser.parse("# just a comment\n\n# TYPE a gauge\n#HELP a not metadata\n\na 1\n   \n# HELPFUL text\n")
        XCTAssertEqual(c.samples.count, 1)
        XCTAssertNil(c.family("a")?.help)
        // Histograms with several series, each checked on its own.
        let h = try PrometheusTextParser.parse("""
            # TYPE h histogram
            h_bucket{s="a",le="1"} 1
            h_bucket{s="a",le="+Inf"} 2
            h_sum{s="a"} 3.5
            h_count{s="a"} 2
            h_bucket{s="b",le="1"} 0
            h_bucket{s="b",le="+Inf"} 0
            h_sum{s="b"} 0
            h_count{s="b"} 0

            """)
        XCTAssertEqual(h.samples("h_count").count, 2)
        XCTAssertThrowsError(try PrometheusTextParser.parse("""
            # TYPE h histogram
            h_bucket{s="a",le="1"} 1
            h_bucket{s="a",le="+Inf"} 2
            h_sum{s="a"} 3.5
            h_count{s="a"} 2
            h_bucket{s="b",le="1"} 0
            h_bucket{s="b",le="+Inf"} 1
            h_sum{s="b"} 0
            h_count{s="b"} 0

            """)) { e in XCTAssertTrue("\(e)".contains("s=\"b\""), "\(e)") }
    }

    // MARK: - the endpoint

    func testEndpointsReadyLiveNotFoundAndMethods() throws {
        let p = try TestProxy(config: Self.simpleConfig(), metrics: true)
        defer { p.stop() }

        let metrics = try p.metricsRequest("GET", "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertEqual(metrics.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(metrics.header("Content-Length"), String(metrics.body.count))
        let m = try PrometheusTextParser.parse(metrics.text, options: .ungrouped)
        XCTAssertEqual(m.value("switchyard_up"), 1)
        XCTAssertEqual(m.value("switchyard_ready"), 1)
        XCTAssertEqual(try p.metricsRequest("GET", "/metrics?format=text").status, 200, "the query is ignored")

        let ready = try p.metricsRequest("GET", "/ready")
        XCTAssertEqual(ready.status, 200)
        XCTAssertEqual(ready.text, "ready\n")
        let live = try p.metricsRequest("GET", "/live")
        XCTAssertEqual(live.status, 200)
        XCTAssertEqual(live.text, "ok\n")
        XCTAssertEqual(try p.metricsRequest("GET", "/healthz").status, 200)

        let missing = try p.metricsRequest("GET", "/nothing-here")
        XCTAssertEqual(missing.status, 404)
        XCTAssertTrue(missing.text.contains("/metrics"), missing.text)
        XCTAssertEqual(try p.metricsRequest("GET", "/metrics/extra").status, 404)

        for method in ["POST", "PUT", "DELETE"] {
            let r = try p.metricsRequest(method, "/metrics", body: "x=1")
            XCTAssertEqual(r.status, 405, method)
        }
        XCTAssertEqual(try p.metricsRequest("POST", "/ready", body: "").status, 405)

        let bad = try p.metricsRequest("GET", "/metrics\u{1}")
        XCTAssertEqual(bad.status, 400, "a malformed request head gets 400, got \(bad)")
    }

    /// HTTP conformance of the endpoint's answers beyond the status codes (RFC 9110).
    func testEndpointAnswersHEADWithoutBodyAnd405WithAllow() throws {
        let p = try TestProxy(config: Self.simpleConfig(), metrics: true)
        defer { p.stop() }
        // 9.3.2: "the server MUST NOT send content in the response" to HEAD.
        for path in ["/metrics", "/ready", "/live"] {
            let c = try TestClient(port: p.metricsPort, timeout: 5)
            defer { c.close() }
            try c.send("HEAD \(path) HTTP/1.1\r\nHost: metrics.test\r\n\r\n")
            let r = try c.readResponse(head: true)
            XCTAssertEqual(r.status, 200, "HEAD \(path)")
            XCTAssertEqual(c.waitForEnd(wait: 2), .closed, "HEAD \(path): bytes followed the response head (a body)")
        }
        // 15.5.6: "The origin server MUST generate an Allow header field in a 405 response".
        let r = try p.metricsRequest("POST", "/metrics", body: "")
        XCTAssertEqual(r.status, 405)
        XCTAssertNotNil(r.header("Allow"), "405 without an Allow header: \(r)")
    }

    /// A client may half-close (FIN) right after a complete request — `printf 'GET /ready ...' | nc`
    /// in a container health check does — and must still get its answer.
    func testEndpointAnswersAClientThatHalfClosesAfterItsRequest() throws {
        let p = try TestProxy(config: Self.simpleConfig(), metrics: true)
        defer { p.stop() }
        var unanswered: [String] = []
        for i in 0..<30 {
            let path = ["/metrics", "/ready", "/live"][i % 3]
            let c = try TestClient(port: p.metricsPort, timeout: 5)
            defer { c.close() }
            try c.send("GET \(path) HTTP/1.1\r\nHost: metrics.test\r\n\r\n")
            c.shutdownWrite()
            do {
                let r = try c.readResponse()
                if r.status != 200 { unanswered.append("\(path): \(r.status)") }
            } catch {
                unanswered.append("\(path): \(error)")
            }
        }
        XCTAssertEqual(unanswered, [], "\(unanswered.count) of 30 complete requests followed by FIN got no answer")
    }

    func testReadyTurns503OnceAGracefulShutdownBegins() throws {
        let up = try TestUpstream(name: "blue")
        defer { up.stop() }
        let p = try TestProxy(config: Self.simpleConfig(blue: [up.port]), metrics: true)
        defer { p.stop() }
        XCTAssertEqual(try p.metricsRequest("GET", "/ready").status, 200)

        // A long shutdown-delay: not ready at once, still serving (as ProxyDaemon's SIGTERM path).
        let started = p.onControlLoop { () -> Bool in
            p.server.beginShutdown(delayMS: 60_000, drainMS: 1_000, on: p.loop) { _, _ in }
            return true
        }
        XCTAssertEqual(started, true)
        let ready = try p.metricsRequest("GET", "/ready")
        XCTAssertEqual(ready.status, 503)
        XCTAssertEqual(ready.text, "shutting down\n")
        XCTAssertEqual(try p.metricsRequest("GET", "/live").status, 200, "live stays 200 while shutting down")
        let m = try p.scrape(options: .ungrouped)
        XCTAssertEqual(m.value("switchyard_ready"), 0)
        XCTAssertEqual(m.value("switchyard_up"), 1)
        // Traffic still flows during the shutdown delay.
        let c = try TestClient(port: p.port, timeout: 5)
        defer { c.close() }
        XCTAssertEqual(try c.get("/still-serving").status, 200)
    }

    // MARK: - counters against known traffic

    private enum Kind: CaseIterable { case ok, notFound, serverError, drop }

    /// 24 requests: 16 ok, 3 answered 404, 3 answered 500, 2 POSTs the blue upstream drops (502).
    private static let pattern: [Kind] = (0..<24).map { i in
        switch i {
        case 1, 9, 17: return .notFound
        case 4, 12, 20: return .serverError
        case 7, 19: return .drop
        default: return .ok
        }
    }

    /// `/code/NNN/...` answers NNN; `/drop/...` is read and then the connection closed without an
    /// answer (when `drops`; otherwise 200); everything else 200.
    private static func behavior(_ name: String, drops: Bool) -> UpstreamBehavior {
        { head in
            let parts = head.target.split(separator: "/")
            if parts.first == "drop" && drops { return .closeWithoutAnswer }
            var status = 200
            if parts.count >= 2, parts[0] == "code", let c = Int(parts[1]) { status = c }
            return .respond(status: status, headers: [HTTPHeader("X-Upstream", name)], body: Array(name.utf8))
        }
    }

    /// Counts of an upstream's recorded requests by the kind of target.
    private static func kinds(_ u: TestUpstream) -> [Kind: Int] {
        var out: [Kind: Int] = [:]
        for r in u.requests {
            let kind: Kind
            if r.target.hasPrefix("/drop/") { kind = .drop }
            else if r.target.hasPrefix("/code/404/") { kind = .notFound }
            else if r.target.hasPrefix("/code/500/") { kind = .serverError }
            else { kind = .ok }
            out[kind, default: 0] += 1
        }
        return out
    }

    func testCountersMatchKnownTrafficExactly() throws {
        // blue: one server that drops POST /drop (the client gets 502: a request with a body is
        // never retried). green: a live server (answers /drop normally) and a dead one (connection
        // refused: every attempt is retried on the live one; ejected after 2 failures).
        let blue = try TestUpstream(name: "blue", behavior: Self.behavior("blue", drops: true))
        let green = try TestUpstream(name: "green", behavior: Self.behavior("green", drops: false))
        defer { blue.stop(); green.stop() }
        let dead = try TestSockets.closedPort()
        let metricsPort = try TestSockets.closedPort()
        let p = try TestProxy(config: """
            listen 127.0.0.1:0
            workers 2
            metrics 127.0.0.1:\(metricsPort)
            pool blue {
                server 127.0.0.1:\(blue.port)
            }
            pool green {
                server 127.0.0.1:\(green.port)
                server 127.0.0.1:\(dead)
                eject-after 2
            }
            split blue=90 green=10

            """, metrics: true)
        defer { p.stop() }
        XCTAssertEqual(p.metricsPort, metricsPort, "MetricsServer binds the `metrics` address of the config")

        // 120 requests, each on its own connection (spread over both workers).
        let total = 120
        var statuses: [Int: Int] = [:]
        for i in 0..<total {
            let c = try TestClient(port: p.port, timeout: 5)
            defer { c.close() }
            switch Self.pattern[i % Self.pattern.count] {
            case .ok: try c.send("GET /ok/\(i) HTTP/1.1\r\nHost: shop.test\r\n\r\n")
            case .notFound: try c.send("GET /code/404/\(i) HTTP/1.1\r\nHost: shop.test\r\n\r\n")
            case .serverError: try c.send("GET /code/500/\(i) HTTP/1.1\r\nHost: shop.test\r\n\r\n")
            case .drop: try c.send("POST /drop/\(i) HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 4\r\n\r\ndata")
            }
            statuses[try c.readResponse().status, default: 0] += 1
        }
        let b = Self.kinds(blue)
        let g = Self.kinds(green)
        let planned = Dictionary(grouping: (0..<total).map { Self.pattern[$0 % Self.pattern.count] }, by: { $0 }).mapValues(\.count)
        XCTAssertEqual(planned[.ok], 80)
        // What the clients saw: drops that went to green were answered 200 there.
        XCTAssertEqual(statuses, [200: 80 + (g[.drop] ?? 0), 404: 15, 500: 15, 502: b[.drop] ?? 0].filter { $0.value > 0 },
                       "blue log \(b), green log \(g)")
        // Every request reached exactly one live server exactly once.
        XCTAssertEqual(blue.requestCount + green.requestCount, total)
        XCTAssertTrue((8...16).contains(green.requestCount), "split 90/10 over 120 requests: green got \(green.requestCount)")

        // Scrape once every connection is gone and every response is counted.
        var m = try p.scrape(options: .ungrouped)
        pollUntil(timeout: 5, pollMs: 20) {
            guard let next = try? p.scrape(options: .ungrouped) else { return false }
            m = next
            return next.value("switchyard_client_connections") == 0
                && next.sum("switchyard_request_duration_seconds_count") >= Double(total - (b[.drop] ?? 0))
        }
        let bluePool = ["pool": "blue", "server": "127.0.0.1:\(blue.port)"]
        let greenPool = ["pool": "green", "server": "127.0.0.1:\(green.port)"]
        let deadPool = ["pool": "green", "server": "127.0.0.1:\(dead)"]
        func value(_ name: String, _ labels: [String: String], _ extra: [String: String] = [:]) -> Double? {
            m.value(name, labels.merging(extra) { $1 })
        }

        XCTAssertEqual(m.value("switchyard_client_connections"), 0)
        XCTAssertEqual(m.value("switchyard_split_weight", ["pool": "blue"]), 90)
        XCTAssertEqual(m.value("switchyard_split_weight", ["pool": "green"]), 10)
        XCTAssertEqual(m.value("switchyard_pool_failed_over", ["pool": "blue"]), 0)
        XCTAssertEqual(m.value("switchyard_pool_failed_over", ["pool": "green"]), 0)

        // Per live server: exactly what its upstream saw.
        for (labels, up, kinds, name) in [(bluePool, blue, b, "blue"), (greenPool, green, g, "green")] {
            let drops = kinds[.drop] ?? 0
            let answered = up.requestCount - (name == "blue" ? drops : 0)
            XCTAssertEqual(value("switchyard_requests_total", labels), Double(up.requestCount), name)
            XCTAssertEqual(value("switchyard_responses_total", labels, ["class": "2xx"]),
                           Double((kinds[.ok] ?? 0) + (name == "green" ? drops : 0)), name)
            XCTAssertEqual(value("switchyard_responses_total", labels, ["class": "3xx"]), 0, name)
            XCTAssertEqual(value("switchyard_responses_total", labels, ["class": "4xx"]), Double(kinds[.notFound] ?? 0), name)
            XCTAssertEqual(value("switchyard_responses_total", labels, ["class": "5xx"]), Double(kinds[.serverError] ?? 0), name)
            XCTAssertEqual(value("switchyard_proxy_errors_total", labels, ["code": "502"]), Double(name == "blue" ? drops : 0), name)
            XCTAssertEqual(value("switchyard_proxy_errors_total", labels, ["code": "503"]), 0, name)
            XCTAssertEqual(value("switchyard_proxy_errors_total", labels, ["code": "504"]), 0, name)
            XCTAssertEqual(value("switchyard_request_duration_seconds_count", labels), Double(answered), name)
            XCTAssertEqual(value("switchyard_request_duration_seconds_bucket", labels, ["le": "+Inf"]), Double(answered), name)
            XCTAssertEqual(value("switchyard_in_flight", labels), 0, name)
            XCTAssertEqual(value("switchyard_server_healthy", labels), 1, name)
            XCTAssertEqual(value("switchyard_server_ejections_total", labels), 0, name)
            XCTAssertGreaterThanOrEqual(value("switchyard_upstream_connections", labels) ?? -1, 0, name)
            // Loopback answers are fast: most of them within 250 ms even in a debug build.
            let fast = value("switchyard_request_duration_seconds_bucket", labels, ["le": "0.25"]) ?? -1
            XCTAssertGreaterThanOrEqual(fast, Double(answered) * 0.9, name)
            let sum = value("switchyard_request_duration_seconds_sum", labels) ?? -1
            XCTAssertTrue(sum >= 0 && sum < Double(answered) * 0.25, "\(name): latency sum \(sum) s for \(answered) responses")
        }
        XCTAssertEqual(value("switchyard_retries_total", bluePool), 0)

        // The dead server: every attempt on it was retried on the live green server.
        let deadAttempts = value("switchyard_requests_total", deadPool) ?? -1
        XCTAssertGreaterThanOrEqual(deadAttempts, 2, "test setup: the dead server should have been tried at least twice")
        XCTAssertEqual(value("switchyard_retries_total", greenPool), deadAttempts)
        XCTAssertEqual(value("switchyard_retries_total", deadPool), 0)
        for cls in ["2xx", "3xx", "4xx", "5xx"] {
            XCTAssertEqual(value("switchyard_responses_total", deadPool, ["class": cls]), 0, cls)
        }
        for code in ["502", "503", "504"] {
            XCTAssertEqual(value("switchyard_proxy_errors_total", deadPool, ["code": code]), 0, code)
        }
        XCTAssertEqual(value("switchyard_request_duration_seconds_count", deadPool), 0)
        XCTAssertEqual(value("switchyard_upstream_connections", deadPool), 0)
        XCTAssertEqual(value("switchyard_in_flight", deadPool), 0)
        // Two consecutive failures (eject-after 2) ejected it, for 10 s.
        XCTAssertEqual(value("switchyard_server_ejections_total", deadPool), 1)
        XCTAssertEqual(value("switchyard_server_healthy", deadPool), 0)

        // Totals.
        let retries = m.sum("switchyard_retries_total")
        XCTAssertEqual(retries, deadAttempts)
        XCTAssertEqual(m.sum("switchyard_requests_total"), Double(total) + retries)
        XCTAssertEqual(m.sum("switchyard_responses_total", ["class": "2xx"]), Double(statuses[200] ?? 0))
        XCTAssertEqual(m.sum("switchyard_responses_total", ["class": "4xx"]), 15)
        XCTAssertEqual(m.sum("switchyard_responses_total", ["class": "5xx"]), 15)
        XCTAssertEqual(m.sum("switchyard_proxy_errors_total", ["code": "502"]), Double(statuses[502] ?? 0))
        XCTAssertEqual(m.sum("switchyard_proxy_errors_total", ["code": "503"]), 0)
        XCTAssertEqual(m.sum("switchyard_proxy_errors_total", ["code": "504"]), 0)
        XCTAssertEqual(m.samples("switchyard_proxy_errors_total", ["server": ""]).count, 2, "one pool-level 503 series per pool")
        XCTAssertEqual(m.sum("switchyard_request_duration_seconds_count"), m.sum("switchyard_responses_total"),
                       "the latency histogram counts every upstream response")
        XCTAssertEqual(m.sum("switchyard_request_duration_seconds_count"), Double(total - (statuses[502] ?? 0)))
    }

    func testSplitWeightsAndGenerationFollowSetSplit() throws {
        let blue = try TestUpstream(name: "blue")
        let green = try TestUpstream(name: "green")
        defer { blue.stop(); green.stop() }
        let p = try TestProxy(config: Self.simpleConfig(blue: [blue.port], green: [green.port]), metrics: true)
        defer { p.stop() }
        let m0 = try p.scrape(options: .ungrouped)
        XCTAssertEqual(m0.value("switchyard_split_weight", ["pool": "blue"]), 90)
        XCTAssertEqual(m0.value("switchyard_split_weight", ["pool": "green"]), 10)
        let g0 = try XCTUnwrap(m0.value("switchyard_config_generation"))
        XCTAssertEqual(g0, p.onControlLoop { Double(p.control.generation) })

        func setSplit(_ a: [(pool: String, weight: Int)]) -> String? {
            p.onControlLoop { () -> String in
                do { try p.control.setSplit(a); return "ok" } catch let e as ControlError { return e.code } catch { return "\(error)" }
            }
        }
        XCTAssertEqual(setSplit([("blue", 0), ("green", 100)]), "ok")
        let m1 = try p.scrape(options: .ungrouped)
        XCTAssertEqual(m1.value("switchyard_split_weight", ["pool": "blue"]), 0)
        XCTAssertEqual(m1.value("switchyard_split_weight", ["pool": "green"]), 100)
        let g1 = try XCTUnwrap(m1.value("switchyard_config_generation"))
        XCTAssertGreaterThan(g1, g0)
        XCTAssertEqual(g1, p.onControlLoop { Double(p.control.generation) })

        // A rejected change changes nothing.
        XCTAssertEqual(setSplit([("purple", 5)]), "unknown_pool")
        XCTAssertEqual(setSplit([("green", 0)]), "all_zero_split")
        let m2 = try p.scrape(options: .ungrouped)
        XCTAssertEqual(m2.value("switchyard_split_weight", ["pool": "blue"]), 0)
        XCTAssertEqual(m2.value("switchyard_split_weight", ["pool": "green"]), 100)
        XCTAssertEqual(m2.value("switchyard_config_generation"), g1)

        // The traffic follows: all of it to green now.
        for i in 0..<6 {
            let c = try TestClient(port: p.port, timeout: 5)
            defer { c.close() }
            XCTAssertEqual(try c.get("/after-split/\(i)").header("X-Upstream"), "green")
        }
        var m3 = try p.scrape(options: .ungrouped)
        pollUntil(timeout: 3, pollMs: 20) {
            guard let next = try? p.scrape(options: .ungrouped) else { return false }
            m3 = next
            return next.sum("switchyard_responses_total") >= 6
        }
        XCTAssertEqual(m3.sum("switchyard_requests_total", ["pool": "green"]), 6)
        XCTAssertEqual(m3.sum("switchyard_requests_total", ["pool": "blue"]), 0)
        XCTAssertEqual(m3.value("switchyard_config_generation"), g1, "traffic does not bump the generation")

        XCTAssertEqual(setSplit([("blue", 30), ("green", 70)]), "ok")
        let m4 = try p.scrape(options: .ungrouped)
        XCTAssertEqual(m4.value("switchyard_split_weight", ["pool": "blue"]), 30)
        XCTAssertEqual(m4.value("switchyard_split_weight", ["pool": "green"]), 70)
        XCTAssertGreaterThan(m4.value("switchyard_config_generation") ?? 0, g1)
    }

    func testRolloutGaugesFollowTheRollout() throws {
        let blue = try TestUpstream(name: "blue")
        let green = try TestUpstream(name: "green")
        defer { blue.stop(); green.stop() }
        let p = try TestProxy(config: Self.simpleConfig(blue: [blue.port], green: [green.port]), metrics: true)
        defer { p.stop() }
        let m0 = try p.scrape(options: .ungrouped)
        XCTAssertEqual(m0.value("switchyard_rollout_active"), 0)
        XCTAssertEqual(m0.value("switchyard_rollout_step_percent"), 0)
        XCTAssertEqual(m0.sum("switchyard_rollout_state"), 0)
        XCTAssertEqual(m0.sum("switchyard_rollouts_total"), 0)

        func run(_ body: @escaping @Sendable (RolloutController) throws -> Void) -> String? {
            p.onControlLoop { () -> String in
                do { try body(p.control.rollouts); return "ok" } catch let e as ControlError { return e.code } catch { return "\(error)" }
            }
        }
        XCTAssertEqual(run { try $0.start(arguments: ["green", "steps", "5,100", "hold", "10m"]) }, "ok")
        let m1 = try p.scrape(options: .ungrouped)
        XCTAssertEqual(m1.value("switchyard_rollout_active"), 1)
        XCTAssertEqual(m1.value("switchyard_rollout_step_percent"), 5)
        XCTAssertEqual(m1.value("switchyard_rollout_state", ["state": "running"]), 1)
        XCTAssertEqual(m1.sum("switchyard_rollout_state"), 1)
        XCTAssertEqual(m1.value("switchyard_split_weight", ["pool": "green"]), 5)

        XCTAssertEqual(run { try $0.pause() }, "ok")
        XCTAssertEqual(try p.scrape(options: .ungrouped).value("switchyard_rollout_state", ["state": "paused"]), 1)
        XCTAssertEqual(run { try $0.abort() }, "ok")
        let m2 = try p.scrape(options: .ungrouped)
        XCTAssertEqual(m2.value("switchyard_rollout_active"), 0)
        XCTAssertEqual(m2.value("switchyard_rollout_step_percent"), 0)
        XCTAssertEqual(m2.value("switchyard_rollout_state", ["state": "aborted"]), 1)
        XCTAssertEqual(m2.value("switchyard_rollouts_total", ["outcome": "aborted"]), 1)
        XCTAssertEqual(m2.value("switchyard_rollouts_total", ["outcome": "rolled-back"]), 0)
    }

    // MARK: - the exposition as a whole

    /// A real scrape (after some traffic) must satisfy every rule of the 0.0.4 format, including
    /// "All lines for a given metric must be provided as one single group".
    func testScrapeConformsStrictlyToTheExpositionFormat() throws {
        let blue = try TestUpstream(name: "blue")
        defer { blue.stop() }
        let p = try TestProxy(config: Self.simpleConfig(blue: [blue.port], green: [try TestSockets.closedPort()]), metrics: true)
        defer { p.stop() }
        for i in 0..<4 {
            let c = try TestClient(port: p.port, timeout: 5)
            defer { c.close() }
            _ = try c.get("/warm/\(i)")
        }
        let r = try p.scrapeText()
        XCTAssertEqual(r.status, 200)
        XCTAssertNoThrow(try PrometheusTextParser.parse(r.text, options: .strict), "strict parse of:\n\(r.text)")
        // Independently of the parser: each family's TYPE line appears once, and the family's
        // samples all follow it before the next TYPE line.
        var typeLines: [String] = []
        var current = ""
        var misplaced: [String] = []
        for line in r.text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                current = String(line.split(separator: " ")[2])
                typeLines.append(current)
            } else if !line.hasPrefix("#") {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                let family = MetricsDeployFiles.familyName(name, declared: [current])
                if family != current { misplaced.append(String(line)) }
            }
        }
        XCTAssertEqual(typeLines.count, Set(typeLines).count, "a TYPE line twice")
        XCTAssertEqual(misplaced, [], "samples outside their family's group")
    }

    // MARK: - deploy/ files

    /// Every switchyard_* name the Grafana dashboard and the alert rules use is in a real scrape
    /// (histogram series by their family), with a fitting type, and every label they group or
    /// match by exists.
    func testDashboardAndAlertRulesUseOnlyExposedMetrics() throws {
        let p = try TestProxy(config: Self.simpleConfig(), metrics: true)
        defer { p.stop() }
        let m = try p.scrape(options: .ungrouped)

        let dashboard = try JSONValue.parse(readWholeFile(MetricsDeployFiles.dashboardPath))
        let dashboardExprs = MetricsDeployFiles.dashboardExpressions(dashboard)
        let alerts = readWholeFile(MetricsDeployFiles.alertsPath)
        let ruleExprs = MetricsDeployFiles.ruleExpressions(alerts)
        XCTAssertGreaterThanOrEqual(dashboardExprs.count, 15, "dashboard queries found: \(dashboardExprs)")
        XCTAssertGreaterThanOrEqual(ruleExprs.count, 6, "rule expressions found: \(ruleExprs)")

        let declared = m.familyNames
        var used: [String: Set<String>] = [:]
        for (source, exprs) in [("dashboard", dashboardExprs), ("alerts.yml", ruleExprs)] {
            let names = MetricsDeployFiles.switchyardNames(in: exprs)
            XCTAssertFalse(names.isEmpty, source)
            for name in names.sorted() {
                let family = MetricsDeployFiles.familyName(name, declared: declared)
                used[source, default: []].insert(family)
                guard let f = m.family(family) else {
                    XCTFail("\(source) uses \(name): no family \(family) in the scrape")
                    continue
                }
                if family != name {
                    XCTAssertTrue(f.type == .histogram || (f.type == .summary && !name.hasSuffix("_bucket")),
                                  "\(source) uses \(name), but \(family) is a \(f.type)")
                    XCTAssertTrue(m.sampleNames.contains(name), "\(source) uses \(name): no such sample in the scrape")
                }
                if f.type == .counter {
                    // A counter is only meaningful through rate/increase.
                    for e in exprs where e.contains(name) {
                        XCTAssertTrue(e.contains("rate(\(name)") || e.contains("increase(\(name)"),
                                      "\(source): counter \(name) used without rate()/increase(): \(e)")
                    }
                }
            }
            // The release view: the dashboard shows the rollout, the rules alert on a rollback.
            if source == "dashboard" {
                XCTAssertTrue(names.isSuperset(of: ["switchyard_rollout_state", "switchyard_rollout_step_percent"]), "\(names.sorted())")
            } else {
                XCTAssertTrue(names.contains("switchyard_rollouts_total"), "\(names.sorted())")
            }
        }

        // Labels: those of the scrape, plus the target labels Prometheus adds.
        var labels: Set<String> = ["instance", "job"]
        for s in m.samples { for l in s.labels { labels.insert(l.name) } }
        for name in MetricsDeployFiles.labelNames(in: dashboardExprs + ruleExprs).sorted() {
            XCTAssertTrue(labels.contains(name), "label '\(name)' is used by a query but exposed by no metric (\(labels.sorted()))")
        }

        // What the brief asks the dashboard and the rules to show.
        let dashboardWants = ["switchyard_split_weight", "switchyard_requests_total", "switchyard_responses_total",
                              "switchyard_proxy_errors_total", "switchyard_request_duration_seconds", "switchyard_in_flight",
                              "switchyard_upstream_connections", "switchyard_server_healthy",
                              "switchyard_server_ejections_total", "switchyard_retries_total",
                              "switchyard_pool_failed_over", "switchyard_ready", "switchyard_config_generation"]
        XCTAssertEqual(Set(dashboardWants).subtracting(used["dashboard"] ?? []), [], "families the dashboard lacks")
        let rulesWant = ["switchyard_responses_total", "switchyard_proxy_errors_total", "switchyard_requests_total",
                         "switchyard_request_duration_seconds", "switchyard_server_healthy",
                         "switchyard_pool_failed_over", "switchyard_ready"]
        XCTAssertEqual(Set(rulesWant).subtracting(used["alerts.yml"] ?? []), [], "families the rules lack")
        XCTAssertTrue(dashboardExprs.contains(
            "histogram_quantile(0.99, sum by (le, pool) (rate(switchyard_request_duration_seconds_bucket{instance=~\"$instance\", pool=~\"$pool\"}[1m])))"),
            "the p99 latency panel query")
        XCTAssertTrue(ruleExprs.contains("up{job=\"switchyard\"} == 0"), "the scrape-down rule")
    }

    /// The dashboard's structure: a Grafana export with a DS_PROMETHEUS input every query uses.
    func testDashboardIsAGrafanaExportWithAPrometheusInput() throws {
        let d = try JSONValue.parse(readWholeFile(MetricsDeployFiles.dashboardPath))
        let schema = try XCTUnwrap(d["schemaVersion"]?.intValue)
        XCTAssertTrue((36...41).contains(schema), "schemaVersion \(schema)")
        let inputs = d["__inputs"]?.arrayValue ?? []
        XCTAssertTrue(inputs.contains { $0["name"]?.stringValue == "DS_PROMETHEUS" && $0["pluginId"]?.stringValue == "prometheus" },
                      "no DS_PROMETHEUS datasource input")
        XCTAssertEqual(d["title"]?.stringValue, "Switchyard")
        XCTAssertNotNil(d["uid"]?.stringValue)

        let panels = d["panels"]?.arrayValue ?? []
        var ids = Set<Int>()
        var titles: [String] = []
        for panel in panels {
            let id = try XCTUnwrap(panel["id"]?.intValue)
            XCTAssertTrue(ids.insert(id).inserted, "panel id \(id) twice")
            let title = panel["title"]?.stringValue ?? ""
            XCTAssertFalse(title.isEmpty)
            titles.append(title)
            let grid = panel["gridPos"]
            for k in ["h", "w", "x", "y"] { XCTAssertNotNil(grid?[k]?.intValue, "\(title): gridPos.\(k)") }
            if panel["type"]?.stringValue == "row" { continue }
            XCTAssertEqual(panel.at("datasource", "uid")?.stringValue, "${DS_PROMETHEUS}", title)
            let targets = panel["targets"]?.arrayValue ?? []
            XCTAssertFalse(targets.isEmpty, "\(title): no queries")
            var refs = Set<String>()
            for t in targets {
                XCTAssertEqual(t.at("datasource", "uid")?.stringValue, "${DS_PROMETHEUS}", title)
                XCTAssertFalse((t["expr"]?.stringValue ?? "").isEmpty, "\(title): empty expr")
                XCTAssertTrue(refs.insert(t["refId"]?.stringValue ?? "").inserted, "\(title): refId twice")
            }
        }
        for wanted in ["Split weights per pool", "Request rate per pool", "Error rate per pool", "p99 latency per pool",
                       "In-flight requests", "Upstream connections", "Server health", "Ejections", "Retries per pool",
                       "Failover state", "Ready", "Config generation"] {
            XCTAssertTrue(titles.contains(wanted), "no panel '\(wanted)' (panels: \(titles))")
        }
        // Request rate per pool has a fixed colour for blue and green.
        let rate = panels.first { $0["title"]?.stringValue == "Request rate per pool" }
        let overrides = rate?.at("fieldConfig", "overrides")?.arrayValue ?? []
        let coloured = overrides.compactMap { $0.at("matcher", "options")?.stringValue }
        XCTAssertEqual(Set(coloured), ["blue", "green"])
    }

    /// `promtool check rules` and `promtool test rules` (deploy/prometheus/alerts_test.yml), when
    /// promtool is installed (Debian: `apt-get install prometheus`).
    func testAlertRulesPassPromtool() throws {
        guard let promtool = metricsFindOnPath("promtool") else {
            throw XCTSkip("promtool is not on PATH (install it with `apt-get install prometheus`); alert rules not validated by promtool")
        }
        let check = try runProgram([promtool, "check", "rules", MetricsDeployFiles.alertsPath], mergeErrors: true, timeout: 20)
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.contains("SUCCESS"), check.output)
        let unit = try runProgram([promtool, "test", "rules", MetricsDeployFiles.packageRoot + "/deploy/prometheus/alerts_test.yml"], mergeErrors: true, timeout: 20)
        XCTAssertEqual(unit.status, 0, unit.output)
        XCTAssertTrue(unit.output.contains("SUCCESS"), unit.output)
    }

    /// `promtool check metrics` (Prometheus's own parser and linter) on a real scrape, when installed.
    func testScrapePassesPromtoolCheckMetrics() throws {
        guard let promtool = metricsFindOnPath("promtool") else {
            throw XCTSkip("promtool is not on PATH (install it with `apt-get install prometheus`); scrape not checked by promtool")
        }
        let p = try TestProxy(config: Self.simpleConfig(), metrics: true)
        defer { p.stop() }
        let r = try p.scrapeText()
        XCTAssertEqual(r.status, 200)
        let dir = try ScratchDirectory(prefix: "sym")
        defer { dir.remove() }
        let path = try dir.write("scrape.txt", r.text)
        let out = try runProgram([promtool, "check", "metrics"], input: path, mergeErrors: true, timeout: 20)
        XCTAssertEqual(out.status, 0, "promtool check metrics:\n\(out.output)")
    }

    // MARK: - helpers

    /// Pools blue and green (ports default to refused ones: fine without traffic), split 90/10, 1 worker.
    static func simpleConfig(blue: [UInt16]? = nil, green: [UInt16]? = nil) throws -> String {
        let b = try blue ?? [TestSockets.closedPort()]
        let g = try green ?? [TestSockets.closedPort()]
        var text = "listen 127.0.0.1:0\nworkers 1\n"
        for (name, ports) in [("blue", b), ("green", g)] {
            text += "pool \(name) {\n" + ports.map { "    server 127.0.0.1:\($0)\n" }.joined() + "}\n"
        }
        return text + "split blue=90 green=10\n"
    }
}
