// A recording as perfring's metric columns: what analyze, compare, uploads and the end-of-run
// summary all work on, whatever the file's format.
import Shared

/// A recording as named numeric columns, one row per sample (NaN: no value).
public struct MetricTable: Sendable {
    public var columns: [String]
    public var rows: [[Double]]
    public var seqs: [UInt64]
    public var timesMs: [Double]
    public var scope: FeatureScope
    /// Why that scope, when the recording had to show it (perf stat).
    public var scopeBasis: String?

    public struct ParseError: Error, Equatable { public let message: String }

    /// Parses perf stat interval output or a CSV, whichever `text` is.
    public static func parse(_ text: String) throws(ParseError) -> MetricTable {
        if PerfStatCSV.isPerfStat(text) {
            do { return perfStat(try PerfStatCSV.parse(text)) } catch { throw ParseError(message: "\(error)") }
        }
        let table: NumericCSV
        do { table = try NumericCSV.parse(text) } catch { throw ParseError(message: "\(error)") }
        return try csv(table)
    }

    // MARK: CSV

    static func csv(_ table: NumericCSV) throws(ParseError) -> MetricTable {
        var header = table.header
        let rows = table.rows
        // As for perf stat: cpu-clock stands in for a missing task-clock (a replay's export).
        if !header.contains("task_clock") {
            header = header.map { $0 == "cpu_clock" ? "task_clock" : $0 == "cpu_clock_per_s" ? "task_clock_per_s" : $0 }
        }
        let timeKeys: [(String, Double)] = [("time_ms", 1), ("time_s", 1000), ("time", 1000), ("timestamp", 1000)]
        guard let (tc, scale) = timeKeys.lazy.compactMap({ k in header.firstIndex(of: k.0).map { ($0, k.1) } }).first else {
            throw ParseError(message: "no time column: name one time_ms (milliseconds) or time, time_s, timestamp (seconds)")
        }
        let times = rows.map { $0[tc] * scale }
        guard !times.isEmpty, times.allSatisfy(\.isFinite) else { throw ParseError(message: "the time column needs a number in every row") }
        let seqs: [UInt64]
        if let sc = header.firstIndex(of: "seq"), rows.allSatisfy({ $0[sc].isFinite && $0[sc] >= 0 }) {
            seqs = rows.map { UInt64($0[sc]) }
        } else {
            seqs = rows.indices.map { UInt64($0) }
        }
        func has(_ key: String) -> Bool { header.firstIndex(of: key).map { c in rows.contains { $0[c].isFinite } } ?? false }
        // An export where the deriver left CPUs utilized empty beside a task clock counted the
        // machine (it derives that figure only for a process): as a per-CPU perf recording.
        let machineClock = has("task_clock") && header.contains("cpus_utilized") && !has("cpus_utilized")
        let scope = FeatureScope.of(targetFigures: FeatureScope.targetKeys.contains(where: has), machineFigures: has(FeatureScope.machineKey), perCPU: machineClock)
        var t = MetricTable(columns: header, rows: rows, seqs: seqs, timesMs: times, scope: scope)
        t.deriveRatios()
        return t
    }

    // MARK: perf stat

    /// perf stat output (read by PerfStatCSV) as per-interval counts under perfring's keys.
    /// System-wide when the recording shows it (PerfStatScope), else one process: perf stat's
    /// own default, and the scope whose phases a recording without OS signals can classify.
    static func perfStat(_ recording: PerfStatCSV.Recording) -> MetricTable {
        // cpu-clock stands in for task-clock where there is none: both are the CPU time of
        // what perf counts.
        var order: [String] = [], source: [Int] = []
        let hasTaskClock = recording.events.contains { $0.name == "task-clock" }
        for (i, e) in recording.events.enumerated() {
            var key = MetricDeriver.key(forEvent: e.name)
            if key == "cpu_clock" { if hasTaskClock { continue }; key = "task_clock" }
            if !order.contains(key) { order.append(key); source.append(i) }
        }
        var rows: [[Double]] = []
        var previous = 0.0
        for iv in recording.intervals {
            rows.append([(iv.time - previous) * 1000] + source.map { iv.readings[$0]?.count ?? .nan })
            previous = iv.time
        }
        // Totals without an elapsed time: one sample at 0 whose length is unknown.
        let times = recording.intervals.map { $0.time.isFinite ? $0.time * 1000 : 0 }
        var t = MetricTable(columns: ["dt_ms"] + order, rows: rows, seqs: recording.intervals.indices.map { UInt64($0) },
                            timesMs: times,
                            scope: FeatureScope.of(targetFigures: false, machineFigures: false, perCPU: recording.systemWide == true))
        t.scopeBasis = recording.scopeEvidence
        t.deriveRatios()
        t.deriveRates(events: order)
        return t
    }

    /// --scope: what the caller knows of a perf stat recording's scope.
    mutating func override(scope: FeatureScope?) {
        guard let scope, scopeBasis != nil else { return }
        self.scope = scope
        scopeBasis = "--scope"
        deriveRates(events: [])
    }

    // MARK: derived columns

    private mutating func addColumn(_ key: String, _ f: ([Double]) -> Double) {
        guard !columns.contains(key) else { return }
        for i in rows.indices { rows[i].append(f(rows[i])) }
        columns.append(key)
    }

    /// The ratios perfring derives (MetricDeriver), from per-interval counts, when a recording
    /// has the counts but not the ratios.
    mutating func deriveRatios() {
        let c = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        func ratio(_ key: String, _ num: String, _ den: String, _ scale: Double) {
            guard let n = c[num], let d = c[den] else { return }
            addColumn(key) { r in r[d] > 0 ? scale * r[n] / r[d] : .nan }
        }
        ratio("ipc", "instructions", "cycles", 1)
        ratio("cpi", "cycles", "instructions", 1)
        ratio("cache_miss_rate", "cache_misses", "cache_references", 100)
        ratio("branch_miss_rate", "branch_misses", "branches", 100)
        ratio("cache_mpki", "cache_misses", "instructions", 1000)
        ratio("branch_mpki", "branch_misses", "instructions", 1000)
    }

    /// Per-second rates of every event, as perfring's own columns have them (`K` and
    /// `K_per_s`: how compare tells counts from rates), and CPUs utilized (perf stat input).
    mutating func deriveRates(events: [String]) {
        let c = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        guard let dt = c["dt_ms"] else { return }
        // As the live deriver: system-wide, task-clock counts idle CPUs too.
        if let tc = c["task_clock"], scope == .process { addColumn("cpus_utilized") { r in r[dt] > 0 ? r[tc] / (r[dt] * 1e6) : .nan } }
        for key in events {
            if let k = c[key] { addColumn(key + "_per_s") { r in r[dt] > 0 ? r[k] * 1000 / r[dt] : .nan } }
        }
    }

    // MARK: detection

    /// Columns with at least one value: the only ones features are built from.
    public var available: Set<String> {
        Set(columns.indices.filter { c in rows.contains { $0[c].isFinite } }.map { columns[$0] })
    }

    /// The sampling interval: the median gap between samples.
    public var intervalNs: UInt64 {
        let gaps = zip(timesMs.dropFirst(), timesMs).map { $0 - $1 }.filter { $0 > 0 }.sorted()
        guard !gaps.isEmpty else { return 100_000_000 }
        return UInt64(gaps[gaps.count / 2] * 1e6)
    }

    /// Runs the phase detector over every row, in order.
    public func track(minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs) -> PhaseTracker {
        let tracker = PhaseTracker(extractor: FeatureExtractor(columns: columns, available: available, scope: scope),
                                   intervalNs: intervalNs, minPhaseNs: minPhaseNs)
        if let dt = columns.firstIndex(of: "dt_ms"), let first = rows.first, first[dt].isFinite, let t0 = timesMs.first {
            tracker.firstStartMs = t0 - first[dt]
        }
        for i in rows.indices {
            let row = rows[i]
            tracker.observe(seq: seqs[i], timeMs: timesMs[i]) { row[$0] }
        }
        return tracker
    }
}

extension MetricTable {
    /// A ring's kept samples under the server's own column keys.
    init(_ ring: RingSnapshot) {
        let columns = ring.samples.columns
        let time = ring.samples.column("time_ms")
        var rows: [[Double]] = [], seqs: [UInt64] = [], times: [Double] = []
        ring.forEachSample { i, value in
            rows.append(columns.indices.map(value))
            seqs.append(i)
            times.append(time.map(value) ?? .nan)
        }
        self.init(columns: columns.map(\.key), rows: rows, seqs: seqs, timesMs: times,
                  // A replay too short for its samples to tell: the header's rule alone.
                  scope: FeatureScope.of(ring.header, ring.samples, in: ring.indices)
                      ?? .of(targetFigures: false, machineFigures: false, perCPU: ring.header.cpuCount > 1 || ring.header.flags.contains(.systemRecording)))
    }

    /// Why a recording could not be loaded: the file itself (exit 1) or what it holds (exit 2).
    public enum LoadError: Error, Sendable {
        case unreadable(String), unparseable(String)
        public var message: String {
            switch self { case .unreadable(let m), .unparseable(let m): m }
        }
    }

    /// A ring file, perf stat output or a CSV, whichever `path` holds; `source` says which.
    public static func load(_ path: String) throws(LoadError) -> (table: MetricTable, source: String) {
        do {
            return (MetricTable(try RingSnapshot.read(path)), "ring")
        } catch {
            switch error {
            case .badMagic, .tooSmall: break  // not a ring: text
            case .missing: throw .unreadable("\(path): no such file")
            default: throw .unreadable("\(path): \(error)")
            }
        }
        let size: Int
        do { size = Int(try Sys.stat(path).st_size) } catch { throw .unreadable("\(path): \(error)") }
        guard size <= 512 << 20 else { throw .unreadable("\(path): over 512 MiB") }
        let text: String
        do { text = try Sys.readFile(path, limit: size + 1) } catch { throw .unreadable("\(path): \(error)") }
        do {
            return (try parse(text), PerfStatCSV.isPerfStat(text) ? "perf stat" : "csv")
        } catch {
            throw .unparseable("\(path): \(error.message)")
        }
    }
}
