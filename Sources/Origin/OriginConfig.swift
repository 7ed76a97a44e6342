import EventLoop

/// One fixed response. Its bytes are rendered once when the server is built, so answering a
/// request is a pointer hand-off, never a formatting step.
public struct OriginRoute: Sendable {
    public var path: String
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    public init(path: String, status: Int = 200, contentType: String = "text/plain", body: [UInt8]) {
        self.path = path
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    public init(path: String, status: Int = 200, contentType: String = "text/plain", text: String) {
        self.init(path: path, status: status, contentType: contentType, body: Array(text.utf8))
    }
}

public struct OriginConfig: Sendable {
    /// Where to listen, e.g. 127.0.0.1:9101; port 0 picks an ephemeral port (see `OriginServer.port`).
    public var address: SocketAddress
    /// Event loops, one per thread, each with its own SO_REUSEPORT listener.
    public var threads: Int = 1
    /// Exact path match; the query string is ignored.
    public var routes: [OriginRoute]
    /// Used for unknown paths instead of a 404 when set (its `path` is ignored).
    public var defaultRoute: OriginRoute?
    /// Added to every response, e.g. ("X-Served-By", "blue").
    public var extraHeaders: [(String, String)]
    /// Requests to this path get their body streamed back (chunked). nil disables echo.
    public var echoPath: String? = "/echo"
    /// Connections idle this long are closed (a keep-alive pool must cope with that anyway).
    public var idleTimeoutSeconds: Int = 120

    public init(address: SocketAddress, threads: Int = 1, routes: [OriginRoute] = [],
                defaultRoute: OriginRoute? = nil, extraHeaders: [(String, String)] = [],
                echoPath: String? = "/echo", idleTimeoutSeconds: Int = 120) {
        self.address = address
        self.threads = threads
        self.routes = routes
        self.defaultRoute = defaultRoute
        self.extraHeaders = extraHeaders
        self.echoPath = echoPath
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }

    /// A demo storefront: the same small HTML page naming `colour` and `version` on every path,
    /// `X-Served-By: <colour>` on every response, and `/healthz` answering 200 "ok".
    public static func storefront(colour: String, version: String, port: UInt16) -> OriginConfig {
        let html = """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>Storefront \(colour) \(version)</title></head>
        <body style="font-family:sans-serif;border-top:12px solid \(colour)">
        <h1>Storefront</h1>
        <p>Served by the <b>\(colour)</b> deployment, version <b>\(version)</b>.</p>
        </body></html>

        """
        return OriginConfig(
            address: SocketAddress(ip: "127.0.0.1", port: port)!,
            routes: [OriginRoute(path: "/healthz", text: "ok")],
            defaultRoute: OriginRoute(path: "/", contentType: "text/html; charset=utf-8", text: html),
            extraHeaders: [("X-Served-By", colour), ("X-Version", version)])
    }

    /// The benchmark upstream: `/` and `/2b` ("ok"), `/1k`, `/100k`, and `/upload` (body read and
    /// discarded, 2-byte answer). `/echo` streams a body back.
    public static func benchmark(port: UInt16, threads: Int) -> OriginConfig {
        OriginConfig(
            address: SocketAddress(ip: "127.0.0.1", port: port)!,
            threads: threads,
            routes: [
                OriginRoute(path: "/", text: "ok"),
                OriginRoute(path: "/2b", text: "ok"),
                OriginRoute(path: "/1k", body: filler(1024)),
                OriginRoute(path: "/100k", body: filler(100 * 1024)),
                OriginRoute(path: "/upload", text: "ok"),
            ])
    }

    /// Printable, deterministic bytes (lines of the alphabet) so a body is easy to eyeball.
    static func filler(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count { out[i] = i % 64 == 63 ? 10 : UInt8(97 + i % 26) }
        return out
    }
}
