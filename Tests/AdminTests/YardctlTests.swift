import Admin
import Foundation
import Glibc
import TestSupport
import Testing

/// The built `yardctl` binary against a test server: exit codes, output and socket selection.
@Suite struct YardctlTests {
    /// `yardctl` sits next to the test runner in the build directory.
    static let binary: String? = {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("yardctl").path
            if executable(candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()

    func yardctl(_ args: [String], env: [String: String] = [:]) throws -> (status: Int32, output: String, errors: String)? {
        guard let bin = Self.binary else {
            print("SKIPPED yardctl test: the yardctl binary was not found next to the test bundle (swift build first)")
            return nil
        }
        return try runProgram([bin] + args, environment: env)
    }

    @Test func exitCodesAndOutput() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        guard let ok = try yardctl(["-s", a.path, "--json", "status"]) else { return }
        #expect(ok.status == 0)
        #expect(ok.output == #"{"ok":true,"cmd":"status","n":1}"# + "\n")

        let split = try #require(try yardctl(["-s", a.path, "split", "blue=90", "green=10"]))
        #expect(split.status == 0)
        #expect(a.handler.commands.last == "split blue=90 green=10")

        let refused = try #require(try yardctl(["-s", a.path, "server", "remove", "blue", "1.2.3.4:80"]))
        #expect(refused.status == 1)
        #expect(refused.errors == "yardctl: unknown_server: no server 1.2.3.4:80 in pool 'blue'\n")

        // Typos are caught locally, with the server's own wording.
        let typo = try #require(try yardctl(["-s", a.path, "spilt", "blue=1"]))
        #expect(typo.status == 1)
        #expect(typo.errors == "yardctl: unknown_command: unknown command 'spilt' (try 'help')\n")

        // The environment variable picks the socket when -s is absent.
        let env = try #require(try yardctl(["--json", "status"], env: ["SWITCHYARD_SOCKET": a.path]))
        #expect(env.status == 0)
    }

    /// `yardctl` started in the background (nil, like `yardctl`, when the binary is missing).
    func spawnYardctl(_ args: [String]) throws -> ChildProcess? {
        guard let bin = Self.binary else {
            print("SKIPPED yardctl test: the yardctl binary was not found next to the test bundle (swift build first)")
            return nil
        }
        return try ChildProcess(capturing: [bin] + args, environment: [:])
    }

    /// "12:34:56 text" → "text"; nil when the line does not start with a time.
    func untimed(_ line: Substring) -> String? {
        let b = Array(line.utf8)
        guard b.count > 9, [2, 5].allSatisfy({ b[$0] == UInt8(ascii: ":") }), b[8] == UInt8(ascii: " "),
              [0, 1, 3, 4, 6, 7].allSatisfy({ (0x30...0x39).contains(b[$0]) }) else { return nil }
        return String(line.dropFirst(9))
    }

    /// `rollout start` prints the start reply's table, then follows on the same connection,
    /// one timestamped line per change, until the proxy rolls back: exit 3.
    @Test func rolloutStartFollowsUntilRolledBack() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let reason = "error rate 4.10% (41 of 1000 requests) is above max-error-rate 1.00% with 99% confidence (lower bound 2.87%)"
        let steps: JSONValue = [1, 5, 100]
        let started = try rolloutReply(["steps": steps, "step": 0, "percent": 1, "step_elapsed_s": 0.0, "verdict": nil, "window": nil])
        a.handler.script("rollout start", [started])
        a.handler.script("rollout status", [
            try rolloutReply(["steps": steps, "step": 0, "percent": 1]),
            try rolloutReply(["steps": steps, "step": 1, "percent": 5, "verdict": nil], generation: 13),
            try rolloutReply(["steps": steps, "state": "rolled-back", "step": nil, "percent": 0, "verdict": "breach",
                              "reason": .string(reason), "ended_s_ago": 0.1], generation: 14),
        ])
        guard let p = try spawnYardctl(["-s", a.path, "rollout", "start", "green", "steps", "1,5,100", "hold", "1s"]) else { return }
        let r = try #require(p.finish(within: 20), "yardctl did not stop following after the rollback")
        #expect(r.status == 3)
        #expect(r.errors == "")
        let table = RolloutTable.render(started)
        #expect(r.output.hasPrefix(table))
        let follow = r.output.dropFirst(table.count).split(separator: "\n")
        #expect(follow.map(untimed) == [
            "verdict healthy: green 3 errors of 812 (0.37%), p99 12.5ms; blue 40 of 15110 (0.26%), p99 11.0ms",
            "step 2 of 3: 5% on green",
            "ROLLED BACK: all traffic on blue again: \(reason)",
        ])
        #expect(a.handler.commands == ["rollout start green steps 1,5,100 hold 1s", "rollout status", "rollout status", "rollout status"])
    }

    /// `--detach` (anywhere among the options) returns after the start reply; with `--json`
    /// following prints every reply line, and a completed rollout exits 0.
    @Test func rolloutDetachAndJSON() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let started = try rolloutReply(["step": 0, "percent": 1, "verdict": nil])
        a.handler.script("rollout start", [started])
        guard let detached = try yardctl(["--detach", "-s", a.path, "rollout", "start", "green"]) else { return }
        #expect(detached.status == 0)
        #expect(detached.output == RolloutTable.render(started))
        #expect(a.handler.commands == ["rollout start green"])

        let json = try #require(try yardctl(["-s", a.path, "--json", "--detach", "rollout", "start", "green", "if-generation", "12"]))
        #expect(json.status == 0)
        #expect(json.output == started.encoded() + "\n")
        #expect(a.handler.commands.last == "rollout start green if-generation 12")

        let usage = try #require(try yardctl(["-s", a.path, "--detach", "rollout", "status"]))
        #expect(usage.status == 64)
        #expect(usage.errors.hasPrefix("yardctl: --detach only applies to 'rollout start'\n"))

        let statuses = [try rolloutReply(["step": 4, "percent": 100]),
                        try rolloutReply(["state": "completed", "step": nil, "percent": 100, "ended_s_ago": 0.0])]
        a.handler.script("rollout status", statuses)
        let p = try #require(try spawnYardctl(["-s", a.path, "--json", "rollout", "start", "green"]))
        let r = try #require(p.finish(within: 20), "yardctl did not stop following after completion")
        #expect(r.status == 0)
        #expect(r.output == ([started] + statuses).map { $0.encoded() + "\n" }.joined())
    }

    /// `rollout watch` follows what runs; Ctrl-C stops yardctl only (exit 130), and says so.
    @Test func rolloutWatchAndCtrlC() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        let running = try rolloutReply([:])
        a.handler.script("rollout status", [running])
        guard let p = try spawnYardctl(["-s", a.path, "rollout", "watch"]) else { return }
        #expect(pollUntil(timeout: 10) { a.handler.commands.count >= 3 })
        kill(p.pid, SIGINT)
        let r = try #require(p.finish(within: 10), "yardctl ignored Ctrl-C")
        #expect(r.status == 130)
        #expect(r.output == RolloutTable.render(running))
        #expect(r.errors == "yardctl: stopped following rollout 1764082000123; it goes on in the proxy (yardctl rollout watch|pause|abort)\n")
        #expect(Set(a.handler.commands) == ["rollout status"])
    }

    @Test func rolloutWatchEdges() throws {
        let a = try RunningAdmin()
        defer { a.stop() }
        // Nothing to watch: refused (exit 1) without following.
        a.handler.script("rollout status", [try JSONValue.parse(#"{"ok":true,"generation":3,"rollout":null}"#)])
        guard let none = try yardctl(["-s", a.path, "rollout", "watch"]) else { return }
        #expect(none.status == 1)
        #expect(none.errors == "yardctl: no rollout to watch (none has been started)\n")

        // Already over: the table and the outcome's exit status at once.
        let aborted = try rolloutReply(["state": "aborted", "step": nil, "percent": 0, "reason": "by the operator"])
        a.handler.script("rollout status", [aborted])
        let over = try #require(try yardctl(["-s", a.path, "rollout", "watch"]))
        #expect(over.status == 3)
        #expect(over.output == RolloutTable.render(aborted))

        // Ended between two polls and another one started: not this rollout's success.
        a.handler.script("rollout status", [try rolloutReply([:]), try JSONValue.parse(#"{"ok":true,"generation":20,"rollout":{"id":99,"state":"running"}}"#)])
        let p = try #require(try spawnYardctl(["-s", a.path, "rollout", "watch"]))
        let replaced = try #require(p.finish(within: 20))
        #expect(replaced.status == 3)
        #expect(replaced.errors == "yardctl: rollout 1764082000123 ended between two looks; rollout 99 is the current one (yardctl rollout status)\n")

        // A refused command keeps exit 1; a single rollout command prints the table.
        a.handler.script("rollout status", [aborted])
        a.handler.script("rollout pause", [AdminReply.error(AdminError(code: "rollout_ended", message: "rollout 1764082000123 has ended (aborted)"))])
        let ended = try #require(try yardctl(["-s", a.path, "rollout", "pause"]))
        #expect(ended.status == 1)
        #expect(ended.errors == "yardctl: rollout_ended: rollout 1764082000123 has ended (aborted)\n")
        let status = try #require(try yardctl(["-s", a.path, "rollout", "status"]))
        #expect(status.status == 0)
        #expect(status.output == RolloutTable.render(aborted))
    }

    @Test func unreachableSocketExits2() throws {
        let dir = TempDir()
        let path = dir.file("nobody.sock")
        guard let r = try yardctl(["-s", path, "status"]) else { return }
        #expect(r.status == 2)
        #expect(r.errors == "yardctl: cannot connect to \(path): No such file or directory (is switchyard running? set -s or SWITCHYARD_SOCKET)\n")
        let usage = try #require(try yardctl([]))
        #expect(usage.status == 64)
        let help = try #require(try yardctl(["help"]))
        #expect(help.status == 0)
        #expect(help.output.hasPrefix("usage: yardctl [-s SOCKET] [--json] COMMAND..."))
    }
}
