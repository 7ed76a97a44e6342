import Glibc

/// Starts a child process for a test: stdin from /dev/null, stdout and stderr appended to
/// `outputPath`, default dispositions and an empty mask for the signals tests send (the test
/// process may have them blocked). `searchPath` uses posix_spawnp (PATH lookup). Returns the PID;
/// the caller kills it by PID.
func spawnChild(_ argv: [String], outputPath: String, searchPath: Bool = false) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attr, &mask)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for a in cArgs { free(a) } }
    var child: pid_t = 0
    let r = searchPath
        ? posix_spawnp(&child, argv[0], &actions, &attr, cArgs, environ)
        : posix_spawn(&child, argv[0], &actions, &attr, cArgs, environ)
    guard r == 0 else {
        throw SpawnedProxy.SpawnError("\(searchPath ? "posix_spawnp" : "posix_spawn") \(argv[0]): \(String(cString: strerror(r)))")
    }
    return child
}
