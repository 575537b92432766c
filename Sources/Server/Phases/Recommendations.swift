// What to do about a phase's bottleneck, and how much it could matter. The projected speedup is
// an upper bound by Amdahl's law: if a share w of the phase's time is removable (time off-CPU
// or stalled, or cycles above the run's compute baseline) and the phase is a share f of the run, removing
// all of it speeds the run up by at most 1 / (1 - f w). Every bound carries its inputs and
// derivation; where the data give no w, there is no number, only the reason.

public struct SpeedupBound: Sendable {
    /// Whole-run speedup if the phase's removable time were all removed (an upper bound).
    public let value: Double
    /// f: the phase's share of the run's time.
    public let phaseShare: Double
    /// w: the share of the phase's time that is removable.
    public let removableShare: Double
    public static let formula = "1 / (1 - f * w)"
    /// How w was measured, with the figures.
    public let derivation: String
}

public struct Recommendation: Sendable {
    public let actions: [String]
    public let bound: SpeedupBound?
    /// Why there is no bound, when there is none.
    public let noBound: String?
}

public enum Recommendations {
    /// w is capped here: a phase that is all stall still has to do its work once.
    static let maxRemovable = 0.95

    public static func actions(for c: Classification) -> [String] {
        switch c.phaseClass {
        case .idle:
            return ["nothing to tune while idle; if work was expected here, find what the program waits for (timers, network, another service)"]
        case .computeBound:
            return ["do less work: a better algorithm, fewer allocations and copies",
                    "let the compiler do more: -O2/-O3 with -march for the target, vectorised loops, profile-guided optimisation",
                    "spread the work over idle cores if the machine has them"]
        case .memoryBound:
            return ["improve locality: touch memory in address order, keep hot data together",
                    "block (tile) loops so each pass works on a cache-sized piece",
                    "use prefetch-friendly layouts: arrays of structures to structures of arrays, indices instead of pointer chains",
                    "back large working sets with huge pages (transparent huge pages or hugetlbfs) to cut TLB misses"]
        case .branchBound:
            return ["make hot branches branchless: conditional moves, arithmetic selects, lookup tables",
                    "sort or partition the data so a branch goes the same way for long runs",
                    "build with profile-guided optimisation (e.g. -fprofile-generate / -fprofile-use) so likely paths fall through"]
        case .ioBound:
            return ["batch small writes and syncs (group commit): one fsync per batch, not per record",
                    "overlap I/O with work: asynchronous I/O (io_uring) or a dedicated I/O thread",
                    "cache or buffer what is read repeatedly; check every fsync is needed for durability"]
        case .contention:
            if spinning(c) {
                return ["replace the spin loop with a blocking wait (futex, condition variable) or spin with back-off",
                        "shorten or split the critical section the spinners wait for"]
            }
            return ["run no more busy threads than cores (a bounded pool, not a thread per task)",
                    "split hot locks (lock striping, per-thread or per-CPU shards) and shorten critical sections",
                    "use lock-free or batched hand-offs where one lock serialises everything"]
        case .mixed:
            return ["no single bottleneck dominates: profile this phase (perf record -g) before changing code",
                    "the evidence lists the figures that pull in different directions"]
        }
    }

    static func spinning(_ c: Classification) -> Bool { c.evidence.contains { $0.figure == .instructionsPerBranch } }

    /// `phaseSeconds` of a run of `runSeconds`; `baselineCPI`: the run's compute-bound CPI.
    public static func recommend(_ c: Classification, summary s: PhaseSummary, phaseSeconds: Double, runSeconds: Double,
                                 baselineCPI: Double?) -> Recommendation {
        let actions = actions(for: c)
        func none(_ why: String) -> Recommendation { Recommendation(actions: actions, bound: nil, noBound: why) }
        let w: Double, how: String
        switch c.phaseClass {
        case .idle: return none("idle: nothing to speed up")
        case .computeBound: return none("compute-bound: no stall time to remove; only doing less work or using more cores helps, and the counters cannot bound that")
        case .mixed: return none("mixed: no single bottleneck whose removal can be projected")
        case .memoryBound, .branchBound:
            let cpi = s[.cpi]
            guard let base = baselineCPI, cpi.isFinite else { return none("no compute-bound phase in this run to compare CPI with") }
            guard cpi > base else { return none("CPI \(fmt(cpi)) is not above the run's compute baseline \(fmt(base))") }
            w = 1 - base / cpi
            how = "w = 1 - baseline CPI / phase CPI = 1 - \(fmt(base)) / \(fmt(cpi)): the cycles above the run's best compute-bound CPI"
        case .ioBound:
            if s[.threads] >= 1, s[.cpus].isFinite {
                // Removing every wait cannot save more than the time its threads were off-CPU.
                w = 1 - min(1, s[.cpus] / s[.threads])
                how = "w = 1 - cpus_busy / threads = 1 - \(fmt(s[.cpus])) / \(fmt(s[.threads])): the share of its threads' time the target spent off-CPU"
            } else if s[.psiIO].isFinite {
                w = s[.psiIO] / 100
                how = "w = psi_io_some = \(fmt(s[.psiIO])) %: the share of wall time in which some task waited on I/O (kernel PSI)"
            } else if s[.iowait].isFinite {
                w = s[.iowait] / 100
                how = "w = cpu_iowait = \(fmt(s[.iowait])) %: CPU time idle with I/O outstanding"
            } else {
                return none("no I/O stall measure (PSI or iowait) on this machine")
            }
        case .contention:
            if spinning(c) { return none("spinning hides the wait inside busy CPU time; the counters cannot say how much of it is waiting") }
            guard s[.psiCPU].isFinite else { return none("no CPU pressure measure (PSI) on this machine") }
            w = s[.psiCPU] / 100
            how = "w = psi_cpu_some = \(fmt(s[.psiCPU])) %: the share of wall time in which runnable tasks waited for a CPU (kernel PSI); lock waits off the run queue are not in it"
        }
        guard runSeconds > 0, phaseSeconds > 0 else { return none("the run has no duration yet") }
        let f = min(1, phaseSeconds / runSeconds)
        let capped = min(max(w, 0), maxRemovable)
        let note = capped < w ? " (capped at \(fmt(maxRemovable)): the work itself remains)" : ""
        let derivation = "f = \(fmt(phaseSeconds)) s of \(fmt(runSeconds)) s = \(fmt(f)); \(how)\(note); bound = 1 / (1 - \(fmt(f)) * \(fmt(capped)))"
        return Recommendation(actions: actions, bound: SpeedupBound(value: 1 / (1 - f * capped), phaseShare: f, removableShare: capped, derivation: derivation),
                              noBound: nil)
    }

    /// About three significant figures, with k/M/G for large values: for derivations and tables.
    static func fmt(_ v: Double) -> String {
        guard v.isFinite else { return "n/a" }
        for (limit, suffix) in [(1e9, "G"), (1e6, "M"), (1e4, "k")] where abs(v) >= limit {
            return fmt(v / (limit == 1e4 ? 1e3 : limit)) + suffix
        }
        let a = abs(v)
        let decimals = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        var s = "\((v * scale).rounded() / scale)"
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }
}
