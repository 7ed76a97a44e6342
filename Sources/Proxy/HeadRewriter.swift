import HTTP1

/// Builds the heads Switchyard forwards: the request to the upstream (hop-by-hop fields removed,
/// X-Forwarded-* set) and the response to the client (hop-by-hop removed, our own version and
/// connection handling). Pure over byte buffers, so it is cheap and testable.
enum HeadRewriter {
    struct RequestContext {
        var clientIP: UnsafeRawBufferPointer
        var trusted: Bool
        var upgrade: Bool
        var fallbackHost: UnsafeRawBufferPointer   // when an HTTP/1.0 request has no Host
    }

    @inline(__always)
    private static func slice(_ buf: UnsafeRawBufferPointer, _ start: Int32, _ end: Int32) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buf[Int(start)..<Int(end)])
    }

    /// Writes the forwarded request head. Returns false on overflow (caller answers 431).
    static func writeRequest(_ head: MessageHead, from src: UnsafeRawBufferPointer, context ctx: RequestContext,
                             into w: inout ByteWriter) -> Bool {
        w.append(slice(src, head.methodStart, head.methodEnd))
        w.append(byte: 0x20)
        w.append(slice(src, head.targetStart, head.targetEnd))
        w.append(" HTTP/1.1\r\n")
        var sawXFF = false
        for f in head.fields {
            switch f.name {
            case .upgrade:
                if !ctx.upgrade { continue }
            case .xForwardedFor:
                // Appended to (trusted peer) or replaced: written once, below.
                sawXFF = true
                continue
            case .xForwardedProto, .xForwardedHost, .forwarded:
                if !ctx.trusted { continue }
            default:
                if f.hopByHop { continue }
            }
            w.append(slice(src, f.nameStart, f.nameEnd))
            w.append(": ")
            w.append(slice(src, f.valueStart, f.valueEnd))
            w.append("\r\n")
        }
        if head.hostField < 0 {
            w.append("Host: ")
            w.append(ctx.fallbackHost)
            w.append("\r\n")
        }
        if ctx.upgrade { w.append("Connection: upgrade\r\n") }
        w.append("X-Forwarded-For: ")
        if ctx.trusted && sawXFF {
            for f in head.fields where f.name == .xForwardedFor && f.valueEnd > f.valueStart {
                w.append(slice(src, f.valueStart, f.valueEnd))
                w.append(", ")
            }
        }
        w.append(ctx.clientIP)
        w.append("\r\n")
        if !(ctx.trusted && head.fields.contains(where: { $0.name == .xForwardedProto })) {
            w.append("X-Forwarded-Proto: http\r\n")
        }
        if !(ctx.trusted && head.fields.contains(where: { $0.name == .xForwardedHost })), head.hostField >= 0 {
            let h = head.fields[head.hostField]
            w.append("X-Forwarded-Host: ")
            w.append(slice(src, h.valueStart, h.valueEnd))
            w.append("\r\n")
        }
        w.append("\r\n")
        return !w.overflowed
    }

    enum ConnectionHeader { case none, close, keepAlive, upgrade }

    /// Writes the response head for the client. `dropTransferEncoding` when the body is decoded
    /// for an HTTP/1.0 client.
    static func writeResponse(_ head: MessageHead, from src: UnsafeRawBufferPointer, connection: ConnectionHeader,
                              dropTransferEncoding: Bool, extraLine: [UInt8]? = nil, into w: inout ByteWriter) -> Bool {
        w.append("HTTP/1.1 ")
        w.appendDecimal(UInt64(head.status))
        w.append(byte: 0x20)
        if head.reasonEnd > head.reasonStart {
            w.append(slice(src, head.reasonStart, head.reasonEnd))
        }
        w.append("\r\n")
        for f in head.fields {
            if f.name == .upgrade && connection == .upgrade {
                // kept for 101 Switching Protocols
            } else if f.hopByHop || (dropTransferEncoding && f.name == .transferEncoding) {
                continue
            }
            w.append(slice(src, f.nameStart, f.nameEnd))
            w.append(": ")
            w.append(slice(src, f.valueStart, f.valueEnd))
            w.append("\r\n")
        }
        if let extraLine { extraLine.withUnsafeBytes { w.append($0) } }
        switch connection {
        case .none: break
        case .close: w.append("Connection: close\r\n")
        case .keepAlive: w.append("Connection: keep-alive\r\n")
        case .upgrade: w.append("Connection: upgrade\r\n")
        }
        w.append("\r\n")
        return !w.overflowed
    }
}
