import Admin
import Foundation
import Glibc
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
        return try run([bin] + args, environment: env)
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
