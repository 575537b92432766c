// The end-of-run summary `perfring-collector -- CMD` prints on stderr, as `perf stat` prints
// one: each event's total and rate, the ratios perfring derives (unavailable ones named, never
// 0), the target's own figures, the time elapsed, the command's exit status and the phases.
//
// Read from the ring file when the run is over, as `export` and `analyze` read it: the totals
// are the header's running totals (the whole run, even when the ring has wrapped), the phases
// are what `perfring-server analyze RING` finds, by the same code. The collector links this
// library for it rather than keeping a second phase detector of its own.
import Shared

public struct RunSummary {
    /// One event: its total over the run, or why it has none.
    public struct Event {
        public let name: String
        public let key: String
        /// Nil: not counted (`reason` says why).
        public let total: UInt64?
        public let reason: String
    }

    /// A ratio perfring derives from two totals; nil value: unavailable (`missing` names why).
    public struct Ratio {
        public let name: String
        public let value: Double?
        public let missing: [String]
    }

    public let target: String
    public let mode: RingMode
    public let intervalNs: UInt64
    public let samples: Int
    /// Records the collector wrote; more than `samples` when the ring wrapped.
    public let records: UInt64
    public let elapsedSeconds: Double
    public let exitStatus: Int32?
    public let events: [Event]
    public let ratios: [Ratio]
    /// The target's own figures over the samples held: (label, value text).
    public let targetFigures: [(String, String)]
    public let phaseText: String

    /// The summary of the run in the ring at `path`.
    public static func read(_ path: String, minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs) throws(RingError) -> RunSummary {
        let ring = try RingSnapshot.read(path)
        guard let totals = ring.samples.reader.totals() else { throw .fault }
        return RunSummary(ring, totals: totals, exitStatus: ring.samples.reader.exitStatus(), minPhaseNs: minPhaseNs)
    }

    init(_ ring: RingSnapshot, totals: RingTotals, exitStatus: Int32?, minPhaseNs: UInt64) {
        let header = ring.header
        target = header.target
        mode = header.mode
        intervalNs = header.intervalNs
        records = totals.records
        self.exitStatus = header.mode == .command ? exitStatus : nil
        let table = MetricTable(ring)
        samples = table.rows.count
        let lastMs = table.timesMs.last(where: \.isFinite) ?? Double(header.createdRealtimeNs) / 1e6
        elapsedSeconds = max(0, (lastMs - Double(header.createdRealtimeNs) / 1e6) / 1000)

        var events: [Event] = []
        for (slot, e) in header.events.enumerated() {
            let status = e.effectiveStatus
            let counting = status == .counting && slot < totals.events.count
            events.append(Event(name: e.name, key: MetricDeriver.key(forEvent: e.name), total: counting ? totals.events[slot] : nil,
                                reason: counting ? "" : explainStatus(status, errno: e.errno, isHardware: e.type != 1)))
        }
        self.events = events
        func total(_ key: String) -> UInt64? { events.first { $0.key == key }?.total }
        func ratio(_ name: String, _ num: String, _ den: String, _ scale: Double) -> Ratio {
            let missing = [num, den].filter { total($0) == nil }
            guard missing.isEmpty, let n = total(num), let d = total(den), d > 0 else {
                return Ratio(name: name, value: nil, missing: missing.isEmpty ? ["\(den) is 0"] : missing.map { $0 + " not counted" })
            }
            return Ratio(name: name, value: scale * Double(n) / Double(d), missing: [])
        }
        ratios = [ratio("IPC", "instructions", "cycles", 1), ratio("CPI", "cycles", "instructions", 1),
                  ratio("cache miss rate %", "cache_misses", "cache_references", 100), ratio("branch miss rate %", "branch_misses", "branches", 100),
                  ratio("cache MPKI", "cache_misses", "instructions", 1000), ratio("branch MPKI", "branch_misses", "instructions", 1000)]

        // The target's own figures (pid and command runs), over the samples held.
        var figures: [(String, String)] = []
        if header.mode != .systemWide {
            let weights = Comparison.weights(table)
            func values(_ key: String) -> [(Double, Double)] {
                guard let c = table.columns.firstIndex(of: key) else { return [] }
                return table.rows.indices.compactMap { i in table.rows[i][c].isFinite ? (table.rows[i][c], weights[i]) : nil }
            }
            let f = Recommendations.fmt
            if let peak = values("proc_rss_bytes").map(\.0).max() { figures.append(("peak RSS", f(peak) + "B")) }
            if let most = values("proc_threads").map(\.0).max() { figures.append(("threads (most)", f(most))) }
            let cpu = Comparison.aggregate(table, "proc_cpu_pct", .mean)
            if cpu.isFinite { figures.append(("CPU (mean)", f(cpu) + "%")) }
            for (key, label, unit) in [("proc_read_bps", "read", "B"), ("proc_write_bps", "written", "B"), ("proc_major_faults_per_s", "major faults", "")] {
                let v = values(key)
                if !v.isEmpty { figures.append((label, f(v.reduce(0) { $0 + $1.0 * $1.1 / 1000 }) + unit)) }
            }
        }
        targetFigures = figures

        let tracker = table.track(minPhaseNs: minPhaseNs)
        let origin = tracker.firstStartMs ?? ((table.timesMs.first ?? 0) - tracker.intervalMs)
        phaseText = samples == 0 ? "no samples\n" : phaseTable(tracker.reports(), tracker: tracker, originMs: origin)
    }

    /// Thousands grouped with commas, as perf stat prints counts.
    static func grouped(_ v: UInt64) -> String {
        let digits = Array(String(v))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }

    static func fixed(_ v: Double, _ decimals: Int) -> String {
        guard v.isFinite else { return "n/a" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let r = (abs(v) * scale).rounded()
        let whole = UInt64(r / scale), frac = UInt64(r) - whole * UInt64(scale)
        let f = String(frac)
        return (v < 0 && r > 0 ? "-" : "") + grouped(whole) + (decimals > 0 ? "." + String(repeating: "0", count: decimals - f.count) + f : "")
    }

    static func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
        s.count >= n ? s : left ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count)
    }

    /// The summary as `perf stat` lays its report out.
    public var text: String {
        var out = "\n Performance counter stats for '\(target)' (perfring \(mode.name), \(samples) sample\(samples == 1 ? "" : "s") at \(formatDuration(intervalNs))"
        if records > UInt64(samples) { out += "; the ring kept the last \(samples) of \(records): the counts are the whole run's, the target's figures and the phases those samples'" }
        out += "):\n\n"
        let seconds = elapsedSeconds
        for e in events {
            let name = Self.pad(e.name, 24)
            guard let t = e.total else {
                out += "   " + Self.pad("<not counted>", 18, left: true) + "      " + name + "  (" + e.reason + ")\n"
                continue
            }
            if e.key == "task_clock" || e.key == "cpu_clock" {
                let ms = Double(t) / 1e6
                let cpus = seconds > 0 ? ms / 1000 / seconds : .nan
                out += "   " + Self.pad(Self.fixed(ms, 2), 18, left: true) + " msec " + name + "  #  " + Self.fixed(cpus, 3) + " CPUs utilized\n"
            } else {
                let rate = seconds > 0 ? Double(t) / seconds : .nan
                out += "   " + Self.pad(Self.grouped(t), 18, left: true) + "      " + name + "  #  " + Recommendations.fmt(rate) + " /s\n"
            }
        }
        out += "\n"
        for r in ratios {
            out += "   " + Self.pad(r.name, 20) + (r.value.map { Self.fixed($0, 3) } ?? "unavailable (" + r.missing.joined(separator: ", ") + ")") + "\n"
        }
        if !targetFigures.isEmpty {
            out += "\n   target: " + targetFigures.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + "\n"
        }
        out += "\n   " + Self.pad(Self.fixed(seconds, 3), 18, left: true) + " seconds time elapsed\n"
        if let exitStatus { out += "   " + Self.pad("\(exitStatus)", 18, left: true) + " exit status of the command\n" }
        out += "\n Phases (as `perfring-server analyze` finds them in the ring):\n" + phaseText
        return out
    }
}
