// The ring file's layout: every offset a reader in any language needs, in one place.
// RING-FORMAT.md beside this file is the prose version; keep the two in step.

/// Byte offsets and constants of the ring file. All integers are little-endian.
public enum RingLayout {
    public static let magic: UInt64 = 0x474E_4952_4652_4550  // "PERFRING" as bytes
    public static let version: UInt32 = 1
    /// The base header; a ring of more than `maxEvents` events has a longer one (below).
    public static let headerSize = 4096
    /// Event slots of the base header and of a record's counter array.
    public static let maxEvents = 16
    /// Event slots a ring can have at all: slots from `maxEvents` on (replays of recordings
    /// with more events) live in a header extension and after a record's OS fields.
    public static let maxEventsExtended = 128
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
    public static let hSlowFieldMask = 2176  // u64 OS fields read at the slow period (bit k: OSField k)
    public static let hSlowPeriodNs = 2184   // u64 the slow period (0: every field every tick)
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
    public static let eFlags = 60            // u32 EventFlags; bit 2 is updated live (atomic)

    // Record fields (offsets from the start of a record).
    public static let rSeq = 0               // u64 seqlock word: 2i+1 while writing record i, then 2i+2
    public static let rTimeNs = 8            // u64 CLOCK_MONOTONIC when the counters were read
    public static let rDtNs = 16             // u64 measured time since the previous read
    public static let rMissed = 24           // u32 ticks skipped before this one
    public static let rFlags = 28            // u32 RecordFlags
    public static let rOSValid = 32          // u64 bit i set when OSField(rawValue: i) is present
    public static let rSlowSpanNs = 40       // u64 time the slow delta fields cover (0: not read this tick)
    public static let rCounters = 48         // maxEvents x counterSize
    public static let counterSize = 24       // value, time_enabled, time_running deltas (u64 each)
    public static let rOS = rCounters + maxEvents * counterSize  // 432: OSField.count x u64
    public static let fixedRecordSize = rOS + OSField.allCases.count * 8

    // Per-CPU entry (offsets within one CPU's slot).
    public static let cpuTimes = 0           // 8 x u64 ns deltas: user nice system idle iowait irq softirq steal
    public static let cpuCounters = 64       // eventCount x counterSize

    public static func perCpuStride(eventCount: Int) -> Int { cpuCounters + eventCount * counterSize }

    // Slots from `maxEvents` on (E > 16; RING-FORMAT.md "More than 16 events"). With 16 events
    // or fewer every offset below is the base layout's.

    /// The header's size (its field at offset 12): 4096, plus for E > 16 the extension of
    /// (E - 16) event entries then their (E - 16) totals, rounded up to 4096 bytes.
    public static func headerSize(eventCount: Int) -> Int {
        let extra = max(0, eventCount - maxEvents) * (eventEntrySize + 8)
        return headerSize + ((extra + 4095) & ~4095)
    }
    /// Where event `slot`'s table entry is in the header.
    public static func eventEntryOffset(_ slot: Int) -> Int {
        slot < maxEvents ? hEventTable + slot * eventEntrySize : headerSize + (slot - maxEvents) * eventEntrySize
    }
    /// Where event `slot`'s cumulative total is in the header.
    public static func eventTotalOffset(_ slot: Int, eventCount: Int) -> Int {
        slot < maxEvents ? hEventTotals + slot * 8 : headerSize + max(0, eventCount - maxEvents) * eventEntrySize + (slot - maxEvents) * 8
    }
    /// Where event `slot`'s counter triple is in a record: after the OS fields from slot 16 on.
    @inline(__always) public static func counterOffset(_ slot: Int) -> Int {
        slot < maxEvents ? rCounters + slot * counterSize : fixedRecordSize + (slot - maxEvents) * counterSize
    }
    /// The per-CPU section's offset in a record (the header's field at 80): after the extra
    /// counter triples when there are any.
    public static func perCpuOffset(eventCount: Int) -> Int { fixedRecordSize + max(0, eventCount - maxEvents) * counterSize }

    /// Record size for a layout: fixed part, extra counters, per-CPU section, rounded up to 64.
    public static func recordSize(eventCount: Int, perCpuCount: Int) -> Int {
        let raw = perCpuOffset(eventCount: eventCount) + perCpuCount * perCpuStride(eventCount: eventCount)
        return (raw + 63) & ~63
    }
    /// Above this no write index is believed: the seqlock word of record i, 2i+2, must not wrap
    /// (to the 0 of a never-written slot), and 2^62 records is 146 million years at 1 ms.
    public static let maxWriteIndex: UInt64 = 1 << 62

    /// Whether `name` may be an event's name in a ring: 1 to 31 bytes of letters, digits and
    /// perf's event syntax (`.`, `_`, `-`, `/`, `:`, `=`, `,`, `@`, `+`: `cpu_core/cycles/`,
    /// `cha/event=0x34,umask=0x1/`, `cycles:u`). Names reach JSON, CSV and Prometheus (keys are
    /// sanitized, texts escaped) and the page, so a reader refuses a ring with anything else: a
    /// quote, a space, a backslash, markup, a control character.
    public static func isValidEventName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count < eNameSize else { return false }
        return bytes.allSatisfy { b in
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                eventNameSyntax.utf8.contains(b)
            }
        }
    }
    /// The characters an event name may hold besides letters and digits.
    public static let eventNameSyntax = "._-/:=,@+"
    /// As messages say it.
    public static let eventNameCharacters = "letters, digits and ._-/:=,@+"

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
    /// A replay of a recording that counted the whole machine (perf stat -a, -C, -A,
    /// --per-*), whatever CPU count it shows: readers analyse it system-wide.
    public static let systemRecording = RingFlags(rawValue: 1 << 2)
    /// The header keeps running totals of the OS delta fields (hOSTotalsMask, hOSTotals).
    public static let osTotals = RingFlags(rawValue: 1 << 3)
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
    /// Pid and command modes: no counter of the target was enabled for any time in this
    /// interval (a task's counters stand still while it is off CPU). Its counts are 0, not
    /// unknown: a task that did not run executed nothing.
    public static let targetOffCPU = RecordFlags(rawValue: 1 << 3)
}

/// The event table entry's flags (u32 at offset 60). Bits 0-4 are flags, bits 8-15 the slot
/// of the first part of a hybrid event (with `pmuPart`), bits 24-31 the perf_event_paranoid
/// level seen at the user-space-only fallback, as a signed byte (with `userOnly`).
public struct EventFlags: OptionSet, Sendable, Equatable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Refused for privilege, reopened with exclude_kernel: counts user space only (perf's `:u`).
    public static let userOnly = EventFlags(rawValue: 1 << 0)
    /// Opened with exclude_hv (set together with userOnly, as perf does).
    public static let excludeHV = EventFlags(rawValue: 1 << 1)
    /// Live (the collector updates it): enabled for some time but never scheduled on the PMU
    /// (time_running still 0 since the start). perf prints `<not counted>`.
    public static let neverScheduled = EventFlags(rawValue: 1 << 2)
    /// Record values and header totals of this slot are already scaled per target
    /// (RING-FORMAT.md, "Scaling"): read the value as is, never multiply by enabled/running.
    public static let scaledPerTarget = EventFlags(rawValue: 1 << 3)
    /// One core PMU's part of a hybrid event; the event's count is the sum of its parts.
    public static let pmuPart = EventFlags(rawValue: 1 << 4)

    /// The slot of this event's first part (pmuPart entries only).
    public var partOf: Int { Int((rawValue >> 8) & 0xff) }
    /// perf_event_paranoid when the fallback happened (userOnly entries only).
    public var paranoid: Int { Int(Int8(truncatingIfNeeded: rawValue >> 24)) }

    public static func part(of slot: Int) -> EventFlags { EventFlags(rawValue: EventFlags.pmuPart.rawValue | UInt32(slot & 0xff) << 8) }
    public static func userOnly(paranoid: Int) -> EventFlags {
        EventFlags(rawValue: userOnly.rawValue | excludeHV.rawValue | UInt32(UInt8(truncatingIfNeeded: paranoid)) << 24)
    }
}

public enum EventStatus: UInt32, Sendable {
    case counting = 0
    /// The kernel or hardware has no such event here (ENOENT, EOPNOTSUPP, ENODEV, EINVAL).
    case unsupported = 1
    /// The event exists but the caller may not count it (EACCES, EPERM).
    case notPermitted = 2
    /// Any other failure to open (its errno says which).
    case failed = 3
    /// Readers only: opened, but never scheduled on the PMU so far (EventFlags.neverScheduled);
    /// the collector keeps status 0 in the table and sets the live flag.
    case notCounted = 4
    public var name: String {
        switch self {
        case .counting: "counting"
        case .unsupported: "unsupported"
        case .notPermitted: "not-permitted"
        case .failed: "failed"
        case .notCounted: "not-counted"
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
