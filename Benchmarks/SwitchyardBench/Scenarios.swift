/// One benchmark workload. Adding a scenario is adding a value to `Scenario.all`; both load
/// drivers (wrk and the built-in generator) read the same fields.
struct Scenario {
    /// What the scenario measures. `.load` is the closed-loop throughput run every driver
    /// handles; the others are driven by the bench itself (see Special.swift).
    enum Kind {
        /// Closed-loop load: req/s, latency, CPU per request.
        case load
        /// Open this many idle keep-alive connections (one GET each, sequentially) and report the
        /// proxy process tree's RSS growth per connection.
        case idle(connections: Int)
        /// Load while the split is flipped blue↔green every `intervalMS` over the contender's
        /// runtime API; compared with the same contender's no-flip run in the same round.
        case splitFlip(intervalMS: Int)
        /// Switchyard only, no load: flip the split `flips` times and check that the very next
        /// request on an open keep-alive connection follows the new split.
        case splitPropagation(flips: Int)
    }

    /// Short id used in tables, JSON and `--scenario` filters.
    let name: String
    /// One line for the report.
    let summary: String
    let method: String
    let path: String
    /// Concurrent connections, each running requests back to back (closed loop).
    let connections: Int
    /// Request body size (sent with Content-Length); 0 = no body.
    var bodyBytes: Int = 0
    /// Send `Connection: close` and open a new connection for every request.
    var newConnectionPerRequest: Bool = false
    var kind: Kind = .load
    /// Run against a separate set of contenders with two workers each (Switchyard `workers auto`,
    /// HAProxy `nbthread 2`, nginx `worker_processes 2`), not pinned to the proxy core.
    var multiWorkerUnpinned: Bool = false

    static let all: [Scenario] = [
        Scenario(name: "get-2b-c50", summary: "GET /2b (2-byte body), 50 keep-alive connections",
                 method: "GET", path: "/2b", connections: 50),
        Scenario(name: "get-2b-c500", summary: "GET /2b (2-byte body), 500 keep-alive connections",
                 method: "GET", path: "/2b", connections: 500),
        Scenario(name: "get-1k-c50", summary: "GET /1k (1 KiB body), 50 keep-alive connections",
                 method: "GET", path: "/1k", connections: 50),
        Scenario(name: "get-100k-c50", summary: "GET /100k (100 KiB body), 50 keep-alive connections",
                 method: "GET", path: "/100k", connections: 50),
        Scenario(name: "get-2b-newconn-c50", summary: "GET /2b, a new connection per request (Connection: close), 50 concurrent",
                 method: "GET", path: "/2b", connections: 50, newConnectionPerRequest: true),
        Scenario(name: "post-1m-c20", summary: "POST /upload with a 1 MiB body (discarded upstream), 20 keep-alive connections",
                 method: "POST", path: "/upload", connections: 20, bodyBytes: 1 << 20),
        Scenario(name: "idle-10k", summary: "10,000 idle keep-alive connections (one GET /2b each): proxy RSS per connection",
                 method: "GET", path: "/2b", connections: 10_000, kind: .idle(connections: 10_000)),
        Scenario(name: "workers-auto-2b-c500", summary: "GET /2b, 500 connections, 2 workers/threads per proxy, unpinned",
                 method: "GET", path: "/2b", connections: 500, multiWorkerUnpinned: true),
        Scenario(name: "split-flip", summary: "GET /2b, 50 connections, split flipped blue↔green every 100 ms vs no flipping",
                 method: "GET", path: "/2b", connections: 50, kind: .splitFlip(intervalMS: 100)),
        Scenario(name: "split-propagation", summary: "Switchyard only, no load: is the first request after a split change routed by it?",
                 method: "GET", path: "/2b", connections: 1, kind: .splitPropagation(flips: 200)),
    ]

    var isLoad: Bool { if case .load = kind { return true } else { return false } }

    var kindName: String {
        switch kind {
        case .load: return "load"
        case .idle: return "idle"
        case .splitFlip: return "split-flip"
        case .splitPropagation: return "split-propagation"
        }
    }

    /// The request head every driver sends.
    func requestHead(port: UInt16) -> String {
        var h = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        if bodyBytes > 0 { h += "Content-Length: \(bodyBytes)\r\nContent-Type: application/octet-stream\r\n" }
        if newConnectionPerRequest { h += "Connection: close\r\n" }
        return h + "\r\n"
    }
}
