import Foundation
import Testing

@testable import Balancing

/// `ConfigDirective.table` is the one list of directives: these hold the parser's messages and
/// `proxy.conf.example` to it.
@Suite struct DirectiveTableTests {
    static let exampleLines: [String] = {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // BalancingTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
            .appendingPathComponent("proxy.conf.example")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }()

    /// Two pools (blue, green), so that blocks and `split` have something to name.
    static let base = "listen 127.0.0.1:1\npool blue {\nserver 127.0.0.1:2\n}\npool green {\nserver 127.0.0.1:3\n}\n"

    /// `lines` where `scope` is: at the top level, inside a pool or inside a rollout block.
    static func config(_ lines: [String], in scope: ConfigDirective.Scope) -> String {
        let body = lines.map { $0 + "\n" }.joined()
        switch scope {
        case .topLevel: return base + body
        case .pool: return base + "pool p {\nserver 127.0.0.1:4\n" + body + "}\n"
        case .rollout: return base + "rollout green {\n" + body + "}\n"
        }
    }

    static func message(_ text: String) -> String? {
        do {
            _ = try ConfigParser.parse(text, file: "t")
            return nil
        } catch {
            return (error as? ConfigError)?.message ?? "\(error)"
        }
    }

    /// The example's line that uses `name` (the commented-out one when only that exists, as
    /// for `sticky`, whose key file the example cannot ship).
    static func exampleUse(of name: String) -> String? {
        let uses = exampleLines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix(name + " ") }
        if let live = uses.first { return live }
        let commented = exampleLines.filter { $0.hasPrefix("# \(name) ") }.map { String($0.dropFirst(2)) }
        return commented.first { $0 != usage(of: name) }
    }

    static func usage(of name: String) -> String? {
        ConfigDirective.named[name]?.usage
    }

    @Test func namesAreUnique() {
        let names = ConfigDirective.table.map(\.name)
        #expect(Set(names).count == names.count, "repeated: \(names.filter { n in names.filter { $0 == n }.count > 1 })")
        #expect(ConfigDirective.named.count == names.count)
        #expect(names.count == 30)
    }

    @Test func everyUsageIsDocumentedInTheExample() {
        #expect(Self.exampleLines.count > 100)
        let documented = Set(Self.exampleLines.map { line in
            String(line.drop { $0 == "#" }.drop { $0 == " " })
        })
        for directive in ConfigDirective.table {
            let shown = documented.contains(directive.usage)
            #expect(shown, "proxy.conf.example does not show '# \(directive.usage)'")
        }
    }

    @Test func everyDirectiveIsUsedInTheExample() {
        for directive in ConfigDirective.table {
            #expect(Self.exampleUse(of: directive.name) != nil, "proxy.conf.example never uses '\(directive.name)'")
        }
    }

    /// The bare directive (`health` alone is valid, so it gets an unknown method) fails with
    /// the table's usage.
    @Test func usageMessagesComeFromTheTable() {
        for directive in ConfigDirective.table {
            let line = directive.name == "health" ? "health PUT /x" : directive.name
            let message = Self.message(Self.config([line], in: directive.scope))
            #expect(message?.hasSuffix("(usage: \(directive.usage))") == true, "\(line): \(message ?? "parsed")")
        }
    }

    @Test func theExampleLinesParseInTheirScope() {
        for directive in ConfigDirective.table {
            guard let use = Self.exampleUse(of: directive.name) else { continue }
            var lines = [use]
            if directive.opens != nil { lines = [use.replacingOccurrences(of: "blue", with: "other"), "}"] }
            let text = Self.config(lines, in: directive.scope)
            #expect(Self.message(text) == nil, "\(use): \(Self.message(text) ?? "")")
        }
    }

    @Test func repeatsFollowTheTable() {
        for directive in ConfigDirective.table where directive.repeats != .allowed {
            guard let use = Self.exampleUse(of: directive.name) else { continue }
            let message = Self.message(Self.config([use, use], in: directive.scope))
            let key = directive.repeats == .oncePerKind ? use.split(separator: " ").prefix(2).joined(separator: " ") : directive.name
            #expect(message?.hasPrefix("duplicate '\(key)'") == true, "\(use) twice: \(message ?? "parsed")")
        }
        // `.allowed`: what the lines name must differ, not the directive.
        #expect(Self.message(Self.config(["trusted-proxies 10.0.0.0/8", "trusted-proxies 10.1.0.0/16"], in: .topLevel)) == nil)
        #expect(Self.message(Self.config(["server 127.0.0.1:5", "server 127.0.0.1:6"], in: .pool)) == nil)
    }

    @Test func misplacedDirectivesAreNamedNotUnknown() {
        let scopes: [ConfigDirective.Scope] = [.topLevel, .pool, .rollout]
        for directive in ConfigDirective.table {
            for scope in scopes where scope != directive.scope {
                let message = Self.message(Self.config([directive.name + " x"], in: scope)) ?? "parsed"
                let named = message.contains("'\(directive.name)'") || message.contains("open a \(directive.name) inside")
                #expect(named && !message.hasPrefix("unknown"), "\(directive.name) in \(scope): \(message)")
            }
        }
        #expect(Self.message(Self.config(["hold 1s"], in: .pool))
            == "'hold' is a rollout setting, not allowed inside pool 'p' (opened at line 8); it belongs inside 'rollout NAME { ... }'")
        #expect(Self.message(Self.config(["retries 1"], in: .rollout))
            == "'retries' is not allowed inside rollout 'green' (opened at line 8): it belongs inside 'pool NAME { ... }'")
        #expect(Self.message(Self.config(["server 127.0.0.1:9"], in: .topLevel))
            == "'server' outside of a pool: servers belong inside 'pool NAME { ... }'")
        #expect(Self.message(Self.config(["pool q {"], in: .rollout))
            == "cannot open a pool inside rollout 'green' (opened at line 8); close the rollout with '}' first")
    }

    @Test func unknownNamesAreSuggestedFromTheTable() {
        #expect(Self.message(Self.config(["listn 127.0.0.1:9"], in: .topLevel)) == "unknown directive 'listn' (did you mean 'listen'?)")
        #expect(Self.message(Self.config(["retires 1"], in: .pool)) == "unknown directive 'retires' (did you mean 'retries'?)")
        #expect(Self.message(Self.config(["hodl 1s"], in: .rollout))
            == "unknown setting 'hodl' in rollout 'green' (expected to, from, steps, hold, max-error-rate, max-p99, min-requests); did you mean 'hold'?")
        // Rollout settings are not suggested outside a rollout block, nor directives inside one.
        #expect(Self.message(Self.config(["stepz 1,100"], in: .topLevel)) == "unknown directive 'stepz'")
        #expect(Self.message(Self.config(["listn 1"], in: .rollout))?.hasSuffix("min-requests)") == true)
    }
}
