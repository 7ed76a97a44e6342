import Glibc

/// CPU accounting from /proc. A proxy's cost is the utime+stime of its whole process tree
/// (nginx's work happens in a worker, a child of the master), read before and after a run.
enum ProcStat {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// Fields after "pid (comm)": index 0 is state, 1 ppid, 11 utime, 12 stime.
    private static func fields(_ pid: Int32) -> [Substring]? {
        guard let text = readTextFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// utime+stime of one process (all its threads), in ticks.
    static func ticks(_ pid: Int32) -> UInt64 {
        guard let f = fields(pid), f.count > 12 else { return 0 }
        return (UInt64(f[11]) ?? 0) + (UInt64(f[12]) ?? 0)
    }

    /// `pid` and all its descendants, found by scanning /proc for parent links.
    static func tree(_ root: Int32) -> [Int32] {
        var parent: [Int32: Int32] = [:]
        if let dir = opendir("/proc") {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                guard let pid = Int32(name), let f = fields(pid), f.count > 1, let pp = Int32(f[1]) else { continue }
                parent[pid] = pp
            }
            closedir(dir)
        }
        var result = [root]
        var i = 0
        while i < result.count {
            let p = result[i]
            for (child, pp) in parent where pp == p { result.append(child) }
            i += 1
        }
        return result
    }

    /// VmRSS of one process in KiB (0 when it is gone).
    static func rssKiB(_ pid: Int32) -> Int {
        guard let text = readTextFile("/proc/\(pid)/status") else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        }
        return 0
    }

    /// VmRSS of `root`'s whole process tree (nginx master + workers), in bytes.
    static func treeRSSBytes(_ root: Int32) -> Int {
        tree(root).reduce(0) { $0 + rssKiB($1) } * 1024
    }

    /// CPU seconds used so far by `root`'s process tree.
    static func treeSeconds(_ root: Int32) -> Double {
        Double(tree(root).reduce(0) { $0 + ticks($1) }) / ticksPerSecond
    }

    /// CPU seconds of the load side: this process (the load loop with the upstreams and the
    /// built-in generator) plus its reaped children (wrk, which is waited for after each run).
    static func loadSideSeconds() -> Double {
        var me = rusage(), kids = rusage()
        getrusage(RUSAGE_SELF.rawValue, &me)
        getrusage(RUSAGE_CHILDREN.rawValue, &kids)
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(me.ru_utime) + s(me.ru_stime) + s(kids.ru_utime) + s(kids.ru_stime)
    }

    /// (busy, total) ticks of one core from /proc/stat; busy excludes idle and iowait.
    static func coreTicks(_ core: Int) -> (busy: UInt64, total: UInt64)? {
        guard let text = readTextFile("/proc/stat") else { return nil }
        let prefix = "cpu\(core) "
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            let v = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
            guard v.count >= 5 else { return nil }
            let total = v.prefix(8).reduce(0, +)
            return (total - v[3] - v[4], total)
        }
        return nil
    }
}

/// Pins the calling process (and so every thread it creates later) to one core. Glibc's Swift
/// overlay does not export sched_setaffinity, so it is looked up with dlsym.
enum Affinity {
    private typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32

    static var coreCount: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    @discardableResult
    static func pinSelf(to core: Int) -> Bool {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_setaffinity") else { return false }
        let f = unsafeBitCast(sym, to: SetAffinity.self)
        var mask = [UInt64](repeating: 0, count: 16)   // 1024 CPUs, like cpu_set_t
        mask[core / 64] = 1 << UInt64(core % 64)
        return mask.withUnsafeBytes { f(0, 128, $0.baseAddress!) } == 0
    }
}
