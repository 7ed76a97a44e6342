// Line-level scanning of a head: start lines, field values and CRLF handling.

/// Start-line and line-level scanning over the bytes that may belong to the head.
struct LineScanner {
    let p: UnsafeRawPointer
    /// min(buffer count, maxHeadBytes): bytes past it can never be part of an acceptable head.
    let limit: Int
    /// The buffer holds more than maxHeadBytes, so running into `limit` means 431, not "wait".
    let tooLarge: Bool

    enum Step {
        case next(Int)
        case stop(HeadParseResult)
    }

    var needMore: HeadParseResult { tooLarge ? .error(.headTooLarge) : .incomplete }

    /// Classifies a byte that cannot appear where it was found. A CRLF there means the
    /// line ended early, which is reported as `otherwise`.
    func unexpected(_ i: Int, otherwise: HTTPParseError) -> HeadParseResult {
        let b = byteAt(p, i)
        if b == LF { return .error(.bareLF) }
        if b == CR {
            guard i + 1 < limit else { return needMore }
            return .error(byteAt(p, i + 1) == LF ? otherwise : .bareCR)
        }
        if isCtl(b) { return .error(.invalidCharacter) }
        return .error(otherwise)
    }

    /// Scans field-value / reason-phrase bytes from `i` (VCHAR, obs-text, SP, HTAB) and
    /// returns the index of the CR of the terminating CRLF.
    @inline(__always)
    func toLineEnd(_ start: Int) -> Step {
        var j = start
        while true {
            j = firstCtl(p, from: j, to: limit)
            guard j < limit else { return .stop(needMore) }
            let b = byteAt(p, j)
            if b == HTAB {
                j += 1
                continue
            }
            if b == CR {
                guard j + 1 < limit else { return .stop(needMore) }
                return byteAt(p, j + 1) == LF ? .next(j) : .stop(.error(.bareCR))
            }
            return .stop(.error(b == LF ? .bareLF : .invalidCharacter))
        }
    }

    /// Expects exactly CRLF at `i`; returns the index after it.
    func crlf(_ i: Int, otherwise: HTTPParseError) -> Step {
        guard i < limit else { return .stop(needMore) }
        if byteAt(p, i) == CR {
            guard i + 1 < limit else { return .stop(needMore) }
            if byteAt(p, i + 1) == LF { return .next(i + 2) }
            return .stop(.error(.bareCR))
        }
        return .stop(unexpected(i, otherwise: otherwise))
    }

    /// "HTTP/" DIGIT "." DIGIT at `i`. Only 1.0 and 1.1 are supported; any other
    /// well-formed version is `.unsupportedVersion`, anything else `otherwise`.
    func version(_ i: Int, otherwise: HTTPParseError, head: inout MessageHead) -> Step {
        let prefix: StaticString = "HTTP/"
        var k = 0
        while k < 8 {
            guard i + k < limit else { return .stop(needMore) }
            let b = byteAt(p, i + k)
            let ok: Bool
            switch k {
            case 0..<5: ok = b == prefix.utf8Start[k]
            case 6: ok = b == 0x2E
            default: ok = b &- 0x30 < 10
            }
            if !ok { return .stop(unexpected(i + k, otherwise: otherwise)) }
            k += 1
        }
        let major = byteAt(p, i + 5) &- 0x30
        let minor = byteAt(p, i + 7) &- 0x30
        guard major == 1 && minor <= 1 else { return .stop(.error(.unsupportedVersion)) }
        head.versionMinor = minor
        return .next(i + 8)
    }

    /// request-line = method SP request-target SP HTTP-version CRLF, with single spaces.
    func requestLine(_ head: inout MessageHead) -> Step {
        var i = 0
        while i < limit && isTokenChar(byteAt(p, i)) { i += 1 }
        guard i < limit else { return .stop(needMore) }
        if i == 0 || byteAt(p, i) != SP { return .stop(unexpected(i, otherwise: .badRequestLine)) }
        head.method = classifyMethod(p, 0, i)
        head.methodEnd = Int32(truncatingIfNeeded: i)
        i += 1

        let targetStart = i
        // Visible ASCII only: no CTL, SP, DEL, and no raw non-ASCII (it is not a valid URI).
        i = firstNonVisible(p, from: i, to: limit)
        guard i < limit else { return .stop(needMore) }
        if i == targetStart || byteAt(p, i) != SP { return .stop(unexpected(i, otherwise: .badRequestLine)) }
        head.targetStart = Int32(truncatingIfNeeded: targetStart)
        head.targetEnd = Int32(truncatingIfNeeded: i)
        i += 1

        switch version(i, otherwise: .badRequestLine, head: &head) {
        case .next(let n): i = n
        case .stop(let r): return .stop(r)
        }
        return crlf(i, otherwise: .badRequestLine)
    }

    /// status-line = HTTP-version SP 3DIGIT SP [reason-phrase] CRLF. "HTTP/1.1 200\r\n"
    /// (no SP after the code) is accepted too; RFC 9112 4 asks recipients to.
    func statusLine(_ head: inout MessageHead) -> Step {
        var i: Int
        switch version(0, otherwise: .badStatusLine, head: &head) {
        case .next(let n): i = n
        case .stop(let r): return .stop(r)
        }
        guard i < limit else { return .stop(needMore) }
        if byteAt(p, i) != SP { return .stop(unexpected(i, otherwise: .badStatusLine)) }
        i += 1
        var status = 0
        for _ in 0..<3 {
            guard i < limit else { return .stop(needMore) }
            let d = byteAt(p, i) &- 0x30
            if d > 9 { return .stop(unexpected(i, otherwise: .badStatusLine)) }
            status = status * 10 + Int(d)
            i += 1
        }
        guard status >= 100 && status <= 599 else { return .stop(.error(.badStatusLine)) }
        head.status = status
        guard i < limit else { return .stop(needMore) }
        if byteAt(p, i) == SP {
            i += 1
            head.reasonStart = Int32(truncatingIfNeeded: i)
            switch toLineEnd(i) {
            case .next(let cr):
                head.reasonEnd = Int32(truncatingIfNeeded: cr)
                return .next(cr + 2)
            case .stop(let r):
                return .stop(r)
            }
        }
        head.reasonStart = Int32(truncatingIfNeeded: i)
        head.reasonEnd = Int32(truncatingIfNeeded: i)
        return crlf(i, otherwise: .badStatusLine)
    }
}
