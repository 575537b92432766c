// The classifier on fabricated phase summaries. Memory-, branch-bound and busy-wait phases need
// hardware counters this machine does not have, so they are tested here with values a PMU
// would give; the OS-only cases check the lowered confidence and the note that says why.
import Testing
@testable import Server

/// A summary with the given figures (everything else unmeasured).
func fabricated(_ values: [Figure: Double], scope: FeatureScope = .process) -> PhaseSummary {
    var f = [Double](repeating: .nan, count: Figure.allCases.count)
    for (k, v) in values { f[k.rawValue] = v }
    return PhaseSummary(figures: f, scope: scope)
}

struct ClassifierCase: Sendable, CustomTestStringConvertible {
    let name: String
    let summary: PhaseSummary
    let expected: PhaseClass
    /// Figures that must be among the evidence.
    let evidence: [Figure]
    var testDescription: String { name }
}

/// A PMU phase on one busy CPU with low miss rates, to vary from.
let busyPMU: [Figure: Double] = [.cpus: 1.0, .switches: 50, .ioBytes: 0, .cpi: 0.5, .cacheMPKI: 0.5, .branchMPKI: 0.3,
                                  .cacheMissRate: 2, .branchMissRate: 0.5, .instructionsPerBranch: 12]

func varying(_ base: [Figure: Double], _ changes: [Figure: Double]) -> [Figure: Double] { base.merging(changes) { $1 } }

@Suite struct PhaseClassifierTests {
    static let cases: [ClassifierCase] = [
        ClassifierCase(name: "compute: CPI 0.5, few misses", summary: fabricated(busyPMU), expected: .computeBound, evidence: [.cpi, .cpus]),
        ClassifierCase(name: "memory: CPI 2.4, 25 cache MPKI, 30 % misses",
                       summary: fabricated(varying(busyPMU, [.cpi: 2.4, .cacheMPKI: 25, .cacheMissRate: 30])), expected: .memoryBound, evidence: [.cpi, .cacheMPKI]),
        ClassifierCase(name: "memory by miss ratio alone: CPI 1.6, 40 % misses",
                       summary: fabricated(varying(busyPMU, [.cpi: 1.6, .cacheMPKI: 4, .cacheMissRate: 40])), expected: .memoryBound, evidence: [.cacheMissRate]),
        ClassifierCase(name: "branch: 50 instructions per mispredict",
                       summary: fabricated(varying(busyPMU, [.cpi: 1.1, .branchMPKI: 20, .branchMissRate: 15])), expected: .branchBound, evidence: [.branchMPKI]),
        ClassifierCase(name: "spin: CPI 0.3, no memory traffic, a branch every 3 instructions",
                       summary: fabricated(varying(busyPMU, [.cpi: 0.3, .cacheMPKI: 0.01, .instructionsPerBranch: 3])), expected: .contention,
                       evidence: [.cpi, .cacheMPKI, .instructionsPerBranch]),
        ClassifierCase(name: "mixed: memory and branch both far past their cut-offs",
                       summary: fabricated(varying(busyPMU, [.cpi: 3, .cacheMPKI: 30, .branchMPKI: 20])), expected: .mixed, evidence: [.cacheMPKI, .branchMPKI]),
        ClassifierCase(name: "idle process", summary: fabricated([.cpus: 0.01, .switches: 2, .ioBytes: 0]), expected: .idle, evidence: [.cpus]),
        ClassifierCase(name: "io: fsync loop", summary: fabricated([.cpus: 0.2, .switches: 3000, .ioBytes: 80e6, .psiIO: 30]),
                       expected: .ioBound, evidence: [.ioBytes, .psiIO]),
        ClassifierCase(name: "contention: 60k switches on 1.5 CPUs", summary: fabricated([.cpus: 1.5, .switches: 60_000, .ioBytes: 0, .psiCPU: 95]),
                       expected: .contention, evidence: [.switches]),
        ClassifierCase(name: "busy without a PMU", summary: fabricated([.cpus: 1.0, .switches: 40, .ioBytes: 0]), expected: .computeBound, evidence: [.cpus]),
        ClassifierCase(name: "system: idle machine", summary: fabricated([.cpuUtil: 3, .iowait: 0, .psiIO: 0, .ioBytes: 1000], scope: .system),
                       expected: .idle, evidence: [.cpuUtil]),
        ClassifierCase(name: "system: run-queue pressure", summary: fabricated([.cpuUtil: 98, .psiCPU: 85, .switches: 90_000], scope: .system),
                       expected: .contention, evidence: [.psiCPU]),
        ClassifierCase(name: "system: iowait", summary: fabricated([.cpuUtil: 20, .iowait: 35, .psiIO: 60, .ioBytes: 5e7], scope: .system),
                       expected: .ioBound, evidence: [.psiIO]),
        ClassifierCase(name: "alternation: half the samples busy, 15 MB/s written",
                       summary: fabricated([.cpus: 0.55, .switches: 600, .ioBytes: 15e6, .busyShare: 0.45]), expected: .mixed,
                       evidence: [.busyShare, .ioBytes]),
        ClassifierCase(name: "steady I/O: no sample busy, 15 MB/s written",
                       summary: fabricated([.cpus: 0.12, .switches: 800, .ioBytes: 15e6, .busyShare: 0]), expected: .ioBound,
                       evidence: [.ioBytes]),
        ClassifierCase(name: "steady compute with a few busy-share misses, no I/O",
                       summary: fabricated([.cpus: 0.6, .switches: 90, .ioBytes: 0, .busyShare: 0.5]), expected: .computeBound,
                       evidence: [.cpus]),
        ClassifierCase(name: "system: half the samples stalled on I/O",
                       summary: fabricated([.cpuUtil: 100, .psiCPU: 95, .psiIO: 18, .ioBytes: 2e7, .ioStallShare: 0.5], scope: .system),
                       expected: .mixed, evidence: [.ioStallShare]),
        ClassifierCase(name: "system: every sample stalled on I/O",
                       summary: fabricated([.cpuUtil: 100, .psiCPU: 90, .psiIO: 36, .ioBytes: 7e7, .ioStallShare: 1], scope: .system),
                       expected: .ioBound, evidence: [.psiIO]),
    ]

    @Test(arguments: cases)
    func classifiesWithEvidence(_ c: ClassifierCase) {
        let result = PhaseClassifier.classify(c.summary)
        #expect(result.phaseClass == c.expected)
        for f in c.evidence { #expect(result.evidence.contains { $0.figure == f }, "\(f.key) in the evidence") }
        #expect(result.confidence > 0 && result.confidence <= 1)
        for e in result.evidence { #expect(!e.basis.isEmpty && (e.relation == ">=" || e.relation == "<")) }
    }

    @Test func withoutAPMUConfidenceIsLowAndSaysWhy() {
        let os = PhaseClassifier.classify(fabricated([.cpus: 1.0, .switches: 40, .ioBytes: 0]))
        let pmu = PhaseClassifier.classify(fabricated(busyPMU))
        #expect(os.phaseClass == .computeBound && pmu.phaseClass == .computeBound)
        #expect(os.confidence <= 0.4 && pmu.confidence > os.confidence)
        #expect(os.note?.contains("no hardware counters") == true && os.note?.contains("memory") == true)
        #expect(pmu.note == nil)
        let io = PhaseClassifier.classify(fabricated([.cpus: 0.2, .ioBytes: 80e6, .psiIO: 30]))
        #expect(io.note?.contains("OS signals alone") == true && io.confidence < 1)
    }

    @Test(arguments: [2_000.0, 20_000, 200_000])
    func ioWaitsAreNotReadAsLockContention(switches: Double) {
        // Blocking I/O switches context on every wait; with storage traffic that is I/O.
        let c = PhaseClassifier.classify(fabricated([.cpus: 0.3, .switches: switches, .ioBytes: 2e8, .psiIO: 25]))
        #expect(c.phaseClass == .ioBound)
    }
}

@Suite struct RecommendationTests {
    func recommend(_ s: PhaseSummary, phase: Double = 10, run: Double = 40, baseline: Double? = 0.5) -> (Classification, Recommendation) {
        let c = PhaseClassifier.classify(s)
        return (c, Recommendations.recommend(c, summary: s, phaseSeconds: phase, runSeconds: run, baselineCPI: baseline))
    }

    @Test func memoryBoundBoundIsAmdahlOverExcessCPI() throws {
        let (c, r) = recommend(fabricated(varying(busyPMU, [.cpi: 2.0, .cacheMPKI: 25])))
        #expect(c.phaseClass == .memoryBound)
        let b = try #require(r.bound)
        // f = 10/40, w = 1 - 0.5/2.0 = 0.75: 1 / (1 - 0.1875)
        #expect(abs(b.phaseShare - 0.25) < 1e-12 && abs(b.removableShare - 0.75) < 1e-12)
        #expect(abs(b.value - 1 / (1 - 0.1875)) < 1e-12)
        #expect(b.derivation.contains("0.5") && b.derivation.contains("2") && b.derivation.contains("f = 10 s of 40 s"))
        #expect(r.actions.contains { $0.contains("huge pages") } && r.actions.contains { $0.contains("block") })
    }

    @Test func ioBoundBoundUsesTheIOStallShare() throws {
        let (c, r) = recommend(fabricated([.cpus: 0.2, .ioBytes: 8e7, .psiIO: 30]), phase: 20, run: 40)
        #expect(c.phaseClass == .ioBound)
        let b = try #require(r.bound)
        #expect(abs(b.value - 1 / (1 - 0.5 * 0.3)) < 1e-12)
        #expect(b.derivation.contains("psi_io_some"))
        #expect(r.actions.contains { $0.contains("batch") } && r.actions.contains { $0.contains("io_uring") })
    }

    @Test func ioBoundProcessBoundIsItsOffCPUShare() throws {
        let (c, r) = recommend(fabricated([.cpus: 0.25, .threads: 1, .ioBytes: 8e7, .psiIO: 3]), phase: 20, run: 40)
        #expect(c.phaseClass == .ioBound)
        let b = try #require(r.bound)
        // one thread on a CPU a quarter of the time: at most 3/4 of the phase is waiting
        #expect(abs(b.removableShare - 0.75) < 1e-12 && abs(b.value - 1 / (1 - 0.5 * 0.75)) < 1e-12)
        #expect(b.derivation.contains("off-CPU"))
    }

    @Test func allStallIsCappedBecauseTheWorkRemains() throws {
        let (c, r) = recommend(fabricated([.cpus: 1.5, .switches: 80_000, .ioBytes: 0, .psiCPU: 100]), phase: 40, run: 40)
        #expect(c.phaseClass == .contention)
        let b = try #require(r.bound)
        #expect(b.removableShare == Recommendations.maxRemovable)
        #expect(b.value == 1 / (1 - Recommendations.maxRemovable))
        #expect(r.actions.contains { $0.contains("threads") } && r.actions.contains { $0.contains("split") })
    }

    @Test(arguments: [
        (varying(busyPMU, [:]), "compute-bound"),
        ([Figure.cpus: 0.01, .ioBytes: 0], "idle"),
        (varying(busyPMU, [.cpi: 3, .cacheMPKI: 30, .branchMPKI: 20]), "mixed"),
        (varying(busyPMU, [.cpi: 0.3, .cacheMPKI: 0.01, .instructionsPerBranch: 3]), "spinning"),
    ])
    func noNumberWithoutADerivation(figures: [Figure: Double], why: String) {
        let (_, r) = recommend(fabricated(figures))
        #expect(r.bound == nil)
        #expect(r.noBound?.contains(why) == true)
        #expect(!r.actions.isEmpty)
    }

    @Test func memoryBoundWithoutABaselineHasNoBound() {
        let (_, r) = recommend(fabricated(varying(busyPMU, [.cpi: 2.0, .cacheMPKI: 25])), baseline: nil)
        #expect(r.bound == nil && r.noBound?.contains("compute-bound phase") == true)
    }

    @Test(arguments: [(0.0123, "0.012"), (1.5, "1.5"), (12.34, "12.3"), (250, "250"), (31_200_000, "31.2M"), (45_000, "45k")])
    func figuresInDerivationsAreShort(value: Double, text: String) {
        #expect(Recommendations.fmt(value) == text)
    }
}
