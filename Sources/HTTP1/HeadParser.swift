/// Strict HTTP/1.1 head parser (RFC 9112 / RFC 9110).
///
/// Works in place on the caller's buffer: it records offsets into `MessageHead` and never
/// copies or creates Strings, so parsing a head into a reused `MessageHead` does not allocate.
/// Anything a lenient parser would "fix up" (bare LF, obs-fold, whitespace before a colon,
/// duplicate framing headers) is rejected, because a proxy and its upstream disagreeing on
/// where a message ends is how request smuggling happens.
///
/// Offsets are relative to `buf.baseAddress`. When the result is not `.complete` the contents
/// of `head` are unspecified. Errors in complete lines are reported as soon as they are seen,
/// even before the end of the head has arrived.
///
/// Each parse call walks the head from byte 0, so while reading incrementally call
/// `findHeadEnd` (which resumes) and parse once it reports an end, or once the buffer
/// exceeds `maxHeadBytes` (to get `.headTooLarge`).
public struct HTTPHeadParser: Sendable {
    public var limits: HTTPLimits

    public init(limits: HTTPLimits = .init()) {
        self.limits = limits
    }

    /// Finds the end of a head: returns the index just past the blank line that ends it, or nil.
    ///
    /// `from` lets the caller resume scanning (pass the previous buffer length minus 3,
    /// clamped at 0) so a byte-by-byte sender costs O(n), not O(n^2). Heads ended by bare-LF
    /// lines ("\n\n", "\r\n\n", "\n\r\n") are found too, so that `parseRequest` can reject
    /// them with 400 instead of the caller waiting for 431.
    public func findHeadEnd(_ buf: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let p = buf.baseAddress else { return nil }
        let n = buf.count
        var i = max(0, from)
        while true {
            i = firstLF(p, from: i, to: n)
            if i + 1 >= n { return nil }
            let b = byteAt(p, i + 1)
            if b == LF { return i + 2 }
            if b == CR {
                if i + 2 >= n { return nil }
                if byteAt(p, i + 2) == LF { return i + 3 }
            }
            i += 1
        }
    }

    /// Parses a request head at `buf[0...]`; `buf` may extend past the head (body bytes,
    /// pipelined requests). Returns `.incomplete` if no end was found and
    /// `buf.count <= maxHeadBytes`, `.error(.headTooLarge)` if the head does not end within
    /// `maxHeadBytes`.
    public func parseRequest(_ buf: UnsafeRawBufferPointer, into head: inout MessageHead) -> HeadParseResult {
        parse(buf, isRequest: true, requestMethod: .get, into: &head)
    }

    /// Parses a response head. Framing follows RFC 9112 6.3: a response to HEAD, a 1xx
    /// (including 101), 204, 304, or a 2xx to CONNECT has `.none`; otherwise `.chunked` if
    /// Transfer-Encoding ends in chunked, else `.contentLength`, else `.untilClose` (also when
    /// Transfer-Encoding is present but does not end in chunked, or in an HTTP/1.0 response).
    public func parseResponse(_ buf: UnsafeRawBufferPointer, requestMethod: HTTPMethod,
                              into head: inout MessageHead) -> HeadParseResult {
        parse(buf, isRequest: false, requestMethod: requestMethod, into: &head)
    }

    // MARK: - Implementation

    private func parse(_ buf: UnsafeRawBufferPointer, isRequest: Bool, requestMethod: HTTPMethod,
                       into head: inout MessageHead) -> HeadParseResult {
        head.reset()
        let count = buf.count
        guard let p = buf.baseAddress, count > 0 else { return .incomplete }
        // Clamped again here because `limits` is mutable: Int32 offsets must always fit.
        let maxHead = max(0, min(limits.maxHeadBytes, Int(Int32.max)))
        let scan = LineScanner(p: p, limit: min(count, maxHead), tooLarge: count > maxHead)

        var i: Int
        switch isRequest ? scan.requestLine(&head) : scan.statusLine(&head) {
        case .next(let n): i = n
        case .stop(let r): return r
        }

        var summary = FieldSummary()
        let maxFields = limits.maxFields
        // The field loop stays here: moved into helpers, even @inline(__always) ones, it took
        // 1.5-7% more instructions per head (callgrind), as the optimizer then made other
        // inlining choices that slow the byte loops.
        while true {
            // Line start: the empty line ends the head; anything else is a field line.
            guard i < scan.limit else { return scan.needMore }
            let first = byteAt(p, i)
            if first == CR {
                guard i + 1 < scan.limit else { return scan.needMore }
                guard byteAt(p, i + 1) == LF else { return .error(.bareCR) }
                head.headLength = i + 2
                break
            }
            if first == LF { return .error(.bareLF) }
            if isOWS(first) { return .error(.obsFold) }

            let nameStart = i
            while i < scan.limit && isTokenChar(byteAt(p, i)) { i += 1 }
            guard i < scan.limit else { return scan.needMore }
            if byteAt(p, i) != COLON {
                if i > nameStart && isOWS(byteAt(p, i)) { return .error(.whitespaceBeforeColon) }
                return scan.unexpected(i, otherwise: .badHeaderName)
            }
            if i == nameStart { return .error(.badHeaderName) }
            let nameEnd = i
            i += 1
            while i < scan.limit && isOWS(byteAt(p, i)) { i += 1 }
            let valueStart = i
            let cr: Int
            switch scan.toLineEnd(i) {
            case .next(let n): cr = n
            case .stop(let r): return r
            }
            var valueEnd = cr
            while valueEnd > valueStart && isOWS(byteAt(p, valueEnd - 1)) { valueEnd -= 1 }
            i = cr + 2

            if head.fields.count >= maxFields { return .error(.tooManyFields) }
            let name = classifyHeaderName(p, nameStart, nameEnd)
            if let e = summary.observe(name, p, valueStart, valueEnd, index: head.fields.count,
                                       isRequest: isRequest, head: &head) {
                return .error(e)
            }
            head.fields.append(HeaderField(name: name, nameStart: Int32(truncatingIfNeeded: nameStart),
                                           nameEnd: Int32(truncatingIfNeeded: nameEnd),
                                           valueStart: Int32(truncatingIfNeeded: valueStart),
                                           valueEnd: Int32(truncatingIfNeeded: valueEnd),
                                           hopByHop: name.isAlwaysHopByHop))
        }

        if summary.hasOtherConnectionOptions { markConnectionOptions(p, &head.fields) }
        let persistent = head.versionMinor == 1 ? !summary.closeOption : (summary.keepAliveOption && !summary.closeOption)
        if isRequest {
            return finishRequest(summary, persistent: persistent, &head)
        }
        return finishResponse(summary, persistent: persistent, requestMethod: requestMethod, &head)
    }

    /// Request framing (RFC 9112 6.1-6.3): chunked only as the single, final coding, and never
    /// together with Content-Length; HTTP/1.1 requires Host.
    @inline(__always)
    private func finishRequest(_ summary: FieldSummary, persistent: Bool, _ head: inout MessageHead) -> HeadParseResult {
        if summary.transferEncoding {
            if head.versionMinor == 0 { return .error(.badTransferEncoding) }
            if summary.contentLength != nil { return .error(.contentLengthWithTransferEncoding) }
            if !summary.endsInSingleChunked { return .error(.transferEncodingNotChunked) }
            head.framing = .chunked
        } else if let cl = summary.contentLength {
            head.framing = .contentLength(cl)
        }
        if head.versionMinor == 1 && head.hostField < 0 { return .error(.missingHost) }
        head.keepAlive = persistent
        return .complete
    }

    /// Response framing; see `parseResponse`.
    @inline(__always)
    private func finishResponse(_ summary: FieldSummary, persistent: Bool, requestMethod: HTTPMethod,
                                _ head: inout MessageHead) -> HeadParseResult {
        if summary.transferEncoding {
            if summary.contentLength != nil { return .error(.contentLengthWithTransferEncoding) }
            if summary.chunkedCount > 1 { return .error(.transferEncodingNotChunked) }
        }
        let s = head.status
        if requestMethod == .head || s < 200 || s == 204 || s == 304 || (requestMethod == .connect && s < 300) {
            head.framing = .none
        } else if summary.transferEncoding {
            // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty;
            // reading until close is the one interpretation that cannot desynchronise.
            head.framing = summary.endsInSingleChunked && head.versionMinor == 1 ? .chunked : .untilClose
        } else if let cl = summary.contentLength {
            head.framing = .contentLength(cl)
        } else {
            head.framing = .untilClose
        }
        head.keepAlive = persistent && head.framing != .untilClose
        return .complete
    }
}
