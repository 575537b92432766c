// /metrics in the Prometheus text format 0.0.4, with Prometheus semantics:
// - every cumulative figure is a counter (`_total`, base units: seconds, bytes, joules, events)
//   read from the ring header's running totals, so rate() works over any window whatever the
//   scrape interval;
// - levels (memory, load, tasks) and the derived ratios (IPC, miss ratios, CPU shares) are
//   gauges over the newest sample's interval, beside the counters they come from;
// - while the collector is not running no value series is exported, only what says so
//   (perfring_up, the collector state, the sample age), so a dead host's last values do not
//   linger as if current;
// - unavailable values are left out, never exported as 0.
// The text is a pure function of an `ExpositionInput` snapshot (header, totals, newest values,
// state, alerts), so the server renders it once per new sample or tick and shares it.
// Names from the ring file are untrusted: label values and HELP text are escaped, metric names
// reduced to [a-z0-9_] (a ring whose names would then collide is refused by the follower).
import Shared

/// Everything /metrics shows, gathered at one instant.
public struct ExpositionInput {
    public var state: CollectorState
    public var header: RingHeader?
    /// The header's running totals (nil without a readable ring).
    public var totals: RingTotals?
    /// The newest sample's available derived values by API key (`ipc`, `load1`, ...).
    public var newest: [(key: String, value: Double)]
    /// Age of the newest sample (nil before the first one).
    public var sampleAgeSeconds: Double?
    public var recordsLost: UInt64
    /// Every `--alert` rule and whether it is firing.
    public var alerts: [(rule: String, firing: Bool)]
    /// The newest sample's per-CPU figures (a `--per-cpu` ring), one entry per CPU in the
    /// ring's per-CPU order, its available values by per-CPU key (`cpu_util`, `ipc`, ...).
    public var perCPU: [[String: Double]] = []

    public init(state: CollectorState, header: RingHeader?, totals: RingTotals?, newest: [(key: String, value: Double)],
                sampleAgeSeconds: Double?, recordsLost: UInt64, alerts: [(rule: String, firing: Bool)]) {
        self.state = state; self.header = header; self.totals = totals; self.newest = newest
        self.sampleAgeSeconds = sampleAgeSeconds; self.recordsLost = recordsLost; self.alerts = alerts
    }

    /// The follower's view at monotonic time `now`.
    public init(follower: RingFollower, now: UInt64) {
        let age = follower.newestTimeNs.map { Double(now > $0 ? now - $0 : 0) / 1e9 }  // a replay's times may lie ahead
        var header = follower.reader?.header
        header?.events = follower.events  // with the flags as they are now (never scheduled is live)
        self.init(state: follower.state(now: now), header: header, totals: follower.reader?.totals(),
                  newest: follower.newestValues(), sampleAgeSeconds: age, recordsLost: follower.recordsLost,
                  alerts: follower.alerts.rules.indices.map { (follower.alerts.rules[$0].text, follower.alerts.isFiring($0)) })
        perCPU = follower.newestPerCPU(PrometheusExposition.perCPUGaugeTable.map(\.key) + (follower.reader?.header.events ?? []).map { MetricDeriver.key(forEvent: $0.name) + "_per_s" })
    }
}

public enum PrometheusExposition {
    public static func render(_ input: ExpositionInput) -> [UInt8] {
        var out = Exposition()
        out.family("perfring_build_info", "gauge", "perfring-server's version and the ring format it reads (value always 1)")
        out.sample("perfring_build_info", "version=\"\(escape(perfringServerVersion))\",ring_format=\"\(RingLayout.version)\"", 1)
        out.family("perfring_up", "gauge", "1 when the collector is running and writing samples; value series are exported only then")
        out.sample("perfring_up", "", input.state == .running ? 1 : 0)
        out.family("perfring_collector_state", "gauge", "collector state (1 for the current one)")
        for s in [CollectorState.running, .stalled, .stopped, .absent] {
            out.sample("perfring_collector_state", "state=\"\(s.rawValue)\"", s == input.state ? 1 : 0)
        }
        if let age = input.sampleAgeSeconds {
            out.family("perfring_sample_age_seconds", "gauge", "age of the newest sample")
            out.sample("perfring_sample_age_seconds", "", age)
        }
        out.family("perfring_records_lost_total", "counter", "ring records the server never read (overwritten or torn)")
        out.sample("perfring_records_lost_total", "", Double(input.recordsLost))
        guard let header = input.header else { return out.bytes }

        out.family("perfring_info", "gauge", "what is monitored (value always 1)")
        let generation = String(header.generation, radix: 16)  // 16 digits, as the JSON API shows it
        out.sample("perfring_info", "mode=\"\(escape(header.mode.name))\",target=\"\(escape(header.target))\",host=\"\(escape(header.hostname))\",generation=\"\(String(repeating: "0", count: 16 - generation.count) + generation)\"", 1)
        out.family("perfring_interval_seconds", "gauge", "sampling interval")
        out.sample("perfring_interval_seconds", "", Double(header.intervalNs) / 1e9)
        out.family("perfring_event_available", "gauge", "1 when the event counts on this machine, 0 when unsupported or not permitted")
        for e in header.events {
            let status = e.effectiveStatus
            out.sample("perfring_event_available", "event=\"\(escape(e.name))\",status=\"\(status.name)\"", status == .counting ? 1 : 0)
        }
        out.family("perfring_events_available", "gauge", "events counting, by kind: hardware > 0 means this host has a usable PMU")
        for kind in EventKind.allCases {
            let n = header.events.filter { $0.effectiveStatus == .counting && EventKind($0) == kind }.count
            if n > 0 || kind != .other { out.sample("perfring_events_available", "kind=\"\(kind.rawValue)\"", Double(n)) }
        }

        guard input.state == .running else { return out.bytes }
        if let totals = input.totals {
            out.family("perfring_samples_total", "counter", "records the collector wrote in this run")
            out.sample("perfring_samples_total", "", Double(totals.records))
            eventCounters(header, totals, into: &out)
            osCounters(header, totals, into: &out)
        }
        gauges(input.newest, into: &out)
        perCPUGauges(input.perCPU, header: header, into: &out)
        if !input.alerts.isEmpty {
            out.family("perfring_alert_firing", "gauge", "1 while the --alert rule is firing")
            for a in input.alerts { out.sample("perfring_alert_firing", "rule=\"\(escape(a.rule))\"", a.firing ? 1 : 0) }
        }
        return out.bytes
    }

    // MARK: counters

    /// One counter per counting event: `perfring_<event>_total`, or `_seconds_total` for the
    /// clocks perf counts in nanoseconds; a hybrid event also as the sum of its core PMUs' parts.
    static func eventCounters(_ header: RingHeader, _ totals: RingTotals, into out: inout Exposition) {
        func counter(_ event: String, _ key: String, _ total: UInt64, _ note: String) {
            let seconds = MetricDeriver.nanosecondEvents.contains(event)
            let name = metricName(key) + (seconds ? "_seconds_total" : "_total")
            out.family(name, "counter", "\(event) since the collector started, scaled for multiplexing" + note + (seconds ? " (seconds)" : ""))
            out.sample(name, "", seconds ? Double(total) / 1e9 : Double(total))
        }
        var hybridTotals: [(key: String, event: String, sum: UInt64)] = []
        for (slot, e) in header.events.enumerated() where e.effectiveStatus == .counting && slot < totals.events.count {
            counter(e.name, MetricDeriver.key(forEvent: e.name), totals.events[slot], "")
            if e.flags.contains(.pmuPart), let (_, event) = MetricDeriver.pmuPart(e.name) {
                let key = MetricDeriver.key(forEvent: event)
                if let i = hybridTotals.firstIndex(where: { $0.key == key }) { hybridTotals[i].sum &+= totals.events[slot] }
                else { hybridTotals.append((key, event, totals.events[slot])) }
            }
        }
        // (A ring that also names the plain event keeps that one: one family per name.)
        let plain = Set(header.events.filter { !$0.flags.contains(.pmuPart) }.map { MetricDeriver.key(forEvent: $0.name) })
        for h in hybridTotals where !plain.contains(h.key) { counter(h.event, h.key, h.sum, ", all core PMUs") }
    }

    /// A counter family over OS running totals: its samples' labels and fields, and the
    /// fields' unit in base units (ns: 1e9), divided by so that decimals print exactly.
    struct OSCounter {
        let name: String
        let help: String
        let divisor: Double
        let series: [(labels: String, field: OSField)]
        init(_ name: String, _ help: String, divisor: Double = 1, _ series: [(String, OSField)]) {
            self.name = name; self.help = help; self.divisor = divisor; self.series = series.map { ($0.0, $0.1) }
        }
    }

    /// Every OS delta field as a counter. Names follow node_exporter's where it has the same
    /// figure (README lists the pairs); whole-system counts that a perf event also names
    /// (context switches, page faults) carry `system_`.
    static let osCounterFamilies: [OSCounter] = [
        OSCounter("perfring_cpu_seconds_total", "CPU time of the monitored CPUs by mode, summed over them (/proc/stat)", divisor: 1e9,
                  [("mode=\"user\"", .cpuUser), ("mode=\"nice\"", .cpuNice), ("mode=\"system\"", .cpuSystem), ("mode=\"idle\"", .cpuIdle),
                   ("mode=\"iowait\"", .cpuIowait), ("mode=\"irq\"", .cpuIrq), ("mode=\"softirq\"", .cpuSoftirq), ("mode=\"steal\"", .cpuSteal)]),
        OSCounter("perfring_disk_read_bytes_total", "bytes read from whole disks (/proc/diskstats)", [("", .diskReadBytes)]),
        OSCounter("perfring_disk_written_bytes_total", "bytes written to whole disks (/proc/diskstats)", [("", .diskWriteBytes)]),
        OSCounter("perfring_network_receive_bytes_total", "bytes received on every interface but lo (/proc/net/dev)", [("", .netRxBytes)]),
        OSCounter("perfring_network_transmit_bytes_total", "bytes sent on every interface but lo (/proc/net/dev)", [("", .netTxBytes)]),
        OSCounter("perfring_pressure_stall_seconds_total", "time some (or all) runnable tasks stalled on the resource (/proc/pressure)", divisor: 1e6,
                  [("resource=\"cpu\",kind=\"some\"", .psiCpuSome), ("resource=\"cpu\",kind=\"full\"", .psiCpuFull),
                   ("resource=\"memory\",kind=\"some\"", .psiMemSome), ("resource=\"memory\",kind=\"full\"", .psiMemFull),
                   ("resource=\"io\",kind=\"some\"", .psiIoSome), ("resource=\"io\",kind=\"full\"", .psiIoFull)]),
        OSCounter("perfring_system_context_switches_total", "context switches, whole system (/proc/stat ctxt)", [("", .contextSwitches)]),
        OSCounter("perfring_system_forks_total", "processes and threads created, whole system (/proc/stat processes)", [("", .forks)]),
        OSCounter("perfring_system_interrupts_total", "interrupts serviced, whole system (/proc/stat intr)", [("", .interrupts)]),
        OSCounter("perfring_system_page_faults_total", "page faults, whole system (/proc/vmstat pgfault)", [("", .pageFaults)]),
        OSCounter("perfring_system_major_page_faults_total", "major page faults, whole system (/proc/vmstat pgmajfault)", [("", .majorFaults)]),
        OSCounter("perfring_target_cpu_seconds_total", "CPU time of the monitored process by mode (/proc/PID/stat)", divisor: 1e9,
                  [("mode=\"user\"", .procUtime), ("mode=\"system\"", .procStime)]),
        OSCounter("perfring_target_read_bytes_total", "bytes the monitored process read from storage (/proc/PID/io)", [("", .procReadBytes)]),
        OSCounter("perfring_target_written_bytes_total", "bytes the monitored process wrote to storage (/proc/PID/io)", [("", .procWriteBytes)]),
        OSCounter("perfring_target_minor_page_faults_total", "minor page faults of the monitored process (/proc/PID/stat)", [("", .procMinorFaults)]),
        OSCounter("perfring_target_major_page_faults_total", "major page faults of the monitored process (/proc/PID/stat)", [("", .procMajorFaults)]),
    ]

    static func osCounters(_ header: RingHeader, _ totals: RingTotals, into out: inout Exposition) {
        var families = osCounterFamilies
        // RAPL domains are named by the ring.
        let energy = header.energyDomains.indices.map { ("domain=\"\(escape(header.energyDomains[$0]))\"", OSField.energies[$0]) }
        families.append(OSCounter("perfring_energy_joules_total", "energy used per RAPL domain (/sys/class/powercap)", divisor: 1e6, energy))
        for f in families {
            let present = f.series.filter { totals.os($0.field) != nil }
            guard !present.isEmpty else { continue }
            out.family(f.name, "counter", f.help)
            for s in present { out.sample(f.name, s.labels, Double(totals.os[s.field.rawValue]) / f.divisor) }
        }
    }

    // MARK: gauges

    /// A gauge from an API key: its name, the divisor to base units (percent: 100, for a 0..1
    /// ratio), and its meaning.
    struct Gauge {
        let key: String, name: String, divisor: Double, help: String
        init(_ key: String, _ name: String, _ divisor: Double, _ help: String) { self.key = key; self.name = name; self.divisor = divisor; self.help = help }
    }

    /// The newest sample's values that are levels or ratios. Per-interval counts and rates are
    /// not exported: the counters above give them over any window.
    static let gaugeTable: [Gauge] = [
        Gauge("ipc", "perfring_ipc", 1, "instructions per cycle over the last interval"),
        Gauge("cpi", "perfring_cpi", 1, "cycles per instruction over the last interval"),
        Gauge("cache_miss_rate", "perfring_cache_miss_ratio", 100, "cache misses per cache reference over the last interval"),
        Gauge("branch_miss_rate", "perfring_branch_miss_ratio", 100, "branch misses per branch instruction over the last interval"),
        Gauge("cache_mpki", "perfring_cache_mpki", 1, "cache misses per thousand instructions over the last interval"),
        Gauge("branch_mpki", "perfring_branch_mpki", 1, "branch misses per thousand instructions over the last interval"),
        Gauge("multiplex", "perfring_multiplex_ratio", 1, "lowest fraction of the last interval a hardware counter ran (1: never multiplexed)"),
        Gauge("cpus_utilized", "perfring_cpus_utilized", 1, "task-clock over wall time in the last interval: CPUs kept busy by the target"),
        Gauge("cpu_util", "perfring_cpu_busy_ratio", 100, "share of the monitored CPUs' time busy (all but idle and iowait) in the last interval"),
        Gauge("cpu_user", "perfring_cpu_user_ratio", 100, "share of the monitored CPUs' time in user mode (with nice) in the last interval"),
        Gauge("cpu_system", "perfring_cpu_system_ratio", 100, "share of the monitored CPUs' time in the kernel (with irq and softirq) in the last interval"),
        Gauge("cpu_iowait", "perfring_cpu_iowait_ratio", 100, "share of the monitored CPUs' time idle waiting for I/O in the last interval"),
        Gauge("cpu_steal", "perfring_cpu_steal_ratio", 100, "share of the monitored CPUs' time stolen by the hypervisor in the last interval"),
        Gauge("mem_used_bytes", "perfring_memory_used_bytes", 1, "memory in use: MemTotal - MemAvailable (/proc/meminfo)"),
        Gauge("mem_used_pct", "perfring_memory_used_ratio", 100, "memory in use over MemTotal (/proc/meminfo)"),
        Gauge("swap_used_bytes", "perfring_swap_used_bytes", 1, "swap in use: SwapTotal - SwapFree (/proc/meminfo)"),
        Gauge("load1", "perfring_load1", 1, "1-minute load average (/proc/loadavg)"),
        Gauge("load5", "perfring_load5", 1, "5-minute load average (/proc/loadavg)"),
        Gauge("load15", "perfring_load15", 1, "15-minute load average (/proc/loadavg)"),
        Gauge("procs_running", "perfring_procs_running", 1, "runnable tasks (/proc/stat procs_running)"),
        Gauge("procs_blocked", "perfring_procs_blocked", 1, "tasks blocked on I/O (/proc/stat procs_blocked)"),
        Gauge("power_watts", "perfring_power_watts", 1, "power over the last interval from RAPL energy (package and DRAM domains)"),
        Gauge("proc_rss_bytes", "perfring_target_resident_memory_bytes", 1, "resident memory of the monitored process"),
        Gauge("proc_threads", "perfring_target_threads", 1, "threads of the monitored process"),
        Gauge("proc_cpu_pct", "perfring_target_cpus_utilized", 100, "CPU time of the monitored process over wall time in the last interval (1: one CPU)"),
    ]
    static let gaugeIndex: [String: Int] = Dictionary(uniqueKeysWithValues: gaugeTable.indices.map { (gaugeTable[$0].key, $0) })

    static func gauges(_ newest: [(key: String, value: Double)], into out: inout Exposition) {
        var values = [Double?](repeating: nil, count: gaugeTable.count)
        for (key, v) in newest where v.isFinite { if let g = gaugeIndex[key] { values[g] = v } }
        for (g, v) in zip(gaugeTable, values) {
            guard let v else { continue }
            out.family(g.name, "gauge", g.help)
            out.sample(g.name, "", v / g.divisor)
        }
    }

    // MARK: per-CPU gauges

    /// The newest interval's figures of each CPU (`--per-cpu`), labelled `cpu="N"` (N: the
    /// CPU's position in the ring's per-CPU section). Each is its own `perfring_per_cpu_*`
    /// family rather than a `cpu` label on the machine-wide gauge: a family that held both the
    /// unlabelled whole and its labelled parts would count every CPU twice under sum() and skew
    /// avg(). There are no per-CPU counters: the ring keeps running totals for the whole
    /// machine only, and a counter summed from sampled intervals would lose the intervals
    /// between scrapes.
    static let perCPUGaugeTable: [Gauge] = [
        Gauge("cpu_util", "perfring_per_cpu_busy_ratio", 100, "share of this CPU's time busy (all but idle and iowait) in the last interval"),
        Gauge("cpu_user", "perfring_per_cpu_user_ratio", 100, "share of this CPU's time in user mode (with nice) in the last interval"),
        Gauge("cpu_system", "perfring_per_cpu_system_ratio", 100, "share of this CPU's time in the kernel (with irq and softirq) in the last interval"),
        Gauge("cpu_iowait", "perfring_per_cpu_iowait_ratio", 100, "share of this CPU's time idle waiting for I/O in the last interval"),
        Gauge("cpu_steal", "perfring_per_cpu_steal_ratio", 100, "share of this CPU's time stolen by the hypervisor in the last interval"),
        Gauge("ipc", "perfring_per_cpu_ipc", 1, "instructions per cycle on this CPU over the last interval"),
        Gauge("cpi", "perfring_per_cpu_cpi", 1, "cycles per instruction on this CPU over the last interval"),
        Gauge("cache_miss_rate", "perfring_per_cpu_cache_miss_ratio", 100, "cache misses per cache reference on this CPU over the last interval"),
        Gauge("branch_miss_rate", "perfring_per_cpu_branch_miss_ratio", 100, "branch misses per branch instruction on this CPU over the last interval"),
        Gauge("cache_mpki", "perfring_per_cpu_cache_mpki", 1, "cache misses per thousand instructions on this CPU over the last interval"),
        Gauge("branch_mpki", "perfring_per_cpu_branch_mpki", 1, "branch misses per thousand instructions on this CPU over the last interval"),
    ]
    /// Each counting event's rate on each CPU (labels `cpu` and `event`); the clocks perf
    /// counts in nanoseconds as seconds per second (1: the CPU busy all the interval).
    static let perCPUEventRate = "perfring_per_cpu_events_per_second"
    static let perCPUClockRate = "perfring_per_cpu_event_seconds_per_second"

    static func perCPUGauges(_ perCPU: [[String: Double]], header: RingHeader, into out: inout Exposition) {
        guard !perCPU.isEmpty else { return }
        for g in perCPUGaugeTable where perCPU.contains(where: { $0[g.key] != nil }) {
            out.family(g.name, "gauge", g.help)
            for (cpu, values) in perCPU.enumerated() {
                if let v = values[g.key] { out.sample(g.name, "cpu=\"\(cpu)\"", v / g.divisor) }
            }
        }
        for clocks in [false, true] {
            let name = clocks ? perCPUClockRate : perCPUEventRate
            var announced = false
            for e in header.events where e.effectiveStatus == .counting && MetricDeriver.nanosecondEvents.contains(e.name) == clocks {
                let key = MetricDeriver.key(forEvent: e.name) + "_per_s"
                for (cpu, values) in perCPU.enumerated() {
                    guard let v = values[key] else { continue }
                    if !announced {
                        out.family(name, "gauge", clocks ? "CPU time an event clock counted on this CPU per second of the last interval"
                                                         : "an event's count on this CPU per second of the last interval, scaled for multiplexing")
                        announced = true
                    }
                    out.sample(name, "cpu=\"\(cpu)\",event=\"\(escape(e.name))\"", clocks ? v / 1e9 : v)
                }
            }
        }
    }

    // MARK: names and text

    /// Whether an event is the PMU's (hardware, cache, raw, a dynamic PMU) or the kernel's.
    enum EventKind: String, CaseIterable {
        case hardware, software, other
        init(_ e: EventEntry) {
            switch e.type {
            case 1: self = .software                 // PERF_TYPE_SOFTWARE
            case 2, 5, UInt32.max: self = .other     // tracepoint, breakpoint, a replayed name with no perf type
            default: self = .hardware                // PERF_TYPE_HARDWARE, HW_CACHE, RAW, dynamic PMU types
            }
        }
    }

    /// The Prometheus name of an API key: `perfring_` and the key in lower snake case, any
    /// character a metric name may not hold (perf's `:u`, `/`) as `_`.
    static func metricName(_ key: String) -> String {
        var name = "perfring_"
        for c in key.lowercased().unicodeScalars {
            name.unicodeScalars.append(("a"..."z").contains(c) || ("0"..."9").contains(c) ? c : "_")
        }
        return name
    }

    /// A label value (`quote`: backslash, double quote and line feed escaped) or HELP text (the
    /// format's two: backslash and line feed); other controls dropped either way (a carriage
    /// return is legal in a label but breaks some scrapers' line handling).
    static func escape(_ s: String, quote: Bool = true) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"" where quote: out += "\\\""
            case "\n": out += "\\n"
            case _ where c.value < 0x20 || c.value == 0x7F: break
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// The first metric name two columns would share, or a column would share with a family
    /// perfring itself exports, if any (each column counted as a gauge, a counter and a
    /// seconds counter): such a ring cannot be exposed unambiguously. A gauge's own column
    /// (`ipc` for `perfring_ipc`) is not a clash.
    static func collision(in columns: [ColumnSpec]) -> String? {
        var owner = builtInNames
        var keys = Set<String>()
        for c in columns {
            let name = metricName(c.key)
            guard keys.insert(c.key).inserted else { return name }
            for n in [name, name + "_total", name + "_seconds_total"] {
                if let o = owner[n], o != c.key { return n }
                owner[n] = c.key
            }
        }
        return nil
    }

    /// Every family name perfring exports whatever the ring's names, with the column key a
    /// gauge comes from ("" for the others).
    static let builtInNames: [String: String] = {
        var names: [String: String] = [:]
        for n in ["perfring_build_info", "perfring_up", "perfring_collector_state", "perfring_sample_age_seconds",
                  "perfring_records_lost_total", "perfring_info", "perfring_interval_seconds", "perfring_event_available",
                  "perfring_events_available", "perfring_samples_total", "perfring_alert_firing", "perfring_energy_joules_total"]
            + osCounterFamilies.map(\.name) + perCPUGaugeTable.map(\.name) + [perCPUEventRate, perCPUClockRate] { names[n] = "" }
        for g in gaugeTable { names[g.name] = g.key }
        return names
    }()

    /// Integers exactly; anything else with the shortest decimal that reads back the same.
    static func format(_ v: Double) -> String {
        if v.magnitude < 9.0e15, v == v.rounded(.towardZero) {
            var w = JSONWriter(reserve: 24)
            w.number(v)
            return String(decoding: w.bytes, as: UTF8.self)
        }
        return v.description
    }

    /// The text being built; a family is announced once, and a family name met again (two
    /// events whose names map to the same metric) is skipped rather than repeated.
    struct Exposition {
        private var text = ""
        private var announced: Set<String> = []
        private var skipping: String?
        init() { text.reserveCapacity(8192) }
        mutating func family(_ name: String, _ type: String, _ help: String) {
            guard announced.insert(name).inserted else { skipping = name; return }
            skipping = nil
            text += "# HELP \(name) \(PrometheusExposition.escape(help, quote: false))\n# TYPE \(name) \(type)\n"
        }
        mutating func sample(_ name: String, _ labels: String, _ value: Double) {
            guard name != skipping else { return }
            text += name + (labels.isEmpty ? "" : "{\(labels)}") + " " + format(value) + "\n"
        }
        var bytes: [UInt8] { Array(text.utf8) }
    }
}
