/// One benchmark workload. Adding a scenario is adding a value to `Scenario.all`; both load
/// drivers (wrk and the built-in generator) read the same fields.
struct Scenario {
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

    static let all: [Scenario] = [
        Scenario(name: "get-2b-c50", summary: "GET /2b (2-byte body), 50 keep-alive connections",
                 method: "GET", path: "/2b", connections: 50),
        Scenario(name: "get-2b-c500", summary: "GET /2b (2-byte body), 500 keep-alive connections",
                 method: "GET", path: "/2b", connections: 500),
        Scenario(name: "get-1k-c50", summary: "GET /1k (1 KiB body), 50 keep-alive connections",
                 method: "GET", path: "/1k", connections: 50),
        Scenario(name: "get-100k-c50", summary: "GET /100k (100 KiB body), 50 keep-alive connections",
                 method: "GET", path: "/100k", connections: 50),
        // Next: new connection per request, 1 MiB POST uploads, idle-connection RSS, split flipping.
        // e.g. Scenario(name: "post-1m-c50", summary: "POST /upload, 1 MiB body", method: "POST",
        //               path: "/upload", connections: 50, bodyBytes: 1 << 20),
    ]

    /// The request head every driver sends.
    func requestHead(port: UInt16) -> String {
        var h = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        if bodyBytes > 0 { h += "Content-Length: \(bodyBytes)\r\nContent-Type: application/octet-stream\r\n" }
        if newConnectionPerRequest { h += "Connection: close\r\n" }
        return h + "\r\n"
    }
}
