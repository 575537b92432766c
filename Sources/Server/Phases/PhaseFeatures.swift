// What phase detection and classification read from a sample: named figures in their natural
// units (for the classifier and the phase summaries) and the detector's feature vector (those
// figures made scale-free). Built from column names, so the live store, perfring's CSV export
// and perf stat output all produce the same figures. A figure whose inputs are missing is NaN
// and left out, never zero-filled.
import Glibc

/// A figure of one sample or one phase (the mean of its samples).
public enum Figure: Int, CaseIterable, Sendable {
    case cpi, cacheMPKI, branchMPKI, cacheMissRate, branchMissRate, instructionsPerBranch
    case cpus, threads, cpuUtil, iowait, steal, psiCPU, psiIO, psiMemory
    case switches, switchesPerCPU, majorFaults, ioBytes, netBytes
    /// Per sample 1 or 0, so a phase's mean is a share of its samples: whether the target kept
    /// a CPU busy most of the interval (system: the machine was mostly busy), and whether tasks
    /// stalled on I/O. How a phase's samples are distributed, not only their mean: a phase
    /// that alternates between busy and waiting has a share between, a steady one 0 or 1.
    case busyShare, ioStallShare

    /// Name in the API and in evidence.
    public var key: String {
        switch self {
        case .cpi: "cpi"
        case .cacheMPKI: "cache_mpki"
        case .branchMPKI: "branch_mpki"
        case .cacheMissRate: "cache_miss_rate"
        case .branchMissRate: "branch_miss_rate"
        case .instructionsPerBranch: "instructions_per_branch"
        case .cpus: "cpus_busy"
        case .threads: "threads"
        case .cpuUtil: "cpu_util"
        case .iowait: "cpu_iowait"
        case .steal: "cpu_steal"
        case .psiCPU: "psi_cpu_some"
        case .psiIO: "psi_io_some"
        case .psiMemory: "psi_mem_some"
        case .switches: "context_switches_per_s"
        case .switchesPerCPU: "switches_per_cpu_s"
        case .majorFaults: "major_faults_per_s"
        case .ioBytes: "io_bytes_per_s"
        case .netBytes: "net_bytes_per_s"
        case .busyShare: "busy_sample_share"
        case .ioStallShare: "io_stall_sample_share"
        }
    }

    public var unit: String {
        switch self {
        case .cpi, .cacheMPKI, .branchMPKI, .instructionsPerBranch, .threads, .busyShare, .ioStallShare: ""
        case .cacheMissRate, .branchMissRate, .cpuUtil, .iowait, .steal, .psiCPU, .psiIO, .psiMemory: "%"
        case .cpus: "CPUs"
        case .switches, .majorFaults: "1/s"
        case .switchesPerCPU: "1/CPU-s"
        case .ioBytes, .netBytes: "bytes/s"
        }
    }

    /// Counted by the hardware PMU (absent on most virtual machines).
    public var isHardware: Bool { rawValue <= Figure.instructionsPerBranch.rawValue }
}

/// Whose behaviour the figures describe: the monitored process (command or pid mode, where
/// the counters and /proc/PID values are the target's) or the whole machine.
public enum FeatureScope: String, Sendable {
    case process, system

    /// The scope of a recording from what it holds, the one rule for every input (a ring the
    /// collector replayed, its CSV export, perf stat output): the target's own figures
    /// (`proc_cpu_pct`, `proc_threads`) mean a process was counted; otherwise the machine's
    /// CPU split means the whole machine; counters alone (perf stat) are a process's unless
    /// perf printed them per CPU.
    public static func of(targetFigures: Bool, machineFigures: Bool, perCPU: Bool) -> FeatureScope {
        targetFigures ? .process : machineFigures || perCPU ? .system : .process
    }

    /// The columns whose values say a process was counted, and the machine-wide one.
    static let targetKeys = ["proc_cpu_pct", "proc_threads"], machineKey = "cpu_util"
}

/// One detector feature: a figure made scale-free. Rates and percentages become
/// log(1 + x/floor), so equal ratios are equal steps above the floor and noise below the floor
/// is damped; CPI becomes log CPI. `resolution` is the step in those units that counts as a
/// change of phase; the detector's noise floor is `Tuning.noiseFloor` of it (PhaseTuning.swift).
public struct DetectionFeature: Sendable {
    public let figure: Figure
    let floor: Double
    public let resolution: Double

    @inline(__always) func transform(_ x: Double) -> Double {
        guard x.isFinite, x >= 0 else { return .nan }
        if figure == .cpi { return x > 0 ? Glibc.log(x) : .nan }
        return Glibc.log1p(x / floor)
    }

    static let all: [Figure: DetectionFeature] = Dictionary(uniqueKeysWithValues: table.map {
        ($0.0, DetectionFeature(figure: $0.0, floor: $0.floor, resolution: $0.resolution))
    })
}

/// Reads figures from a row of named columns.
public struct FeatureExtractor: Sendable {
    public let scope: FeatureScope
    /// The figures the detector follows, in feature-vector order.
    public let features: [DetectionFeature]
    private let column: [String: Int]
    private let available: Set<String>

    /// `columns`: the source's column names (perfring metric keys); `available`: which of them
    /// can ever hold a value here (a counter that does not count is not available).
    public init(columns: [String], available: Set<String>, scope: FeatureScope) {
        self.scope = scope
        var index: [String: Int] = [:]
        for (i, k) in columns.enumerated() where index[k] == nil { index[k] = i }
        column = index
        self.available = available
        // In process scope the detector follows the target, not what other tenants do to the
        // machine: machine-wide figures are summarised but do not split the target's phases.
        let followed: [Figure] = scope == .process
            ? [.cpi, .cacheMPKI, .branchMPKI, .cacheMissRate, .branchMissRate, .cpus, .switchesPerCPU, .majorFaults, .ioBytes]
            : [.cpi, .cacheMPKI, .branchMPKI, .cacheMissRate, .branchMissRate, .cpuUtil, .iowait, .steal,
               .psiCPU, .psiIO, .psiMemory, .switches, .majorFaults, .ioBytes, .netBytes]
        let sources = Self.sources(scope)
        features = followed.filter { f in sources[f]!.contains { available.contains($0) } }.map { DetectionFeature.all[$0]! }
    }

    /// The columns each figure is computed from, by scope.
    private static func sources(_ scope: FeatureScope) -> [Figure: [String]] {
        let process = scope == .process
        return [
            .cpi: ["cpi"], .cacheMPKI: ["cache_mpki"], .branchMPKI: ["branch_mpki"],
            .cacheMissRate: ["cache_miss_rate"], .branchMissRate: ["branch_miss_rate"],
            .instructionsPerBranch: ["instructions", "branches"],
            .cpus: process ? ["cpus_utilized", "proc_cpu_pct"] : [], .threads: process ? ["proc_threads"] : [],
            .cpuUtil: ["cpu_util"], .iowait: ["cpu_iowait"], .steal: ["cpu_steal"],
            .psiCPU: ["psi_cpu_some"], .psiIO: ["psi_io_some"], .psiMemory: ["psi_mem_some"],
            .switches: process ? ["context_switches_per_s"] : ["ctxt_per_s"],
            .switchesPerCPU: process ? ["context_switches_per_s"] : [],
            .majorFaults: process ? ["proc_major_faults_per_s", "major_faults_per_s"] : ["pgmajfault_per_s", "major_faults_per_s"],
            .ioBytes: process ? ["proc_read_bps", "proc_write_bps"] : ["disk_read_bps", "disk_write_bps"],
            .netBytes: ["net_rx_bps", "net_tx_bps"],
        ]
    }

    /// The figures of one sample, indexed by `Figure.rawValue`; `value` reads a column by index.
    public func figures(_ value: (Int) -> Double) -> [Double] {
        func v(_ key: String) -> Double {
            guard available.contains(key), let c = column[key] else { return .nan }
            return value(c)
        }
        /// The first of several sources of one figure that this recording has.
        func first(_ keys: String...) -> Double { keys.first(where: available.contains).map(v) ?? .nan }
        func sum(_ a: String, _ b: String) -> Double {
            let x = v(a), y = v(b)
            if x.isNaN { return y }
            return y.isNaN ? x : x + y
        }
        var f = [Double](repeating: .nan, count: Figure.allCases.count)
        f[Figure.cpi.rawValue] = v("cpi")
        f[Figure.cacheMPKI.rawValue] = v("cache_mpki")
        f[Figure.branchMPKI.rawValue] = v("branch_mpki")
        f[Figure.cacheMissRate.rawValue] = v("cache_miss_rate")
        f[Figure.branchMissRate.rawValue] = v("branch_miss_rate")
        let branches = v("branches")
        f[Figure.instructionsPerBranch.rawValue] = branches > 0 ? v("instructions") / branches : .nan
        f[Figure.cpuUtil.rawValue] = v("cpu_util")
        f[Figure.iowait.rawValue] = v("cpu_iowait")
        f[Figure.steal.rawValue] = v("cpu_steal")
        f[Figure.psiCPU.rawValue] = v("psi_cpu_some")
        f[Figure.psiIO.rawValue] = v("psi_io_some")
        f[Figure.psiMemory.rawValue] = v("psi_mem_some")
        f[Figure.netBytes.rawValue] = sum("net_rx_bps", "net_tx_bps")
        if scope == .process {
            // Per-task counters only run while the target is on a CPU, so an interval it spent
            // entirely off-CPU has no counter data (RING-FORMAT: running == 0). /proc still
            // shows its CPU time then, and it made no context switches.
            let clock = v("cpus_utilized"), procCPU = v("proc_cpu_pct")
            let offCPU = clock.isNaN && procCPU.isFinite
            f[Figure.cpus.rawValue] = clock.isFinite ? clock : procCPU / 100
            f[Figure.threads.rawValue] = v("proc_threads")
            let switches = v("context_switches_per_s")
            f[Figure.switches.rawValue] = switches.isNaN && offCPU && available.contains("context_switches_per_s") ? 0 : switches
            // Switches per CPU-second the target ran: how its threads use the CPU (a lock
            // hand-off storm, blocking I/O, or long compute slices), whatever share of the
            // machine other tenants leave it.
            let cpus = f[Figure.cpus.rawValue]
            f[Figure.switchesPerCPU.rawValue] = cpus >= 0.01 ? f[Figure.switches.rawValue] / cpus : .nan
            f[Figure.majorFaults.rawValue] = first("proc_major_faults_per_s", "major_faults_per_s")
            f[Figure.ioBytes.rawValue] = sum("proc_read_bps", "proc_write_bps")
        } else {
            f[Figure.switches.rawValue] = v("ctxt_per_s")
            f[Figure.majorFaults.rawValue] = first("pgmajfault_per_s", "major_faults_per_s")
            f[Figure.ioBytes.rawValue] = sum("disk_read_bps", "disk_write_bps")
        }
        let busy = scope == .process ? f[Figure.cpus.rawValue] : f[Figure.cpuUtil.rawValue]
        let busyCut = scope == .process ? PhaseClassifier.ioWaitCPUs : PhaseClassifier.busySampleUtil
        f[Figure.busyShare.rawValue] = busy.isFinite ? (busy >= busyCut ? 1 : 0) : .nan
        let stall = [f[Figure.psiIO.rawValue], f[Figure.iowait.rawValue]].filter(\.isFinite)
        f[Figure.ioStallShare.rawValue] = stall.isEmpty ? .nan : (stall.contains { $0 >= PhaseClassifier.stallShare } ? 1 : 0)
        return f
    }

    /// The detector's feature vector for a sample's figures.
    public func vector(_ figures: [Double]) -> [Double] {
        features.map { $0.transform(figures[$0.figure.rawValue]) }
    }
}
