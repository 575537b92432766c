// `perfring-collector --replay FILE`: a recording (perf stat -I output, or perfring's own CSV
// export) written into a ring as if a collector were sampling it now, so the server, its
// dashboard and every ring reader work on recordings from anywhere. Records go out at the
// recording's pace on absolute CLOCK_MONOTONIC deadlines (or N times faster), carry the
// recording's own timeline (dt and times, whatever the speed, so rates stay right), and the
// ring is marked stopped at the end.
//
// Derived values are turned back into raw record fields only where that is well-defined:
//   counts -> counter deltas that scale back to the count (value × enabled / running);
//   cpu_user/cpu_system/cpu_iowait/cpu_steal/cpu_util -> one CPU's worth of CPU time over dt
//     (user, system, iowait, steal, idle; nice, irq and softirq zero: they are folded into
//     user and system by the percentages);
//   mem_used_bytes with mem_used_pct -> MemTotal and MemAvailable;
//   per-second rates -> deltas over dt; psi_* percentages -> stall µs; load averages, task
//     counts, process RSS and threads -> levels; power_watts -> one `package` energy domain.
//   proc_cpu_pct -> the process's CPU time over dt, all of it as user time (only the sum is
//     derived, so the split does not matter).
// Everything else (swap_used_bytes: swap size unknown; gaps and sequence numbers) is left
// invalid, never zero-filled.
import CPerf
import Glibc
import Shared

/// A recording as ring content: the header's facts and each record's fields.
public struct ReplayRecording {
    public enum Source: String, Sendable { case perfStat = "perf stat", perfringCSV = "perfring csv" }

    public struct Record {
        /// From the ring's creation (the start of the first interval) to this record's time.
        public var offsetNs: UInt64
        public var dtNs: UInt64
        public var missed: UInt32 = 0
        /// By event slot; running 0: no data for the interval.
        public var counters: [(value: UInt64, enabled: UInt64, running: UInt64)] = []
        public var os: [(OSField, UInt64)] = []
    }

    public var source: Source
    public var events: [EventEntry]
    public var records: [Record]
    /// The median step between the recording's time stamps.
    public var intervalNs: UInt64
    public var cpuCount = 1
    /// Wall time (ns since the epoch) of the first interval's start, when the recording has it.
    public var wallStartNs: UInt64?
    public var energyDomains: [String] = []
    /// Columns of a CSV, or events of perf stat output, that are neither replayed nor
    /// recomputed from what is.
    public var notReplayed: [String] = []
    /// What a reader of the ring should know about how the recording was turned into records.
    public var notes: [String] = []
    /// The recording counted the whole machine (the ring's flag bit 2).
    public var systemScope = false

    /// Reads FILE, whichever of the two formats it is. A file that cannot be read is a runtime
    /// failure (exit 1, as for `perfring-server analyze`); one that does not parse is the
    /// input's (a usage error, exit 2).
    public static func load(_ path: String) throws(CollectorError) -> ReplayRecording {
        let text: String
        do {
            let size = try Sys.stat(path).st_size
            guard size <= 512 << 20 else { throw CollectorError("--replay \(path): over 512 MiB") }
            text = try Sys.readFile(path, limit: Int(size) + 1)
        } catch let e as CollectorError {
            throw e
        } catch {
            throw CollectorError("--replay \(path): \(error)")
        }
        do {
            if PerfStatCSV.isPerfStat(text) {
                let r = try PerfStatCSV.parse(text)
                Log.info("\(path): perf stat \(r.layout.description) \(r.isInterval ? "interval" : "totals") output, \(r.events.count) events, "
                         + "\(r.intervals.count) intervals; \(r.systemWide == true ? "system-wide" : "one process") (\(r.scopeEvidence))")
                return try ReplayRecording(perfStat: r)
            }
            return try ReplayRecording(perfringCSV: try NumericCSV.parse(text))
        } catch let e as UsageError {
            throw CollectorError("--replay \(path): \(e.message)", isUsage: true)
        } catch {
            throw CollectorError("--replay \(path): \(error)", isUsage: true)
        }
    }

    /// Counter deltas a reader scales back to `count` (value × enabled / running) for a counter
    /// that ran `fraction` of an interval of `dt` ns: value ≈ count × fraction, enabled = dt,
    /// running ≈ dt × fraction, with running set exactly so the scaled value is the count.
    static func counter(count: Double, fraction: Double, dtNs: UInt64) -> (value: UInt64, enabled: UInt64, running: UInt64) {
        guard count.isFinite, count >= 0, count < 1e19, fraction.isFinite, fraction > 0, dtNs > 0 else { return (0, dtNs, 0) }
        let f = min(fraction, 1)
        let value = (count * f).rounded()
        guard value > 0 else { return (0, dtNs, max(1, UInt64((Double(dtNs) * f).rounded()))) }
        let running = (Double(dtNs) * value / count).rounded()
        guard running >= 1, running < 1.8e19 else { return (0, dtNs, 0) }
        return (UInt64(value), dtNs, UInt64(running))
    }

    /// Event table entries for perf-style names: type and config from the catalog (an event it
    /// does not know gets type 0xffffffff: named, but no perf_event_attr), groups by its keys.
    static func entries(_ names: [String], counted: [Bool], opened: UInt32) -> [EventEntry] {
        var groups: [String: UInt32] = [:]
        return names.indices.map { i in
            let spec = EventCatalog.spec(named: names[i])
            let key = spec?.groupKey ?? names[i]
            let g = groups[key] ?? UInt32(groups.count)
            groups[key] = g
            return EventEntry(name: names[i], type: spec?.type ?? UInt32.max, config: spec?.config ?? 0,
                              status: counted[i] ? .counting : .unsupported, errno: 0, group: g, opened: counted[i] ? opened : 0)
        }
    }

    static func medianStep(_ offsets: [UInt64]) -> UInt64? {
        let steps = zip(offsets.dropFirst(), offsets).map { $0 - $1 }.filter { $0 > 0 }.sorted()
        return steps.isEmpty ? nil : steps[steps.count / 2]
    }

    // MARK: perf stat

    /// perf's counts become counter deltas (`<not counted>` of a counter that was enabled but
    /// never ran, and a missing line: running 0; `<not counted>` of a task that did not run: 0;
    /// an event that never had a value and `<not supported>` somewhere: unsupported). Times
    /// are perf's seconds since it started (totals: the elapsed time, else 1 s); its wall clock
    /// is not in the output, so the ring is anchored now. An event whose name does not fit a
    /// ring's table is left out and named in `notReplayed`.
    public init(perfStat r: PerfStatCSV.Recording) throws(UsageError) {
        var kept: [Int] = []
        for (e, event) in r.events.enumerated() {
            if event.name.utf8.count >= RingLayout.eNameSize {
                notReplayed.append("\(event.name) (name longer than a ring's \(RingLayout.eNameSize - 1) bytes)")
            } else if !RingLayout.isValidEventName(event.name) {
                notReplayed.append("\(Log.printable(event.name)) (a ring's names hold \(RingLayout.eventNameCharacters) only)")
            } else if kept.count == RingLayout.maxEventsExtended {
                notReplayed.append("\(event.name) (a ring holds \(RingLayout.maxEventsExtended) events)")
            } else {
                kept.append(e)
            }
        }
        guard !kept.isEmpty else { throw UsageError("no event of the recording fits a ring's event table") }
        let counted = kept.map { e in
            r.intervals.contains { $0.readings[e]?.count.isFinite == true } || !r.intervals.contains { $0.readings[e]?.status == .notSupported }
        }
        source = .perfStat
        cpuCount = max(1, r.cpus)
        systemScope = r.systemWide == true
        events = Self.entries(kept.map { r.events[$0].name }, counted: counted, opened: UInt32(cpuCount))
        records = []
        var previous: UInt64 = 0
        for iv in r.intervals {
            var time = iv.time
            if !time.isFinite {
                time = 1
                notes.append("the recording does not say how long it ran: replayed as 1 s (rates are per that second)")
            }
            let offset = UInt64((time * 1e9).rounded())
            let dt = offset - min(previous, offset)
            previous = offset
            var rec = Record(offsetNs: offset, dtNs: dt)
            rec.counters = kept.map { e in
                guard let reading = iv.readings[e], reading.count.isFinite else { return (0, dt, 0) }
                return Self.counter(count: reading.count, fraction: reading.count == 0 ? 1 : reading.runningPct / 100, dtNs: dt)
            }
            records.append(rec)
        }
        intervalNs = Self.medianStep(records.map(\.offsetNs)) ?? max(1, records[0].dtNs)
    }

    // MARK: perfring CSV

    /// Per-second rates whose delta field is rate × dt.
    static let rates: [String: OSField] = [
        "disk_read_bps": .diskReadBytes, "disk_write_bps": .diskWriteBytes, "net_rx_bps": .netRxBytes, "net_tx_bps": .netTxBytes,
        "ctxt_per_s": .contextSwitches, "forks_per_s": .forks, "intr_per_s": .interrupts,
        "faults_per_s": .pageFaults, "pgmajfault_per_s": .majorFaults,
        "proc_read_bps": .procReadBytes, "proc_write_bps": .procWriteBytes, "proc_major_faults_per_s": .procMajorFaults,
    ]
    /// Pressure-stall percentages of wall time, stored as µs over dt.
    static let stalls: [String: OSField] = [
        "psi_cpu_some": .psiCpuSome, "psi_cpu_full": .psiCpuFull, "psi_mem_some": .psiMemSome,
        "psi_mem_full": .psiMemFull, "psi_io_some": .psiIoSome, "psi_io_full": .psiIoFull,
    ]
    /// Levels stored as value × scale.
    static let levels: [String: (OSField, Double)] = [
        "load1": (.load1, 1000), "load5": (.load5, 1000), "load15": (.load15, 1000),
        "procs_running": (.procsRunning, 1), "procs_blocked": (.procsBlocked, 1),
        "proc_rss_bytes": (.procRss, 1), "proc_threads": (.procThreads, 1),
    ]
    /// Columns read as a group (CPU split, memory, power) or as record fields.
    static let special: Set<String> = ["time_ms", "dt_ms", "missed", "cpu_util", "cpu_user", "cpu_system", "cpu_iowait",
                                       "cpu_steal", "mem_used_bytes", "mem_used_pct", "power_watts", "multiplex", "proc_cpu_pct"]
    /// Columns the server recomputes: from the replayed fields, and seq and gap from the
    /// replay ring's own records (they restart at 0, without gaps).
    static let derived: Set<String> = ["seq", "gap", "ipc", "cpi", "cache_miss_rate", "branch_miss_rate", "cache_mpki",
                                       "branch_mpki", "cpus_utilized"]

    /// The perf-style event a CSV column counts (`branches` -> `branch-instructions`).
    static func eventName(forKey key: String) -> String? {
        let name = key == "branches" ? "branch-instructions" : String(key.map { $0 == "_" ? "-" : $0 })
        return EventCatalog.spec(named: name)?.name
    }

    public init(perfringCSV t: NumericCSV) throws(UsageError) {
        guard let tc = t.column("time_ms") else { throw UsageError("no time_ms column: neither perf stat -I -x, output nor perfring's CSV export") }
        guard !t.rows.isEmpty else { throw UsageError("no samples under the header") }
        let dc = t.column("dt_ms"), mc = t.column("missed"), muxc = t.column("multiplex")
        // Event columns, in order; their _per_s twins are recomputed.
        var eventColumns: [(column: Int, name: String)] = []
        for (c, key) in t.header.enumerated() {
            guard let name = Self.eventName(forKey: key), !eventColumns.contains(where: { $0.name == name }) else { continue }
            eventColumns.append((c, name))
        }
        guard eventColumns.count <= RingLayout.maxEventsExtended else {
            throw UsageError("\(eventColumns.count) event columns; a ring holds at most \(RingLayout.maxEventsExtended)")
        }
        let eventKeys = Set(eventColumns.map { t.header[$0.column] })
        notReplayed = t.header.filter { k in
            !(Self.special.contains(k) || Self.derived.contains(k) || Self.rates[k] != nil || Self.stalls[k] != nil || Self.levels[k] != nil
              || eventKeys.contains(k) || (k.hasSuffix("_per_s") && eventKeys.contains(String(k.dropLast(6)))))
        }
        let counted = eventColumns.map { e in t.rows.contains { $0[e.column].isFinite } }
        source = .perfringCSV
        events = Self.entries(eventColumns.map(\.name), counted: counted, opened: 1)
        let hardware = eventColumns.map { EventCatalog.spec(named: $0.name)?.isHardware ?? true }

        // The timeline: time_ms stamps (Unix ms) and dt_ms intervals, both checked.
        var times: [Double] = []
        for (i, row) in t.rows.enumerated() {
            let time = row[tc]
            guard time.isFinite, time >= 0 else { throw UsageError("line \(t.lines[i]): time_ms needs a number") }
            if let last = times.last, time < last { throw UsageError("line \(t.lines[i]): time_ms goes back") }
            times.append(time)
        }
        let steps = zip(times.dropFirst(), times).map { ($0 - $1) * 1e6 }.filter { $0 > 0 }.sorted()
        let medianNs = steps.isEmpty ? 100e6 : steps[steps.count / 2]
        records = []
        for (i, row) in t.rows.enumerated() {
            var dt = dc.map { row[$0] * 1e6 } ?? .nan
            if !dt.isFinite { dt = i > 0 ? (times[i] - times[i - 1]) * 1e6 : medianNs }
            guard dt >= 1, dt < 1e15 else { throw UsageError("line \(t.lines[i]): dt_ms must be positive") }
            let dtNs = UInt64(dt.rounded())
            let first = records.first?.dtNs ?? dtNs
            let offset = first + UInt64(((times[i] - times[0]) * 1e6).rounded())
            var rec = Record(offsetNs: offset, dtNs: dtNs)
            if let mc, row[mc].isFinite, row[mc] >= 0 { rec.missed = UInt32(min(row[mc], Double(UInt32.max))) }
            let mux = muxc.map { row[$0] } ?? .nan
            rec.counters = eventColumns.indices.map { e in
                Self.counter(count: row[eventColumns[e].column], fraction: hardware[e] && mux.isFinite ? mux : 1, dtNs: dtNs)
            }
            rec.os = Self.osFields(row, t, dtNs: dtNs)
            records.append(rec)
        }
        intervalNs = Self.medianStep(records.map(\.offsetNs)) ?? records[0].dtNs
        if let pc = t.column("power_watts"), t.rows.contains(where: { $0[pc].isFinite }) { energyDomains = ["package"] }
        let start = times[0] * 1e6 - Double(records[0].dtNs)
        wallStartNs = start >= 0 && start < 1.8e19 ? UInt64(start) : nil
    }

    /// One CSV row's OS fields over `dtNs`; a field whose inputs are missing stays out.
    static func osFields(_ row: [Double], _ t: NumericCSV, dtNs: UInt64) -> [(OSField, UInt64)] {
        let dt = Double(dtNs)
        func v(_ key: String) -> Double { t.column(key).map { row[$0] } ?? .nan }
        func field(_ x: Double) -> UInt64? { x.isFinite && x >= 0 && x < 1.8e19 ? UInt64(x.rounded()) : nil }
        var out: [(OSField, UInt64)] = []
        for (key, f) in rates { if let x = field(v(key) * dt / 1e9) { out.append((f, x)) } }
        for (key, f) in stalls { if let x = field(v(key) / 100 * dt / 1000) { out.append((f, x)) } }
        for (key, (f, scale)) in levels { if let x = field(v(key) * scale) { out.append((f, x)) } }
        if let uj = field(v("power_watts") * dt / 1000) { out.append((.energy0, uj)) }
        if let ns = field(v("proc_cpu_pct") / 100 * dt) { out += [(.procUtime, ns), (.procStime, 0)] }
        // One CPU's time over dt: the busy share split into user, system and steal, then
        // iowait, and idle the rest.
        let user = v("cpu_user"), system = v("cpu_system"), iowait = v("cpu_iowait"), steal = v("cpu_steal"), util = v("cpu_util")
        if [user, system, iowait, steal, util].allSatisfy({ $0.isFinite && $0 >= 0 }) {
            let ns = { (pct: Double) in UInt64((pct / 100 * dt).rounded()) }
            let busy = ns(user) + ns(system) + ns(steal), wait = ns(iowait)
            out += [(.cpuUser, ns(user)), (.cpuNice, 0), (.cpuSystem, ns(system)), (.cpuIdle, dtNs - min(dtNs, busy + wait)),
                    (.cpuIowait, wait), (.cpuIrq, 0), (.cpuSoftirq, 0), (.cpuSteal, ns(steal))]
        }
        // used = total - available and pct = 100 × used / total.
        let used = v("mem_used_bytes"), pct = v("mem_used_pct")
        if used.isFinite, pct > 0, pct <= 100, let total = field(used * 100 / pct), let u = field(used), u <= total {
            out += [(.memTotal, total), (.memAvailable, total - u)]
        }
        return out
    }

    /// The ring header's target: where the records came from (the mode, replay, says the rest).
    func target(_ path: String) -> String {
        let full = "\(path) (\(source.rawValue))"
        return full.utf8.count < RingLayout.targetSize ? full : "\(splitPath(path).name) (\(source.rawValue))"
    }
}

public enum Replay {
    /// `--replay`: returns the exit status (0 written, or stopped early by a signal; 1 the
    /// recording cannot be read or the ring could not be made; 2 the recording does not parse
    /// or fit).
    public static func main(_ options: CollectorOptions, recording path: String) -> Int32 {
        let recording: ReplayRecording
        let capacity: Int
        do { recording = try ReplayRecording.load(path) } catch {
            Log.error(error.message)
            return error.isUsage ? 2 : 1
        }
        do { capacity = try Self.capacity(options, recording) } catch {
            Log.error(error.message)
            return 2
        }
        if !recording.notReplayed.isEmpty {
            Log.info("not replayed: \(recording.notReplayed.joined(separator: ", "))")
        }
        for note in Set(recording.notes).sorted() { Log.info(note) }
        do {
            let (dir, name) = splitPath(options.ringPath)
            let directory = try RingDirectory(dir, create: options.ringPathIsDefault)
            let lock = try RingLock(directory: directory, name: name, path: options.ringPath, replace: options.replace)
            defer { withExtendedLifetime(lock) {} }
            return try run(recording, target: recording.target(path), ring: options.ringPath, directory: directory, capacity: capacity, speed: options.replaySpeed)
        } catch {
            Log.error("\(error)")
            return 1
        }
    }

    /// `--capacity`, or `--history` (default 1h) over the recording's interval.
    static func capacity(_ o: CollectorOptions, _ r: ReplayRecording) throws(UsageError) -> Int {
        if let c = o.capacity { return c }
        let n = o.historyNs / max(1, r.intervalNs)
        guard n >= 2, n <= UInt64(CollectorOptions.maxCapacity) else {
            throw UsageError("--history: \(formatDuration(o.historyNs)) at the recording's \(formatDuration(r.intervalNs)) is \(n) records (2 to \(CollectorOptions.maxCapacity))")
        }
        return Int(n)
    }

    /// Creates the ring and writes every record on its deadline (`speed` 0: at once); SIGINT or
    /// SIGTERM ends it early, cleanly. The ring is marked stopped either way.
    public static func run(_ r: ReplayRecording, target: String, ring: String, directory: RingDirectory? = nil, capacity: Int, speed: Double) throws(RingSetupError) -> Int32 {
        var config = RingConfig(path: ring, capacity: capacity, eventCount: r.events.count)
        config.mode = .replay
        config.flags = r.systemScope ? [.replay, .systemRecording] : .replay
        config.target = target
        config.cpuCount = r.cpuCount
        config.intervalNs = r.intervalNs
        config.energyDomains = r.energyDomains
        config.createdRealtimeNs = r.wallStartNs
        if let large = config.sizeWarning { Log.warning(large) }
        let writer = try RingWriter(config: config, directory: directory)
        for (i, e) in r.events.enumerated() { writer.setEvent(i, e) }
        try writer.publish()
        let created = writer.createdMonotonicNs
        Log.info("replay of \(target): \(r.records.count) records into \(ring) (capacity \(capacity), interval \(formatDuration(r.intervalNs)))"
                 + (speed == 0 ? ", as fast as possible" : speed == 1 ? "" : ", \(speed)x"))

        let sources: TickSources
        do { sources = try TickSources(handling: [SIGINT, SIGTERM]) } catch {
            Log.error("event setup failed: \(error)")
            writer.markStopped(exitStatus: 1)
            return 1
        }
        defer { sources.close() }
        let sfd = sources.signals, tfd = sources.timer, ep = sources.epoll
        let beatMs = Int32(clamping: max(1, r.intervalNs / 1_000_000))
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: 2)
        defer { events.deallocate() }

        for (i, rec) in r.records.enumerated() {
            if speed > 0 {
                let deadline = created &+ UInt64(min(Double(rec.offsetNs) / speed, 1e18))
                do { try Sys.timerfdArm(tfd, firstAt: deadline, interval: 0) } catch {
                    Log.error("timer setup failed: \(error)")
                    writer.markStopped(exitStatus: 1)
                    return 1
                }
                // A slow replay still beats once per interval, so readers never see it stalled.
                var due = false
                while !due {
                    let n = (try? Sys.epollWait(ep, events, timeoutMs: beatMs)) ?? 0
                    for k in 0..<n where events[k].data.u64 == TickSources.timerKey { due = Sys.readCounter(tfd) != nil || due }
                    if let sig = Sys.readSignal(sfd) { return stopEarly(writer, signal: sig, written: i) }
                    writer.beat(Sys.monotonicNanos())
                }
            } else if let sig = Sys.readSignal(sfd) {
                return stopEarly(writer, signal: sig, written: i)
            }
            guard write(rec, at: created &+ rec.offsetNs, final: i == r.records.count - 1, to: writer) else {
                Log.error("ring \(ring) was truncated under the replay (its mapping faulted); stopping")
                return 1
            }
        }
        writer.markStopped()
        Log.info("replay done: \(r.records.count) records")
        return 0
    }

    private static func stopEarly(_ writer: RingWriter, signal: Int32, written: Int) -> Int32 {
        Log.info("stopping on signal \(signal) after \(written) records")
        writer.markStopped()
        return 0
    }

    private static func write(_ r: ReplayRecording.Record, at time: UInt64, final: Bool, to writer: RingWriter) -> Bool {
        let p = writer.begin()
        p.setU64(RingLayout.rTimeNs, time)
        p.setU64(RingLayout.rDtNs, r.dtNs)
        p.setU32(RingLayout.rMissed, r.missed)
        p.setU32(RingLayout.rFlags, final ? RecordFlags.final.rawValue : 0)
        for (slot, c) in r.counters.enumerated() {
            let o = RingLayout.counterOffset(slot)
            p.setU64(o, c.value)
            p.setU64(o + 8, c.enabled)
            p.setU64(o + 16, c.running)
            if c.running > 0 {
                writer.addTotal(slot, UInt64((Double(c.value) * Double(c.enabled) / Double(c.running)).rounded()))
            }
        }
        var valid: UInt64 = 0
        for (f, v) in r.os {
            p.setU64(f.offset, v)
            valid |= f.bit
            if f.kind == .delta { writer.addOSTotal(f, v) }
        }
        p.setU64(RingLayout.rOSValid, valid)
        return writer.commit(heartbeat: Sys.monotonicNanos())
    }
}
