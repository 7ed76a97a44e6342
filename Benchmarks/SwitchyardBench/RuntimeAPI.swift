import Glibc
import Synchronization
import EventLoop

/// A tiny blocking Unix-socket client with a deadline on every read and write (SO_RCVTIMEO /
/// SO_SNDTIMEO). The bench does not depend on the Admin module, so it speaks the line protocols
/// itself: Switchyard's admin socket (one JSON reply line per command line) and HAProxy's
/// runtime API (one command line per connection, the reply ends when HAProxy closes).
final class UnixLineClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init?(path: String, timeoutMS: Int = 2000) {
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return nil }
        var tv = timeval(tv_sec: timeoutMS / 1000, tv_usec: (timeoutMS % 1000) * 1000)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { Glibc.close(s); return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { Glibc.close(s); return nil }
        fd = s
    }

    deinit { Glibc.close(fd) }

    func send(_ line: String) -> Bool {
        let bytes = Array((line + "\n").utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            off += n
        }
        return true
    }

    /// The next line (without the newline), or nil on timeout / EOF.
    func readLine() -> String? {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeFirst(nl + 1)
                return line
            }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, 4096) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
        }
    }

    /// Everything until the peer closes (HAProxy's runtime API in non-interactive mode).
    func readAll() -> String? {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, 4096) }
            if n < 0 && errno == EINTR { continue }
            if n == 0 { return String(decoding: buffer, as: UTF8.self) }
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
        }
    }
}

/// Changing a contender's blue/green split at run time.
enum SplitControl {
    /// True when `c` has a runtime weight API the bench can drive (nginx: only with the
    /// commercial nginx Plus API, so no).
    static func supported(_ c: Contender) -> Bool {
        c.adminSocket != nil && (c.kind.isSwitchyard || c.kind == .haproxy)
    }

    /// Switchyard: a persistent admin connection; one `split …` line, one JSON reply line.
    final class Switchyard {
        let client: UnixLineClient
        init?(path: String) {
            guard let c = UnixLineClient(path: path) else { return nil }
            client = c
        }
        /// Nil on success, else the reply (or "no reply").
        func set(blue: Int, green: Int) -> String? {
            guard client.send("split blue=\(blue) green=\(green)") else { return "send failed" }
            guard let reply = client.readLine() else { return "no reply" }
            return reply.contains("\"ok\":true") || reply.contains("\"ok\": true") ? nil : reply
        }
    }

    /// HAProxy: `set weight storefront/green M; set weight storefront/blue N` on a fresh
    /// connection to the stats socket; an empty reply means success. The server whose weight
    /// rises is set first: the other order leaves both at 0 for a moment, and HAProxy answers 503.
    static func haproxy(path: String, blue: Int, green: Int) -> String? {
        guard let c = UnixLineClient(path: path) else { return "connect failed" }
        let b = "set weight storefront/blue \(blue)", g = "set weight storefront/green \(green)"
        guard c.send(green > 0 ? "\(g); \(b)" : "\(b); \(g)") else { return "send failed" }
        guard let reply = c.readAll() else { return "no reply" }
        let text = reply.split(separator: "\n").joined(separator: " ").trimmingCharacters(in: " ")
        return text.isEmpty ? nil : text
    }

    /// One-shot set, whichever contender (nil = done).
    static func set(_ c: Contender, blue: Int, green: Int) -> String? {
        guard let path = c.adminSocket else { return "no runtime API" }
        switch c.kind {
        case .switchyard, .baseline:
            guard let s = Switchyard(path: path) else { return "connect failed" }
            return s.set(blue: blue, green: green)
        case .haproxy: return haproxy(path: path, blue: blue, green: green)
        default: return "no runtime API"
        }
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String { Substring(self).trimmingCharacters(in: set) }
}

/// A thread that flips the split blue=100/green=0 ↔ blue=0/green=100 every `intervalMS` until
/// stopped, counting commands sent and failed.
final class SplitFlipper: @unchecked Sendable {
    private struct State { var stop = false; var flips = 0; var failures = 0; var lastError: String? = nil }
    private let state = Mutex(State())
    private var thread: LoopThread? = nil

    init(_ c: Contender, intervalMS: Int) {
        let kind = c.kind, path = c.adminSocket ?? ""
        thread = LoopThread { [self] in
            let sy = kind.isSwitchyard ? SplitControl.Switchyard(path: path) : nil
            var toGreen = true
            var next = Clock.nowNS()
            while !state.withLock({ $0.stop }) {
                let (b, g) = toGreen ? (0, 100) : (100, 0)
                let err: String?
                if kind.isSwitchyard {
                    if let sy { err = sy.set(blue: b, green: g) } else { err = "admin connect failed" }
                } else {
                    err = SplitControl.haproxy(path: path, blue: b, green: g)
                }
                state.withLock { s in
                    s.flips += 1
                    if let err { s.failures += 1; s.lastError = err }
                }
                toGreen.toggle()
                next += UInt64(intervalMS) * 1_000_000
                let now = Clock.nowNS()
                if next > now { Clock.sleep(ms: Int((next - now) / 1_000_000)) } else { next = now }
            }
        }
    }

    /// Stops and joins the thread; returns (flips, failures, last error).
    func stop() -> (Int, Int, String?) {
        state.withLock { $0.stop = true }
        thread?.join()
        thread = nil
        return state.withLock { ($0.flips, $0.failures, $0.lastError) }
    }
}
