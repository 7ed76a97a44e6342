import Glibc

/// Fully rendered response bytes (head + body) in memory owned by `Responses`; a HEAD request
/// sends only the first `headLength` bytes.
struct StaticResponse {
    let base: UnsafeRawPointer
    let headLength: Int
    let count: Int
}

/// The three renderings a request can need, so the connection never edits a head: HTTP/1.1
/// keep-alive (no Connection header), `Connection: close`, and HTTP/1.0 `Connection: keep-alive`.
struct ResponseSet {
    let keepAlive: StaticResponse
    let close: StaticResponse
    let keepAlive10: StaticResponse

    @inline(__always)
    func pick(http10: Bool, keepAlive alive: Bool) -> StaticResponse {
        alive ? (http10 ? keepAlive10 : keepAlive) : close
    }
}

/// Every byte the server can send, rendered once and shared read-only by all loops.
final class Responses: @unchecked Sendable {
    private var allocations: [UnsafeMutableRawPointer] = []
    private(set) var routes: [(path: UnsafeRawBufferPointer, set: ResponseSet)] = []
    private(set) var fallback: ResponseSet! = nil
    private(set) var echoPath: UnsafeRawBufferPointer? = nil
    /// Echo heads: chunked for HTTP/1.1, close-delimited for HTTP/1.0 (which has no chunking).
    private(set) var echoHead: ResponseSet! = nil
    private(set) var echoHead10: StaticResponse! = nil
    private(set) var continue100: StaticResponse! = nil
    private(set) var badRequest: StaticResponse! = nil
    private(set) var headTooLarge: StaticResponse! = nil
    private(set) var lastChunk: StaticResponse! = nil
    /// "/" — the path of an absolute-form target without one ("GET http://host HTTP/1.1").
    private(set) var rootPath: UnsafeRawBufferPointer! = nil
    /// Largest response emitted while a head is parsed; the parser waits for this much free output
    /// space so those emissions can never fail.
    private(set) var smallMax = 0

    init(config: OriginConfig) {
        let extra = config.extraHeaders.map { "\($0.0): \($0.1)\r\n" }.joined()
        for r in config.routes {
            routes.append((store(Array(r.path.utf8)), render(r, extra)))
        }
        fallback = render(config.defaultRoute
            ?? OriginRoute(path: "", status: 404, text: "not found\n"), extra)
        if let e = config.echoPath { echoPath = store(Array(e.utf8)) }
        let echo = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n" + extra
        echoHead = ResponseSet(keepAlive: raw(echo + "\r\n"),
                               close: raw(echo + "Connection: close\r\n\r\n"),
                               keepAlive10: raw(echo + "\r\n"))
        echoHead10 = raw("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" + extra + "Connection: close\r\n\r\n")
        continue100 = raw("HTTP/1.1 100 Continue\r\n\r\n")
        badRequest = render(OriginRoute(path: "", status: 400, text: "bad request\n"), extra).close
        headTooLarge = render(OriginRoute(path: "", status: 431, text: "request head too large\n"), extra).close
        lastChunk = raw("0\r\n\r\n")
        rootPath = store([47])
        smallMax = [echoHead.close.count, echoHead10.count, continue100.count, badRequest.count,
                    headTooLarge.count].max()! + continue100.count
    }

    deinit {
        for p in allocations { p.deallocate() }
    }

    /// Exact match on the path (the caller has already cut the query string).
    @inline(__always)
    func route(_ path: UnsafeRawBufferPointer) -> ResponseSet {
        for r in routes where r.path.count == path.count {
            if path.count == 0 || memcmp(r.path.baseAddress!, path.baseAddress!, path.count) == 0 { return r.set }
        }
        return fallback
    }

    @inline(__always)
    func isEcho(_ path: UnsafeRawBufferPointer) -> Bool {
        guard let e = echoPath, e.count == path.count else { return false }
        return path.count == 0 || memcmp(e.baseAddress!, path.baseAddress!, path.count) == 0
    }

    private func render(_ r: OriginRoute, _ extra: String) -> ResponseSet {
        let head = "HTTP/1.1 \(r.status) \(Self.reason(r.status))\r\nContent-Type: \(r.contentType)\r\n"
            + "Content-Length: \(r.body.count)\r\n" + extra
        return ResponseSet(keepAlive: raw(head + "\r\n", body: r.body),
                           close: raw(head + "Connection: close\r\n\r\n", body: r.body),
                           keepAlive10: raw(head + "Connection: keep-alive\r\n\r\n", body: r.body))
    }

    private func raw(_ head: String, body: [UInt8] = []) -> StaticResponse {
        let bytes = Array(head.utf8) + body
        let p = store(bytes)
        return StaticResponse(base: p.baseAddress!, headLength: bytes.count - body.count, count: bytes.count)
    }

    private func store(_ bytes: [UInt8]) -> UnsafeRawBufferPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { if $0.count > 0 { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        allocations.append(p)
        return UnsafeRawBufferPointer(start: p, count: bytes.count)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}
