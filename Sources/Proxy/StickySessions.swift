import Balancing
import EventLoop

/// `sticky cookie NAME key FILE`, ready for the request path: the cookie codec with its key
/// loaded and the attributes of the Set-Cookie line. Immutable and shared by the workers
/// through the snapshot.
public final class StickySessions: Sendable {
    public let cookieName: String
    let codec: StickyCookie
    public let maxAgeS: Int64

    public init(cookieName: String, key: [UInt8], maxAgeS: Int64) {
        self.cookieName = cookieName
        self.codec = StickyCookie(key: key)
        self.maxAgeS = maxAgeS
    }

    /// Loads `config`: the key file must hold at least `StickyCookie.minKeyLength` bytes of
    /// secret (surrounding whitespace ignored). Anything wrong is a config error at the
    /// directive's line that names the file.
    public static func load(_ config: StickyConfig, file: String) throws(ConfigError) -> StickySessions {
        func fail(_ why: String) -> ConfigError { ConfigError(file: file, line: config.line, message: "sticky: \(why)") }
        let keyFile = config.keyFile
        let bytes: [UInt8]
        do {
            bytes = try Files.read(keyFile, limit: 65536)
        } catch {
            throw fail("cannot read the key file \(keyFile): \(SocketError.text(error.errno))")
        }
        guard bytes.count <= 65536 else { throw fail("the key file \(keyFile) is larger than 64 KiB; is it the right file?") }
        guard let key = StickyCookie.loadKey(fileContents: bytes) else {
            throw fail("the key file \(keyFile) holds less than \(StickyCookie.minKeyLength) bytes of key (make one with: head -c 32 /dev/urandom | base64 > \(keyFile))")
        }
        return StickySessions(cookieName: config.cookieName, key: key, maxAgeS: max(1, config.maxAgeMS / 1000))
    }

    /// The pool name and rollout id of a valid cookie among the request's Cookie fields.
    func decode(cookieHeader: UnsafeRawBufferPointer, nowS: Int64) -> (pool: String, rolloutID: UInt64)? {
        guard let range = StickyCookie.cookieValue(named: cookieName, inCookieHeader: cookieHeader) else { return nil }
        return codec.decode(UnsafeRawBufferPointer(rebasing: cookieHeader[range]), nowS: nowS, maxAgeS: maxAgeS)
    }

    /// The whole `Set-Cookie: ...\r\n` line for a shopper assigned to `pool`.
    func setCookieLine(pool: String, rolloutID: UInt64, nowS: Int64) -> [UInt8] {
        let value = codec.encode(pool: pool, rolloutID: rolloutID, issuedAtS: nowS)
        return Array("Set-Cookie: \(cookieName)=\(value); Path=/; Max-Age=\(maxAgeS); HttpOnly; SameSite=Lax\r\n".utf8)
    }
}

/// Wall-clock seconds, for cookie issue times (they must survive restarts and agree between
/// proxies, so not the monotonic clock).
@inline(__always)
func wallClockSeconds() -> Int64 { WallClock.coarseSeconds() }

/// A worker's side of stickiness: which pool a request goes to, and the cached Set-Cookie lines
/// (one HMAC per pool per second, not one per new shopper).
struct StickyRouter {
    /// Stickiness applies only while two or more pools have traffic (a canary split or a
    /// rollout step); with one pool there is nothing to stick to.
    var active = false
    private var cache: [(pool: Int, epoch: UInt64, second: Int64, line: [UInt8])] = []

    mutating func reset(active: Bool) {
        self.active = active
        cache.removeAll()
    }

    mutating func setCookieLine(_ sticky: StickySessions, pool: Int, poolName: String, epoch: UInt64) -> [UInt8] {
        let now = wallClockSeconds()
        if let i = cache.firstIndex(where: { $0.pool == pool }) {
            if cache[i].second == now && cache[i].epoch == epoch { return cache[i].line }
            cache[i] = (pool, epoch, now, sticky.setCookieLine(pool: poolName, rolloutID: epoch, nowS: now))
            return cache[i].line
        }
        let line = sticky.setCookieLine(pool: poolName, rolloutID: epoch, nowS: now)
        cache.append((pool, epoch, now, line))
        return line
    }
}
