import Testing

@testable import Balancing
import TestSupport

/// The parser will be fuzzed: it must never crash or hang, and every error
/// must point at a real line (or 0 for whole-file problems).
@Suite struct ConfigFuzzTests {
    static let seed = """
        listen 127.0.0.1:8080
        listen [::1]:8080
        workers 4
        admin /tmp/a.sock group wheel
        pool blue {
            server 10.0.1.11:8080 weight 2 max-conn 100
            server [fd00::1]:80
            health GET /healthz interval 2s timeout 1s rise 2 fall 3 expect 200-399 initial up
            eject-after 5
            eject-on 5xx
            max-eject 50%
            slow-start 30s
            retries 2
            failover off
        }
        pool green {
            server 10.0.2.11:8080
        }
        split blue=90 green=10
        timeout connect 2s
        timeout upstream-idle 500ms
        timeout queue 5s
        limit header-bytes 32k
        limit body-bytes 1g
        limit connections 100
        trusted-proxies 10.0.0.0/8 ::1
        sticky cookie yard key /tmp/k max-age 30m
        access-log /tmp/a.log buffer 64k flush 1s
        rollout green {
            from blue
            steps 1,50,100
            hold 30s
            max-error-rate 0.5%
            max-p99 2x
            min-requests 100
        }
        """

    private static let fragments: [[UInt8]] = [
        "{", "}", "#", "\n", "\r\n", " ", "\t", "=", ":", "[", "]", "/", ".", "0", "-1", "99999999999999999999", "pool", "server",
        "listen", "split", "weight", "ms", "k", "g", "\u{0}", "\u{FEFF}", "é", "::", "*",
        "health", "GET", "interval", "timeout", "rise", "fall", "expect", "-", "%", "off", "on", "max-conn", "initial",
        "rollout", "to", "from", "steps", "hold", "1,5,100", "x", "sticky", "cookie", "key", "max-age", "access-log", "buffer", "flush",
    ].map { Array($0.utf8) }

    private static func check(_ text: String) {
        let lineCount = text.utf8.reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        do {
            let config = try ConfigParser.parse(text, file: "fuzz")
            // Invariants of any accepted config.
            #expect(!config.listeners.isEmpty && !config.pools.isEmpty)
            #expect(config.split.count == config.pools.count && config.split.contains { $0 > 0 })
            for pool in config.pools {
                if let h = pool.health {
                    #expect(h.timeoutMS > 0 && h.timeoutMS < h.intervalMS && (1...100).contains(h.rise) && (1...100).contains(h.fall))
                    #expect(100 <= h.expectLow && h.expectLow <= h.expectHigh && h.expectHigh <= 599 && h.path.hasPrefix("/"))
                }
                #expect(pool.ejectAfter.map { (1...1000).contains($0) } ?? true)
                #expect((0...100).contains(pool.maxEjectPercent) && (0...10).contains(pool.retries) && pool.slowStartMS >= 0)
                #expect(pool.servers.allSatisfy { s in s.maxConn.map { (1...100_000).contains($0) } ?? true })
            }
            if let s = config.sticky {
                #expect((1...64).contains(s.cookieName.utf8.count) && (1000...2_592_000_000).contains(s.maxAgeMS) && !s.keyFile.isEmpty)
            }
            if let a = config.accessLog {
                #expect((4096...16 << 20).contains(a.bufferBytes) && (10...60_000).contains(a.flushMS) && !a.path.isEmpty)
            }
            #expect(Set(config.rollouts.map(\.name)).count == config.rollouts.count)
            for plan in config.rollouts {
                #expect(config.poolIndex(named: plan.spec.newPool) != nil && config.poolIndex(named: plan.spec.oldPool) != nil)
                #expect(plan.spec.newPool != plan.spec.oldPool && plan.spec.steps.last == 100)
            }
        } catch let e as ConfigError {
            if !(0...lineCount).contains(e.line) || e.message.isEmpty {
                Issue.record("bad error \(e) for \(text.debugDescription)")
            }
        } catch {
            Issue.record("non-ConfigError \(error)")
        }
    }

    @Test func seedIsValid() throws {
        let c = try ConfigParser.parse(Self.seed, file: "seed")
        #expect(c.pools[0].health?.initialUp == true && c.pools[0].failover == false && c.pools[0].servers[0].maxConn == 100)
        #expect(c.sticky != nil && c.accessLog != nil && c.rollouts.first?.spec.oldPool == "blue")
    }

    @Test func mutationsOfAValidConfig() {
        var rng = SplitMix64(seed: 1234)
        let original = Array(Self.seed.utf8)
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 5 {
                case 0 where !bytes.isEmpty: bytes.remove(at: at)
                case 1: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                case 2: bytes.insert(contentsOf: Self.fragments[Int(rng.next() % UInt64(Self.fragments.count))], at: at)
                case 3 where !bytes.isEmpty:
                    let end = min(bytes.count, at + Int(rng.next() % 40))
                    bytes.removeSubrange(at..<end)
                default:
                    if !bytes.isEmpty { bytes[at] = UInt8(truncatingIfNeeded: rng.next()) }
                }
            }
            Self.check(String(decoding: bytes, as: UTF8.self))
        }
    }

    @Test func randomGarbage() {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<1000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(rng.next() % 30) {
                if rng.next() % 2 == 0 {
                    bytes.append(contentsOf: Self.fragments[Int(rng.next() % UInt64(Self.fragments.count))])
                } else {
                    bytes.append(UInt8(truncatingIfNeeded: rng.next()))
                }
            }
            Self.check(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// Big inputs must stay linear (a quadratic split or duplicate check would hang here).
    @Test func largeInputsStayFast() throws {
        let names = (0..<20_000).map { "p\($0)" }
        var text = "listen 127.0.0.1:8080\n"
        for name in names { text += "pool \(name) {\nserver 10.0.0.1:80\n}\n" }
        text += "split " + names.map { "\($0)=1" }.joined(separator: " ") + "\n"
        // Each plan's default 'from' must not scan the pools again.
        for name in names { text += "rollout \(name) {\n}\n" }
        text += "trusted-proxies " + (0..<20_000).map { "10.\($0 >> 8 & 255).\($0 & 255).0/24" }.joined(separator: " ") + "\n"
        let config = try ConfigParser.parse(text, file: "big")
        #expect(config.pools.count == 20_000)
        #expect(config.split.allSatisfy { $0 == 1 })
        #expect(config.rollouts.count == 20_000 && config.rollouts[0].spec.oldPool == "p1" && config.rollouts[1].spec.oldPool == "p0")

        // Pathological single lines.
        Self.check(String(repeating: "{", count: 200_000))
        Self.check("listen " + String(repeating: "x", count: 200_000))
        Self.check(String(repeating: "a", count: 200_000))
        Self.check(String(repeating: "\n", count: 200_000) + "}")
        Self.check("split " + String(repeating: "a=1 ", count: 50_000))
    }

    @Test func quotingIsSafe() {
        #expect(quoted("abc") == "'abc'")
        #expect(quoted("a'b\\c") == "'a\\'b\\\\c'")
        #expect(quoted("a\u{0}\u{1B}[31m") == "'a\\u{0}\\u{1b}[31m'")
        #expect(quoted(String(repeating: "x", count: 1000)) == "'" + String(repeating: "x", count: 60) + "...'")
    }
}
