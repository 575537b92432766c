// Whether a perf stat recording counted the whole machine (`-a`, `-C`) or one process, from
// what the file itself shows, strongest sign first:
//   1. a command line in the file (lkp's header, or a `# perf stat ...` comment): -a,
//      --all-cpus, -C/--cpu, -A, --per-* mean system-wide; -p, -t or a command without them a
//      process;
//   2. perf's title (human layout): `'system wide'` or `'CPU(s) 0-3'`, else a process/command;
//   3. per-CPU or per-core/die/socket/node columns: perf prints them only when counting CPUs;
//   4. CPU clock against wall time: counting every CPU, cpu-clock/task-clock grows by the
//      same whole number of CPUs' time in every interval (within 2 %, the first interval left
//      out as it includes perf's start-up). A busy multi-threaded process can show many CPUs
//      too, but not the same whole number every interval.
// None of these (a single interval, or jittery short intervals): unknown, which readers take
// as one process, perf stat's default (`analyze --scope system` says otherwise).

enum PerfStatScope {
    static let systemFlags: Set<Substring> = ["-a", "--all-cpus", "-A", "--no-aggr", "--per-core", "--per-socket", "--per-die",
                                              "--per-node", "--per-cache", "--per-cluster", "-C", "--cpu"]

    static func detect(_ r: PerfStatCSV.Recording) -> (Bool?, String) {
        if let cmd = r.commandLine {
            let words = cmd.split(whereSeparator: \.isWhitespace)
            let stat = words.firstIndex(of: "stat") ?? 0
            // Up to `--` (the command's own arguments follow); combined short flags such as -aA.
            let flags = words[stat...].prefix { $0 != "--" }
            let system = flags.contains { w in
                systemFlags.contains(w) || systemFlags.contains { w.hasPrefix($0 + "=") }
                    || (w.hasPrefix("-") && !w.hasPrefix("--") && w.dropFirst().allSatisfy(\.isLetter) && w.contains { $0 == "a" || $0 == "A" || $0 == "C" })
            }
            return (system, system ? "the command line in the file counts CPUs (-a, -C, -A or --per-*)"
                                   : "the command line in the file counts a process or command (no -a, -C, -A or --per-*)")
        }
        if let t = r.title {
            let system = t.hasPrefix("'system wide'") || t.hasPrefix("'CPU(s)")
            return (system, "perf's title: Performance counter stats for \(t)")
        }
        if let a = r.aggregation { return (true, "\(a) columns: perf prints them only when counting CPUs") }
        if let n = clockCPUs(r) { return (true, "cpu-clock grows by \(n) CPUs' time in every interval") }
        return (nil, "nothing in the file says whether perf counted CPUs (-a) or a process")
    }

    /// The whole number of CPUs the CPU clock counts in every interval, or nil.
    static func clockCPUs(_ r: PerfStatCSV.Recording) -> Int? {
        guard r.isInterval, let e = r.events.firstIndex(where: { $0.name == "cpu-clock" }) ?? r.events.firstIndex(where: { $0.name == "task-clock" })
        else { return nil }
        var ratios: [Double] = []
        var previous = 0.0
        for iv in r.intervals {
            defer { previous = iv.time }
            guard let c = iv.readings[e]?.count, c.isFinite, iv.time > previous else { continue }
            ratios.append(c / ((iv.time - previous) * 1e9))
        }
        if ratios.count > 1 { ratios.removeFirst() }
        guard ratios.count >= 2, let n = ratios.first.map({ $0.rounded() }), n >= 2,
              ratios.allSatisfy({ abs($0 - n) <= 0.02 * n }) else { return nil }
        return Int(n)
    }
}
