// Turns ring records into metric values: scaled counts, per-second rates, IPC/CPI, miss rates,
// MPKI, CPU split, memory, I/O, pressure, power, the monitored process. The column list is
// built from the ring's header, so a counter that does not count on this machine is a column
// that is always null, and an OS value missing from a record is null in that sample.
import Shared

public final class MetricDeriver {
    public let header: RingHeader
    public private(set) var columns: [ColumnSpec] = []
    /// Computes stored columns from one record (by column index; rate/unavailable columns are skipped).
    private var computers: [(Int, (RecordView) -> Double)] = []
    /// Event slot by API key, for counting events only.
    public private(set) var eventColumn: [String: Int] = [:]
    private var lastSeq: UInt64?

    /// The API key of a perf event name (`branch-instructions` -> `branches`, `-` -> `_`).
    public static func key(forEvent name: String) -> String {
        name == "branch-instructions" ? "branches" : String(name.map { $0 == "-" ? "_" : $0 })
    }

    /// Events perf counts in nanoseconds.
    public static let nanosecondEvents: Set<String> = ["task-clock", "cpu-clock", "duration_time"]

    public init(header: RingHeader) {
        self.header = header
        columns.append(ColumnSpec(key: "seq", kind: .sequence, help: "record index in this collector run", unit: ""))
        add("time_ms", "sample time, Unix milliseconds", "ms") { [header] in header.unixMillis(monotonic: $0.timeNs) }
        add("dt_ms", "measured interval", "ms") { Double($0.dtNs) / 1e6 }
        add("missed", "ticks missed before this sample", "", fixed: 1) { Double($0.missed) }
        add("gap", "1 when records were lost before this sample", "", fixed: 1) { [unowned self] r in
            defer { lastSeq = r.index }
            guard let last = lastSeq else { return 0 }
            return r.index == last &+ 1 ? 0 : 1
        }

        // Counters, scaled by enabled/running; a slot that did not run this interval is null.
        var slotOf: [String: Int] = [:]
        var countColumnOf: [String: Int] = [:]
        for (slot, e) in header.events.enumerated() {
            let key = Self.key(forEvent: e.name)
            guard e.status == .counting else {
                columns.append(ColumnSpec(key: key, kind: .unavailable, help: "\(e.name) (unavailable: \(e.status.name))", unit: ""))
                columns.append(ColumnSpec(key: key + "_per_s", kind: .unavailable, help: "\(e.name) per second (unavailable)", unit: "1/s"))
                continue
            }
            slotOf[key] = slot
            eventColumn[key] = slot
            let countColumn = columns.count
            countColumnOf[key] = countColumn
            add(key, "\(e.name) in the interval, scaled for multiplexing", Self.nanosecondEvents.contains(e.name) ? "ns" : "") { Self.scaled($0.counter(slot)) }
            columns.append(ColumnSpec(key: key + "_per_s", kind: .rate(of: countColumn), help: "\(e.name) per second", unit: "1/s"))
        }
        let hardwareSlots = header.events.indices.filter { header.events[$0].status == .counting && header.events[$0].type != 1 }
        if hardwareSlots.isEmpty {
            columns.append(ColumnSpec(key: "multiplex", kind: .unavailable, help: "lowest fraction of the interval a hardware counter ran", unit: ""))
        } else {
            add("multiplex", "lowest fraction of the interval a hardware counter ran (1: never multiplexed)", "", fixed: 1e9) { r in
                var m = 1.0
                for s in hardwareSlots {
                    let c = r.counter(s)
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
        // System-wide, task-clock is counted per CPU whether it is busy or idle (it equals wall
        // time times CPUs), so "CPUs utilized" only means something for a process or command.
        if let tc = slotOf["task_clock"], header.mode != .systemWide {
            add("cpus_utilized", "task-clock over wall time: CPUs kept busy", "") { r in
                r.dtNs > 0 ? Self.scaled(r.counter(tc)) / Double(r.dtNs) : .nan
            }
        } else {
            columns.append(ColumnSpec(key: "cpus_utilized", kind: .unavailable, help: "task-clock over wall time (pid and command modes; system-wide use cpu_util)", unit: ""))
        }

        // CPU time split in percent of the monitored CPUs' time.
        func cpuShare(_ key: String, _ help: String, _ fields: [OSField]) {
            add(key, help, "%", fixed: 1e6) { r in
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

        add("mem_used_pct", "memory in use (total minus available)", "%", fixed: 1e6) { r in
            guard let t = r.os(.memTotal), let a = r.os(.memAvailable), t > 0 else { return .nan }
            return 100 * Double(t &- min(a, t)) / Double(t)
        }
        add("mem_used_bytes", "memory in use (total minus available)", "bytes") { r in
            guard let t = r.os(.memTotal), let a = r.os(.memAvailable) else { return .nan }
            return Double(t &- min(a, t))
        }
        add("swap_used_bytes", "swap in use", "bytes") { r in
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
            add(key, "pressure stall: \(help), percent of wall time", "%", fixed: 1e6) { r in
                guard let us = r.os(field), r.dtNs > 0 else { return .nan }
                return 100 * Double(us) * 1000 / Double(r.dtNs)
            }
        }
        for (key, field) in [("load1", OSField.load1), ("load5", .load5), ("load15", .load15)] {
            add(key, "load average", "", fixed: 1000) { r in r.os(field).map { Double($0) / 1000 } ?? .nan }
        }
        level("procs_running", "runnable tasks", .procsRunning, unit: "")
        level("procs_blocked", "tasks blocked on I/O", .procsBlocked, unit: "")
        perSecond("ctxt_per_s", "context switches per second (whole system, /proc/stat)", .contextSwitches, unit: "1/s")
        perSecond("forks_per_s", "processes created per second", .forks, unit: "1/s")
        perSecond("intr_per_s", "interrupts per second", .interrupts, unit: "1/s")
        perSecond("faults_per_s", "page faults per second (whole system, /proc/vmstat)", .pageFaults, unit: "1/s")
        // Named after /proc/vmstat's pgmajfault (like ctxt and intr): `major_faults_per_s` is the
        // major-faults event's rate when that event is counted.
        perSecond("pgmajfault_per_s", "major page faults per second (whole system, /proc/vmstat)", .majorFaults, unit: "1/s")

        // RAPL: package domains (and DRAM) hold the others; summing them avoids double counting.
        let powerDomains = header.energyDomains.indices.filter { header.energyDomains[$0].hasPrefix("package") || header.energyDomains[$0] == "dram" }
        if powerDomains.isEmpty {
            columns.append(ColumnSpec(key: "power_watts", kind: .unavailable, help: "power from RAPL energy counters", unit: "W"))
        } else {
            add("power_watts", "power from RAPL energy counters (package and DRAM domains)", "W") { r in
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
        func process(_ key: String, _ help: String, _ unit: String, _ f: @escaping (RecordView) -> Double) {
            if processMode { add(key, help, unit, f) } else { columns.append(ColumnSpec(key: key, kind: .unavailable, help: help, unit: unit)) }
        }
        process("proc_rss_bytes", "monitored process resident memory", "bytes") { r in r.os(.procRss).map { Double($0) } ?? .nan }
        process("proc_threads", "monitored process threads", "") { r in r.os(.procThreads).map { Double($0) } ?? .nan }
        process("proc_cpu_pct", "monitored process CPU time over wall time (100 = one CPU)", "%") { r in
            guard let u = r.os(.procUtime), let s = r.os(.procStime), r.dtNs > 0 else { return .nan }
            return 100 * Double(u &+ s) / Double(r.dtNs)
        }
        process("proc_read_bps", "monitored process bytes read from storage per second", "bytes/s") { r in Self.rate(r, .procReadBytes) }
        process("proc_write_bps", "monitored process bytes written to storage per second", "bytes/s") { r in Self.rate(r, .procWriteBytes) }
        process("proc_major_faults_per_s", "monitored process major faults per second", "1/s") { r in Self.rate(r, .procMajorFaults) }
    }

    static func scaled(_ c: (value: UInt64, enabled: UInt64, running: UInt64)) -> Double {
        guard c.running > 0 else { return .nan }
        return c.running == c.enabled ? Double(c.value) : Double(c.value) * Double(c.enabled) / Double(c.running)
    }

    static func rate(_ r: RecordView, _ f: OSField) -> Double {
        guard let v = r.os(f), r.dtNs > 0 else { return .nan }
        return Double(v) * 1e9 / Double(r.dtNs)
    }

    /// A stored column; `fixed` stores it in 32-bit fixed point with that scale (bounded values).
    private func add(_ key: String, _ help: String, _ unit: String, fixed: Double? = nil, _ f: @escaping (RecordView) -> Double) {
        computers.append((columns.count, f))
        columns.append(ColumnSpec(key: key, kind: fixed.map { .fixed(scale: $0) } ?? .stored, help: help, unit: unit))
    }

    private func perSecond(_ key: String, _ help: String, _ f: OSField, unit: String) {
        add(key, help, unit) { r in Self.rate(r, f) }
    }

    /// A task count: stored in fixed point (whole numbers, far below 2^31).
    private func level(_ key: String, _ help: String, _ f: OSField, unit: String) {
        add(key, help, unit, fixed: 1) { r in r.os(f).map { Double($0) } ?? .nan }
    }

    /// A ratio of two scaled counts, computed from their stored columns when encoded.
    private func ratio(_ key: String, _ help: String, _ num: String, _ den: String, _ countColumns: [String: Int], scale: Double) {
        guard let n = countColumns[num], let d = countColumns[den] else {
            columns.append(ColumnSpec(key: key, kind: .unavailable, help: "\(help) (needs \(num) and \(den))", unit: ""))
            return
        }
        columns.append(ColumnSpec(key: key, kind: .ratio(of: n, over: d, scale: scale), help: help, unit: ""))
    }

    /// Derives one record into the store.
    public func ingest(_ r: RecordView, into store: SampleStore) {
        store.append(seq: r.index) { row in
            for (c, f) in computers { row.set(c, f(r)) }
        }
    }
}
