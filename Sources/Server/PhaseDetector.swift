// Online change-point detection: a two-sided CUSUM (Page 1954) per feature over residuals from
// the current phase's running level, each in units of that phase's own noise (a running median
// of |residual|, floored at a quarter of the feature's resolution) and clipped, so one outlier
// cannot raise an alarm. On an alarm the onset is placed where the samples since then depart
// most from the old level (the CUSUM likelihood-ratio split), and a young phase opens there.
// While young it can be revised: moved when a second shift shows its first samples were the old
// phase's tail, cancelled when the signal returns to the old level (a transient). Once it has
// the minimum phase length and the median of its samples is still a different regime, it is
// confirmed and never moves again. Work per sample is O(features), plus O(window x features)
// once per alarm; memory is a window of recent samples: bounded however long the run.

/// A fixed-capacity ring of the most recent elements, addressed by absolute index.
struct RecentWindow<Element> {
    private var items: [Element] = []
    let capacity: Int
    /// Elements appended so far.
    private(set) var count = 0

    init(capacity: Int) { self.capacity = capacity }

    mutating func append(_ e: Element) {
        if items.count < capacity { items.append(e) } else { items[count % capacity] = e }
        count += 1
    }

    /// The oldest absolute index still held.
    var oldest: Int { max(0, count - capacity) }

    subscript(i: Int) -> Element { items[i % capacity] }
}

public struct PhaseDetector {
    public struct Tuning: Sendable, Equatable {
        /// A phase is young (revisable) until it has this many samples.
        public var minSamples: Int
        /// CUSUM reference value k, in noise units: level shifts under k σ never accumulate.
        public var drift = 1.5
        /// CUSUM decision threshold h.
        public var threshold = 8.0
        /// A residual counts at most `clip` σ, so one outlier adds at most clip − k < h.
        public var clip = 5.0
        /// Samples a phase's level is learnt from before its CUSUM runs.
        public var warmup = 3
        /// The level and noise estimates average over about this many recent samples, so slow
        /// drift is followed rather than split.
        public var memory = 30
        /// Two levels closer than this many σ in every feature are the same regime.
        public var sameRegime = 2.5

        public init(minSamples: Int) { self.minSamples = max(2, minSamples) }
    }

    /// What a sample changed in the segmentation. Indices are sample indices (0-based, in the
    /// order pushed).
    public enum Event: Equatable, Sendable {
        /// A new (young) phase starts at this index.
        case opened(Int)
        /// The young phase's start moved; the samples between went to the phase before it.
        case moved(from: Int, to: Int)
        /// The young phase starting here was a transient: it rejoins the phase before it.
        case cancelled(Int)
        /// The phase starting here is stable: its start never moves again.
        case confirmed(Int)
    }

    /// Robust running level and noise of each feature over one phase.
    struct Level {
        var n: [Int]
        var mean: [Double]
        var scale: [Double]

        init(_ d: Int) {
            n = [Int](repeating: 0, count: d)
            mean = [Double](repeating: 0, count: d)
            scale = [Double](repeating: 0, count: d)
        }

        /// From a few samples at once: median and MAD, so a sample straddling the change
        /// (half one phase, half the next) does not skew the new level.
        init(_ samples: [[Double]], d: Int) {
            self.init(d)
            for j in 0..<d {
                let v = samples.map { $0[j] }.filter(\.isFinite).sorted()
                guard !v.isEmpty else { continue }
                let med = v[v.count / 2]
                let dev = v.map { abs($0 - med) }.sorted()
                n[j] = v.count
                mean[j] = med
                scale[j] = 1.4826 * dev[dev.count / 2]
            }
        }
    }

    struct Cusum {
        var up = 0.0, down = 0.0
        /// The sample after the last time each sum was zero: where the shift began.
        var upFrom = 0, downFrom = 0
    }

    public let resolution: [Double]
    public let tuning: Tuning
    /// Samples pushed so far.
    public private(set) var count = 0
    /// Start index of the current (last) phase.
    public private(set) var start = 0
    /// Whether the current phase can still be moved or cancelled.
    public private(set) var young = true
    private var level: Level
    private var previous: (start: Int, level: Level)?
    private var cusum: [Cusum]
    private var window: RecentWindow<[Double]>

    /// `resolution[j]`: the smallest level step of feature j that matters, in its units.
    public init(resolution: [Double], tuning: Tuning) {
        self.resolution = resolution
        self.tuning = tuning
        level = Level(resolution.count)
        cusum = [Cusum](repeating: Cusum(), count: resolution.count)
        window = RecentWindow(capacity: Self.windowCapacity(tuning))
    }

    /// Enough recent samples to re-estimate a young phase and the samples just before it.
    static func windowCapacity(_ t: Tuning) -> Int { 2 * t.minSamples + 64 }

    /// Feeds one sample's feature vector (NaN: feature missing in this sample). Returns what
    /// changed (at most one event).
    public mutating func push(_ y: [Double]) -> [Event] {
        precondition(y.count == resolution.count)
        let t = count
        window.append(y)
        count += 1
        var alarm = false
        var earliest = t  // where the earliest shift under way began
        for j in y.indices where y[j].isFinite {
            if level.n[j] >= tuning.warmup {
                let z = min(tuning.clip, max(-tuning.clip, (y[j] - level.mean[j]) / sigma(j, level)))
                var c = cusum[j]
                c.up = max(0, c.up + z - tuning.drift)
                c.down = max(0, c.down - z - tuning.drift)
                if c.up == 0 { c.upFrom = t + 1 }
                if c.down == 0 { c.downFrom = t + 1 }
                cusum[j] = c
                let (stat, from) = c.up >= c.down ? (c.up, c.upFrom) : (c.down, c.downFrom)
                if stat >= tuning.threshold { alarm = true }
                if stat >= tuning.threshold / 2 { earliest = min(earliest, from) }
            }
            learn(j, y[j])
        }
        if alarm {
            return changed(at: onset(after: min(t, max(earliest, start + 1, window.oldest + 1)), upTo: t), now: t)
        }
        // Confirm a young phase once it is long enough, unless a change is building up in it
        // (then the alarm decides whether it was a transient).
        if young, t - start + 1 >= tuning.minSamples, !cusum.contains(where: { max($0.up, $0.down) >= tuning.threshold / 2 }) {
            return confirm()
        }
        return []
    }

    /// Where the shift began: the split s in lo...t whose samples s...t depart most from the
    /// current level, by the CUSUM likelihood ratio (sum of clipped z)^2 / n, summed over
    /// features. One pass backwards over the window: O(window x features), once per alarm.
    private func onset(after lo: Int, upTo t: Int) -> Int {
        var sums = [Double](repeating: 0, count: resolution.count)
        var counts = [Int](repeating: 0, count: resolution.count)
        var best = (score: -1.0, at: t)
        for s in stride(from: t, through: lo, by: -1) {
            let y = window[s]
            var score = 0.0
            for j in y.indices {
                if y[j].isFinite, level.n[j] > 0 {
                    sums[j] += min(tuning.clip, max(-tuning.clip, (y[j] - level.mean[j]) / sigma(j, level)))
                    counts[j] += 1
                }
                if counts[j] > 0 { score += sums[j] * sums[j] / Double(counts[j]) }
            }
            if score > best.score { best = (score, s) }
        }
        return best.at
    }

    @inline(__always) private func sigma(_ j: Int, _ l: Level) -> Double { max(l.scale[j], resolution[j] / 4) }

    /// Exponentially weighted level with Huber-clipped residuals (3 σ), and the noise as a
    /// running median of |residual| (stochastic approximation: step up when a residual is
    /// above it, down when below), so occasional wild samples cannot inflate it.
    private mutating func learn(_ j: Int, _ y: Double) {
        level.n[j] += 1
        let n = level.n[j]
        if n == 1 { level.mean[j] = y; return }
        let w = 1 / Double(min(n, tuning.memory))
        let cap = 3 * sigma(j, level)
        let r = y - level.mean[j]
        level.mean[j] += w * min(cap, max(-cap, r))
        let mad = max(level.scale[j] / 1.4826, resolution[j] / 64)
        level.scale[j] = 1.4826 * mad * (abs(r) > mad ? 1 + w : 1 - w)
    }

    private func samples(_ range: Range<Int>) -> [[Double]] { range.map { window[$0] } }

    /// Largest level difference over features present in both, in σ of the quieter one (a
    /// young level learnt across a ramp has an inflated σ that must not hide the step).
    private func distance(_ a: Level, _ b: Level) -> Double {
        var d = 0.0
        for j in resolution.indices where a.n[j] > 0 && b.n[j] > 0 {
            d = max(d, abs(a.mean[j] - b.mean[j]) / min(sigma(j, a), sigma(j, b)))
        }
        return d
    }

    /// A new level, learnt from the samples so far; the sums restart with the next sample.
    private mutating func restart(level l: Level) {
        level = l
        cusum = [Cusum](repeating: Cusum(up: 0, down: 0, upFrom: count, downFrom: count), count: resolution.count)
    }

    /// A CUSUM alarm: the level shifted at `tau`.
    private mutating func changed(at tau: Int, now t: Int) -> [Event] {
        let fresh = Level(samples(tau..<(t + 1)), d: resolution.count)
        if !young {
            previous = (start, level)
            start = tau
            young = true
            restart(level: fresh)
            return [.opened(tau)]
        }
        // A second shift while the phase is young: [start, tau) is too short to stand alone.
        if let prev = previous, distance(fresh, prev.level) < tuning.sameRegime {
            return cancel()  // back to the regime before: the young phase was a transient
        }
        let early = Level(samples(start..<tau), d: resolution.count)
        if let prev = previous, distance(early, prev.level) < distance(early, fresh) {
            let from = start
            start = tau  // the early samples were the old phase's tail
            restart(level: fresh)
            return [.moved(from: from, to: tau)]
        }
        restart(level: fresh)  // they lead into the new regime: keep the boundary
        return []
    }

    /// The young phase is long enough: it stands if the median of its samples (robust to a
    /// transient at its start) is a different regime from the phase before.
    private mutating func confirm() -> [Event] {
        if let prev = previous, distance(Level(samples(start..<count), d: resolution.count), prev.level) < tuning.sameRegime {
            return cancel()
        }
        young = false
        previous = nil
        return [.confirmed(start)]
    }

    private mutating func cancel() -> [Event] {
        let prev = previous!
        let cancelled = start
        start = prev.start
        young = false
        previous = nil
        restart(level: prev.level)
        return [.cancelled(cancelled)]
    }
}
