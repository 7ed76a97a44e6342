import EventLoop
import Synchronization

/// A tiny, fast HTTP/1.1 origin: one epoll loop per thread, each with its own SO_REUSEPORT
/// listener, answering from pre-rendered bytes. Used as the demo storefronts and as the
/// benchmark upstream, where it must cost less per request than any proxy in front of it.
public final class OriginServer: @unchecked Sendable {
    private enum State { case idle, running, stopped }

    private let loops: [OriginLoop]
    /// Serving on a loop the caller runs (see `init(config:loop:)`).
    private let attached: Bool
    private let state = Mutex<(State, [LoopThread])>((.idle, []))
    /// The bound port (the ephemeral one when the config asked for port 0).
    public let port: UInt16

    /// Binds every listener now, so `port` is known and a bind error surfaces here.
    public init(config: OriginConfig) throws {
        DescriptorLimit.raiseToHardLimit()
        let responses = Responses(config: config)
        let threads = max(1, config.threads)
        var address = config.address
        if threads > 1 && address.port != 0 {
            // SO_REUSEPORT would silently share a port some other server already holds.
            try Socket.listening(on: address, reusePort: false).close()
        }
        var built: [OriginLoop] = []
        var port: UInt16 = address.port
        do {
            for i in 0..<threads {
                let listening = try Socket.listening(on: address, reusePort: threads > 1)
                if i == 0 {
                    port = listening.localAddress?.port ?? address.port
                    address = SocketAddress(ip: address.ipString, port: port) ?? address
                }
                do {
                    built.append(try OriginLoop(loop: try EventLoop(index: i), listening: listening, responses: responses,
                                                idleTimeoutSeconds: config.idleTimeoutSeconds))
                } catch {
                    listening.close()
                    throw error
                }
            }
        } catch {
            for l in built { l.shutdown() }
            throw error
        }
        loops = built
        self.port = port
        attached = false
    }

    /// Serves on `loop`, which the caller owns, runs and stops, so the origin can share one
    /// thread with other work (the benchmark puts its load generator and both upstreams on one
    /// loop: no context switches between them). Call it before the loop runs or on its thread;
    /// `config.threads` is ignored, `start()` does nothing, and `stop()` must be called on the
    /// loop's thread or after the loop has stopped.
    public init(config: OriginConfig, loop: EventLoop) throws {
        DescriptorLimit.raiseToHardLimit()
        let listening = try Socket.listening(on: config.address, reusePort: false)
        port = listening.localAddress?.port ?? config.address.port
        do {
            loops = [try OriginLoop(loop: loop, listening: listening, responses: Responses(config: config),
                                    idleTimeoutSeconds: config.idleTimeoutSeconds)]
        } catch {
            listening.close()
            throw error
        }
        attached = true
    }

    deinit { stop() }

    /// Starts one thread per loop. Calling it again does nothing.
    public func start() {
        state.withLock { s in
            guard s.0 == .idle, !attached else { return }
            s.0 = .running
            s.1 = loops.map { ol in LoopThread { ol.loop.run() } }
        }
    }

    /// Closes listeners and connections, stops the loops and joins their threads. Idempotent.
    public func stop() {
        let (previous, threads) = state.withLock { s -> (State, [LoopThread]) in
            let old = s
            s = (.stopped, [])
            return old
        }
        switch previous {
        case .stopped:
            return
        case .idle:
            for ol in loops { ol.shutdown() }
        case .running:
            for ol in loops {
                ol.loop.execute { ol.shutdown() }
                ol.loop.stop()
            }
            for t in threads { t.join() }
        }
    }
}
