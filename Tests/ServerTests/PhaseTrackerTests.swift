// The tracker between the sample stream and the detector: phase spans in sequence numbers and
// time, per-sample labels, features built only from what a recording has, the off-CPU
// reading of per-task counters, and a bounded phase list.
import Testing
@testable import Server

/// A process-scope export: `regimes` of (samples, target CPUs, context switches/s, write B/s),
/// 100 ms apart from seq 1000.
func processTrace(_ regimes: [(n: Int, cpus: Double, switches: Double, write: Double)]) -> String {
    var out = "seq,time_ms,dt_ms,cpi,cpus_utilized,context_switches_per_s,proc_cpu_pct,proc_read_bps,proc_write_bps,psi_io_some\n"
    var i = 0
    for r in regimes {
        for k in 0..<r.n {
            let wobble = 1 + 0.03 * Double(k % 4)
            // A target that never ran has no per-task counter data: empty cells, /proc says 0.
            let clock = r.cpus == 0 ? "" : "\(r.cpus * wobble)", cs = r.cpus == 0 ? "" : "\(r.switches * wobble)"
            out += "\(1000 + i),\(1_700_000_000_000 + 100 * i),100,,\(clock),\(cs),\(r.cpus * 100),0,\(r.write * wobble),\(r.write > 0 ? 30 : 0)\n"
            i += 1
        }
    }
    return out
}

@Suite struct PhaseTrackerTests {
    @Test func phasesHaveSpansLabelsAndStates() throws {
        let t = try MetricTable.parse(processTrace([(50, 0, 0, 0), (60, 1, 100, 0), (40, 0.2, 3000, 5e7)]))
        let tracker = t.track()
        let r = tracker.reports()
        #expect(r.map(\.classification.phaseClass) == [.idle, .computeBound, .ioBound])
        #expect(r.map(\.id) == [0, 1, 2])
        #expect(r[0].startSeq == 1000 && r[0].detectedSeq == nil)
        #expect(abs(Int(r[1].startSeq) - 1050) <= 1 && abs(Int(r[2].startSeq) - 1110) <= 1)
        for k in 1..<r.count {
            #expect(r[k].startSeq == r[k - 1].endSeq + 1, "phases tile the samples")
            #expect(r[k].startMs == r[k - 1].endMs, "a sample stands for the 100 ms before its time")
            #expect(r[k].detectedSeq! >= r[k].startSeq && r[k].detectedSeq! - r[k].startSeq <= 5)
        }
        #expect(r.last!.endSeq == 1149 && r.last!.open && !r[0].open && r[0].stable && r[1].stable)
        #expect(abs(r[1].seconds - Double(r[1].samples) / 10) < 1e-9)
        let labels = tracker.labels()
        #expect(labels.phase(forSeq: 1000)?.id == 0 && labels.phase(forSeq: 1149)?.phaseClass == .ioBound)
        #expect(labels.phase(forSeq: 999) == nil && labels.phase(forSeq: 1150) == nil)
        #expect(tracker.current()?.id == 2)
    }

    @Test func featuresComeOnlyFromColumnsThatHaveValues() throws {
        let tracker = try MetricTable.parse(processTrace([(30, 1, 100, 0)])).track()
        // cpi is a column without a value: no feature, no figure, never a zero.
        #expect(tracker.extractor.features.map(\.figure) == [.cpus, .switchesPerCPU, .ioBytes])
        #expect(tracker.reports()[0].summary[.cpi].isNaN)
        #expect(tracker.reports()[0].summary[.psiIO] == 0, "machine-wide figures are summarised in process scope...")
        #expect(!tracker.extractor.features.contains { $0.figure == .psiIO }, "...but do not split the target's phases")
    }

    @Test func aTargetOffCPUReadsAsZeroNotMissing() {
        let ex = FeatureExtractor(columns: ["cpus_utilized", "context_switches_per_s", "proc_cpu_pct"],
                                  available: ["cpus_utilized", "context_switches_per_s", "proc_cpu_pct"], scope: .process)
        let asleep = ex.figures { [Double.nan, .nan, 0][$0] }
        #expect(asleep[Figure.cpus.rawValue] == 0 && asleep[Figure.switches.rawValue] == 0)
        let running = ex.figures { [0.9, 300, 90][$0] }
        #expect(running[Figure.cpus.rawValue] == 0.9 && running[Figure.switches.rawValue] == 300)
        let unknown = ex.figures { [Double.nan, .nan, .nan][$0] }
        #expect(unknown[Figure.cpus.rawValue].isNaN && unknown[Figure.switches.rawValue].isNaN)
    }

    @Test func thePhaseListIsBounded() {
        let ex = FeatureExtractor(columns: ["cpu_util"], available: ["cpu_util"], scope: .system)
        let tracker = PhaseTracker(extractor: ex, intervalNs: 100_000_000, minPhaseNs: 500_000_000)
        let phases = PhaseTracker.maxPhases + 200
        for i in 0..<(phases * 12) {
            let busy = (i / 12) % 2 == 1
            tracker.observe(seq: UInt64(i), timeMs: Double(i) * 100) { _ in busy ? 90 : 2 }
        }
        let r = tracker.reports()
        #expect(r.count == PhaseTracker.maxPhases)
        #expect(r.last!.id >= phases - 1 && r.first!.id == r.last!.id - PhaseTracker.maxPhases + 1)
    }
}
