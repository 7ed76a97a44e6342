import Admin
import Testing

private func parsed(_ line: String) -> AdminCommand? {
    if case .success(let c) = AdminCommandParser.parse(line) { return c }
    return nil
}

private func failure(_ line: String) -> AdminError? {
    if case .failure(let e) = AdminCommandParser.parse(line) { return e }
    return nil
}

@Suite struct ParserTests {
    @Test(arguments: [
        ("status", AdminCommand.status),
        ("stats", .stats),
        ("help", .help),
        ("reload", .reload),
        ("shutdown", .shutdown),
        ("split blue=90 green=10", .split([SplitAssignment(pool: "blue", weight: 90), SplitAssignment(pool: "green", weight: 10)])),
        ("split blue=0", .split([SplitAssignment(pool: "blue", weight: 0)])),
        ("split a_b-C9=1000000", .split([SplitAssignment(pool: "a_b-C9", weight: 1_000_000)])),
        ("server weight blue 127.0.0.1:9101 0", .serverWeight(pool: "blue", address: "127.0.0.1:9101", weight: 0)),
        ("server weight blue [::1]:80 1000", .serverWeight(pool: "blue", address: "[::1]:80", weight: 1000)),
        ("server drain blue 10.0.0.1:65535", .serverDrain(pool: "blue", address: "10.0.0.1:65535")),
        ("server ready green 10.0.0.1:1", .serverReady(pool: "green", address: "10.0.0.1:1")),
        ("server add blue 10.0.0.2:80", .serverAdd(pool: "blue", address: "10.0.0.2:80", weight: nil)),
        ("server add blue 10.0.0.2:80 weight 7", .serverAdd(pool: "blue", address: "10.0.0.2:80", weight: 7)),
        ("server remove blue [2001:db8::1]:443", .serverRemove(pool: "blue", address: "[2001:db8::1]:443")),
    ])
    func parsesEveryCommand(_ line: String, _ expected: AdminCommand) {
        #expect(parsed(line) == expected)
        // The canonical text parses back to the same command (yardctl sends it).
        #expect(parsed(expected.description) == expected)
    }

    @Test func whitespaceTabsAndCarriageReturn() {
        #expect(parsed("  split\tblue=1 \t green=2  \r") == .split([SplitAssignment(pool: "blue", weight: 1),
                                                                    SplitAssignment(pool: "green", weight: 2)]))
        #expect(parsed("status\r") == .status)
        // Only one trailing CR is line framing; a CR elsewhere is part of a token.
        #expect(failure("status\r\r")?.code == "unknown_command")
    }

    @Test func commandWordsAreExactLowerCase() {
        #expect(failure("STATUS")?.code == "unknown_command")
        #expect(failure("Status")?.code == "unknown_command")
        #expect(failure("server WEIGHT blue 1.2.3.4:80 1")?.code == "unknown_command")
    }

    @Test func messagesSayWhatWasExpected() {
        #expect(failure("spilt blue=1") == AdminError(code: "unknown_command", message: "unknown command 'spilt' (try 'help')"))
        #expect(failure("server weight blue 1.2.3.4:80") ==
                AdminError(code: "missing_argument", message: "server weight: expected 'server weight POOL HOST:PORT N'"))
        #expect(failure("server weight blue 1.2.3.4:80 abc") ==
                AdminError(code: "bad_number", message: "bad number 'abc' for weight (expected 0...1000)"))
        #expect(failure("status now") ==
                AdminError(code: "extra_argument", message: "status: unexpected argument 'now' (expected 'status')"))
        #expect(failure("server foo blue") ==
                AdminError(code: "unknown_command", message: "unknown command 'server foo' (try 'help')"))
    }

    @Test(arguments: [
        // (line, code)
        ("", "missing_argument"),
        ("   \t ", "missing_argument"),
        ("split", "missing_argument"),
        ("server", "missing_argument"),
        ("server weight", "missing_argument"),
        ("server weight blue", "missing_argument"),
        ("server drain blue", "missing_argument"),
        ("server ready", "missing_argument"),
        ("server add blue", "missing_argument"),
        ("server add blue 1.2.3.4:80 weight", "missing_argument"),
        ("server remove blue", "missing_argument"),
        ("stats x", "extra_argument"),
        ("help me", "extra_argument"),
        ("reload now", "extra_argument"),
        ("shutdown -f", "extra_argument"),
        ("server weight blue 1.2.3.4:80 5 6", "extra_argument"),
        ("server drain blue 1.2.3.4:80 now", "extra_argument"),
        ("server ready blue 1.2.3.4:80 x", "extra_argument"),
        ("server remove blue 1.2.3.4:80 x", "extra_argument"),
        ("server add blue 1.2.3.4:80 weight 5 x", "extra_argument"),
        ("server add blue 1.2.3.4:80 wieght 5", "bad_argument"),
        ("split blue", "bad_argument"),
        ("split blue=1 blue=2", "bad_argument"),
        ("split =5", "bad_argument"),
        ("split blue!=5", "bad_argument"),
        ("server drain bl.ue 1.2.3.4:80", "bad_argument"),
        ("server drain \(String(repeating: "p", count: 65)) 1.2.3.4:80", "bad_argument"),
        ("split blue=", "bad_number"),
        ("split blue=-1", "bad_number"),
        ("split blue=+1", "bad_number"),
        ("split blue=1000001", "bad_number"),
        ("split blue=1.5", "bad_number"),
        ("split blue=99999999999999999999999", "bad_number"),
        ("server weight blue 1.2.3.4:80 1001", "bad_number"),
        ("server weight blue 1.2.3.4:80 -0", "bad_number"),
        ("server add blue 1.2.3.4:80 weight 0", "bad_number"),
        ("server add blue 1.2.3.4:80 weight 1001", "bad_number"),
        ("server drain blue localhost:80", "bad_address"),
        ("server drain blue 1.2.3.4", "bad_address"),
        ("server drain blue 1.2.3.4:0", "bad_address"),
        ("server drain blue 1.2.3.4:65536", "bad_address"),
        ("server drain blue ::1:80", "bad_address"),
        ("server drain blue [::1]", "bad_address"),
    ])
    func errorPaths(_ line: String, _ code: String) {
        let e = failure(line)
        #expect(e?.code == code, "\(line): \(String(describing: e))")
        #expect(e?.message.isEmpty == false)
    }

    @Test func duplicatePoolMessage() {
        #expect(failure("split blue=1 green=2 blue=3")?.message == "split: pool 'blue' is named twice")
    }

    @Test func longTokensAreShortenedInMessages() {
        let e = failure(String(repeating: "x", count: 3000))
        #expect(e?.code == "unknown_command")
        #expect((e?.message.count ?? 0) < 100)
    }

    @Test(arguments: [
        "0.0.0.0:1", "255.255.255.255:65535", "127.0.0.1:8080",
        "[::]:1", "[::1]:80", "[1:2:3:4:5:6:7:8]:80", "[1::8]:80", "[1:2:3:4:5:6:7::]:80", "[::2:3:4:5:6:7:8]:80",
        "[fe80::AbCd]:80", "[::ffff:192.0.2.1]:443", "[64:ff9b::1.2.3.4]:80",
    ])
    func acceptsAddresses(_ a: String) {
        #expect(parsed("server drain blue \(a)") == .serverDrain(pool: "blue", address: a))
    }

    @Test(arguments: [
        "1.2.3:80", "1.2.3.4.5:80", "256.1.1.1:80", "01.2.3.4:80", "1.2.3.4:", "1.2.3.4:http", "1.2.3.4:-1",
        "1.2.3.4:080080", ":80", "host:80", "[::1]80", "[::1:80", "::1]:80", "[1:2:3:4:5:6:7:8:9]:80",
        "[1:2:3:4:5:6:7]:80", "[1::2::3]:80", "[:::]:80", "[12345::]:80", "[g::]:80", "[fe80::1%eth0]:80",
        "[1.2.3.4]:80", "[::1.2.3]:80", "[1:2:3:4:5:6:7:1.2.3.4]:80", "[]:80",
    ])
    func rejectsAddresses(_ a: String) {
        #expect(failure("server drain blue \(a)")?.code == "bad_address", "\(a)")
    }

    @Test func ifGenerationAndUndo() {
        #expect(AdminCommandParser.parse("split blue=1 if-generation 7") == .success(.ifGeneration(7, .split([SplitAssignment(pool: "blue", weight: 1)]))))
        #expect(AdminCommandParser.parse("undo") == .success(.undo))
        #expect(AdminCommandParser.parse("undo if-generation 3") == .success(.ifGeneration(3, .undo)))
        #expect(failure("status if-generation 3")?.code == "bad_argument")
        #expect(failure("split blue=1 if-generation x")?.code == "bad_number")
        #expect(failure("split blue=1 if-generation")?.code == "missing_argument")
        #expect(failure("undo now")?.code == "extra_argument")
        #expect(AdminCommand.ifGeneration(7, .undo).description == "undo if-generation 7")
    }

    /// The proxy validates what follows `rollout start` (it knows the pools and plans); the codec
    /// checks the first word is a name and bounds the count.
    @Test func rolloutCommands() {
        #expect(AdminCommandParser.parse("rollout start green") == .success(.rolloutStart(["green"])))
        #expect(AdminCommandParser.parse("rollout start green from blue steps 1,5,100 hold 30s")
                == .success(.rolloutStart(["green", "from", "blue", "steps", "1,5,100", "hold", "30s"])))
        #expect(AdminCommandParser.parse("rollout status") == .success(.rolloutStatus))
        for verb in RolloutVerb.allCases {
            #expect(AdminCommandParser.parse("rollout \(verb.rawValue)") == .success(.rollout(verb)))
            #expect(AdminCommand.rollout(verb).isMutating)
        }
        #expect(AdminCommandParser.parse("rollout start green if-generation 4") == .success(.ifGeneration(4, .rolloutStart(["green"]))))
        #expect(AdminCommandParser.parse("rollout abort if-generation 5") == .success(.ifGeneration(5, .rollout(.abort))))
        #expect(failure("rollout status if-generation 5")?.code == "bad_argument")
        #expect(AdminCommand.rolloutStart(["green", "hold", "1m"]).description == "rollout start green hold 1m")
        #expect(AdminCommand.rolloutStatus.isMutating == false)
        #expect(failure("rollout")?.code == "missing_argument")
        #expect(failure("rollout start")?.code == "missing_argument")
        #expect(failure("rollout start gr/een")?.code == "bad_argument")
        #expect(failure("rollout status now")?.code == "extra_argument")
        #expect(failure("rollout abort now")?.code == "extra_argument")
        #expect(failure("rollout watch")?.code == "unknown_command")   // yardctl's own, never sent
    }

    @Test func commandNamesAndUsage() {
        #expect(AdminCommand.names == ["status", "stats", "split", "server weight", "server drain", "server ready",
                                       "server add", "server remove", "undo", "rollout start", "rollout status",
                                       "rollout pause", "rollout resume", "rollout promote", "rollout abort",
                                       "reload", "shutdown", "help", "if-generation"])
        #expect(AdminCommand.serverAdd(pool: "b", address: "1.2.3.4:5", weight: nil).name == "server add")
        #expect(AdminCommand.status.isMutating == false)
        #expect(AdminCommand.split([]).isMutating)
    }
}
