// The phase-detection evaluation: recorded traces with their driver's true phases, the
// detector and two baselines run over them, and TCPDBench's metrics (van den Burg & Williams,
// "An Evaluation of Change Point Detection Algorithms", 2020): boundary F1 with a margin,
// segmentation covering, plus per-sample label macro-F1, detection delay and false
// boundaries per minute on stationary runs. Two independent sets: `workload` (Tests/Traces,
// scripts/workload) and `programs` (Tests/Traces/programs, real programs run by
// scripts/phase-programs, and hardware-counter traces from scripts/make-hw-traces).
import Foundation
import Testing
@testable import Server

/// A recorded trace (Tests/Traces/NAME.csv) and the driver's labels (NAME.labels.csv).
struct LabelledTrace: Sendable {
    struct TruePhase: Sendable {
        let kind: String
        let phaseClass: PhaseClass
        let startMs: Double, endMs: Double
    }

    /// The file name without extension, `programs/` before the programs set's.
    let name: String
    let table: MetricTable
    let phases: [TruePhase]

    /// test-* and programs/held-* traces are held out: the detector was never tuned on them.
    var heldOut: Bool { name.hasPrefix("test-") || name.hasPrefix("programs/held-") }
    /// The programs set: every labelled phase is a phase of the truth (consecutive phases of
    /// one class at different levels included); in the workload set a class change is.
    var programs: Bool { name.hasPrefix("programs/") }
    var stationary: Bool { name.contains("stationary") }
    var hasPMU: Bool { table.available.contains("cpi") }
    var minutes: Double { Double(table.rows.count) * Double(table.intervalNs) / 60e9 }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Traces").path

    static func load(_ name: String) throws -> LabelledTrace {
        let csv = try String(contentsOfFile: "\(directory)/\(name).csv", encoding: .utf8)
        let labels = try String(contentsOfFile: "\(directory)/\(name).labels.csv", encoding: .utf8)
        let lines = labels.split(separator: "\n").filter { !$0.hasPrefix("#") }
        let header = lines[0].split(separator: ",").map(String.init)
        let col = { (k: String) in header.firstIndex(of: k)! }
        let phases = lines.dropFirst().map { line -> TruePhase in
            let f = line.split(separator: ",").map(String.init)
            return TruePhase(kind: f[col("kind")], phaseClass: PhaseClass(rawValue: f[col("class")])!,
                             startMs: Double(f[col("start_unix_ms")])!, endMs: Double(f[col("end_unix_ms")])!)
        }
        return LabelledTrace(name: name, table: try MetricTable.parse(csv), phases: phases)
    }

    /// Every trace of one set: `programs` or the workload set.
    static func all(programs: Bool = false) throws -> [LabelledTrace] {
        let folder = programs ? "programs/" : ""
        return try FileManager.default.contentsOfDirectory(atPath: directory + "/" + folder)
            .filter { $0.hasSuffix(".labels.csv") }
            .map { folder + String($0.dropLast(".labels.csv".count)) }
            .sorted()
            .map(load)
    }
}

/// What a machine can tell apart: without a PMU, memory- and branch-bound work is busy CPU
/// like compute-bound work, so all three are one class there.
func observable(_ c: PhaseClass, pmu: Bool) -> PhaseClass {
    !pmu && (c == .memoryBound || c == .branchBound) ? .computeBound : c
}

/// A segmentation of a trace's samples.
struct Segmentation {
    /// Indices where segments start, from 0.
    var boundaries: [Int]
    /// The class of each sample.
    var labels: [PhaseClass]
    /// For each boundary, the sample at which it was reported.
    var reportedAt: [Int: Int] = [:]
}

extension LabelledTrace {
    /// The driver's phases per sample: the phase holding each sample interval's midpoint, as
    /// this machine can see it; a boundary wherever that class changes (programs set: wherever
    /// the labelled phase changes).
    var truth: Segmentation {
        let t = table.columns.firstIndex(of: "dt_ms")
        var labels: [PhaseClass] = [], phaseOf: [Int] = []
        for (i, row) in table.rows.enumerated() {
            let mid = table.timesMs[i] - (t.map { row[$0] } ?? 100) / 2
            let k = phases.firstIndex { mid < $0.endMs } ?? phases.count - 1
            labels.append(observable(phases[k].phaseClass, pmu: hasPMU))
            phaseOf.append(k)
        }
        let changes = labels.indices.dropFirst().filter { programs ? phaseOf[$0] != phaseOf[$0 - 1] : labels[$0] != labels[$0 - 1] }
        return Segmentation(boundaries: [0] + changes, labels: labels)
    }

    /// perfring's detector and classifier, as the server runs them.
    func detected(minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs) -> Segmentation {
        let reports = table.track(minPhaseNs: minPhaseNs).reports()
        let index = Dictionary(uniqueKeysWithValues: table.seqs.enumerated().map { ($1, $0) })
        var s = Segmentation(boundaries: [], labels: [])
        for r in reports {
            let start = index[r.startSeq]!, end = index[r.endSeq]!
            s.boundaries.append(start)
            s.labels += Array(repeating: r.classification.phaseClass, count: end - start + 1)
            if let d = r.detectedSeq { s.reportedAt[start] = index[d]! }
        }
        return s
    }

    private var extractor: FeatureExtractor { FeatureExtractor(columns: table.columns, available: table.available, scope: table.scope) }

    /// Baseline: the same thresholds applied to each sample alone; a boundary wherever the
    /// class changes (reported as soon as the sample arrives).
    var fixedThreshold: Segmentation {
        let ex = extractor
        let labels = table.rows.map { row in PhaseClassifier.classify(PhaseSummary(figures: ex.figures { row[$0] }, scope: ex.scope)).phaseClass }
        let b = [0] + labels.indices.dropFirst().filter { labels[$0] != labels[$0 - 1] }
        return Segmentation(boundaries: b, labels: labels, reportedAt: Dictionary(uniqueKeysWithValues: b.map { ($0, $0) }))
    }

    /// Baseline: no boundaries; the whole trace is one phase, classified from its mean.
    var noBoundaries: Segmentation {
        let ex = extractor
        var sums = [Double](repeating: 0, count: Figure.allCases.count), counts = sums
        for row in table.rows {
            let f = ex.figures { row[$0] }
            for k in f.indices where f[k].isFinite { sums[k] += f[k]; counts[k] += 1 }
        }
        let mean = sums.indices.map { counts[$0] > 0 ? sums[$0] / counts[$0] : .nan }
        let c = PhaseClassifier.classify(PhaseSummary(figures: mean, scope: ex.scope)).phaseClass
        return Segmentation(boundaries: [0], labels: Array(repeating: c, count: table.rows.count))
    }
}

/// TCPDBench's metrics (one annotator), and the per-sample ones this evaluation adds.
enum CPDMetrics {
    /// Matches each true boundary to the closest unused predicted one within `margin` samples.
    static func matches(truth: [Int], predicted: [Int], margin: Int) -> [(truth: Int, predicted: Int)] {
        var free = Set(predicted + [0])
        var out: [(Int, Int)] = []
        for tau in Set(truth + [0]).sorted() {
            guard let x = free.filter({ abs($0 - tau) <= margin }).min(by: { (abs($0 - tau), $0) < (abs($1 - tau), $1) }) else { continue }
            free.remove(x)
            out.append((tau, x))
        }
        return out
    }

    /// Boundary F1: both sets include the start (index 0), as in TCPDBench.
    static func f1(truth: [Int], predicted: [Int], margin: Int = 5) -> Double {
        let tp = Double(matches(truth: truth, predicted: predicted, margin: margin).count)
        let p = tp / Double(Set(predicted + [0]).count), r = tp / Double(Set(truth + [0]).count)
        return p + r > 0 ? 2 * p * r / (p + r) : 0
    }

    /// Segmentation covering: each true segment weighted by length, scored by its best
    /// Jaccard overlap with a predicted segment.
    static func covering(truth: [Int], predicted: [Int], n: Int) -> Double {
        func segments(_ b: [Int]) -> [Range<Int>] {
            let s = Set(b + [0]).filter { $0 < n }.sorted() + [n]
            return zip(s, s.dropFirst()).map { $0..<$1 }
        }
        let predictedSegments = segments(predicted)
        var c = 0.0
        for a in segments(truth) {
            let best = predictedSegments.map { p -> Double in
                let inter = max(0, min(a.upperBound, p.upperBound) - max(a.lowerBound, p.lowerBound))
                return Double(inter) / Double(a.count + p.count - inter)
            }.max() ?? 0
            c += Double(a.count) * best
        }
        return c / Double(n)
    }

    /// Per-sample label macro-F1 over the classes in the truth, leaving out the samples within
    /// `margin` of a true boundary (where a sample may straddle two phases).
    static func macroF1(truth: [PhaseClass], predicted: [PhaseClass], boundaries: [Int], margin: Int = 5) -> Double {
        var excluded = Set<Int>()
        for b in boundaries where b > 0 { for i in (b - margin)..<(b + margin) { excluded.insert(i) } }
        let kept = truth.indices.filter { !excluded.contains($0) }
        let classes = Set(kept.map { truth[$0] })
        let scores = classes.map { c -> Double in
            let tp = kept.filter { truth[$0] == c && predicted[$0] == c }.count
            let fp = kept.filter { truth[$0] != c && predicted[$0] == c }.count
            let fn = kept.filter { truth[$0] == c && predicted[$0] != c }.count
            return Double(2 * tp) / Double(max(1, 2 * tp + fp + fn))
        }
        return scores.reduce(0, +) / Double(max(1, scores.count))
    }

    static func median(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return .nan }
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// One method's figures on one trace: F1, covering and macro-F1 of a sequence, or false
/// boundaries per minute of a stationary run.
struct FileScore {
    var f1 = 0.0, covering = 0.0, macroF1 = 0.0, falsePerMinute = 0.0

    init(_ t: LabelledTrace, _ s: Segmentation) {
        let truth = t.truth
        if t.stationary {
            falsePerMinute = Double(s.boundaries.count - 1) / max(t.minutes, 1e-9)
            return
        }
        f1 = CPDMetrics.f1(truth: truth.boundaries, predicted: s.boundaries)
        covering = CPDMetrics.covering(truth: truth.boundaries, predicted: s.boundaries, n: truth.labels.count)
        macroF1 = CPDMetrics.macroF1(truth: truth.labels, predicted: s.labels, boundaries: truth.boundaries)
    }

    /// At least as good on every figure (small slack for rounding).
    func atLeastAsGood(as other: FileScore) -> Bool {
        f1 >= other.f1 - 1e-9 && covering >= other.covering - 1e-9 && macroF1 >= other.macroF1 - 1e-9
            && falsePerMinute <= other.falsePerMinute + 1e-9
    }
}

/// One method's figures over a set of traces.
struct EvaluationRow {
    var method: String
    var f1 = 0.0, covering = 0.0, macroF1 = 0.0, medianDelay = Double.nan, falsePerMinute = 0.0
    var classes: [PhaseClass] = []

    /// Mean F1 and covering per sequence trace (TCPDBench averages per series), macro-F1 over
    /// all their samples pooled, median delay over all matched boundaries, false boundaries
    /// per minute over the stationary traces.
    static func evaluate(_ method: String, _ traces: [LabelledTrace], _ segment: (LabelledTrace) -> Segmentation) -> EvaluationRow {
        var row = EvaluationRow(method: method)
        let sequences = traces.filter { !$0.stationary }, stationary = traces.filter(\.stationary)
        var truthLabels: [PhaseClass] = [], predictedLabels: [PhaseClass] = [], delays: [Double] = []
        for t in sequences {
            let truth = t.truth, s = segment(t)
            row.f1 += CPDMetrics.f1(truth: truth.boundaries, predicted: s.boundaries) / Double(sequences.count)
            row.covering += CPDMetrics.covering(truth: truth.boundaries, predicted: s.boundaries, n: truth.labels.count) / Double(sequences.count)
            var kept = Set(truth.labels.indices)
            for b in truth.boundaries where b > 0 { for i in (b - 5)..<(b + 5) { kept.remove(i) } }
            for i in kept.sorted() { truthLabels.append(truth.labels[i]); predictedLabels.append(s.labels[i]) }
            for m in CPDMetrics.matches(truth: truth.boundaries, predicted: s.boundaries, margin: 5) where m.truth > 0 {
                if let at = s.reportedAt[m.predicted] { delays.append(Double(at - m.truth)) }
            }
        }
        row.macroF1 = CPDMetrics.macroF1(truth: truthLabels, predicted: predictedLabels, boundaries: [])
        row.classes = Set(truthLabels).sorted { $0.rawValue < $1.rawValue }
        row.medianDelay = CPDMetrics.median(delays)
        let minutes = stationary.reduce(0) { $0 + $1.minutes }
        row.falsePerMinute = stationary.reduce(0) { $0 + Double(segment($1).boundaries.count - 1) } / max(minutes, 1e-9)
        return row
    }
}

/// Per-file figures of two methods side by side, for the test log and scripts/bench.
func perFileTable(_ title: String, _ traces: [LabelledTrace], ours: (LabelledTrace) -> Segmentation, baseline: (LabelledTrace) -> Segmentation) -> String {
    var out = "PHASE-EVALUATION \(title) per file (perfring | fixed-threshold)\n"
    for t in traces {
        let a = FileScore(t, ours(t)), b = FileScore(t, baseline(t))
        let cells = t.stationary
            ? String(format: "false/min %.2f | %.2f", a.falsePerMinute, b.falsePerMinute)
            : String(format: "F1 %.3f | %.3f  covering %.3f | %.3f  macro-F1 %.3f | %.3f", a.f1, b.f1, a.covering, b.covering, a.macroF1, b.macroF1)
        out += t.name.padding(toLength: 40, withPad: " ", startingAt: 0) + cells + (a.atLeastAsGood(as: b) ? "" : "  WORSE THAN BASELINE") + "\n"
    }
    return out
}

/// The evaluation table, for the test log and scripts/bench.
func evaluationTable(_ title: String, _ rows: [EvaluationRow], traces: [LabelledTrace]) -> String {
    var out = "PHASE-EVALUATION \(title): \(traces.filter { !$0.stationary }.map(\.name).joined(separator: " ")); stationary: "
        + traces.filter(\.stationary).map(\.name).joined(separator: " ") + "\n"
    out += "classes in the truth: \(rows.first?.classes.map(\.rawValue).joined(separator: ", ") ?? "")\n"
    func cell(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
    out += "method".padding(toLength: 16, withPad: " ", startingAt: 0)
        + ["F1@5", "covering", "macro-F1", "median delay", "false/min"].map { cell($0, 13) }.joined() + "\n"
    for r in rows {
        out += r.method.padding(toLength: 16, withPad: " ", startingAt: 0)
            + [String(format: "%.3f", r.f1), String(format: "%.3f", r.covering), String(format: "%.3f", r.macroF1),
               r.medianDelay.isNaN ? "n/a" : String(format: "%.1f", r.medianDelay), String(format: "%.2f", r.falsePerMinute)].map { cell($0, 13) }.joined() + "\n"
    }
    return out
}
