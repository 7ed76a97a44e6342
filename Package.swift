// swift-tools-version:6.0
import PackageDescription

/// Release builds drop Swift's dynamic exclusivity checks on the request path (measured: about
/// 3% of the proxy's CPU in swift_beginAccess); debug builds and tests keep them. Cross-module
/// optimization lets the request path inline EventLoop's small socket calls (measured with
/// callgrind: about 0.5% fewer instructions per request).
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "Switchyard",
    products: [
        .executable(name: "switchyard", targets: ["switchyard"]),
        .executable(name: "yardctl", targets: ["yardctl"]),
        .executable(name: "switchyard-bench", targets: ["SwitchyardBench"]),
    ],
    targets: [
        // C shim: what Glibc does not export to Swift (epoll, eventfd, signalfd, accept4, CMSG).
        .target(name: "CSystemShims"),
        // Pure: HTTP/1.1 head parser, chunked codec, serializer helpers. No sockets.
        .target(name: "HTTP1", swiftSettings: hotPath),
        // Pure: config model and parser, smooth weighted round robin, CIDR matching.
        .target(name: "Balancing"),
        // The only module that makes raw I/O syscalls: epoll reactor, timers, sockets, buffers.
        .target(name: "EventLoop", dependencies: ["CSystemShims"], swiftSettings: hotPath),
        // Client/upstream connection state machines, upstream keep-alive pools, workers. It runs
        // admin commands (AdminProtocol) and serves the admin socket (AdminSocket), and never
        // sees yardctl's client or tables.
        .target(name: "Proxy", dependencies: ["HTTP1", "Balancing", "EventLoop", "AdminProtocol", "AdminSocket"],
                swiftSettings: hotPath),
        // A tiny fast origin server (demo storefronts, benchmark upstream).
        .target(name: "Origin", dependencies: ["EventLoop"], swiftSettings: hotPath),
        // Pure: the admin protocol (commands and their parser, replies, errors, JSON, the handler
        // contract). No I/O, no dependencies.
        .target(name: "AdminProtocol", path: "Sources/Admin/Protocol"),
        // The admin socket's server side: the Unix listening socket and its connections, which
        // hand each command to an AdminHandler. Its I/O goes through EventLoop.
        .target(name: "AdminSocket", dependencies: ["AdminProtocol", "EventLoop"], path: "Sources/Admin/Socket"),
        // yardctl's side: the blocking client and the table renderers; re-exports the two above,
        // so `import Admin` is the whole admin socket (yardctl, tests).
        .target(name: "Admin", dependencies: ["AdminProtocol", "AdminSocket", "EventLoop"], exclude: ["Protocol", "Socket"]),
        .executableTarget(name: "switchyard", dependencies: ["Proxy", "Balancing", "Origin", "EventLoop", "AdminProtocol"]),
        .executableTarget(name: "yardctl", dependencies: ["Admin"]),
        .executableTarget(name: "SwitchyardBench", dependencies: ["Origin", "EventLoop"],
                          path: "Benchmarks/SwitchyardBench"),
        // Shared by the test targets: the seeded generator, the child-process spawner, poll-until, scratch dirs.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1", "TestSupport"]),
        .testTarget(name: "BalancingTests", dependencies: ["Balancing", "TestSupport"]),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "TestSupport"]),
        .testTarget(name: "OriginTests", dependencies: ["Origin", "EventLoop"]),
        .testTarget(name: "AdminTests", dependencies: ["Admin", "EventLoop", "TestSupport"]),
        .testTarget(name: "ProxyTests", dependencies: ["Proxy", "Admin", "Balancing", "EventLoop", "Origin", "TestSupport"],
                    exclude: ["Fixtures"]),
    ]
)
