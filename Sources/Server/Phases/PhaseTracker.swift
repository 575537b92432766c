// Follows a sample stream with the phase detector and keeps the phases it finds: each phase's
// span (sequence numbers and times), when its boundary was detected, and running sums of its
// figures, so summaries, classes and recommendations are computed on request from O(1) state
// per phase. The list is bounded (the oldest phases are dropped), as is the window of recent
// samples kept so young phases can be revised.
import Shared

public struct PhaseReport: Sendable {
    public let id: Int
    public let startSeq: UInt64, endSeq: UInt64
    public let startMs: Double, endMs: Double
    public let seconds: Double
    public let samples: Int
    /// Still receiving samples (the last phase).
    public let open: Bool
    /// Its start can no longer move.
    public let stable: Bool
    /// The sample at which its starting boundary was first reported (nil for the first phase).
    public let detectedSeq: UInt64?
    public let summary: PhaseSummary
    public let classification: Classification
    public let recommendation: Recommendation
}

public final class PhaseTracker {
    public static let defaultMinPhaseNs: UInt64 = 1_000_000_000
    /// Phases kept; older ones are dropped from the list (their samples are long gone too).
    public static let maxPhases = 1000

    struct Phase {
        var id: Int
        /// First and last sample: index, sequence number, time. Boundaries only move while
        /// their samples are in the recent window, so the stamps are taken from it then.
        var start: Int, end: Int
        var startSeq: UInt64 = 0, endSeq: UInt64 = 0
        var startMs = 0.0, endMs = 0.0
        var detectedSeq: UInt64?
        var stable = false
        var sums: [Double]
        var counts: [Int]
        /// Figures of the first two samples and of the last: left out of the summary of a long
        /// enough phase, as they may straddle its boundaries.
        var head: [[Double]] = []
        var last: [Double] = []
    }

    /// Samples at the start of a phase that may straddle its boundary.
    static let edge = 2

    struct Sample {
        var seq: UInt64
        var timeMs: Double
        var figures: [Double]
    }

    public private(set) var extractor: FeatureExtractor
    public let intervalMs: Double
    public let minPhaseNs: UInt64
    /// A replay ring's header, and the first sample held back, until its samples say the scope.
    fileprivate var pending: (header: RingHeader, first: UInt64?)?
    private var detector: PhaseDetector
    private var recent: RecentWindow<Sample>
    private var phases: [Phase] = []
    private var nextID = 0
    /// Where the first sample's interval began (its time less its own dt), when the caller
    /// knows: the first phase starts there rather than one median interval before the first
    /// sample, which for a recording can be before it began.
    public var firstStartMs: Double?

    /// `intervalNs`: the sampling interval; `minPhaseNs`: the shortest phase reported stable.
    public init(extractor: FeatureExtractor, intervalNs: UInt64, minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs) {
        self.extractor = extractor
        self.minPhaseNs = minPhaseNs
        intervalMs = Double(max(intervalNs, 1)) / 1e6
        let minSamples = Int((Double(minPhaseNs) / Double(max(intervalNs, 1))).rounded(.up))
        let tuning = PhaseDetector.Tuning(minSamples: min(minSamples, 4096))
        detector = PhaseDetector(resolution: extractor.features.map(\.resolution), tuning: tuning)
        recent = RecentWindow(capacity: PhaseDetector.windowCapacity(tuning))
    }

    /// Another scope's features, before any sample.
    fileprivate func reset(_ e: FeatureExtractor) {
        precondition(recent.count == 0)
        extractor = e
        detector = PhaseDetector(resolution: e.features.map(\.resolution), tuning: detector.tuning)
    }

    /// One sample: its sequence number, time (Unix ms) and a reader of its columns by index.
    public func observe(seq: UInt64, timeMs: Double, value: (Int) -> Double) {
        let figures = extractor.figures(value)
        let i = recent.count
        recent.append(Sample(seq: seq, timeMs: timeMs, figures: figures))
        if phases.isEmpty { open(at: i, detectedAt: nil) } else { add(i, to: phases.count - 1) }
        for event in detector.push(extractor.vector(figures)) {
            switch event {
            case .opened(let start):
                let last = phases.count - 1
                for j in start...i { remove(j, from: last) }
                setEnd(start - 1, of: last)
                open(at: start, detectedAt: recent[i].seq)
            case .cancelled:
                let young = phases.removeLast()
                nextID -= 1
                absorb(young, into: phases.count - 1)
            case .confirmed:
                // A level change of the same class (a duty cycle halving, a second compute
                // phase at a different level) is a phase of its own: its figures differ.
                phases[phases.count - 1].stable = true
            }
        }
    }

    private func open(at start: Int, detectedAt: UInt64?) {
        let n = Figure.allCases.count
        phases.append(Phase(id: nextID, start: start, end: start, detectedSeq: detectedAt,
                            sums: [Double](repeating: 0, count: n), counts: [Int](repeating: 0, count: n)))
        nextID += 1
        setStart(start, of: phases.count - 1)
        for j in start..<recent.count { add(j, to: phases.count - 1) }
        if phases.count > Self.maxPhases { phases.removeFirst(phases.count - Self.maxPhases) }
    }

    private func absorb(_ young: Phase, into p: Int) {
        for k in young.sums.indices { phases[p].sums[k] += young.sums[k]; phases[p].counts[k] += young.counts[k] }
        setEnd(young.end, of: p)
    }

    private func setStart(_ i: Int, of p: Int) {
        phases[p].head = (i..<min(i + Self.edge, recent.count)).map { recent[$0].figures }
        phases[p].start = i
        phases[p].startSeq = recent[i].seq
        phases[p].startMs = recent[i].timeMs
    }

    private func setEnd(_ i: Int, of p: Int) {
        phases[p].last = recent[i].figures
        phases[p].end = i
        phases[p].endSeq = recent[i].seq
        phases[p].endMs = recent[i].timeMs
    }

    private func add(_ i: Int, to p: Int) {
        let f = recent[i].figures
        for k in f.indices where f[k].isFinite { phases[p].sums[k] += f[k]; phases[p].counts[k] += 1 }
        if i >= phases[p].end { setEnd(i, of: p) }
        if i - phases[p].start == phases[p].head.count, phases[p].head.count < Self.edge { phases[p].head.append(f) }
    }

    private func remove(_ i: Int, from p: Int) {
        let f = recent[i].figures
        for k in f.indices where f[k].isFinite { phases[p].sums[k] -= f[k]; phases[p].counts[k] -= 1 }
    }

    // MARK: reading

    /// The boundaries of the held phases, for per-sample lookups: start and end sequence
    /// numbers, ids and classes, in order.
    public struct Labels: Sendable {
        let startSeqs: [UInt64], endSeqs: [UInt64], ids: [Int], classes: [PhaseClass]

        /// The phase holding the sample with sequence number `seq`, if one is held.
        public func phase(forSeq seq: UInt64) -> (id: Int, phaseClass: PhaseClass)? {
            var lo = 0, hi = startSeqs.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if startSeqs[mid] <= seq { lo = mid + 1 } else { hi = mid }
            }
            guard lo > 0, seq <= endSeqs[lo - 1] else { return nil }
            return (ids[lo - 1], classes[lo - 1])
        }
    }

    /// Classifies every held phase and projects its speedup bound against the run.
    public func reports() -> [PhaseReport] {
        let runSeconds = phases.reduce(0) { $0 + seconds($1) }
        let classified = phases.indices.map { k -> (PhaseSummary, Classification) in
            let s = summary(k)
            return (s, PhaseClassifier.classify(s))
        }
        // The run's compute baseline: the lowest CPI among its compute-bound phases.
        let baseline = classified.filter { $0.1.phaseClass == .computeBound }.map { $0.0[.cpi] }.filter(\.isFinite).min()
        return phases.indices.map { k in
            let p = phases[k], (s, c) = classified[k]
            // A sample stands for the interval before its time stamp.
            return PhaseReport(id: p.id, startSeq: p.startSeq, endSeq: p.endSeq, startMs: start(p), endMs: p.endMs,
                               seconds: seconds(p), samples: p.end - p.start + 1, open: k == phases.count - 1, stable: p.stable,
                               detectedSeq: p.detectedSeq, summary: s, classification: c,
                               recommendation: Recommendations.recommend(c, summary: s, phaseSeconds: seconds(p), runSeconds: runSeconds, baselineCPI: baseline))
        }
    }

    /// Per-sample labels (classification per phase, done once).
    public func labels() -> Labels {
        Labels(startSeqs: phases.map(\.startSeq), endSeqs: phases.map(\.endSeq), ids: phases.map(\.id),
               classes: phases.indices.map { PhaseClassifier.classify(summary($0)).phaseClass })
    }

    /// The newest phase's id and class.
    public func current() -> (id: Int, phaseClass: PhaseClass)? {
        phases.last.map { ($0.id, PhaseClassifier.classify(summary(phases.count - 1)).phaseClass) }
    }

    /// Mean figures of phase k, without its edge samples once it is long enough.
    private func summary(_ k: Int) -> PhaseSummary {
        let p = phases[k]
        var sums = p.sums, counts = p.counts
        if p.end - p.start + 1 > 2 * Self.edge + 1 {
            for f in p.head + (k < phases.count - 1 ? [p.last] : []) {
                for j in f.indices where f[j].isFinite { sums[j] -= f[j]; counts[j] -= 1 }
            }
        }
        // Every figure is non-negative; max(0, _) drops the rounding left by subtracted samples.
        return PhaseSummary(figures: sums.indices.map { counts[$0] > 0 ? max(0, sums[$0] / Double(counts[$0])) : .nan }, scope: extractor.scope)
    }

    private func start(_ p: Phase) -> Double {
        if p.id == 0, let f = firstStartMs, f.isFinite, f <= p.startMs { return f }
        return p.startMs - intervalMs
    }
    private func seconds(_ p: Phase) -> Double { (p.endMs - start(p)) / 1000 }
}

extension FeatureScope {
    /// Samples a replay's scope is looked for in: the first sample of a ring has no CPU split
    /// yet (it is a difference of two readings), the next ones do.
    static let replayProbe = 5

    /// A ring's scope: the collector's mode, or for a replay what its first samples hold (the
    /// rule `analyze` applies to the replayed file, so both find the same phases; "per CPU"
    /// is several CPUs, or a perf stat recording that counted the machine: flag bit 2); nil while
    /// `indices` (the first samples) cannot tell yet.
    static func of(_ header: RingHeader, _ samples: RingSamples, in indices: Range<UInt64>) -> FeatureScope? {
        switch header.mode {
        case .pid, .command: return .process
        case .systemWide: return .system
        case .replay:
            let buffer = SampleBuffer()
            func has(_ key: String) -> Bool { samples.column(key).map { samples.value($0, in: buffer, previous: nil).isFinite } ?? false }
            for i in indices.prefix(replayProbe) where samples.read(i, into: buffer) {
                let target = targetKeys.contains(where: has), machine = has(machineKey)
                if target || machine { return .of(targetFigures: target, machineFigures: machine, perCPU: header.cpuCount > 1 || header.flags.contains(.systemRecording)) }
            }
            guard indices.count >= replayProbe else { return nil }
            return .of(targetFigures: false, machineFigures: false, perCPU: header.cpuCount > 1 || header.flags.contains(.systemRecording))
        }
    }
}

extension PhaseTracker {
    /// For a collector run's samples: process scope when the collector counts a command or
    /// pid; a replay's scope is read from its first samples (see `FeatureScope.of`), which the
    /// tracker holds back until it can tell.
    public convenience init(samples: RingSamples, minPhaseNs: UInt64) {
        let header = samples.header
        let scope = FeatureScope.of(header, samples, in: 0..<0)
        self.init(extractor: Self.extractor(samples, scope: scope ?? .system), intervalNs: header.intervalNs, minPhaseNs: minPhaseNs)
        if scope == nil { pending = (header, nil) }
    }

    private static func extractor(_ samples: RingSamples, scope: FeatureScope) -> FeatureExtractor {
        FeatureExtractor(columns: samples.columns.map(\.key), available: Set(samples.columns.filter { $0.kind != .unavailable }.map(\.key)), scope: scope)
    }

    /// Sample `index` of the run this tracker was made for, `value` reading its columns. While
    /// a replay's scope is undecided, samples are held back and read again from the ring once
    /// it is.
    public func observe(_ samples: RingSamples, at index: UInt64, value: (Int) -> Double) {
        if let (header, first) = pending {
            let from = first ?? index
            guard let scope = FeatureScope.of(header, samples, in: from..<(index + 1)) else {
                pending = (header, from)
                return
            }
            pending = nil
            reset(Self.extractor(samples, scope: scope))
            let buffer = SampleBuffer()
            for i in max(from, samples.oldest)..<index where samples.read(i, into: buffer) {
                observe(samples, at: i) { samples.value($0, in: buffer, previous: i > 0 ? i - 1 : nil) }
            }
        }
        let time = samples.column("time_ms").map(value) ?? .nan
        if phases.isEmpty, firstStartMs == nil, let dt = samples.column("dt_ms").map(value), dt.isFinite {
            firstStartMs = time - dt
        }
        observe(seq: index, timeMs: time, value: value)
    }
}
