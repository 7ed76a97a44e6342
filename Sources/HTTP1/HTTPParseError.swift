/// Why a head or chunked body was rejected.
///
/// Request errors map to the status a proxy answers the client with (`status`);
/// a proxy answers 502 for any upstream response error regardless of `status`.
/// The raw value is only used to index precomputed error responses.
public enum HTTPParseError: UInt8, Error, Equatable, Sendable, CaseIterable, CustomStringConvertible {
    // Size limits.
    case headTooLarge, tooManyFields
    // Start line.
    case badRequestLine, badStatusLine, unsupportedVersion
    // Field syntax and characters.
    case badHeaderName, whitespaceBeforeColon, obsFold, invalidCharacter, bareCR, bareLF
    // Message framing (RFC 9112 section 6).
    case badContentLength, conflictingContentLength, contentLengthWithTransferEncoding
    case transferEncodingNotChunked, badTransferEncoding
    // Host (RFC 9112 section 3.2).
    case missingHost, multipleHost
    // Chunked transfer coding (RFC 9112 section 7.1).
    case badChunkSize, chunkSizeTooLarge, badChunkExtension, badChunkTerminator, trailerTooLarge, badTrailer

    /// Status to answer a client with when its request fails with this error.
    /// Framing errors are all 400: a proxy must not guess at a body it cannot delimit.
    public var status: Int {
        switch self {
        case .headTooLarge, .tooManyFields: return 431
        case .unsupportedVersion: return 505
        default: return 400
        }
    }

    /// Short human-readable text, used as the detail of error responses and in logs.
    public var reason: StaticString {
        switch self {
        case .headTooLarge: return "header section too large"
        case .tooManyFields: return "too many header fields"
        case .badRequestLine: return "malformed request line"
        case .badStatusLine: return "malformed status line"
        case .unsupportedVersion: return "unsupported HTTP version"
        case .badHeaderName: return "malformed header field name"
        case .whitespaceBeforeColon: return "whitespace between header name and colon"
        case .obsFold: return "obsolete line folding"
        case .invalidCharacter: return "invalid character"
        case .bareCR: return "bare CR"
        case .bareLF: return "line not terminated by CRLF"
        case .badContentLength: return "invalid Content-Length"
        case .conflictingContentLength: return "conflicting Content-Length values"
        case .contentLengthWithTransferEncoding: return "both Content-Length and Transfer-Encoding"
        case .transferEncodingNotChunked: return "Transfer-Encoding does not end in a single chunked"
        case .badTransferEncoding: return "Transfer-Encoding in an HTTP/1.0 message"
        case .missingHost: return "missing Host"
        case .multipleHost: return "multiple Host fields"
        case .badChunkSize: return "invalid chunk size"
        case .chunkSizeTooLarge: return "chunk size too large"
        case .badChunkExtension: return "invalid chunk extension"
        case .badChunkTerminator: return "chunk data not followed by CRLF"
        case .trailerTooLarge: return "trailer section too large"
        case .badTrailer: return "malformed trailer field"
        }
    }

    public var description: String { "\(status) \(reason)" }
}
