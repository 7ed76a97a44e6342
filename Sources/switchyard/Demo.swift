import AdminProtocol
import Balancing
import EventLoop
import Glibc
import Origin
import Proxy

/// `switchyard demo`: two built-in storefronts on loopback and the proxy in front of them, with
/// all of blue's traffic. Needs nothing installed and no config file.
enum Demo {
    static let bluePort: UInt16 = 9101
    static let greenPort: UInt16 = 9102

    static func config(port: UInt16) -> String {
        """
        # The embedded demo configuration (see proxy.conf.example for every directive).
        listen 127.0.0.1:\(port)
        workers auto
        pool blue {
            server 127.0.0.1:\(bluePort)
        }
        pool green {
            server 127.0.0.1:\(greenPort)
        }
        split blue=100 green=0
        # `yardctl rollout start green`: 10% -> 50% -> 100%, each step judged against blue.
        rollout green {
            to green
            from blue
            steps 10,50,100
            hold 10s
            min-requests 10
        }
        admin \(AdminDefaults.socketPath)
        timeout upstream 10s
        """
    }

    static func run(port: UInt16) -> Never {
        let config: ProxyConfig
        do { config = try ConfigParser.parse(Self.config(port: port), file: "<demo>") } catch { fail("demo config: \(error)") }
        let blue: OriginServer
        let green: OriginServer
        do {
            blue = try OriginServer(config: OriginConfig.storefront(colour: "blue", version: "v1.0.0", port: bluePort))
            green = try OriginServer(config: OriginConfig.storefront(colour: "green", version: "v1.1.0", port: greenPort))
        } catch {
            fail("cannot start the demo storefronts on 127.0.0.1:\(bluePort)/\(greenPort): \(error)")
        }
        blue.start()
        green.start()
        let banner = """

        Switchyard demo is running.
          proxy            http://127.0.0.1:\(port)/   (split blue=100 green=0)
          blue storefront  http://127.0.0.1:\(bluePort)/  (v1.0.0)
          green storefront http://127.0.0.1:\(greenPort)/  (v1.1.0)

        Try:
          curl -s http://127.0.0.1:\(port)/
          curl -si http://127.0.0.1:\(port)/ | grep X-Served-By
          for i in $(seq 20); do curl -s http://127.0.0.1:\(port)/ | grep -o 'blue\\|green' | head -1; done | sort | uniq -c

        Shift traffic with yardctl (admin socket \(AdminDefaults.socketPath)):
          swift run -c release yardctl status
          swift run -c release yardctl split blue=90 green=10     # canary: 1 in 10 to green
          swift run -c release yardctl split blue=0 green=100     # flip to green
          swift run -c release yardctl split blue=100 green=0     # roll back
          swift run -c release yardctl stats

        Let the proxy run a canary itself (it needs traffic to judge green by):
          while sleep 0.05; do curl -s -o /dev/null http://127.0.0.1:\(port)/; done &
          swift run -c release yardctl rollout start green      # 10% -> 50% -> 100%, live progress
          swift run -c release yardctl rollout status

        Press Ctrl-C to stop.
        """
        let options = ProxyDaemon.Options(version: version, source: .embedded(name: "<demo>"), banner: banner, handlesSignals: true)
        ProxyDaemon.runProcess(config: config, options: options) {
            blue.stop()
            green.stop()
        }
    }
}
