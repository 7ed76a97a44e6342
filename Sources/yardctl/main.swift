import Admin
import Glibc

/// yardctl — the operators' CLI for switchyard's admin socket.
/// Exit status: 0 ok, 1 command refused, 2 switchyard not reachable, 64 usage error; following a
/// rollout, 0 completed or promoted, 3 rolled back or aborted, 130 stopped by Ctrl-C.

let usageText = """
usage: yardctl [-s SOCKET] [--json] COMMAND...

Talks to a running switchyard over its admin socket: -s, else $\(AdminDefaults.socketEnvironmentVariable), \
else \(AdminDefaults.socketPath).

commands:
  status                                pools, servers, split; * marks what differs from the config
  stats                                 per-server requests, responses, errors, req/s and latency
  watch                                 the stats table, refreshed every second (Ctrl-C stops)
  split POOL=WEIGHT [POOL=WEIGHT...]    set the traffic split, e.g. split blue=90 green=10
  server weight POOL HOST:PORT N        set a server's weight (0...1000)
  server drain POOL HOST:PORT           stop sending new requests to a server
  server ready POOL HOST:PORT           send requests to a drained server again
  server add POOL HOST:PORT [weight N]  add a server to a pool (weight 1...1000)
  server remove POOL HOST:PORT          remove a server from a pool
  undo                                  back to the previous configuration generation's values
  rollout start POOL|PLAN [from POOL] [steps P,...,100] [hold D]
                [max-error-rate P%] [max-p99 Rx] [min-requests N]
                                        start a canary rollout that the proxy runs and rolls back
                                        itself, then follow it until it ends (see --detach)
  rollout watch                         follow the current rollout until it ends
  rollout status                        the current (or last) rollout: step, hold, window, verdict
  rollout pause | resume                stop advancing / advance again (the hold starts over)
  rollout promote                       all traffic to the new pool now; the rollout ends
  rollout abort                         all traffic back to the old pool now; the rollout ends
  reload                                re-read the config file
  shutdown                              drain and stop the proxy
  help                                  this text
  ... if-generation N                   (after any changing command) only if the configuration
                                        is still at generation N, else generation_conflict

options:
  -s, --socket PATH   the admin socket
  --json              print the raw JSON reply (one line) instead of a table; while following
                      a rollout, every status reply as it arrives
  --detach            rollout start: return after the start reply instead of following

Following a rollout prints a timestamped line whenever its step, state or verdict changes (and
a refreshing progress line on a terminal). Ctrl-C stops following; the rollout goes on in the
proxy (yardctl rollout watch|pause|abort).

exit status: 0 ok, 1 command refused, 2 switchyard not reachable, 64 usage error;
following a rollout: 0 completed or promoted, 3 rolled back or aborted, 130 stopped by Ctrl-C
"""

func writeErr(_ s: String) {
    var b = Array((s + "\n").utf8)
    _ = b.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
}

func usageError(_ message: String) -> Never {
    writeErr("yardctl: \(message)")
    writeErr("usage: yardctl [-s SOCKET] [--json] COMMAND...   (yardctl help for the list)")
    exit(64)
}

/// Not reachable, timed out, or the reply was unreadable: exit 2 in every case.
func unreachable(_ path: String, _ error: Error) -> Never {
    if let e = error as? AdminClientError, e.kind == .connect {
        writeErr("yardctl: cannot connect to \(path): \(e.message) (is switchyard running? set -s or \(AdminDefaults.socketEnvironmentVariable))")
    } else {
        writeErr("yardctl: \(path): \(error)")
    }
    exit(2)
}

func connect(_ path: String) -> AdminClient {
    do { return try AdminClient(path: path) } catch { unreachable(path, error) }
}

/// Sends one command line; the reply line as received and parsed.
func request(_ client: AdminClient, _ line: String, _ path: String) -> (line: String, reply: JSONValue) {
    do {
        try client.send(line)
        let replyLine = try client.readLine()
        do {
            return (replyLine, try JSONValue.parse(replyLine))
        } catch {
            throw AdminClientError(.badReply, "unreadable reply (\(error)): \(replyLine.prefix(200))")
        }
    } catch {
        unreachable(path, error)
    }
}

func refused(_ reply: JSONValue) -> Never {
    writeErr("yardctl: \(reply["code"]?.stringValue ?? "error"): \(reply["error"]?.stringValue ?? "(no message)")")
    exit(1)
}

// MARK: arguments

var args = Array(CommandLine.arguments.dropFirst())
var socketPath = getenv(AdminDefaults.socketEnvironmentVariable).map { String(cString: $0) } ?? AdminDefaults.socketPath
var rawJSON = false
var detach = false
options: while let a = args.first, a.hasPrefix("-") {
    args.removeFirst()
    switch a {
    case "-s", "--socket":
        guard let p = args.first else { usageError("\(a) needs a socket path") }
        socketPath = p
        args.removeFirst()
    case _ where a.hasPrefix("--socket="):
        socketPath = String(a.dropFirst("--socket=".count))
    case "--json":
        rawJSON = true
    case "--detach":
        detach = true
    case "-h", "--help":
        print(usageText)
        exit(0)
    case "--":
        break options
    default:
        usageError("unknown option '\(a)'")
    }
}
if socketPath.isEmpty { usageError("the socket path is empty") }
guard !args.isEmpty else { usageError("no command given") }
if detach && !(args.count >= 2 && args[0] == "rollout" && args[1] == "start") {
    usageError("--detach only applies to 'rollout start'")
}
// `help` is answered locally (works without a proxy); `--json help` asks the proxy.
if args == ["help"] && !rawJSON {
    print(usageText)
    exit(0)
}

// MARK: watch

func clock() -> String {
    var t = time(nil)
    var tm = tm()
    localtime_r(&t, &tm)
    var buf = [CChar](repeating: 0, count: 32)
    let n = strftime(&buf, buf.count, "%H:%M:%S", &tm)
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func watch(socketPath: String, rawJSON: Bool) -> Never {
    signal(SIGINT) { _ in
        _ = Glibc.write(1, "\n", 1)
        _exit(0)
    }
    let client: AdminClient
    do { client = try AdminClient(path: socketPath) } catch { unreachable(socketPath, error) }
    while true {
        let line: String
        let reply: JSONValue
        do {
            try client.send("stats")
            line = try client.readLine()
            reply = try JSONValue.parse(line)
        } catch {
            writeErr("yardctl: lost the connection to \(socketPath): \(error) (did switchyard stop?)")
            exit(2)
        }
        guard AdminReply.isOK(reply) else { refused(reply) }
        if rawJSON {
            print(line)
        } else {
            print("\u{1B}[H\u{1B}[2J", terminator: "")
            print("yardctl watch  \(socketPath)  \(clock())  (Ctrl-C to stop)\n")
            print(StatsTable.render(reply), terminator: "")
        }
        fflush(nil)
        var ts = timespec(tv_sec: 1, tv_nsec: 0)
        var rest = timespec()
        while nanosleep(&ts, &rest) != 0 && errno == EINTR { ts = rest }
    }
}

if args.first == "watch" {
    if args.count > 1 { usageError("watch takes no arguments") }
    watch(socketPath: socketPath, rawJSON: rawJSON)
}

// `rollout watch` is yardctl's own: `rollout status` polled until the rollout ends.
if args.count >= 2 && args[0] == "rollout" && args[1] == "watch" {
    if args.count > 2 { usageError("rollout watch takes no arguments") }
    let client = connect(socketPath)
    let (statusLine, status) = request(client, AdminCommand.rolloutStatus.description, socketPath)
    if rawJSON { print(statusLine) }
    guard AdminReply.isOK(status) else { refused(status) }
    if status["rollout"]?.isNull ?? true {
        writeErr("yardctl: no rollout to watch (none has been started)")
        exit(1)
    }
    if !rawJSON { print(RolloutTable.render(status), terminator: "") }
    followRollout(client, socketPath: socketPath, first: status, rawJSON: rawJSON)
}

// MARK: one command

let line = args.joined(separator: " ")
if line.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) {
    usageError("control characters (such as newlines) are not allowed in a command")
}
// Parse locally first: a typo is reported without a running proxy, and the summary needs the command.
let command: AdminCommand
switch AdminCommandParser.parse(line) {
case .success(let c):
    command = c
case .failure(let e):
    if rawJSON { print(AdminReply.error(e).encoded()) }
    refused(AdminReply.error(e))
}

let startsRollout: Bool = {
    switch command {
    case .rolloutStart, .ifGeneration(_, .rolloutStart): return true
    default: return false
    }
}()

let client = connect(socketPath)
let (replyLine, reply) = request(client, command.description, socketPath)

if rawJSON { print(replyLine) }
guard AdminReply.isOK(reply) else { refused(reply) }
if !rawJSON {
    let text = CommandSummary.render(command, reply: reply)
    print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
}
if startsRollout && !detach {
    followRollout(client, socketPath: socketPath, first: reply, rawJSON: rawJSON)
}
exit(0)
