// Turns ring records into metric values: scaled counts, per-second rates, IPC/CPI, miss rates,
// MPKI, CPU split, memory, I/O, pressure, power, the monitored process. The column list is
// built from the ring's header, so a counter that does not count on this machine is a column
// that is always null, and an OS value missing from a record is null in that sample.
// Nothing is stored: each value is derived from the ring's record when it is served (the ring
// is the history), so the server's memory does not grow with it.
import Shared

/// A sample column: its API key and how its value is derived from a record.
public struct ColumnSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Computed from the record by the deriver.
        case derived
        /// A count column divided by dt: a per-second rate.
        case rate(of: Int)
        /// scale × one column over another (IPC, miss rates, MPKI); null unless the
        /// denominator is positive.
        case ratio(of: Int, over: Int, scale: Double)
        /// The sample's sequence number (its ring index).
        case sequence
        /// 1 when records were lost just before this sample: it does not follow the sample
        /// the reader saw before it (see `MetricDeriver.value`).
        case gap
        /// Its inputs do not exist on this machine (an event that does not count): always null.
        case unavailable
    }
    public let key: String
    public let kind: Kind
    public let help: String
    public let unit: String
}

public final class MetricDeriver {
    public let header: RingHeader
    public private(set) var columns: [ColumnSpec] = []
    /// Each `.derived` column's computation from one record, by column index (nil for others);
    /// held in a struct, so calls need no reabstraction thunk.
    private var computers: [ColumnPlan?] = []
    private var derivedReads: [[Int]] = []
    /// Each column's computation, resolved once (see `ColumnPlan`).
    public private(set) var plans: [ColumnPlan] = []
    /// Event slot by API key, for counting events only.
    public private(set) var eventColumn: [String: Int] = [:]

    /// The API key of a perf event name (`branch-instructions` -> `branches`, `-` -> `_`, and
    /// any other character a CSV header or Prometheus name cannot hold, as in
    /// `cha/event=0x34,umask=0x1fe001/`, -> `_`); a hybrid part `cpu_core/cycles/` is
    /// `cycles_cpu_core`.
    public static func key(forEvent name: String) -> String {
        if let (pmu, event) = pmuPart(name) { return key(forEvent: event) + "_" + sanitized(pmu) }
        return name == "branch-instructions" ? "branches" : sanitized(name)
    }

    private static func sanitized<S: StringProtocol>(_ s: S) -> String {
        String(s.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" })
    }

    /// The PMU of a hybrid part's name (`cpu_core/cycles/` -> `cpu_core`), and its event; nil
    /// for a name that is not `PMU/EVENT/` with a plain event (not `cha/event=0x34,umask=1/`).
    static func pmuPart(_ name: String) -> (pmu: String, event: String)? {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].isEmpty, !parts[0].isEmpty, !parts[1].isEmpty,
              !parts[1].contains(where: { $0 == "=" || $0 == "," }) else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// Events perf counts in nanoseconds.
    public static let nanosecondEvents: Set<String> = ["task-clock", "cpu-clock", "duration_time"]

    public init(header: RingHeader) {
        self.header = header
        columns.append(ColumnSpec(key: "seq", kind: .sequence, help: "record index in this collector run", unit: ""))
        add("time_ms", "sample time, Unix milliseconds", "ms", reads: [RingLayout.rTimeNs]) { [header] in header.unixMillis(monotonic: $0.timeNs) }
        add("dt_ms", "measured interval", "ms", reads: Self.dt) { Double($0.dtNs) / 1e6 }
        add("missed", "ticks missed before this sample", "", reads: [RingLayout.rMissed]) { Double($0.missed) }
        columns.append(ColumnSpec(key: "gap", kind: .gap, help: "1 when records were lost before this sample", unit: ""))

        // Counters, scaled by enabled/running; a slot that did not run this interval is null,
        // one whose task was off CPU counts 0 (counterEstimate, RING-FORMAT.md "Scaling").
        var slotOf: [String: Int] = [:]
        var countColumnOf: [String: Int] = [:]
        var hybridParts: [String: (event: String, slots: [Int])] = [:]  // total key -> its counting parts
        var pmus: [String] = []
        for (slot, e) in header.events.enumerated() {
            if e.flags.contains(.pmuPart), let (_, event) = Self.pmuPart(e.name) {
                let total = Self.key(forEvent: event)
                let suffix = String(Self.key(forEvent: e.name).dropFirst(total.count + 1))  // `pmu`, as keys spell it
                if !pmus.contains(suffix) { pmus.append(suffix) }
                var entry = hybridParts[total] ?? (event, [])
                if e.status == .counting { entry.slots.append(slot) }
                hybridParts[total] = entry
            }
            let key = Self.key(forEvent: e.name)
            // The clocks count nanoseconds of CPU time: their rate is ns per second, 1e9 per busy CPU.
            let isClock = Self.nanosecondEvents.contains(e.name)
            guard e.status == .counting else {
                columns.append(ColumnSpec(key: key, kind: .unavailable, help: "\(e.name) (unavailable: \(e.status.name))", unit: isClock ? "ns" : ""))
                columns.append(ColumnSpec(key: key + "_per_s", kind: .unavailable, help: "\(e.name) per second (unavailable)", unit: isClock ? "ns/s" : "1/s"))
                continue
            }
            slotOf[key] = slot
            eventColumn[key] = slot
            let countColumn = columns.count
            countColumnOf[key] = countColumn
            let flags = e.flags
            add(key, "\(e.name) in the interval, scaled for multiplexing", isClock ? "ns" : "", reads: Self.counter(slot)) { counterEstimate($0.counter(slot), flags: flags, record: $0.flags) }
            columns.append(ColumnSpec(key: key + "_per_s", kind: .rate(of: countColumn),
                                      help: isClock ? "\(e.name) nanoseconds per second of wall time (1e9: one CPU busy)" : "\(e.name) per second",
                                      unit: isClock ? "ns/s" : "1/s"))
        }
        // A hybrid event is the sum of its core PMUs' parts (a part that did not run adds
        // nothing); null only when no part has data.
        // (A ring that also names the plain event keeps that one: one column per key.)
        for (key, h) in hybridParts.sorted(by: { $0.key < $1.key }) where !columns.contains(where: { $0.key == key }) {
            let parts = h.slots.map { ($0, header.events[$0].flags) }
            guard !parts.isEmpty else {
                columns.append(ColumnSpec(key: key, kind: .unavailable, help: "\(h.event), all core PMUs (unavailable)", unit: ""))
                columns.append(ColumnSpec(key: key + "_per_s", kind: .unavailable, help: "\(h.event) per second (unavailable)", unit: "1/s"))
                continue
            }
            let countColumn = columns.count
            countColumnOf[key] = countColumn
            add(key, "\(h.event) in the interval, the sum of its core PMUs' parts", "", reads: parts.flatMap { Self.counter($0.0) }) { r in
                var sum = 0.0, any = false
                for (slot, flags) in parts {
                    let v = counterEstimate(r.counter(slot), flags: flags, record: r.flags)
                    if v.isFinite { sum += v; any = true }
                }
                return any ? sum : .nan
            }
            columns.append(ColumnSpec(key: key + "_per_s", kind: .rate(of: countColumn), help: "\(h.event) per second, all core PMUs", unit: "1/s"))
        }
        let hardwareSlots = header.events.indices.filter { header.events[$0].status == .counting && header.events[$0].type != 1 }
        if hardwareSlots.isEmpty {
            columns.append(ColumnSpec(key: "multiplex", kind: .unavailable, help: "lowest fraction of the interval a hardware counter ran", unit: ""))
        } else {
            add("multiplex", "lowest fraction of the interval a hardware counter ran (1: never multiplexed)", "", reads: hardwareSlots.flatMap(Self.counter)) { r in
                var m = 1.0
                for s in hardwareSlots {
                    let c = r.counter(s)
                    // A hybrid part that did not run was not multiplexed: its task ran on the
                    // other core type.
                    if c.running == 0 && header.events[s].flags.contains(.pmuPart) { continue }
                    if c.enabled > 0 { m = min(m, Double(c.running) / Double(c.enabled)) }
                }
                return m
            }
        }
        ratio("ipc", "instructions per cycle", "instructions", "cycles", countColumnOf, scale: 1)
        ratio("cpi", "cycles per instruction", "cycles", "instructions", countColumnOf, scale: 1)
        ratio("cache_miss_rate", "cache misses per cache reference, percent", "cache_misses", "cache_references", countColumnOf, scale: 100)
        ratio("branch_miss_rate", "branch misses per branch, percent", "branch_misses", "branches", countColumnOf, scale: 100)
        ratio("cache_mpki", "cache misses per thousand instructions", "cache_misses", "instructions", countColumnOf, scale: 1000)
        ratio("branch_mpki", "branch misses per thousand instructions", "branch_misses", "instructions", countColumnOf, scale: 1000)
        // Hybrid: each ratio also per core PMU, from that PMU's own pair (one group each).
        for pmu in pmus {
            ratio("ipc_" + pmu, "instructions per cycle on \(pmu)", "instructions_" + pmu, "cycles_" + pmu, countColumnOf, scale: 1)
            ratio("cpi_" + pmu, "cycles per instruction on \(pmu)", "cycles_" + pmu, "instructions_" + pmu, countColumnOf, scale: 1)
            ratio("cache_miss_rate_" + pmu, "cache misses per cache reference on \(pmu), percent", "cache_misses_" + pmu, "cache_references_" + pmu, countColumnOf, scale: 100)
            ratio("branch_miss_rate_" + pmu, "branch misses per branch on \(pmu), percent", "branch_misses_" + pmu, "branches_" + pmu, countColumnOf, scale: 100)
        }
        // System-wide, task-clock is counted per CPU whether it is busy or idle (it equals wall
        // time times CPUs), so "CPUs utilized" only means something for a process or command.
        let processScope = header.mode == .pid || header.mode == .command || (header.mode == .replay && !header.flags.contains(.systemRecording))
        if let tc = slotOf["task_clock"], processScope {
            let flags = header.events[tc].flags
            add("cpus_utilized", "task-clock over wall time: CPUs kept busy", "", reads: Self.counter(tc) + Self.dt) { r in
                r.dtNs > 0 ? counterEstimate(r.counter(tc), flags: flags, record: r.flags) / Double(r.dtNs) : .nan
            }
        } else {
            columns.append(ColumnSpec(key: "cpus_utilized", kind: .unavailable, help: "task-clock over wall time (pid and command modes; system-wide use cpu_util)", unit: ""))
        }

        // CPU time split in percent of the monitored CPUs' time.
        func cpuShare(_ key: String, _ help: String, _ fields: [OSField]) {
            add(key, help, "%", reads: Self.os(OSField.cpuTimes)) { r in
                guard r.osValid & OSField.cpuUser.bit != 0 else { return .nan }
                var total: UInt64 = 0
                for f in OSField.cpuTimes { total &+= r.os(f) ?? 0 }
                guard total > 0 else { return .nan }
                var part: UInt64 = 0
                for f in fields { part &+= r.os(f) ?? 0 }
                return 100 * Double(part) / Double(total)
            }
        }
        cpuShare("cpu_util", "CPU busy (all but idle and iowait)", [.cpuUser, .cpuNice, .cpuSystem, .cpuIrq, .cpuSoftirq, .cpuSteal])
        cpuShare("cpu_user", "CPU in user mode (with nice)", [.cpuUser, .cpuNice])
        cpuShare("cpu_system", "CPU in the kernel (with irq and softirq)", [.cpuSystem, .cpuIrq, .cpuSoftirq])
        cpuShare("cpu_iowait", "CPU idle waiting for I/O", [.cpuIowait])
        cpuShare("cpu_steal", "CPU stolen by the hypervisor", [.cpuSteal])

        add("mem_used_pct", "memory in use (total minus available)" + slowNote(.memAvailable), "%", reads: Self.os([.memTotal, .memAvailable])) { r in
            guard let t = r.os(.memTotal), let a = r.os(.memAvailable), t > 0 else { return .nan }
            return 100 * Double(t &- min(a, t)) / Double(t)
        }
        add("mem_used_bytes", "memory in use (total minus available)" + slowNote(.memAvailable), "bytes", reads: Self.os([.memTotal, .memAvailable])) { r in
            guard let t = r.os(.memTotal), let a = r.os(.memAvailable) else { return .nan }
            return Double(t &- min(a, t))
        }
        add("swap_used_bytes", "swap in use" + slowNote(.swapFree), "bytes", reads: Self.os([.swapTotal, .swapFree])) { r in
            guard let t = r.os(.swapTotal), let f = r.os(.swapFree) else { return .nan }
            return Double(t &- min(f, t))
        }
        perSecond("disk_read_bps", "disk bytes read per second", .diskReadBytes, unit: "bytes/s")
        perSecond("disk_write_bps", "disk bytes written per second", .diskWriteBytes, unit: "bytes/s")
        perSecond("net_rx_bps", "network bytes received per second", .netRxBytes, unit: "bytes/s")
        perSecond("net_tx_bps", "network bytes sent per second", .netTxBytes, unit: "bytes/s")
        for (key, field, help) in [("psi_cpu_some", OSField.psiCpuSome, "some tasks stalled on CPU"), ("psi_cpu_full", .psiCpuFull, "all tasks stalled on CPU"),
                                   ("psi_mem_some", .psiMemSome, "some tasks stalled on memory"), ("psi_mem_full", .psiMemFull, "all tasks stalled on memory"),
                                   ("psi_io_some", .psiIoSome, "some tasks stalled on I/O"), ("psi_io_full", .psiIoFull, "all tasks stalled on I/O")] {
            add(key, "pressure stall: \(help), percent of wall time" + slowNote(field), "%", reads: Self.os([field]) + Self.dt) { r in
                guard let us = r.os(field), r.dtNs > 0 else { return .nan }
                return 100 * Double(us) * 1000 / Double(r.dtNs)
            }
        }
        for (key, field) in [("load1", OSField.load1), ("load5", .load5), ("load15", .load15)] {
            add(key, "load average" + slowNote(field), "", reads: Self.os([field])) { r in r.os(field).map { Double($0) / 1000 } ?? .nan }
        }
        level("procs_running", "runnable tasks", .procsRunning, unit: "")
        level("procs_blocked", "tasks blocked on I/O", .procsBlocked, unit: "")
        perSecond("ctxt_per_s", "context switches per second (whole system: the context-switches counter when it counts on every CPU, else /proc/stat)", .contextSwitches, unit: "1/s")
        perSecond("forks_per_s", "processes created per second", .forks, unit: "1/s")
        perSecond("intr_per_s", "interrupts per second", .interrupts, unit: "1/s")
        perSecond("faults_per_s", "page faults per second (whole system: the page-faults counter when it counts on every CPU, else /proc/vmstat)", .pageFaults, unit: "1/s")
        // Named after /proc/vmstat's pgmajfault (like ctxt and intr): `major_faults_per_s` is the
        // major-faults event's rate when that event is counted.
        perSecond("pgmajfault_per_s", "major page faults per second (whole system, /proc/vmstat)", .majorFaults, unit: "1/s")

        // RAPL: package domains (and DRAM) hold the others; summing them avoids double counting.
        let powerDomains = header.energyDomains.indices.filter { header.energyDomains[$0].hasPrefix("package") || header.energyDomains[$0] == "dram" }
        if powerDomains.isEmpty {
            columns.append(ColumnSpec(key: "power_watts", kind: .unavailable, help: "power from RAPL energy counters", unit: "W"))
        } else {
            add("power_watts", "power from RAPL energy counters (package and DRAM domains)", "W", reads: Self.os(powerDomains.map { OSField.energies[$0] }) + Self.dt) { r in
                guard r.dtNs > 0 else { return .nan }
                var uj: UInt64 = 0
                for d in powerDomains {
                    guard let v = r.os(OSField.energies[d]) else { return .nan }
                    uj &+= v
                }
                return Double(uj) * 1000 / Double(r.dtNs)
            }
        }

        // A replay may hold a process's figures (a process-scope recording): derived when its
        // records have them, NaN when not.
        let processMode = header.mode == .pid || header.mode == .command || header.mode == .replay
        func process(_ key: String, _ help: String, _ unit: String, reads: [Int], _ f: @escaping (RecordView) -> Double) {
            if processMode { add(key, help, unit, reads: reads, f) } else { columns.append(ColumnSpec(key: key, kind: .unavailable, help: help, unit: unit)) }
        }
        process("proc_rss_bytes", "monitored process resident memory", "bytes", reads: Self.os([.procRss])) { r in r.os(.procRss).map { Double($0) } ?? .nan }
        process("proc_threads", "monitored process threads", "", reads: Self.os([.procThreads])) { r in r.os(.procThreads).map { Double($0) } ?? .nan }
        process("proc_cpu_pct", "monitored process CPU time over wall time (100 = one CPU)", "%", reads: Self.os([.procUtime, .procStime]) + Self.dt) { r in
            guard let u = r.os(.procUtime), let s = r.os(.procStime), r.dtNs > 0 else { return .nan }
            return 100 * Double(u &+ s) / Double(r.dtNs)
        }
        process("proc_read_bps", "monitored process bytes read from storage per second", "bytes/s", reads: Self.os([.procReadBytes]) + Self.dt) { r in Self.rate(r, .procReadBytes) }
        process("proc_write_bps", "monitored process bytes written to storage per second", "bytes/s", reads: Self.os([.procWriteBytes]) + Self.dt) { r in Self.rate(r, .procWriteBytes) }
        process("proc_major_faults_per_s", "monitored process major faults per second", "1/s", reads: Self.os([.procMajorFaults]) + Self.dt) { r in Self.rate(r, .procMajorFaults) }
        computers.append(contentsOf: repeatElement(nil, count: columns.count - computers.count))
        plans = columns.indices.map { c in
            switch columns[c].kind {
            case .derived: computers[c]!
            case .rate(let count): ColumnPlan(.rate, computers[count]!.first)
            case .ratio(let n, let d, let scale): ColumnPlan(.ratio, computers[n]!.first, computers[d]!.first, scale: scale)
            case .sequence: ColumnPlan(.sequence)
            case .gap: ColumnPlan(.gap)
            case .unavailable: ColumnPlan(.unavailable)
            }
        }
    }

    static func rate(_ r: RecordView, _ f: OSField) -> Double {
        guard let v = r.os(f), r.dtNs > 0 else { return .nan }
        return Double(v) * 1e9 / Double(r.dtNs)
    }

    /// A column computed from the record; `reads` are the byte offsets of the record's u64
    /// words that `f` reads (a reply of one column copies only those).
    private func add(_ key: String, _ help: String, _ unit: String, reads: [Int], _ f: @escaping (RecordView) -> Double) {
        computers.append(contentsOf: repeatElement(nil, count: columns.count - computers.count))
        computers.append(ColumnPlan(.derived, f))
        derivedReads.append(contentsOf: repeatElement([], count: columns.count - derivedReads.count))
        derivedReads.append(reads)
        columns.append(ColumnSpec(key: key, kind: .derived, help: help, unit: unit))
    }

    // Words of a record, as byte offsets, for `reads`.
    static let dt = [RingLayout.rDtNs]
    /// A counter's value, enabled and running times, and the word holding the record's flags
    /// (whether the task was off CPU decides between 0 and unknown: `counterEstimate`).
    static func counter(_ slot: Int) -> [Int] {
        let o = RingLayout.counterOffset(slot)  // slots 16 and up follow the OS fields
        return [RingLayout.rMissed, o, o + 8, o + 16]
    }
    static func os(_ fields: [OSField]) -> [Int] { [RingLayout.rOSValid] + fields.map(\.offset) }

    /// The record words column `c` is derived from (byte offsets, sorted, no repeats).
    public func reads(_ c: Int) -> [UInt32] {
        let words: [Int]
        switch columns[c].kind {
        case .derived: words = derivedReads[c]
        case .rate(let count): words = derivedReads[count] + Self.dt
        case .ratio(let n, let d, _): words = derivedReads[n] + derivedReads[d]
        case .sequence, .gap, .unavailable: words = []
        }
        return Set(words + [RingLayout.rSeq]).sorted().map(UInt32.init)  // the index is the sequence word
    }

    /// /api/fields says which figures the collector reads only every slow period.
    private func slowNote(_ f: OSField) -> String {
        header.slowPeriodNs == 0 || header.slowFieldMask & f.bit == 0 ? "" : " (read every \(formatDuration(header.slowPeriodNs)); repeated in the samples between)"
    }

    private func perSecond(_ key: String, _ help: String, _ f: OSField, unit: String) {
        add(key, help + slowNote(f), unit, reads: Self.os([f]) + Self.dt) { r in Self.rate(r, f) }
    }

    /// A level read as it is (task counts).
    private func level(_ key: String, _ help: String, _ f: OSField, unit: String) {
        add(key, help + slowNote(f), unit, reads: Self.os([f])) { r in r.os(f).map { Double($0) } ?? .nan }
    }

    /// A ratio of two scaled counts, computed from their count columns.
    private func ratio(_ key: String, _ help: String, _ num: String, _ den: String, _ countColumns: [String: Int], scale: Double) {
        guard let n = countColumns[num], let d = countColumns[den] else {
            columns.append(ColumnSpec(key: key, kind: .unavailable, help: "\(help) (needs \(num) and \(den))", unit: ""))
            return
        }
        columns.append(ColumnSpec(key: key, kind: .ratio(of: n, over: d, scale: scale), help: help, unit: ""))
    }

    /// Column `c` of record `r`. `previous` is the index of the sample the reader saw before
    /// this one (nil: none, so no gap can be told).
    @inline(__always)
    public func value(_ c: Int, _ r: RecordView, previous: UInt64?) -> Double {
        plans[c].value(r, previous: previous)
    }

    /// The column with API key `key`.
    public func column(_ key: String) -> Int? { columns.firstIndex { $0.key == key } }
}

/// How one column's value is computed from a record, resolved from its kind once, so a reply
/// that encodes thousands of records looks nothing up per value.
public struct ColumnPlan {
    enum Operation { case derived, rate, ratio, sequence, gap, unavailable }
    let operation: Operation
    /// derived: the column's computation; rate: its count column's; ratio: the numerator's.
    let first: (RecordView) -> Double
    /// ratio: the denominator's computation.
    let second: (RecordView) -> Double
    let scale: Double

    init(_ operation: Operation, _ first: @escaping (RecordView) -> Double = Self.none, _ second: @escaping (RecordView) -> Double = Self.none, scale: Double = 1) {
        self.operation = operation
        self.first = first
        self.second = second
        self.scale = scale
    }
    private static func none(_: RecordView) -> Double { .nan }

    /// The value in record `r`; `previous` is the index of the sample the reader saw before
    /// this one (nil: none, so no gap can be told).
    @inline(__always)
    public func value(_ r: RecordView, previous: UInt64?) -> Double {
        switch operation {
        case .derived:
            return first(r)
        case .rate:
            let dt = Double(r.dtNs) / 1e6
            return dt > 0 ? first(r) * 1000 / dt : .nan
        case .ratio:
            let b = second(r)
            return b > 0 ? scale * first(r) / b : .nan
        case .sequence:
            return Double(r.index)
        case .gap:
            guard let previous else { return 0 }
            return r.index == previous &+ 1 ? 0 : 1
        case .unavailable:
            return .nan
        }
    }
}
