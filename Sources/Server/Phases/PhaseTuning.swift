// Every tuned constant of phase detection, in one place, each with what it does. They were
// chosen on the tuning traces only (Tests/Traces/tune-*, Tests/Traces/programs/tune-*); the
// held-out traces are measured, never tuned on (PHASES.md). The classifier's cut-offs are not
// here: they are published figures, cited beside each in PhaseClassifier.swift.

extension PhaseDetector {
    public struct Tuning: Sendable, Equatable {
        /// A phase is young (cancellable) until it has this many samples: the minimum phase
        /// length (`--min-phase`, default 1 s) in samples.
        public var minSamples: Int
        /// Samples in a block (600 ms at 100 ms): an alternation whose period fits in it
        /// (300 ms compute + 300 ms I/O) is a level of the block means, not a series of steps.
        /// Longer blocks also hide short phases and slow detection.
        public var window = 6
        /// CUSUM reference value k, in noise units: level shifts under k σ never accumulate.
        public var drift = 1.5
        /// CUSUM decision threshold h over samples: a clear step (≥ 5 σ) is caught in 2-3
        /// samples.
        public var threshold = 8.0
        /// The same over block means: a block is already an average, so two blocks past the
        /// level raise an alarm and one (at most clip − k = 3.5) does not.
        public var blockThreshold = 4.0
        /// A residual counts at most `clip` σ, so one outlier adds at most clip − k < h.
        public var clip = 5.0
        /// The level and noise estimates average over about this many recent samples, so slow
        /// drift is followed rather than split.
        public var memory = 30
        /// Two levels closer than this many block-mean σ in every feature are the same
        /// regime: a young phase that close to the phase before it was a transient.
        public var sameRegime = 2.5
        /// Noise is never taken below this share of a feature's resolution, so a perfectly
        /// steady phase does not split on steps too small to matter.
        public var noiseFloor = 0.15

        public init(minSamples: Int) {
            self.minSamples = max(2, minSamples)
            window = min(window, self.minSamples)
        }
    }
}

extension DetectionFeature {
    /// Per figure: the floor of log(1 + x/floor) (equal ratios above it are equal steps; noise
    /// below it is damped) and the resolution, the step in those units that counts as a change
    /// of phase (its noise floor is `Tuning.noiseFloor` of it).
    static let table: [(Figure, floor: Double, resolution: Double)] = [
        (.cpi, 1, 0.25),                 // log CPI: a 28 % change in CPI
        (.cacheMPKI, 1, 0.5), (.branchMPKI, 1, 0.5),
        (.cacheMissRate, 5, 0.5), (.branchMissRate, 1, 0.5),
        (.cpus, 0.1, 0.7),               // about a doubling of the CPUs kept busy
        (.cpuUtil, 10, 0.5),
        (.iowait, 5, 0.7), (.steal, 5, 0.7),
        (.psiCPU, 5, 0.7), (.psiIO, 5, 0.7), (.psiMemory, 5, 0.7),
        (.switches, 1000, 0.7), (.switchesPerCPU, 1000, 1.0), (.majorFaults, 10, 0.7),
        (.ioBytes, 1_000_000, 0.7), (.netBytes, 1_000_000, 0.7),
    ]
}

extension PhaseClassifier {
    /// A phase alternates when between this share and 1 minus it of its samples are busy (or
    /// stalled on I/O): a steady phase has nearly all or nearly none, with a few samples at
    /// its edges or from noise.
    static let alternationShare = 0.2
}
