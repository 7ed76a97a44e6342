import Admin
import Glibc
import Synchronization

/// Set by SIGINT while following; the loop looks at it between polls (a signal handler may do
/// no more than that).
let interrupted = Atomic<Bool>(false)

/// How often `rollout status` is asked while following.
let followIntervalMS = 500

/// Follows the rollout of `first` (the start or status reply already printed) on `client`'s
/// connection until it reaches a terminal state, then exits: 0 completed or promoted, 3 rolled
/// back or aborted (or replaced before yardctl saw how it ended), 1 a refused status, 2 the
/// connection lost, 130 Ctrl-C. Ctrl-C only stops yardctl: the rollout runs in the proxy.
func followRollout(_ client: AdminClient, socketPath: String, first: JSONValue, rawJSON: Bool) -> Never {
    guard var last = first["rollout"], !last.isNull else {
        writeErr("yardctl: no rollout to follow")
        exit(1)
    }
    let id = last["id"]?.encoded() ?? "?"
    var progress = ProgressLine(enabled: !rawJSON && isatty(1) == 1)
    catchInterrupt()
    if !RolloutFollow.isTerminal(last) && isatty(2) == 1 {
        writeErr("following rollout \(id); Ctrl-C stops following, the rollout goes on in the proxy")
    }

    while !RolloutFollow.isTerminal(last) {
        progress.show(RolloutFollow.progressLine(last))
        sleepUnlessInterrupted(milliseconds: followIntervalMS)
        if interrupted.load(ordering: .relaxed) {
            progress.clear()
            writeErr("yardctl: stopped following rollout \(id); it goes on in the proxy (yardctl rollout watch|pause|abort)")
            exit(130)
        }
        let line: String
        let reply: JSONValue
        do {
            try client.send(AdminCommand.rolloutStatus.description)
            line = try client.readLine()
            reply = try JSONValue.parse(line)
        } catch {
            progress.clear()
            writeErr("yardctl: lost the connection to \(socketPath) while following rollout \(id): \(error) (did switchyard stop?)")
            exit(2)
        }
        if rawJSON { print(line) }
        guard AdminReply.isOK(reply) else {
            progress.clear()
            refused(reply)
        }
        // Another rollout can only start once this one ended: it did so between two polls.
        guard let now = reply["rollout"], !now.isNull, now["id"] == last["id"] else {
            progress.clear()
            let current = reply["rollout"].flatMap { $0.isNull ? nil : $0["id"]?.encoded() }
            writeErr("yardctl: rollout \(id) ended between two looks"
                     + (current.map { "; rollout \($0) is the current one" } ?? "") + " (yardctl rollout status)")
            exit(3)
        }
        if !rawJSON {
            let changes = RolloutFollow.changes(from: last, to: now)
            if !changes.isEmpty { progress.clear() }
            for change in changes { print("\(clock()) \(change)") }
        }
        fflush(nil)
        last = now
    }
    progress.clear()
    fflush(nil)
    exit(RolloutFollow.succeeded(last) ? 0 : 3)
}

/// A single status line redrawn in place on a terminal (nothing when not enabled). Printing
/// anything else on stdout must `clear` it first.
struct ProgressLine {
    let enabled: Bool
    private var shown = false

    init(enabled: Bool) { self.enabled = enabled }

    mutating func show(_ text: String) {
        guard enabled else { return }
        // One character short of the width: a line that fills it would wrap on some terminals.
        let width = max(20, terminalColumns() - 1)
        print("\r\u{1B}[K" + String(text.prefix(width)), terminator: "")
        fflush(nil)
        shown = true
    }

    mutating func clear() {
        guard shown else { return }
        print("\r\u{1B}[K", terminator: "")
        fflush(nil)
        shown = false
    }

    private func terminalColumns() -> Int {
        var size = winsize()
        let r = withUnsafeMutablePointer(to: &size) { ioctl(1, UInt(TIOCGWINSZ), $0) }
        return r == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }
}

/// Ctrl-C sets `interrupted`. SIGINT is also unblocked: a parent's blocked mask is inherited
/// (threads of Dispatch and of test runners block it), and Ctrl-C must reach us.
func catchInterrupt() {
    signal(SIGINT) { _ in interrupted.store(true, ordering: .relaxed) }
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigprocmask(SIG_UNBLOCK, &set, nil)
}

/// Sleeps, returning early when SIGINT arrived (nanosleep is never restarted after a handler).
func sleepUnlessInterrupted(milliseconds: Int) {
    var ts = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var rest = timespec()
    while !interrupted.load(ordering: .relaxed) && nanosleep(&ts, &rest) != 0 && errno == EINTR {
        ts = rest
    }
}
