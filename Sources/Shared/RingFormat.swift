// The ring file's layout: every offset a reader in any language needs, in one place.
// RING-FORMAT.md beside this file is the prose version; keep the two in step.

/// Byte offsets and constants of the ring file. All integers are little-endian.
public enum RingLayout {
    public static let magic: UInt64 = 0x474E_4952_4652_4550  // "PERFRING" as bytes
    public static let version: UInt32 = 1
    public static let headerSize = 4096
    public static let maxEvents = 16
    public static let maxEnergyDomains = 4

    // Header fields (offsets from the start of the file).
    public static let hMagic = 0             // u64
    public static let hVersion = 8           // u32
    public static let hHeaderSize = 12       // u32
    public static let hRecordSize = 16       // u32
    public static let hCapacity = 20         // u32 records
    public static let hGeneration = 24       // u64, random per collector start
    public static let hCollectorPid = 32     // u32
    public static let hMode = 36             // u32 RingMode
    public static let hTargetPid = 40        // u32 (0 when system-wide)
    public static let hCpuCount = 44         // u32 CPUs monitored
    public static let hIntervalNs = 48       // u64
    public static let hCreatedRealtimeNs = 56   // u64 CLOCK_REALTIME at creation
    public static let hCreatedMonotonicNs = 64  // u64 CLOCK_MONOTONIC at the same instant
    public static let hEventCount = 72       // u32 event slots used (<= maxEvents)
    public static let hPerCpuCount = 76      // u32 CPUs in the per-CPU section (0: none)
    public static let hPerCpuOffset = 80     // u32 offset of the per-CPU section in a record
    public static let hPerCpuStride = 84     // u32 bytes per CPU in that section
    public static let hFlags = 88            // u32 RingFlags
    public static let hEnergyDomainCount = 92  // u32
    public static let hWriteIndex = 128      // u64 atomic (release): records written so far
    public static let hHeartbeatNs = 192     // u64 atomic: CLOCK_MONOTONIC of the last write
    public static let hStopped = 200         // u32 atomic: 1 after a clean stop
    public static let hExitStatus = 204      // i32 the command's exit status (command mode)
    public static let hHostname = 256        // 64 bytes, NUL-padded UTF-8
    public static let hTarget = 320          // 256 bytes: command line / replay source, NUL-padded
    public static let hEnergyNames = 576     // 4 x 32 bytes: RAPL domain names
    public static let hEventTable = 1024     // maxEvents x eventEntrySize
    public static let eventEntrySize = 64
    public static let hEventTotals = 2048    // maxEvents x u64 atomic: cumulative scaled counts
    public static let hOSTotalsMask = 2304   // u64 atomic: bit k set once OS field k has a running total
    public static let hOSTotals = 2312       // OSField.count x u64 atomic: running total of each delta field
    public static let hostnameSize = 64
    public static let targetSize = 256
    public static let energyNameSize = 32

    // Event table entry (offsets within an entry).
    public static let eName = 0              // 32 bytes ASCII, NUL-padded (perf-style name)
    public static let eNameSize = 32
    public static let eType = 32             // u32 perf_event_attr.type
    public static let eStatus = 36           // u32 EventStatus
    public static let eConfig = 40           // u64 perf_event_attr.config
    public static let eErrno = 48            // i32 errno of the failed open (0 when counting)
    public static let eGroup = 52            // u32 counter group index (events read together)
    public static let eOpened = 56           // u32 targets (CPUs or threads) it opened on

    // Record fields (offsets from the start of a record).
    public static let rSeq = 0               // u64 seqlock word: 2i+1 while writing record i, then 2i+2
    public static let rTimeNs = 8            // u64 CLOCK_MONOTONIC when the counters were read
    public static let rDtNs = 16             // u64 measured time since the previous read
    public static let rMissed = 24           // u32 ticks skipped before this one
    public static let rFlags = 28            // u32 RecordFlags
    public static let rOSValid = 32          // u64 bit i set when OSField(rawValue: i) is present
    public static let rCounters = 48         // maxEvents x counterSize
    public static let counterSize = 24       // value, time_enabled, time_running deltas (u64 each)
    public static let rOS = rCounters + maxEvents * counterSize  // 432: OSField.count x u64
    public static let fixedRecordSize = rOS + OSField.allCases.count * 8

    // Per-CPU entry (offsets within one CPU's slot).
    public static let cpuTimes = 0           // 8 x u64 ns deltas: user nice system idle iowait irq softirq steal
    public static let cpuCounters = 64       // eventCount x counterSize

    public static func perCpuStride(eventCount: Int) -> Int { cpuCounters + eventCount * counterSize }

    /// Record size for a layout: fixed part plus per-CPU section, rounded up to 64 bytes.
    public static func recordSize(eventCount: Int, perCpuCount: Int) -> Int {
        let raw = fixedRecordSize + perCpuCount * perCpuStride(eventCount: eventCount)
        return (raw + 63) & ~63
    }
    /// The seqlock word of a complete record at `index`.
    @inline(__always) public static func completeSeq(_ index: UInt64) -> UInt64 { index &* 2 &+ 2 }
}

public enum RingMode: UInt32, Sendable {
    case systemWide = 0, pid = 1, command = 2, replay = 3
    public var name: String {
        switch self {
        case .systemWide: "system-wide"
        case .pid: "pid"
        case .command: "command"
        case .replay: "replay"
        }
    }
}

public struct RingFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let perCpu = RingFlags(rawValue: 1 << 0)
    public static let replay = RingFlags(rawValue: 1 << 1)
    /// The header keeps running totals of the OS delta fields (hOSTotalsMask, hOSTotals).
    public static let osTotals = RingFlags(rawValue: 1 << 2)
}

public struct RecordFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The last record of a run (clean stop, target exit).
    public static let final = RecordFlags(rawValue: 1 << 0)
    /// The monitored process or command has exited.
    public static let targetExited = RecordFlags(rawValue: 1 << 1)
    /// At least one counter group could not be read this tick; its deltas are zero with
    /// time_running zero, which readers treat as unavailable.
    public static let readError = RecordFlags(rawValue: 1 << 2)
}

public enum EventStatus: UInt32, Sendable {
    case counting = 0
    /// The kernel or hardware has no such event here (ENOENT, EOPNOTSUPP, ENODEV, EINVAL).
    case unsupported = 1
    /// The event exists but the caller may not count it (EACCES, EPERM).
    case notPermitted = 2
    /// Any other failure to open (its errno says which).
    case failed = 3
    public var name: String {
        switch self {
        case .counting: "counting"
        case .unsupported: "unsupported"
        case .notPermitted: "not-permitted"
        case .failed: "failed"
        }
    }
}

/// OS signals stored after the counters, one u64 each, in this order. `kind` says whether the
/// stored value is a delta over the record's dt or a level at the sample time.
public enum OSField: Int, CaseIterable, Sendable {
    // /proc/stat CPU time split, ns deltas summed over the monitored CPUs
    case cpuUser, cpuNice, cpuSystem, cpuIdle, cpuIowait, cpuIrq, cpuSoftirq, cpuSteal
    // /proc/meminfo, bytes (levels)
    case memTotal, memAvailable, swapTotal, swapFree
    // /proc/diskstats (whole disks) and /proc/net/dev (all but lo), byte deltas
    case diskReadBytes, diskWriteBytes, netRxBytes, netTxBytes
    // /proc/pressure/{cpu,memory,io} "total=" stall time, microsecond deltas
    case psiCpuSome, psiCpuFull, psiMemSome, psiMemFull, psiIoSome, psiIoFull
    // /proc/loadavg: load averages x 1000 (levels)
    case load1, load5, load15
    // /proc/stat: procs_running and procs_blocked (levels), ctxt, processes (forks) and intr (deltas)
    case procsRunning, procsBlocked, contextSwitches, forks, interrupts
    // /proc/vmstat: page faults and major faults (deltas)
    case pageFaults, majorFaults
    // RAPL energy, microjoule deltas, one per domain named in the header
    case energy0, energy1, energy2, energy3
    // the monitored process (pid / command mode): RSS and VMS bytes and threads (levels),
    // CPU time ns, I/O bytes and faults (deltas)
    case procRss, procVms, procThreads, procUtime, procStime, procReadBytes, procWriteBytes, procMinorFaults, procMajorFaults

    public enum Kind: Sendable { case delta, level }
    public var kind: Kind {
        switch self {
        case .memTotal, .memAvailable, .swapTotal, .swapFree, .load1, .load5, .load15,
             .procsRunning, .procsBlocked, .procRss, .procVms, .procThreads:
            .level
        default:
            .delta
        }
    }
    public var offset: Int { RingLayout.rOS + rawValue * 8 }
    public var bit: UInt64 { 1 << UInt64(rawValue) }
    public static let cpuTimes: [OSField] = [.cpuUser, .cpuNice, .cpuSystem, .cpuIdle, .cpuIowait, .cpuIrq, .cpuSoftirq, .cpuSteal]
    public static let energies: [OSField] = [.energy0, .energy1, .energy2, .energy3]
}
