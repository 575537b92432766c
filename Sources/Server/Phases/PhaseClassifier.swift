// Labels a phase's bottleneck from its mean figures, with a confidence and the evidence that
// decided it. Each class has a score in [0, 1] built from published cut-offs (cited beside
// each): a figure exactly at its cut-off scores 0.5, twice past it 1, half of it 0, on a log
// scale so the margin is a ratio. The best score wins; close runners-up make the phase
// `mixed`. Without hardware counters only the OS signals are used and confidence is lowered.
import Glibc

public enum PhaseClass: String, CaseIterable, Sendable {
    case idle
    case computeBound = "compute-bound"
    case memoryBound = "memory-bound"
    case branchBound = "branch-bound"
    case ioBound = "io-bound"
    case contention
    case mixed
}

/// A phase's figures: the mean of its samples' finite values (NaN when it had none).
public struct PhaseSummary: Sendable {
    public var figures: [Double]
    public var scope: FeatureScope

    public init(figures: [Double], scope: FeatureScope) {
        self.figures = figures
        self.scope = scope
    }

    public subscript(_ f: Figure) -> Double { figures[f.rawValue] }
    /// Whether any hardware counter figure was measured.
    public var hasPMU: Bool { Figure.allCases.contains { $0.isHardware && self[$0].isFinite } }
}

/// One figure that decided a class, against its cut-off.
public struct Evidence: Sendable, Equatable {
    public let figure: Figure
    public let value: Double
    /// `>=` or `<`: the side of the cut-off that points to the class.
    public let relation: String
    public let threshold: Double
    /// What the cut-off is and where it comes from.
    public let basis: String
}

public struct Classification: Sendable {
    public let phaseClass: PhaseClass
    public let confidence: Double
    public let evidence: [Evidence]
    /// Why confidence is limited, when it is (no PMU).
    public let note: String?
}

public enum PhaseClassifier {
    // Cut-offs. Each is where the class score is 0.5.

    /// Idle: the target keeps under a tenth of a CPU busy (process scope), or the machine is
    /// under 10 % busy (system scope). OS accounting, no PMU needed.
    static let idleCPUs = 0.1, idleUtil = 10.0
    /// Busy enough for a CPU-side bottleneck: a fifth of a CPU (process: what a CPU-bound
    /// thread still gets on a machine with four more runnable threads per CPU, as on a shared
    /// build box) or 40 % of the machine (system).
    static let busyCPUs = 0.2, busyUtil = 40.0
    /// A process waits on its I/O when it keeps under 3/4 of a CPU busy while moving data.
    /// A sample where the target keeps at least that busy counts as a busy sample.
    static let ioWaitCPUs = 0.75
    /// System scope: a sample with the machine at least 3/4 busy counts as a busy sample.
    static let busySampleUtil = 75.0
    /// I/O: 1 MB/s of the scope's storage traffic is more than background logging.
    static let ioBytes = 1_000_000.0
    /// Pressure-stall "some" above 10 % means tasks lost a tenth of wall time waiting on that
    /// resource (Linux Documentation/accounting/psi.rst defines the share); iowait above 10 %
    /// is the usual saturation sign in the USE method (Gregg, Systems Performance, 2nd ed.,
    /// ch. 6 and 9).
    static let stallShare = 10.0
    /// Major faults read pages from storage: 100/s is sustained paging.
    static let majorFaultRate = 100.0
    /// A context-switch storm: over 2000 switches per busy CPU-second means tasks run under
    /// 0.5 ms between switches, shorter than the scheduler's minimum slice (0.70-0.75 ms x
    /// (1 + log2 CPUs), kernel/sched/fair.c sysctl_sched_base_slice), so they give up the CPU
    /// voluntarily: lock hand-offs, yields or blocking.
    static let switchesPerCPUSecond = 2000.0
    /// Run-queue pressure machine-wide: CPU "some" pressure over 40 % of wall time.
    static let cpuPressure = 40.0
    /// CPI cut-offs from production practice: IPC above 1 (CPI under 1) is instruction-bound,
    /// under 1 (CPI over 1) mostly stalled on memory (Gregg, "CPU Utilization is Wrong", 2017);
    /// compute-bound code sits below about 0.6-0.8 CPI, so compute is CPI < 0.8 and memory
    /// CPI >= 1.0 with high cache MPKI.
    static let computeCPI = 0.8, memoryCPI = 1.0
    /// High cache-miss intensity: 10 misses per kilo-instruction, or a miss ratio past perf's
    /// 10 % (magenta) colouring (tools/perf/util/stat-shadow.c: 5 % yellow, 10 % magenta,
    /// 20 % red for cache and branch miss ratios).
    static let cacheMPKI = 10.0, cacheMissRate = 10.0
    /// Bad speculation: fewer than 200 instructions per mispredicted branch (toplev/TMA
    /// metric IpMispredict, threshold < 200, pmu-tools), i.e. branch MPKI above 5; perf's
    /// 5 % branch-miss colouring as support.
    static let branchMPKI = 1000.0 / 200.0, branchMissRate = 5.0
    /// Busy-wait: very low CPI with almost no memory traffic in a tight branchy loop is
    /// spinning, not useful work (Gregg 2017 lists spin locks among what %CPU hides).
    static let spinCPI = 0.5, spinCacheMPKI = 0.1, spinInstructionsPerBranch = 6.0
    /// Two classes within this score of each other: `mixed`.
    static let tieMargin = 0.15
    /// Without a PMU: compute-bound is a guess between three classes; others lose a little.
    static let noPMUComputeCap = 0.4, noPMUFactor = 0.85

    /// Score for "x at or above t", 0.5 at t, 1 at 2t, 0 at t/2; nil when x is unknown.
    static func above(_ x: Double, _ t: Double) -> Double? {
        guard x.isFinite else { return nil }
        guard x > 0 else { return 0 }
        return min(1, max(0, 0.5 + 0.5 * Glibc.log2(x / t)))
    }
    static func below(_ x: Double, _ t: Double) -> Double? {
        guard x.isFinite else { return nil }
        guard x > 0 else { return 1 }
        return min(1, max(0, 0.5 + 0.5 * Glibc.log2(t / x)))
    }

    /// The alternation test: in process scope the target moved data and kept a CPU busy in
    /// some of its samples but not nearly all; in system scope some samples stalled on I/O
    /// and some did not. Shares within `alternationShare` of 0 or 1 are a steady phase.
    static func alternation(_ s: PhaseSummary) -> Classification? {
        let lo = alternationShare, hi = 1 - alternationShare
        if s.scope == .process {
            let traffic = [above(s[.ioBytes], ioBytes), above(s[.majorFaults], majorFaultRate)].compactMap { $0 }.max() ?? 0
            let share = s[.busyShare]
            guard traffic >= 0.5, share >= lo, share <= hi else { return nil }
            return Classification(phaseClass: .mixed, confidence: 0.5, evidence: [
                Evidence(figure: .busyShare, value: share, relation: ">=", threshold: lo, basis: "a share of its samples kept a CPU busy (compute)"),
                Evidence(figure: .busyShare, value: share, relation: "<", threshold: hi, basis: "and a share did not, while it moved data (I/O)"),
                Evidence(figure: .ioBytes, value: s[.ioBytes], relation: ">=", threshold: ioBytes, basis: "storage traffic beyond background logging"),
            ], note: "alternates between compute and I/O faster than a phase")
        }
        let share = s[.ioStallShare]
        guard share >= lo, share <= hi else { return nil }
        return Classification(phaseClass: .mixed, confidence: 0.5, evidence: [
            Evidence(figure: .ioStallShare, value: share, relation: ">=", threshold: lo, basis: "a share of its samples stalled on I/O"),
            Evidence(figure: .ioStallShare, value: share, relation: "<", threshold: hi, basis: "and a share did not"),
        ], note: "alternates between I/O stalls and other work faster than a phase")
    }

    public static func classify(_ s: PhaseSummary) -> Classification {
        let process = s.scope == .process
        let pmu = s.hasPMU
        // Candidate classes with their score and the evidence behind it.
        var candidates: [(PhaseClass, Double, [Evidence])] = []
        func ev(_ f: Figure, _ rel: String, _ t: Double, _ basis: String) -> Evidence {
            Evidence(figure: f, value: s[f], relation: rel, threshold: t, basis: basis)
        }

        // How busy: the target's CPUs, or the machine's utilisation.
        let (busyFigure, idleCut, busyCut) = process ? (Figure.cpus, idleCPUs, busyCPUs) : (Figure.cpuUtil, idleUtil, busyUtil)
        let lowCPU = below(s[busyFigure], idleCut)
        let busy = above(s[busyFigure], busyCut)

        // I/O: the scope's storage traffic or paging, with waiting to show it is the limit.
        let traffic = [above(s[.ioBytes], ioBytes), above(s[.majorFaults], majorFaultRate)].compactMap { $0 }.max()
        let stalled = [above(s[.psiIO], stallShare), above(s[.iowait], stallShare)].compactMap { $0 }.max()
        var io: Double?
        var ioEvidence: [Evidence] = []
        if process {
            // The target moved data and spent most of its time off-CPU or the disk was saturated.
            let offCPU = [stalled, below(s[.cpus], ioWaitCPUs)].compactMap { $0 }.max()
            if let traffic, let offCPU { io = min(traffic, offCPU) }
        } else if let stalled {
            io = stalled
        }
        if let io {
            if s[.ioBytes].isFinite { ioEvidence.append(ev(.ioBytes, ">=", ioBytes, "storage traffic beyond background logging")) }
            if let f = [Figure.psiIO, .iowait].first(where: { s[$0].isFinite }) {
                ioEvidence.append(ev(f, ">=", stallShare, f == .psiIO ? "time some task stalled on I/O (kernel PSI)" : "CPU idle with I/O pending (USE method saturation)"))
            }
            if process, s[.cpus].isFinite { ioEvidence.append(ev(.cpus, "<", ioWaitCPUs, "the target is off-CPU, waiting")) }
            if s[.majorFaults] >= majorFaultRate { ioEvidence.append(ev(.majorFaults, ">=", majorFaultRate, "pages read from storage")) }
            candidates.append((.ioBound, io, ioEvidence))
        }

        if let lowCPU {
            let quiet = min(lowCPU, 1 - (traffic ?? 0), 1 - (stalled ?? 0))
            var e = [ev(busyFigure, "<", idleCut, process ? "the target keeps under a tenth of a CPU busy" : "the machine is under 10 % busy")]
            if s[.ioBytes].isFinite { e.append(ev(.ioBytes, "<", ioBytes, "no storage traffic to speak of")) }
            candidates.append((.idle, quiet, e))
        }

        // Contention: a context-switch storm (not explained by I/O waits, which also switch),
        // run-queue pressure machine-wide, or spinning.
        var contention: [(Double, [Evidence])] = []
        if process, s[.switches].isFinite, s[.cpus].isFinite, let active = above(s[.cpus], idleCPUs) {
            let perCPU = s[.switches] / max(s[.cpus], 0.01)
            let storm = min(above(perCPU, switchesPerCPUSecond)!, active, 1 - (io ?? 0))
            var e = [Evidence(figure: .switches, value: s[.switches], relation: ">=", threshold: switchesPerCPUSecond * s[.cpus],
                              basis: "\(Int(perCPU.rounded())) switches per busy CPU-second: runs shorter than the scheduler's minimum slice")]
            e.append(ev(.cpus, ">=", idleCPUs, "the target is running, not idle"))
            if s[.psiCPU].isFinite { e.append(ev(.psiCPU, ">=", cpuPressure, "runnable tasks waiting for a CPU (kernel PSI)")) }
            contention.append((storm, e))
        }
        if !process, let pressure = above(s[.psiCPU], cpuPressure) {
            var e = [ev(.psiCPU, ">=", cpuPressure, "runnable tasks waiting for a CPU (kernel PSI)")]
            if s[.switches].isFinite { e.append(ev(.switches, ">=", switchesPerCPUSecond, "context switches per second, machine-wide")) }
            contention.append((min(pressure, 1 - (io ?? 0)), e))
        }
        if pmu, let lowCPI = below(s[.cpi], spinCPI), let noMem = below(s[.cacheMPKI], spinCacheMPKI),
           let tight = below(s[.instructionsPerBranch], spinInstructionsPerBranch) {
            contention.append((min(lowCPI, noMem, tight, busy ?? 0), [
                ev(.cpi, "<", spinCPI, "very low CPI"),
                ev(.cacheMPKI, "<", spinCacheMPKI, "almost no memory traffic"),
                ev(.instructionsPerBranch, "<", spinInstructionsPerBranch, "a branch every few instructions: a busy-wait loop, not useful work"),
            ]))
        }
        if let best = contention.max(by: { $0.0 < $1.0 }) { candidates.append((.contention, best.0, best.1)) }

        // CPU-side classes, only when the CPU is busy; busy time spent switching or waiting on
        // I/O is not useful compute.
        let waiting = max(io ?? 0, contention.map(\.0).max() ?? 0)
        if let busy {
            let busyEvidence = ev(busyFigure, ">=", busyCut, process ? "the target keeps the CPU busy" : "the machine is busy")
            if pmu, s[.cpi].isFinite {
                if let slow = above(s[.cpi], memoryCPI),
                   let misses = [above(s[.cacheMPKI], cacheMPKI), above(s[.cacheMissRate], cacheMissRate)].compactMap({ $0 }).max() {
                    var e = [ev(.cpi, ">=", memoryCPI, "CPI over 1: mostly stalled (Gregg 2017)")]
                    if s[.cacheMPKI].isFinite { e.append(ev(.cacheMPKI, ">=", cacheMPKI, "high cache-miss intensity")) }
                    if s[.cacheMissRate].isFinite { e.append(ev(.cacheMissRate, ">=", cacheMissRate, "perf colours cache miss ratios over 10 % magenta")) }
                    candidates.append((.memoryBound, min(busy, slow, misses), e))
                }
                if let mispredicts = above(s[.branchMPKI], branchMPKI) {
                    var e = [Evidence(figure: .branchMPKI, value: s[.branchMPKI], relation: ">=", threshold: branchMPKI,
                                      basis: "\(Int((1000 / max(s[.branchMPKI], 1e-9)).rounded())) instructions per mispredict; toplev flags fewer than 200")]
                    if s[.branchMissRate].isFinite { e.append(ev(.branchMissRate, ">=", branchMissRate, "perf colours branch miss ratios over 5 % yellow")) }
                    candidates.append((.branchBound, min(busy, mispredicts), e))
                }
                if let fast = below(s[.cpi], computeCPI) {
                    candidates.append((.computeBound, min(busy, fast, 1 - waiting), [busyEvidence, ev(.cpi, "<", computeCPI, "CPI under 0.8: instruction-bound")]))
                }
            } else {
                candidates.append((.computeBound, min(busy, 1 - waiting), [busyEvidence]))
            }
        }

        // A phase that alternates (some of its samples busy, some waiting on I/O, neither nearly
        // all) has two bottlenecks in turn: mixed, whatever its mean looks like.
        if let alternation = alternation(s) { return alternation }

        // Evidence is the figures on the class's side of their cut-offs (all of them, if none is).
        let ranked = candidates.sorted { $0.1 > $1.1 }.map { c -> (PhaseClass, Double, [Evidence]) in
            let decided = c.2.filter { $0.relation == ">=" ? $0.value >= $0.threshold : $0.value < $0.threshold }
            return (c.0, c.1, decided.isEmpty ? c.2 : decided)
        }
        guard let top = ranked.first, top.1 >= 0.5 else {
            return Classification(phaseClass: .mixed, confidence: 0.3, evidence: ranked.first?.2 ?? [],
                                  note: "no class reaches its cut-off" + (pmu ? "" : "; no hardware counters"))
        }
        if ranked.count > 1, ranked[1].1 >= 0.5, top.1 - ranked[1].1 < tieMargin, top.0 != ranked[1].0 {
            return Classification(phaseClass: .mixed, confidence: 0.5 * top.1, evidence: top.2 + ranked[1].2,
                                  note: "\(top.0.rawValue) and \(ranked[1].0.rawValue) both reach their cut-offs")
        }
        guard !pmu else { return Classification(phaseClass: top.0, confidence: top.1, evidence: top.2, note: nil) }
        if top.0 == .computeBound {
            return Classification(phaseClass: .computeBound, confidence: min(top.1, noPMUComputeCap), evidence: top.2,
                                  note: "no hardware counters: a busy CPU is all the OS shows, so memory- and branch-bound work look the same as compute-bound here")
        }
        return Classification(phaseClass: top.0, confidence: top.1 * noPMUFactor, evidence: top.2,
                              note: "no hardware counters: classified from OS signals alone")
    }
}
