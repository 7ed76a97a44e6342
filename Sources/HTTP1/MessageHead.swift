/// Request method, classified case-sensitively (RFC 9110 9.1: "get" is not GET).
/// Anything else is `.other`; its bytes are at `methodStart..<methodEnd`.
public enum HTTPMethod: UInt8, Sendable {
    case get, head, post, put, delete, options, patch, trace, connect, other

    /// Methods a proxy may resend to another upstream after a failure that happened
    /// before any response byte arrived. Deliberately narrower than RFC 9110's
    /// idempotent set (PUT/DELETE are excluded): a retry must be invisible to the origin.
    public var isIdempotentForRetry: Bool {
        switch self {
        case .get, .head, .options: return true
        default: return false
        }
    }
}

/// Well-known header names the proxy acts on, classified once by the parser (case-insensitive match).
public enum HeaderName: UInt8, Sendable {
    case other, host, contentLength, transferEncoding, connection, keepAlive, proxyConnection, te, trailer,
         upgrade, xForwardedFor, xForwardedProto, xForwardedHost, forwarded, expect, proxyAuthorization,
         proxyAuthenticate, cookie

    /// Fields that are hop-by-hop whatever Connection says (RFC 9110 7.6.1, plus the
    /// non-standard Proxy-Connection). Transfer-Encoding is deliberately absent:
    /// the proxy re-frames bodies itself and needs to see it.
    @inline(__always)
    var isAlwaysHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .proxyConnection, .te, .trailer, .upgrade, .proxyAuthenticate,
             .proxyAuthorization:
            return true
        default:
            return false
        }
    }
}

/// One header field line. Offsets are relative to the start of the head buffer passed
/// to the parser (Int32 keeps the struct at 20 bytes; heads are capped far below 2 GiB).
/// The value is trimmed of leading/trailing OWS.
public struct HeaderField: Sendable, Equatable {
    public var name: HeaderName
    public var nameStart: Int32
    public var nameEnd: Int32
    public var valueStart: Int32
    public var valueEnd: Int32
    /// Must not be forwarded: an always-hop-by-hop name, or named by a Connection option.
    public var hopByHop: Bool

    public init(name: HeaderName, nameStart: Int32, nameEnd: Int32, valueStart: Int32, valueEnd: Int32,
                hopByHop: Bool) {
        self.name = name
        self.nameStart = nameStart
        self.nameEnd = nameEnd
        self.valueStart = valueStart
        self.valueEnd = valueEnd
        self.hopByHop = hopByHop
    }
}

/// How the message body is delimited (RFC 9112 section 6.3).
public enum BodyFraming: Equatable, Sendable {
    /// No body follows the head.
    case none
    /// Exactly this many bytes follow (0 is kept distinct from `.none` so it can be forwarded as is).
    case contentLength(UInt64)
    case chunked
    /// Response body runs until the upstream closes; the connection cannot be reused.
    case untilClose
}

/// One parsed head (request or response). The proxy keeps one per connection and the
/// parser refills it in place, keeping the `fields` capacity so steady-state parsing
/// does not allocate.
public struct MessageHead: Sendable {
    /// Bytes of the head including the final empty line; the body (or next pipelined
    /// request) starts here.
    public var headLength: Int = 0
    /// HTTP/1.<minor>, 0 or 1.
    public var versionMinor: UInt8 = 1
    public var fields: [HeaderField] = []
    /// For requests: `.none`, `.contentLength` or `.chunked`. For responses see `HTTPHeadParser.parseResponse`.
    public var framing: BodyFraming = .none
    /// Persistent per RFC 9112 9.3: HTTP/1.1 unless a "close" option; HTTP/1.0 only with "keep-alive".
    /// Always false for a response framed `.untilClose`.
    public var keepAlive: Bool = false
    /// An "upgrade" option is present in Connection.
    public var connectionUpgrade: Bool = false
    /// Index into `fields` of the (first) Upgrade field, or -1.
    public var upgradeField: Int = -1
    /// `Expect: 100-continue` (case-insensitive).
    public var expectContinue: Bool = false
    /// Index into `fields` of the Host field, or -1.
    public var hostField: Int = -1

    // Request line.
    public var method: HTTPMethod = .other
    public var methodStart: Int32 = 0
    public var methodEnd: Int32 = 0
    public var targetStart: Int32 = 0
    public var targetEnd: Int32 = 0

    // Status line.
    /// 0 for requests.
    public var status: Int = 0
    public var reasonStart: Int32 = 0
    public var reasonEnd: Int32 = 0

    public init() {}

    /// Clears everything except the capacity of `fields`.
    public mutating func reset() {
        headLength = 0
        versionMinor = 1
        fields.removeAll(keepingCapacity: true)
        framing = .none
        keepAlive = false
        connectionUpgrade = false
        upgradeField = -1
        expectContinue = false
        hostField = -1
        method = .other
        methodStart = 0
        methodEnd = 0
        targetStart = 0
        targetEnd = 0
        status = 0
        reasonStart = 0
        reasonEnd = 0
    }
}

/// Parser limits. `maxHeadBytes` is clamped to `Int32.max` so field offsets always fit.
public struct HTTPLimits: Sendable {
    public var maxHeadBytes: Int
    public var maxFields: Int

    public init(maxHeadBytes: Int = 32768, maxFields: Int = 100) {
        self.maxHeadBytes = max(0, min(maxHeadBytes, Int(Int32.max)))
        self.maxFields = max(0, maxFields)
    }
}

public enum HeadParseResult: Equatable, Sendable {
    case complete
    /// No end of head yet and the buffer is within `maxHeadBytes`: read more.
    case incomplete
    case error(HTTPParseError)
}
