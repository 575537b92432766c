// Online change-point detection over the local distribution of each feature. Two two-sided
// CUSUMs (Page 1954) per feature watch the current phase's level: one over each sample, in
// units of the phase's per-sample noise (a clear step is caught in 2-4 samples), and one over
// block means (consecutive, non-overlapping blocks of `window` samples, so block noise is
// independent; trimmed of each block's lowest and highest sample, so one wild sample or one
// I/O burst cannot move it), in units of the block mean's noise. The block mean is what makes
// a fast stationary alternation (300 ms compute, 300 ms I/O) one level: its per-sample noise
// is as wide as the alternation, so the per-sample sums stay quiet inside it, while its block
// mean holds still and moves when the alternation starts or stops, or its duty cycle changes.
// Residuals are clipped, so no single sample or block raises an alarm.
//
// On an alarm the onset is placed where the samples since then depart most from the old level
// (the CUSUM likelihood-ratio split) and a young phase opens there. A young phase runs no
// CUSUM: once it has the minimum phase length plus one block, the trimmed means of its last
// two blocks (past any transient shorter than a phase at its start) are compared with the
// phase before; a different regime in both is confirmed and never moves again, otherwise it
// was a transient and is cancelled. Work per sample is O(features), plus O(window x features) per
// block and once per alarm; memory is a window of recent samples: bounded however long the
// run. The constants are PhaseDetector.Tuning (PhaseTuning.swift).

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
    /// What a sample changed in the segmentation. Indices are sample indices (0-based, in the
    /// order pushed).
    public enum Event: Equatable, Sendable {
        /// A new (young) phase starts at this index.
        case opened(Int)
        /// The young phase starting here was a transient: it rejoins the phase before it.
        case cancelled(Int)
        /// The phase starting here is stable: its start never moves again.
        case confirmed(Int)
    }

    /// Level and noise of each feature over one phase: the mean (followed slowly), the noise of
    /// one sample and the noise of a block mean.
    struct Level {
        var n: [Int]
        var mean: [Double]
        var sampleScale: [Double]
        var blockScale: [Double]

        init(_ d: Int) {
            n = [Int](repeating: 0, count: d)
            mean = [Double](repeating: 0, count: d)
            sampleScale = mean
            blockScale = mean
        }
    }

    struct Cusum {
        var up = 0.0, down = 0.0
        /// The sample after the last time each sum was zero: where the shift began.
        var upFrom = 0, downFrom = 0

        /// Adds residual z (clipped, in σ) at sample t; returns the larger sum and where it began.
        mutating func add(_ z: Double, at t: Int, drift: Double) -> (Double, Int) {
            up = max(0, up + z - drift)
            down = max(0, down - z - drift)
            if up == 0 { upFrom = t + 1 }
            if down == 0 { downFrom = t + 1 }
            return up >= down ? (up, upFrom) : (down, downFrom)
        }
    }

    public let resolution: [Double]
    public let tuning: Tuning
    /// Samples pushed so far.
    public private(set) var count = 0
    /// Start index of the current (last) phase.
    public private(set) var start = 0
    /// Whether the current phase can still be cancelled. The first phase is young only until
    /// its level is learnt (two blocks), and is then stable: there is nothing to go back to.
    public private(set) var young = true
    private var level: Level
    private var previous: (start: Int, level: Level)?
    private var sampleCusum: [Cusum]
    private var blockCusum: [Cusum]
    private var window: RecentWindow<[Double]>

    /// `resolution[j]`: the smallest level step of feature j that matters, in its units.
    public init(resolution: [Double], tuning: Tuning) {
        self.resolution = resolution
        self.tuning = tuning
        level = Level(resolution.count)
        sampleCusum = [Cusum](repeating: Cusum(), count: resolution.count)
        blockCusum = sampleCusum
        window = RecentWindow(capacity: Self.windowCapacity(tuning))
    }

    /// Enough recent samples to place an onset and judge a young phase.
    static func windowCapacity(_ t: Tuning) -> Int { 2 * (t.minSamples + t.window) + 64 }

    /// Feeds one sample's feature vector (NaN: feature missing in this sample). Returns what
    /// changed (at most one event).
    public mutating func push(_ y: [Double]) -> [Event] {
        precondition(y.count == resolution.count)
        let t = count
        window.append(y)
        count += 1
        let w = tuning.window
        if young {
            let judged = previous == nil ? 2 * w : max(tuning.minSamples + w - 1, 2 * w)
            return t - start + 1 >= judged ? judge(upTo: t) : []
        }
        var alarm = false
        var earliest = t  // where the earliest shift under way began (in samples)
        let blockEnds = (t + 1) % w == 0 && t + 1 - w > start
        for j in y.indices {
            // A feature first seen in this phase is learnt before it is watched. While a shift
            // builds up in either sum, the level is not learnt: it must not follow the shift
            // it is testing for.
            var building = false
            if y[j].isFinite {
                if level.n[j] >= tuning.window {
                    let (stat, from) = sampleCusum[j].add(z(y[j], j, level.sampleScale), at: t, drift: tuning.drift)
                    if stat >= tuning.threshold { alarm = true }
                    if stat >= tuning.threshold / 2 { earliest = min(earliest, from); building = true }
                }
            }
            if blockEnds, level.n[j] >= 2 * tuning.window, let m = trimmedMean(j, upTo: t) {
                let (stat, from) = blockCusum[j].add(z(m, j, level.blockScale), at: t, drift: tuning.drift)
                if stat >= tuning.blockThreshold { alarm = true }
                // The shift may have begun inside the block before the first one that moved.
                if stat >= tuning.blockThreshold / 2 { earliest = min(earliest, from - w); building = true }
                if !building { learnBlock(j, m) }
            }
            building = building || max(blockCusum[j].up, blockCusum[j].down) >= tuning.blockThreshold / 2
            if y[j].isFinite, !building || level.n[j] < tuning.window {
                learnSample(j, y[j])
                // A feature first seen in this phase starts from its first block, as a
                // confirmed phase does, not from a running estimate of a few samples.
                if level.n[j] == tuning.window, let l = featureLevel(j, from: max(start, t - 2 * w + 1), upTo: t) {
                    (level.mean[j], level.sampleScale[j], level.blockScale[j]) = (l.mean, l.sampleScale, l.blockScale)
                }
            }
        }
        guard alarm else { return [] }
        let tau = onset(after: min(t, max(earliest, start + 1, window.oldest + 1)), upTo: t)
        previous = (start, level)
        start = tau
        young = true
        return [.opened(tau)]
    }

    /// The mean of the block of `window` samples ending at t, without its lowest and highest
    /// value when it has four or more: nil when it has none.
    private func trimmedMean(_ j: Int, upTo t: Int) -> Double? {
        var sum = 0.0, n = 0, lo = Double.infinity, hi = -Double.infinity
        for i in (t - tuning.window + 1)...t {
            let v = window[i][j]
            guard v.isFinite else { continue }
            sum += v; n += 1; lo = min(lo, v); hi = max(hi, v)
        }
        if n >= 4 { return (sum - lo - hi) / Double(n - 2) }
        return n > 0 ? sum / Double(n) : nil
    }

    /// Residual of x from the level in σ of `scale`, clipped.
    @inline(__always) private func z(_ x: Double, _ j: Int, _ scale: [Double]) -> Double {
        min(tuning.clip, max(-tuning.clip, (x - level.mean[j]) / sigma(j, scale[j])))
    }

    @inline(__always) private func sigma(_ j: Int, _ s: Double) -> Double { max(s, resolution[j] * tuning.noiseFloor) }

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
                    sums[j] += z(y[j], j, level.sampleScale)
                    counts[j] += 1
                }
                if counts[j] > 0 { score += sums[j] * sums[j] / Double(counts[j]) }
            }
            if score > best.score { best = (score, s) }
        }
        return best.at
    }

    /// The level follows slow drift: an exponentially weighted mean with residuals clipped at
    /// 3 σ; each noise is a running median of |residual| (stochastic approximation: a step up
    /// when a residual is above it, down when below), so wild samples cannot inflate it.
    private mutating func learnSample(_ j: Int, _ y: Double) {
        level.n[j] += 1
        if level.n[j] == 1 { level.mean[j] = y; return }
        let w = 1 / Double(min(level.n[j], tuning.memory))
        let cap = 3 * sigma(j, level.sampleScale[j])
        level.mean[j] += w * min(cap, max(-cap, y - level.mean[j]))
        level.sampleScale[j] = track(level.sampleScale[j], abs(y - level.mean[j]), w, floor: resolution[j] / 64)
    }

    /// A block's noise is learnt per block, over about as many blocks as the level's samples.
    private mutating func learnBlock(_ j: Int, _ m: Double) {
        let w = min(1, Double(tuning.window) / Double(min(level.n[j], tuning.memory)))
        level.blockScale[j] = track(level.blockScale[j], abs(m - level.mean[j]), w / 2, floor: resolution[j] / 64)
    }

    private func track(_ scale: Double, _ r: Double, _ w: Double, floor: Double) -> Double {
        let mad = max(scale / 1.4826, floor)
        return 1.4826 * mad * (r > mad ? 1 + w : 1 - w)
    }

    /// The level of samples lo...t as its last block shows it (past a transient at the
    /// start): the block's trimmed mean, the per-sample noise around it over the last two
    /// blocks (the settled part, not a drift at the phase's start), and a block mean's noise as
    /// independent samples would give it (per-sample noise / √(samples a trimmed block keeps)).
    private func level(from lo: Int, upTo t: Int) -> Level {
        var l = Level(resolution.count)
        for j in resolution.indices {
            guard let f = featureLevel(j, from: lo, upTo: t) else { continue }
            (l.n[j], l.mean[j], l.sampleScale[j], l.blockScale[j]) = (f.n, f.mean, f.sampleScale, f.blockScale)
        }
        return l
    }

    private func featureLevel(_ j: Int, from lo: Int, upTo t: Int) -> (n: Int, mean: Double, sampleScale: Double, blockScale: Double)? {
        guard let mean = trimmedMean(j, upTo: t) else { return nil }
        let recent = (max(lo, t - 2 * tuning.window + 1)...t).map { window[$0][j] }.filter(\.isFinite)
        // Mean absolute deviation x 1.2533 is σ for normal noise; for a two-level alternation
        // it is half the gap, as wide as the alternation.
        let sampleScale = 1.2533 * recent.reduce(0) { $0 + abs($1 - mean) } / Double(recent.count)
        return (recent.count, mean, sampleScale, sampleScale / Double(max(1, tuning.window - 2)).squareRoot())
    }

    /// How far levels `a` and `b` both lie from `prev` on the same side, in block-mean σ of the
    /// quieter level, in the feature where that is largest: both must have moved the same way.
    private func shift(_ a: Level, _ b: Level, from prev: Level) -> Double {
        var d = 0.0
        for j in resolution.indices where a.n[j] > 0 && b.n[j] > 0 && prev.n[j] > 0 {
            let da = a.mean[j] - prev.mean[j], db = b.mean[j] - prev.mean[j]
            guard da * db > 0 else { continue }
            let sa = min(sigma(j, a.blockScale[j]), sigma(j, prev.blockScale[j]))
            let sb = min(sigma(j, b.blockScale[j]), sigma(j, prev.blockScale[j]))
            d = max(d, min(abs(da) / sa, abs(db) / sb))
        }
        return d
    }

    /// The young phase is long enough: it stands if its last two blocks both moved away from
    /// the phase before, the same way (one block of outliers, or two pulling opposite ways, is
    /// not a phase); otherwise it was a transient.
    private mutating func judge(upTo t: Int) -> [Event] {
        let fresh = level(from: start, upTo: t)
        if let prev = previous {
            let before = level(from: start, upTo: t - tuning.window)
            if shift(fresh, before, from: prev.level) < tuning.sameRegime {
                let cancelled = start
                start = prev.start
                restart(prev.level)
                return [.cancelled(cancelled)]
            }
        }
        restart(fresh)
        return [.confirmed(start)]
    }

    /// A settled level: the sums restart with the next sample.
    private mutating func restart(_ l: Level) {
        level = l
        for j in level.n.indices where level.n[j] > 0 { level.n[j] = max(level.n[j], tuning.window) }
        young = false
        previous = nil
        let fresh = Cusum(up: 0, down: 0, upFrom: count, downFrom: count)
        sampleCusum = [Cusum](repeating: fresh, count: resolution.count)
        blockCusum = sampleCusum
    }
}
