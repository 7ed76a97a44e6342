import Admin
import EventLoop
import Foundation
import Glibc
import TestSupport
import Testing

/// The admin socket over real Unix sockets in a temporary directory.
@Suite struct ServerTests {
    @Test func socketIsPrivateAndAnswers() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let m = try #require(fileMode(a.path))
        #expect(m.type == S_IFSOCK)
        #expect(m.perms == 0o600)
        let c = try a.client()
        let r = try c.request("status")
        #expect(r == ["ok": true, "cmd": "status", "n": 1])
        // SO_PEERCRED: the test process itself.
        let peer = try #require(a.handler.state.withLock { $0.peers.first })
        #expect(peer == AdminPeer(uid: getuid(), gid: getgid(), pid: getpid()))
    }

    @Test func manyCommandsPerConnectionStrictlyInOrder() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let c = try a.client()
        // Pipelined in one write, synchronous (status) and asynchronous (stats) replies mixed.
        let names = (0..<40).map { $0 % 3 == 0 ? "stats" : "status" }
        try c.sendRaw(Array(names.map { $0 + "\n" }.joined().utf8))
        for (i, name) in names.enumerated() {
            let r = try JSONValue.parse(c.readLine())
            #expect(r["cmd"]?.stringValue == name)
            #expect(r["n"]?.intValue == i + 1)
        }
        // The handler never saw a command before the previous reply was sent.
        #expect(a.handler.state.withLock { $0.overlapped } == false)
        #expect(a.handler.commands == names)
    }

    @Test func twoClientsAtOnce() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let slow = try a.client()
        let fast = try a.client()
        try slow.send("server drain blue 1.2.3.4:80")   // held by the handler
        #expect(pollUntil(timeout: 3) { a.handler.commands.count == 1 })
        // The other connection is not blocked by the pending one.
        #expect(try fast.request("status")["ok"] == true)
        #expect(try fast.request("split blue=1")["cmd"] == "split blue=1")
        #expect(a.onLoop { a.handler.releaseHeld() } == 1)
        #expect(try JSONValue.parse(slow.readLine())["cmd"] == "late")
        // And the slow one continues normally.
        #expect(try slow.request("status")["ok"] == true)
    }

    @Test func parseErrorsKeepTheConnectionOpen() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let c = try a.client()
        #expect(try c.request("spilt blue=1") ==
                ["ok": false, "code": "unknown_command", "error": "unknown command 'spilt' (try 'help')"])
        try c.sendRaw([0x73, 0xFF, 0xFE, 0x0A])   // "s" + invalid UTF-8
        let bad = try JSONValue.parse(c.readLine())
        #expect(bad["code"] == "bad_encoding")
        // Blank lines get no reply; CRLF framing works.
        try c.sendRaw(Array("\n   \n\t\r\nstatus\r\n".utf8))
        #expect(try JSONValue.parse(c.readLine())["cmd"] == "status")
        #expect(a.handler.commands == ["status"])
    }

    @Test func oversizedLineGetsLineTooLongAndIsClosed() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let c = try a.client()
        try c.sendRaw(Array(repeating: UInt8(ascii: "a"), count: 5000) + [0x0A])
        let r = try JSONValue.parse(c.readLine())
        #expect(r["ok"] == false)
        #expect(r["code"] == "line_too_long")
        #expect(readsEndOfStream(c))
        #expect(a.handler.commands.isEmpty)
        #expect(pollUntil(timeout: 3) { a.connectionCount == 0 })
    }

    @Test func lineLimitIsExact() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let c = try a.client()
        // 4096 bytes (plus CRLF) is accepted: "status" padded with spaces.
        let maxLine = "status" + String(repeating: " ", count: 4090)
        try c.send(maxLine + "\r")
        #expect(try JSONValue.parse(c.readLine())["cmd"] == "status")
        try c.send(maxLine + " ")
        #expect(try JSONValue.parse(c.readLine())["code"] == "line_too_long")
        #expect(readsEndOfStream(c))
    }

    @Test func laterCommandsAfterAnOversizedLineAreNotRun() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let c = try a.client()
        try c.sendRaw(Array("status\n".utf8) + Array(repeating: UInt8(ascii: "b"), count: 5000) + Array("\nshutdown\n".utf8))
        #expect(try JSONValue.parse(c.readLine())["cmd"] == "status")
        #expect(try JSONValue.parse(c.readLine())["code"] == "line_too_long")
        #expect(readsEndOfStream(c))
        #expect(a.handler.commands == ["status"])
    }

    @Test func clientVanishingMidCommandIsHarmless() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        do {
            let c = try a.client()
            try c.send("server drain blue 1.2.3.4:80\nstatus")   // the drain reply is held
            #expect(pollUntil(timeout: 3) { a.handler.commands.count == 1 })
            c.close()
        }
        // The late reply goes nowhere; the command sent after it still runs, then the
        // connection goes away.
        usleep(50_000)
        #expect(a.onLoop { a.handler.releaseHeld() } == 1)
        #expect(pollUntil(timeout: 3) { a.connectionCount == 0 })
        #expect(a.handler.commands == ["server drain blue 1.2.3.4:80", "status"])
        #expect(try a.client().request("status")["ok"] == true)
    }

    @Test func everythingSentBeforeAnAbruptCloseRuns() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        // Fire and forget: the outcome must not depend on when the server notices the close.
        for round in 0..<20 {
            let c = try a.client()
            try c.send("split blue=\(round)\nstats\nsplit green=\(round)")
            c.close()
        }
        #expect(pollUntil(timeout: 3) { a.handler.commands.count == 60 && a.connectionCount == 0 })
        #expect(a.handler.commands.filter { $0.hasPrefix("split green=") }.count == 20)
        #expect(a.handler.state.withLock { $0.outstanding } == 0)
    }

    @Test func halfCloseStillGetsTheReply() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let c = try a.client()
        try c.sendRaw(Array("stats\nstatus".utf8))   // the last line has no "\n"
        c.finishSending()
        #expect(try JSONValue.parse(c.readLine())["cmd"] == "stats")
        #expect(try JSONValue.parse(c.readLine())["cmd"] == "status")
        #expect(readsEndOfStream(c))
    }

    @Test func idleConnectionsAreClosed() throws {
        var limits = AdminServer.Limits()
        limits.idleTimeoutMs = 150
        let a = try RunningAdmin(limits: limits)
        defer { a.stop() }
        let idle = try a.client()
        #expect(pollUntil(timeout: 3) { a.connectionCount == 1 })
        usleep(400_000)
        #expect(readsEndOfStream(idle))
        // A command the handler is still working on is not "idle".
        let busy = try a.client()
        try busy.send("server drain blue 1.2.3.4:80")
        usleep(400_000)
        #expect(a.connectionCount == 1)
        _ = a.onLoop { a.handler.releaseHeld() }
        #expect(try JSONValue.parse(busy.readLine())["cmd"] == "late")
    }

    @Test func clientThatDoesNotReadIsDisconnected() throws {
        var limits = AdminServer.Limits()
        limits.maxPendingOutput = 256 * 1024
        let a = try RunningAdmin(limits: limits)
        defer { a.stop() }
        a.handler.bigReplyBytes = 100 * 1024
        let c = try a.client()
        // 100 replies of 100 KiB = 10 MiB: far beyond the socket buffers plus the cap.
        try c.sendRaw(Array(String(repeating: "help\n", count: 100).utf8))
        #expect(pollUntil(timeout: 5) { a.connectionCount == 0 })
        var replies = 0
        while (try? c.readLine()) != nil { replies += 1 }
        #expect(replies < 100)
        // Others are unaffected.
        #expect(try a.client().request("status")["ok"] == true)
    }

    @Test func closeRemovesTheSocketAndDisconnectsClients() throws {
        let a = try RunningAdmin()
        let c = try a.client()
        #expect(try c.request("status")["ok"] == true)
        a.stop()
        #expect(fileMode(a.path) == nil)
        #expect(readsEndOfStream(c))
        #expect(throws: AdminClientError.self) { try a.client() }
    }

    @Test func closeLeavesAReplacedFileAlone() throws {
        let a = try RunningAdmin()
        unlink(a.path)
        #expect(FileManager.default.createFile(atPath: a.path, contents: Data("not ours".utf8)))
        a.stop()
        #expect(fileMode(a.path)?.type == S_IFREG)
    }
}
