import Testing

@testable import Balancing

@Suite struct SplitPickerTests {
    private static let config: ProxyConfig = {
        let text = """
            listen 127.0.0.1:8080
            pool blue {
                server 10.0.1.1:80
                server 10.0.1.2:80
            }
            pool green {
                server 10.0.2.1:80
            }
            split blue=90 green=10
            """
        return try! ConfigParser.parse(text, file: "t")
    }()

    @Test func followsSplitAndServerWeights() {
        var p = SplitPicker(config: Self.config)
        var got: [(pool: Int, server: Int)] = []
        for _ in 0..<100 { got.append(p.next()!) }
        #expect(got.filter { $0.pool == 0 }.count == 90)
        #expect(got.filter { $0.pool == 1 }.count == 10)
        // Pool choice is the [9,1] smooth sequence: green is the 6th of every 10.
        #expect(got.prefix(10).map(\.pool) == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        // Blue's two servers alternate.
        #expect(got.filter { $0.pool == 0 }.prefix(4).map(\.server) == [0, 1, 0, 1])
        #expect(got.filter { $0.pool == 1 }.allSatisfy { $0.server == 0 })
    }

    @Test func poolsWithoutServersAreSkipped() {
        var p = SplitPicker(split: [1, 1, 1], serverWeights: [[1], [], [0, 0]])
        for _ in 0..<10 { #expect(p.next()?.pool == 0) }
        var none = SplitPicker(split: [1], serverWeights: [[]])
        #expect(none.next() == nil)
    }

    @Test func mismatchedLengthsCountAsZero() {
        var p = SplitPicker(split: [0, 5], serverWeights: [[1], [1], [1]])
        for _ in 0..<5 { #expect(p.next()?.pool == 1) }
        var q = SplitPicker(split: [1, 1], serverWeights: [[1]])
        for _ in 0..<5 { #expect(q.next()?.pool == 0) }
    }

    @Test func allZeroSplitPicksNothing() {
        var p = SplitPicker(split: [0, 0], serverWeights: [[1], [1]])
        #expect(p.next() == nil)
    }

    @Test func skippingFailedServers() {
        var p = SplitPicker(config: Self.config)
        // Green's only server is down: everything goes to blue, and never to blue's server 1 either.
        for _ in 0..<20 {
            let pick = p.next(where: { pool, server in pool == 0 && server == 0 })
            #expect(pick?.pool == 0 && pick?.server == 0)
        }
        #expect(p.next(where: { _, _ in false }) == nil)
    }

    @Test func retryInsideOnePool() {
        var p = SplitPicker(config: Self.config)
        #expect(p.nextServer(inPool: 0) == 0)
        #expect(p.nextServer(inPool: 0, where: { $0 != 1 }) == 0)
        #expect(p.nextServer(inPool: 0) == 1)
        #expect(p.nextServer(inPool: 1, where: { $0 != 0 }) == nil)
        #expect(p.nextServer(inPool: 7) == nil)
    }

    @Test func runtimeSplitChange() {
        var p = SplitPicker(config: Self.config)
        p.setSplit([0, 1])
        for _ in 0..<5 { #expect(p.next()?.pool == 1) }
        p.setSplit([1, 1])
        #expect((0..<4).map { _ in p.next()!.pool } == [0, 1, 0, 1])
        p.setSplit([])
        #expect(p.next() == nil)
    }
}
