import HTTP1
@testable import Proxy
import Testing

/// `HeadRewriter` on heads from the real parser, as `Exchange` calls it: the exact bytes it
/// writes for the upstream and for the client.
@Suite struct HeadRewriterTests {
    static let clientIP = "192.0.2.7"

    /// Parses `text` as a request head and rewrites it; nil when the writer reports overflow.
    static func forwarded(_ text: String, trusted: Bool = false, fallbackHost: String = "proxy.local:8080",
                          capacity: Int = 4096) throws -> String? {
        let src = Array(text.utf8)
        var head = MessageHead()
        try src.withUnsafeBytes { buf in
            let result = HTTPHeadParser().parseRequest(buf, into: &head)
            guard result == .complete else { throw Unparsed(result: result) }
        }
        // What Exchange decides before rewriting.
        let upgrade = head.connectionUpgrade && head.upgradeField >= 0
        let out = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 1)
        defer { out.deallocate() }
        var w = ByteWriter(out, capacity: capacity)
        let ok = src.withUnsafeBytes { buf in
            Array(clientIP.utf8).withUnsafeBytes { ip in
                Array(fallbackHost.utf8).withUnsafeBytes { host in
                    let ctx = HeadRewriter.RequestContext(clientIP: ip, trusted: trusted, upgrade: upgrade, fallbackHost: host)
                    return HeadRewriter.writeRequest(head, from: buf, context: ctx, into: &w)
                }
            }
        }
        return ok ? String(decoding: w.written, as: UTF8.self) : nil
    }

    /// Parses `text` as a response head (to a GET) and rewrites it for the client.
    static func relayed(_ text: String, connection: HeadRewriter.ConnectionHeader, dropTransferEncoding: Bool = false,
                        extraLine: String? = nil, capacity: Int = 4096) throws -> String? {
        let src = Array(text.utf8)
        var head = MessageHead()
        try src.withUnsafeBytes { buf in
            let result = HTTPHeadParser().parseResponse(buf, requestMethod: .get, into: &head)
            guard result == .complete else { throw Unparsed(result: result) }
        }
        let out = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 1)
        defer { out.deallocate() }
        var w = ByteWriter(out, capacity: capacity)
        let ok = src.withUnsafeBytes { buf in
            HeadRewriter.writeResponse(head, from: buf, connection: connection, dropTransferEncoding: dropTransferEncoding,
                                       extraLine: extraLine.map { Array($0.utf8) }, into: &w)
        }
        return ok ? String(decoding: w.written, as: UTF8.self) : nil
    }

    struct Unparsed: Error { let result: HeadParseResult }

    // MARK: - Requests

    @Test func hopByHopFieldsAreRemoved() throws {
        let out = try Self.forwarded("GET /a?b=1 HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive\r\n"
            + "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-Sum\r\n"
            + "Proxy-Authorization: Basic YTpi\r\nUpgrade: websocket\r\nAccept: */*\r\n\r\n")
        // Upgrade without "Connection: upgrade" is not an upgrade request: dropped too.
        #expect(out == "GET /a?b=1 HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n"
            + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.example\r\n\r\n")
    }

    @Test func fieldsNamedInConnectionAreRemovedButNeverHostOrFraming() throws {
        let out = try Self.forwarded("POST /form HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 3\r\n"
            + "Connection: close, X-Internal, host, content-length\r\nX-Internal: secret\r\nx-internal: again\r\nX-Kept: 1\r\n\r\n")
        #expect(out == "POST /form HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 3\r\nX-Kept: 1\r\n"
            + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.example\r\n\r\n")
    }

    @Test func anUntrustedPeersForwardingFieldsAreReplaced() throws {
        let out = try Self.forwarded("GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 6.6.6.6\r\n"
            + "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nForwarded: for=6.6.6.6\r\n\r\n")
        #expect(out == "GET / HTTP/1.1\r\nHost: shop.example\r\n"
            + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.example\r\n\r\n")
    }

    @Test func aTrustedPeersForwardingFieldsAreAppendedToOrKept() throws {
        let out = try Self.forwarded("GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 10.0.0.1\r\n"
            + "X-Forwarded-Proto: https\r\nX-Forwarded-For:\r\nX-Forwarded-Host: www.example\r\n"
            + "Forwarded: for=10.0.0.1\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3\r\n\r\n", trusted: true)
        // Every X-Forwarded-For (empty ones skipped) joins one line ending in the peer; the
        // others stay where they were and are not added again.
        #expect(out == "GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-Proto: https\r\n"
            + "X-Forwarded-Host: www.example\r\nForwarded: for=10.0.0.1\r\n"
            + "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7\r\n\r\n")
    }

    @Test func aTrustedPeerWithoutForwardingFieldsGetsOurs() throws {
        let out = try Self.forwarded("GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n", trusted: true)
        #expect(out == "GET / HTTP/1.1\r\nHost: shop.example\r\n"
            + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.example\r\n\r\n")
    }

    @Test func anHTTP10RequestWithoutHostGetsTheFallbackHostAndVersion11() throws {
        let out = try Self.forwarded("GET /old HTTP/1.0\r\nAccept: */*\r\n\r\n")
        // No Host from the client, so no X-Forwarded-Host either.
        #expect(out == "GET /old HTTP/1.1\r\nAccept: */*\r\nHost: proxy.local:8080\r\n"
            + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n\r\n")
    }

    @Test func anUpgradeRequestKeepsUpgradeAndSaysSoInConnection() throws {
        let out = try Self.forwarded("GET /ws HTTP/1.1\r\nHost: shop.example\r\nConnection: Upgrade\r\n"
            + "Upgrade: websocket\r\nSec-WebSocket-Key: abc\r\n\r\n")
        #expect(out == "GET /ws HTTP/1.1\r\nHost: shop.example\r\nUpgrade: websocket\r\nSec-WebSocket-Key: abc\r\n"
            + "Connection: upgrade\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.example\r\n\r\n")
    }

    @Test func aRequestThatDoesNotFitReturnsFalse() throws {
        let request = "GET /a HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n"
        let full = try #require(try Self.forwarded(request))
        let size = full.utf8.count
        #expect(try Self.forwarded(request, capacity: size) == full)
        #expect(try Self.forwarded(request, capacity: size - 1) == nil)
        #expect(try Self.forwarded(request, capacity: 10) == nil)
    }

    // MARK: - Responses

    static let response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Backend\r\n"
        + "Keep-Alive: timeout=5\r\nX-Backend: b1\r\nProxy-Authenticate: Basic\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\n\r\n"
    static let relayedFields = "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\n"

    @Test(arguments: [
        (HeadRewriter.ConnectionHeader.none, ""),
        (.close, "Connection: close\r\n"),
        (.keepAlive, "Connection: keep-alive\r\n"),
    ])
    func responsesGetOurOwnConnectionHeader(connection: HeadRewriter.ConnectionHeader, line: String) throws {
        let out = try Self.relayed(Self.response, connection: connection)
        #expect(out == "HTTP/1.1 200 OK\r\n" + Self.relayedFields + line + "\r\n")
    }

    @Test func aDechunkedResponseLosesTransferEncoding() throws {
        let out = try Self.relayed(Self.response, connection: .close, dropTransferEncoding: true)
        #expect(out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nConnection: close\r\n\r\n")
    }

    @Test func theExtraLineGoesAfterTheFieldsAndBeforeConnection() throws {
        let cookie = "Set-Cookie: yard=green.abc; Path=/; Max-Age=60; HttpOnly\r\n"
        let out = try Self.relayed(Self.response, connection: .close, extraLine: cookie)
        #expect(out == "HTTP/1.1 200 OK\r\n" + Self.relayedFields + cookie + "Connection: close\r\n\r\n")
    }

    @Test func aSwitchingProtocolsResponseKeepsUpgradeOnlyForAnUpgrade() throws {
        let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: xyz\r\n\r\n"
        #expect(try Self.relayed(head, connection: .upgrade)
            == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: xyz\r\nConnection: upgrade\r\n\r\n")
        #expect(try Self.relayed(head, connection: .close)
            == "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: xyz\r\nConnection: close\r\n\r\n")
    }

    @Test func anHTTP10ResponseIsRelayedAs11AndAnEmptyReasonStaysEmpty() throws {
        #expect(try Self.relayed("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", connection: .keepAlive)
            == "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
        #expect(try Self.relayed("HTTP/1.1 204 \r\nX-A: 1\r\n\r\n", connection: .none) == "HTTP/1.1 204 \r\nX-A: 1\r\n\r\n")
    }

    @Test func aResponseThatDoesNotFitReturnsFalse() throws {
        let full = try #require(try Self.relayed(Self.response, connection: .close, extraLine: "Set-Cookie: y=1\r\n"))
        let size = full.utf8.count
        #expect(try Self.relayed(Self.response, connection: .close, extraLine: "Set-Cookie: y=1\r\n", capacity: size) == full)
        #expect(try Self.relayed(Self.response, connection: .close, extraLine: "Set-Cookie: y=1\r\n", capacity: size - 1) == nil)
    }
}
