/// Complete, self-contained HTTP/1.1 responses a proxy sends when it answers by itself
/// (malformed request, upstream failure, timeout). They always close the connection:
/// after an error the state of the byte stream can no longer be trusted.
public enum ErrorResponse {
    /// Standard reason phrase (RFC 9110 section 15), or "Unknown" for codes not listed.
    public static func reasonPhrase(_ status: Int) -> StaticString {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 203: return "Non-Authoritative Information"
        case 204: return "No Content"
        case 205: return "Reset Content"
        case 206: return "Partial Content"
        case 300: return "Multiple Choices"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 407: return "Proxy Authentication Required"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 416: return "Range Not Satisfiable"
        case 417: return "Expectation Failed"
        case 421: return "Misdirected Request"
        case 422: return "Unprocessable Content"
        case 426: return "Upgrade Required"
        case 428: return "Precondition Required"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Unknown"
        }
    }

    /// A complete response: status line, `Content-Type: text/plain; charset=utf-8`,
    /// `Content-Length`, `Connection: close`, `Cache-Control: no-store`, and a one-line body
    /// "<status> <reason>[: <detail>]\n". Responses without detail for the statuses a proxy
    /// sends most are precomputed, so returning them only retains a shared array.
    public static func bytes(status: Int, detail: StaticString? = nil) -> [UInt8] {
        if detail == nil {
            switch status {
            case 400: return r400
            case 408: return r408
            case 413: return r413
            case 431: return r431
            case 502: return r502
            case 503: return r503
            case 504: return r504
            case 505: return r505
            default: break
            }
        }
        return build(status: status, detail: detail)
    }

    /// The response for a request rejected with `error` (its `status`, its `reason` as detail).
    /// Precomputed for every case: malformed requests are exactly what an attacker can send
    /// at line rate. For errors in upstream responses send `bytes(status: 502)` instead.
    public static func bytes(for error: HTTPParseError) -> [UInt8] {
        byError[Int(error.rawValue)]
    }

    private static let r400 = build(status: 400, detail: nil)
    private static let r408 = build(status: 408, detail: nil)
    private static let r413 = build(status: 413, detail: nil)
    private static let r431 = build(status: 431, detail: nil)
    private static let r502 = build(status: 502, detail: nil)
    private static let r503 = build(status: 503, detail: nil)
    private static let r504 = build(status: 504, detail: nil)
    private static let r505 = build(status: 505, detail: nil)
    private static let byError: [[UInt8]] = HTTPParseError.allCases.map { build(status: $0.status, detail: $0.reason) }

    private static func build(status: Int, detail: StaticString?) -> [UInt8] {
        let reason = reasonPhrase(status)
        var body: [UInt8] = []
        appendDecimal(&body, status)
        body.append(SP)
        append(&body, reason)
        if let detail {
            body.append(COLON)
            body.append(SP)
            append(&body, detail)
        }
        body.append(LF)

        var out: [UInt8] = []
        out.reserveCapacity(160 + body.count)
        append(&out, "HTTP/1.1 ")
        appendDecimal(&out, status)
        out.append(SP)
        append(&out, reason)
        append(&out, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
        appendDecimal(&out, body.count)
        append(&out, "\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n")
        out.append(contentsOf: body)
        return out
    }

    private static func append(_ a: inout [UInt8], _ s: StaticString) {
        s.withUTF8Buffer { a.append(contentsOf: $0) }
    }

    private static func appendDecimal(_ a: inout [UInt8], _ v: Int) {
        if v < 0 {
            a.append(0x2D)
            appendDecimal(&a, -v)
            return
        }
        if v >= 10 { appendDecimal(&a, v / 10) }
        a.append(UInt8(truncatingIfNeeded: v % 10) &+ 0x30)
    }
}
