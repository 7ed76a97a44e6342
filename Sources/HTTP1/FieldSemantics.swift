// Per-field semantics the parser applies while it walks the head: name and method
// classification, list splitting, Content-Length values, and Connection options.

/// Walks the elements of a comma-separated list value (RFC 9110 5.6.1), yielding each
/// element trimmed of OWS. Empty elements are yielded too (as start == end) so that
/// callers that must reject them can.
struct ListElements {
    let p: UnsafeRawPointer
    var i: Int
    let end: Int
    var finished = false

    init(_ p: UnsafeRawPointer, _ start: Int, _ end: Int) {
        self.p = p
        self.i = start
        self.end = end
    }

    @inline(__always)
    mutating func next() -> (start: Int, end: Int)? {
        if finished { return nil }
        var s = i
        while s < end && isOWS(byteAt(p, s)) { s += 1 }
        var j = s
        while j < end && byteAt(p, j) != COMMA { j += 1 }
        var e = j
        while e > s && isOWS(byteAt(p, e - 1)) { e -= 1 }
        if j < end { i = j + 1 } else { finished = true }
        return (s, e)
    }
}

@inline(__always)
func equalsLiteral(_ p: UnsafeRawPointer, _ start: Int, _ end: Int, _ literal: StaticString) -> Bool {
    let n = literal.utf8CodeUnitCount
    guard end - start == n else { return false }
    let l = literal.utf8Start
    var i = 0
    while i < n {
        if byteAt(p, start + i) != l[i] { return false }
        i += 1
    }
    return true
}

/// Case-sensitive method classification (RFC 9110 9.1).
func classifyMethod(_ p: UnsafeRawPointer, _ s: Int, _ e: Int) -> HTTPMethod {
    switch e - s {
    case 3:
        if equalsLiteral(p, s, e, "GET") { return .get }
        if equalsLiteral(p, s, e, "PUT") { return .put }
    case 4:
        if equalsLiteral(p, s, e, "POST") { return .post }
        if equalsLiteral(p, s, e, "HEAD") { return .head }
    case 5:
        if equalsLiteral(p, s, e, "PATCH") { return .patch }
        if equalsLiteral(p, s, e, "TRACE") { return .trace }
    case 6:
        if equalsLiteral(p, s, e, "DELETE") { return .delete }
    case 7:
        if equalsLiteral(p, s, e, "OPTIONS") { return .options }
        if equalsLiteral(p, s, e, "CONNECT") { return .connect }
    default:
        break
    }
    return .other
}

/// Case-insensitive classification of a validated token; the length switch means most
/// names cost one or two comparisons.
func classifyHeaderName(_ p: UnsafeRawPointer, _ s: Int, _ e: Int) -> HeaderName {
    switch e - s {
    case 2:
        if equalsLowercaseLiteral(p, s, e, "te") { return .te }
    case 4:
        if equalsLowercaseLiteral(p, s, e, "host") { return .host }
    case 6:
        if equalsLowercaseLiteral(p, s, e, "expect") { return .expect }
        if equalsLowercaseLiteral(p, s, e, "cookie") { return .cookie }
    case 7:
        if equalsLowercaseLiteral(p, s, e, "upgrade") { return .upgrade }
        if equalsLowercaseLiteral(p, s, e, "trailer") { return .trailer }
    case 9:
        if equalsLowercaseLiteral(p, s, e, "forwarded") { return .forwarded }
    case 10:
        if equalsLowercaseLiteral(p, s, e, "connection") { return .connection }
        if equalsLowercaseLiteral(p, s, e, "keep-alive") { return .keepAlive }
    case 14:
        if equalsLowercaseLiteral(p, s, e, "content-length") { return .contentLength }
    case 15:
        if equalsLowercaseLiteral(p, s, e, "x-forwarded-for") { return .xForwardedFor }
    case 16:
        if equalsLowercaseLiteral(p, s, e, "x-forwarded-host") { return .xForwardedHost }
        if equalsLowercaseLiteral(p, s, e, "proxy-connection") { return .proxyConnection }
    case 17:
        if equalsLowercaseLiteral(p, s, e, "transfer-encoding") { return .transferEncoding }
        if equalsLowercaseLiteral(p, s, e, "x-forwarded-proto") { return .xForwardedProto }
    case 18:
        if equalsLowercaseLiteral(p, s, e, "proxy-authenticate") { return .proxyAuthenticate }
    case 19:
        if equalsLowercaseLiteral(p, s, e, "proxy-authorization") { return .proxyAuthorization }
    default:
        break
    }
    return .other
}

/// Largest accepted Content-Length / chunk size: far beyond any real body, and small
/// enough that sums of a few of them cannot overflow UInt64.
let maxBodyLength: UInt64 = 1 << 62

/// Parses a Content-Length value: `1*DIGIT`, or a comma list whose elements are all the
/// same number (RFC 9110 8.6 allows collapsing "42, 42"). Returns the value or an error.
func parseContentLength(_ p: UnsafeRawPointer, _ s: Int, _ e: Int) -> Result<UInt64, HTTPParseError> {
    var list = ListElements(p, s, e)
    var value: UInt64? = nil
    while let (a, b) = list.next() {
        if a == b { return .failure(.badContentLength) }
        var v: UInt64 = 0
        var k = a
        while k < b {
            let d = byteAt(p, k) &- 0x30
            if d > 9 { return .failure(.badContentLength) }
            // Checked before multiplying, so the arithmetic itself can never overflow.
            if v > maxBodyLength / 10 { return .failure(.badContentLength) }
            v = v * 10 + UInt64(d)
            if v > maxBodyLength { return .failure(.badContentLength) }
            k += 1
        }
        if let prior = value, prior != v { return .failure(.conflictingContentLength) }
        value = v
    }
    return .success(value ?? 0)
}

/// Marks every field named by a Connection option as hop-by-hop (RFC 9110 7.6.1).
///
/// Host, Content-Length and Transfer-Encoding are never marked: a client listing them in
/// Connection would otherwise make the proxy strip the routing or framing headers the
/// upstream needs (RFC 9110 forbids senders from listing end-to-end fields anyway).
/// The "close", "keep-alive" and "upgrade" options are skipped: Keep-Alive and Upgrade are
/// already hop-by-hop and "Close" is a reserved field name (RFC 9110 16.3.2.2).
func markConnectionOptions(_ p: UnsafeRawPointer, _ fields: inout [HeaderField]) {
    let n = fields.count
    var c = 0
    while c < n {
        if fields[c].name == .connection {
            var list = ListElements(p, Int(fields[c].valueStart), Int(fields[c].valueEnd))
            while let (a, b) = list.next() {
                if a == b || equalsLowercaseLiteral(p, a, b, "close") || equalsLowercaseLiteral(p, a, b, "keep-alive")
                    || equalsLowercaseLiteral(p, a, b, "upgrade") {
                    continue
                }
                var j = 0
                while j < n {
                    let f = fields[j]
                    if !f.hopByHop && f.name != .host && f.name != .contentLength && f.name != .transferEncoding
                        && equalsIgnoringCase(p, Int(f.nameStart), Int(f.nameEnd), a, b) {
                        fields[j].hopByHop = true
                    }
                    j += 1
                }
            }
        }
        c += 1
    }
}

/// What the field lines say about framing and the connection, accumulated while parsing.
struct FieldSummary {
    var contentLength: UInt64? = nil
    var transferEncoding = false
    var chunkedCount = 0
    var lastCodingIsChunked = false
    var closeOption = false
    var keepAliveOption = false
    var hasOtherConnectionOptions = false

    var endsInSingleChunked: Bool { chunkedCount == 1 && lastCodingIsChunked }

    /// Applies one field; `index` is the index it will get in `head.fields`.
    @inline(__always)
    mutating func observe(_ name: HeaderName, _ p: UnsafeRawPointer, _ vs: Int, _ ve: Int, index: Int,
                          isRequest: Bool, head: inout MessageHead) -> HTTPParseError? {
        switch name {
        case .other:
            return nil
        case .contentLength:
            switch parseContentLength(p, vs, ve) {
            case .failure(let e): return e
            case .success(let v):
                if let prior = contentLength, prior != v { return .conflictingContentLength }
                contentLength = v
            }
        case .transferEncoding:
            // Repeated fields combine into one list (RFC 9110 5.3); empty elements are ignored.
            transferEncoding = true
            var list = ListElements(p, vs, ve)
            while let (a, b) = list.next() {
                if a == b { continue }
                lastCodingIsChunked = equalsLowercaseLiteral(p, a, b, "chunked")
                if lastCodingIsChunked { chunkedCount += 1 }
            }
        case .connection:
            var list = ListElements(p, vs, ve)
            while let (a, b) = list.next() {
                if a == b { continue }
                if equalsLowercaseLiteral(p, a, b, "close") {
                    closeOption = true
                } else if equalsLowercaseLiteral(p, a, b, "keep-alive") {
                    keepAliveOption = true
                } else if equalsLowercaseLiteral(p, a, b, "upgrade") {
                    head.connectionUpgrade = true
                } else {
                    hasOtherConnectionOptions = true
                }
            }
        case .host:
            if head.hostField >= 0 {
                if isRequest { return .multipleHost }
            } else {
                head.hostField = index
            }
        case .upgrade:
            if head.upgradeField < 0 { head.upgradeField = index }
        case .expect:
            if equalsLowercaseLiteral(p, vs, ve, "100-continue") { head.expectContinue = true }
        default:
            return nil
        }
        return nil
    }
}
