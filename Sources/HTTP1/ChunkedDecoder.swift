/// One step of chunked decoding; counts are bytes consumed from the start of the buffer.
public enum ChunkedEvent: Equatable, Sendable {
    /// The first n bytes of the given buffer are chunk payload.
    case data(Int)
    /// The first n bytes were framing (size line, extension, CRLF, trailer bytes); message not finished.
    case framing(Int)
    /// The first n bytes were framing and complete the message (the trailer section's final CRLF
    /// was the last of them). `.done(0)` if called again after the message finished.
    case done(Int)
    case error(HTTPParseError)
}

/// Incremental decoder for the chunked transfer coding (RFC 9112 7.1).
///
/// It keeps no bytes, only a state, so size lines, extensions and trailers may be split across
/// calls at any byte, and payload is reported as ranges of the caller's buffer (a proxy
/// forwards it without copying). Extensions are validated and skipped; trailer fields are
/// validated and reported as framing (a proxy that forwards them verbatim can copy the
/// framing bytes).
///
/// Line endings must be CRLF: a LF without CR anywhere in a size line or trailer is
/// `.bareLF` and a CR followed by anything but LF is `.bareCR`. After chunk data anything but
/// exactly CRLF is `.badChunkTerminator`. Errors are sticky.
public struct ChunkedDecoder: Sendable {
    private enum State: UInt8 {
        case size, sizeBWS, sizeLF
        case extBeforeName, extName, extAfterName, extBeforeValue, extToken, extQuoted, extQuotedEscape, extAfterValue
        case data, dataCR, dataLF
        case trailerLineStart, trailerName, trailerValue, trailerLineLF, trailerFinalLF
        case done, failed
    }

    /// Longest accepted run of extension bytes on one size line (from the first ';' up to the CR).
    public static let maxExtensionBytes = 4096
    /// More significant hex digits than this cannot be a sane size (15 digits < 2^60).
    static let maxSizeDigits = 15

    public let maxTrailerBytes: Int
    public private(set) var payloadBytes: UInt64 = 0

    private var state: State = .size
    private var error: HTTPParseError = .badChunkSize
    private var chunkSize: UInt64 = 0
    private var remaining: UInt64 = 0
    private var sawDigit = false
    private var significantDigits = 0
    private var extensionBytes = 0
    private var trailerBytes = 0

    public init(maxTrailerBytes: Int = 32768) {
        self.maxTrailerBytes = maxTrailerBytes
    }

    public var isDone: Bool { state == .done }

    /// Consumes from the start of `buf` and returns one event; every event except `.done(0)`
    /// and `.error` consumes at least one byte when `buf` is non-empty. The caller loops,
    /// advancing by the count. An empty buffer yields `.framing(0)`.
    public mutating func decode(_ buf: UnsafeRawBufferPointer) -> ChunkedEvent {
        switch state {
        case .done: return .done(0)
        case .failed: return .error(error)
        case .data:
            guard !buf.isEmpty else { return .framing(0) }
            let n = remaining < UInt64(buf.count) ? Int(remaining) : buf.count
            remaining -= UInt64(n)
            payloadBytes += UInt64(n)
            if remaining == 0 { state = .dataCR }
            return .data(n)
        default:
            break
        }
        guard let p = buf.baseAddress else { return .framing(0) }
        let n = buf.count
        var i = 0
        while i < n {
            let b = byteAt(p, i)
            i += 1
            if let e = step(b) {
                state = .failed
                error = e
                return .error(e)
            }
            switch state {
            case .data: return .framing(i)
            case .done: return .done(i)
            default: continue
            }
        }
        return .framing(i)
    }

    /// Advances the state machine by one framing byte.
    @inline(__always)
    private mutating func step(_ b: UInt8) -> HTTPParseError? {
        switch state {
        case .size:
            if let h = hexValue(b) {
                sawDigit = true
                if significantDigits > 0 || h != 0 { significantDigits += 1 }
                if significantDigits > Self.maxSizeDigits { return .chunkSizeTooLarge }
                chunkSize = chunkSize << 4 | UInt64(h)
                return nil
            }
            guard sawDigit else { return b == LF ? .bareLF : .badChunkSize }
            switch b {
            case CR: state = .sizeLF
            case SEMI: return beginExtension()
            case SP, HTAB: state = .sizeBWS
            case LF: return .bareLF
            default: return .badChunkSize
            }
        case .sizeBWS:
            // BWS is only allowed before an extension, not before the CRLF.
            if b == SEMI { return beginExtension() }
            if !isOWS(b) { return b == LF ? .bareLF : .badChunkSize }
        case .sizeLF:
            guard b == LF else { return .bareCR }
            if chunkSize > maxBodyLength { return .chunkSizeTooLarge }
            if chunkSize == 0 {
                state = .trailerLineStart
            } else {
                remaining = chunkSize
                state = .data
            }
        case .extBeforeName, .extName, .extAfterName, .extBeforeValue, .extToken, .extQuoted, .extQuotedEscape,
             .extAfterValue:
            return extensionStep(b)
        case .dataCR:
            guard b == CR else { return .badChunkTerminator }
            state = .dataLF
        case .dataLF:
            guard b == LF else { return .badChunkTerminator }
            resetSizeLine()
        case .trailerLineStart, .trailerName, .trailerValue, .trailerLineLF, .trailerFinalLF:
            trailerBytes += 1
            if trailerBytes > maxTrailerBytes { return .trailerTooLarge }
            return trailerStep(b)
        case .data, .done, .failed:
            break  // handled by decode
        }
        return nil
    }

    private mutating func resetSizeLine() {
        state = .size
        chunkSize = 0
        sawDigit = false
        significantDigits = 0
        extensionBytes = 0
    }

    private mutating func beginExtension() -> HTTPParseError? {
        state = .extBeforeName
        extensionBytes = 1
        return nil
    }

    /// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted-string.
    private mutating func extensionStep(_ b: UInt8) -> HTTPParseError? {
        if b != CR {
            extensionBytes += 1
            if extensionBytes > Self.maxExtensionBytes { return .badChunkExtension }
        }
        switch state {
        case .extBeforeName:
            if isTokenChar(b) { state = .extName } else if !isOWS(b) { return extensionError(b) }
        case .extName:
            if isTokenChar(b) { return nil }
            switch b {
            case CR: state = .sizeLF
            case SEMI: state = .extBeforeName
            case EQUALS: state = .extBeforeValue
            case SP, HTAB: state = .extAfterName
            default: return extensionError(b)
            }
        case .extAfterName:
            switch b {
            case SEMI: state = .extBeforeName
            case EQUALS: state = .extBeforeValue
            case SP, HTAB: break
            default: return extensionError(b)
            }
        case .extBeforeValue:
            if b == DQUOTE { state = .extQuoted } else if isTokenChar(b) { state = .extToken } else if !isOWS(b) {
                return extensionError(b)
            }
        case .extToken:
            if isTokenChar(b) { return nil }
            switch b {
            case CR: state = .sizeLF
            case SEMI: state = .extBeforeName
            case SP, HTAB: state = .extAfterValue
            default: return extensionError(b)
            }
        case .extQuoted:
            // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
            if b == DQUOTE {
                state = .extAfterValue
            } else if b == BACKSLASH {
                state = .extQuotedEscape
            } else if isCtl(b) && b != HTAB {
                return extensionError(b)
            }
        case .extQuotedEscape:
            if isCtl(b) && b != HTAB { return extensionError(b) }
            state = .extQuoted
        case .extAfterValue:
            switch b {
            case CR: state = .sizeLF
            case SEMI: state = .extBeforeName
            case SP, HTAB: break
            default: return extensionError(b)
            }
        default:
            break
        }
        return nil
    }

    @inline(__always)
    private func extensionError(_ b: UInt8) -> HTTPParseError { b == LF ? .bareLF : .badChunkExtension }

    /// trailer-section = *( field-line CRLF ) CRLF, with the head's field-line rules.
    private mutating func trailerStep(_ b: UInt8) -> HTTPParseError? {
        switch state {
        case .trailerLineStart:
            if b == CR {
                state = .trailerFinalLF
            } else if isTokenChar(b) {
                state = .trailerName
            } else {
                return b == LF ? .bareLF : isCtl(b) && !isOWS(b) ? .invalidCharacter : .badTrailer
            }
        case .trailerName:
            if b == COLON {
                state = .trailerValue
            } else if !isTokenChar(b) {
                return b == LF ? .bareLF : isCtl(b) && !isOWS(b) && b != CR ? .invalidCharacter : .badTrailer
            }
        case .trailerValue:
            if b == CR {
                state = .trailerLineLF
            } else if b == LF {
                return .bareLF
            } else if isCtl(b) && b != HTAB {
                return .invalidCharacter
            }
        case .trailerLineLF:
            guard b == LF else { return .bareCR }
            state = .trailerLineStart
        case .trailerFinalLF:
            guard b == LF else { return .bareCR }
            state = .done
        default:
            break
        }
        return nil
    }
}
