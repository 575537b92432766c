// `perfring-server compare A B` and GET /api/compare: two recordings (rings, perfring CSV
// exports or perf stat output: a run before and after an optimisation, say) side by side.
// Per metric: event counts summed, and rates and ratios averaged over time (each sample
// weighted by its interval); the change from A to B; and each run's phases (the live
// detector, as `analyze` runs it) as shares of its time. A metric neither run has is left out;
// one only one run has is n/a on the other side, never 0.
import Shared

public struct Comparison {
    /// One run: where it came from and how its time splits into phase classes.
    public struct Side {
        public let name: String
        public let source: String
        public let samples: Int
        public let seconds: Double
        /// Class, seconds and share of the run's phase time, largest first.
        public let phases: [(phaseClass: String, seconds: Double, share: Double)]
    }

    public struct Row {
        public enum Kind: String { case total, mean }
        public let key: String
        public let kind: Kind
        /// NaN: the run has no value for it.
        public let a: Double, b: Double
        public var change: Double { b - a }
        /// In percent of A; n/a from 0 to anything else.
        public var changePct: Double { a == b ? 0 : a != 0 ? 100 * (b - a) / abs(a) : .nan }
    }

    public let a: Side, b: Side
    public let rows: [Row]

    /// Record bookkeeping, not measurements (duration is its own row).
    static let bookkeeping: Set<String> = ["seq", "time_ms", "dt_ms", "gap", "missed"]

    public init(a: (name: String, table: MetricTable, source: String), b: (name: String, table: MetricTable, source: String),
                minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs) {
        self.a = Self.side(a.name, a.table, a.source, minPhaseNs: minPhaseNs)
        self.b = Self.side(b.name, b.table, b.source, minPhaseNs: minPhaseNs)
        var keys: [String] = []
        for k in a.table.columns + b.table.columns where !Self.bookkeeping.contains(k) && !keys.contains(k) { keys.append(k) }
        var rows = [Row(key: "duration_s", kind: .total, a: self.a.seconds, b: self.b.seconds)]
        for key in keys {
            // A count has its per-second twin, in perfring's columns and in perf stat tables alike.
            let kind: Row.Kind = a.table.columns.contains(key + "_per_s") || b.table.columns.contains(key + "_per_s") ? .total : .mean
            let row = Row(key: key, kind: kind, a: Self.aggregate(a.table, key, kind), b: Self.aggregate(b.table, key, kind))
            if row.a.isFinite || row.b.isFinite { rows.append(row) }
        }
        self.rows = rows
    }

    /// Interval lengths in ms (dt_ms, or the steps between time stamps).
    static func weights(_ t: MetricTable) -> [Double] {
        let interval = Double(t.intervalNs) / 1e6
        let dt = t.columns.firstIndex(of: "dt_ms")
        return t.rows.indices.map { i in
            if let dt, t.rows[i][dt].isFinite, t.rows[i][dt] > 0 { return t.rows[i][dt] }
            return i > 0 && t.timesMs[i] > t.timesMs[i - 1] ? t.timesMs[i] - t.timesMs[i - 1] : interval
        }
    }

    /// The sum of a count, or the interval-weighted mean of anything else; NaN without values.
    static func aggregate(_ t: MetricTable, _ key: String, _ kind: Row.Kind) -> Double {
        guard let c = t.columns.firstIndex(of: key) else { return .nan }
        let w = weights(t)
        var sum = 0.0, weight = 0.0, n = 0
        for (i, row) in t.rows.enumerated() where row[c].isFinite {
            n += 1
            sum += kind == .total ? row[c] : row[c] * w[i]
            weight += w[i]
        }
        guard n > 0 else { return .nan }
        return kind == .total ? sum : (weight > 0 ? sum / weight : .nan)
    }

    static func side(_ name: String, _ t: MetricTable, _ source: String, minPhaseNs: UInt64) -> Side {
        var byClass: [String: Double] = [:]
        for r in t.track(minPhaseNs: minPhaseNs).reports() { byClass[r.classification.phaseClass.rawValue, default: 0] += r.seconds }
        let total = byClass.values.reduce(0, +)
        let phases = byClass.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .map { (phaseClass: $0.key, seconds: $0.value, share: total > 0 ? $0.value / total : .nan) }
        return Side(name: name, source: source, samples: t.rows.count, seconds: weights(t).reduce(0, +) / 1000, phases: phases)
    }

    // MARK: output

    /// `{"a": {...}, "b": {...}, "metrics": [...]}`; n/a values are null.
    public func write(into w: inout JSONWriter) {
        func side(_ s: Side) {
            w.beginObject()
            w.key("name"); w.string(s.name)
            w.key("source"); w.string(s.source)
            w.key("samples"); w.int(s.samples)
            w.key("seconds"); w.number(s.seconds)
            w.key("phases"); w.beginArray()
            for p in s.phases {
                w.beginObject()
                w.key("class"); w.string(p.phaseClass)
                w.key("seconds"); w.number(p.seconds)
                w.key("share"); w.number(p.share)
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
        w.beginObject()
        w.key("a"); side(a)
        w.key("b"); side(b)
        w.key("metrics"); w.beginArray()
        for r in rows {
            w.beginObject()
            w.key("key"); w.string(r.key)
            w.key("kind"); w.string(r.kind.rawValue)
            w.key("a"); w.number(r.a)
            w.key("b"); w.number(r.b)
            w.key("change"); w.number(r.change)
            w.key("change_pct"); w.number(r.changePct)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    /// What `compare --json` prints, byte for byte (POST /api/compare answers with this too).
    public func json() -> [UInt8] {
        var w = JSONWriter(reserve: 256 * rows.count + 1024)
        write(into: &w)
        w.literal("\n")
        return w.bytes
    }

    /// Aligned text: the metrics, then each run's phase shares.
    public func text() -> String {
        let f = Recommendations.fmt
        var table = [["metric", "kind", "A", "B", "change", "change_%"]]
        for r in rows {
            table.append([r.key, r.kind.rawValue, f(r.a), f(r.b), f(r.change), r.changePct.isFinite ? f(r.changePct) + "%" : "n/a"])
        }
        let widths = (0..<table[0].count - 1).map { k in table.map { $0[k].count }.max()! }
        var out = "A: \(a.name) (\(a.source), \(a.samples) samples)\nB: \(b.name) (\(b.source), \(b.samples) samples)\n\n"
        for row in table {
            for k in widths.indices { out += row[k] + String(repeating: " ", count: widths[k] - row[k].count + 2) }
            out += row[row.count - 1] + "\n"
        }
        for (label, s) in [("A", a), ("B", b)] {
            let shares = s.phases.map { "\($0.phaseClass) \(f(100 * $0.share))% (\(f($0.seconds)) s)" }
            out += "\nphases \(label): " + (shares.isEmpty ? "none" : shares.joined(separator: ", "))
        }
        return out + "\n"
    }
}

public let compareHelp = """
usage: perfring-server compare A B [--json] [--min-phase DUR] [--scope system|process]

Compares two recordings, e.g. a `perfring-collector -- CMD` run before and after a change:
A and B are ring files, CSV exports (/api/export.csv, `export --csv`) or `perf stat -I MS -x,`
output. Prints each metric for A and B with the change (B - A, and in percent of A): event
counts summed, rates and ratios averaged over time; a metric only one run has is n/a on the
other side. Then each run's phases (as `analyze` finds them) as shares of its time.
  --json           JSON instead of the table (the same as GET /api/compare)
  --min-phase DUR  shortest phase (default 1s)
  --scope system|process
                   what perf stat recordings counted, where a file does not show it
"""

/// Returns the exit status: 0 ok, 1 a file cannot be read, 2 usage error or unparseable input.
public func compareMain(_ args: [String]) -> Int32 {
    let paths: [String], json: Bool, minPhaseNs: UInt64, scope: FeatureScope?
    do throws(UsageError) {
        guard let a = try RecordingArgs.parse(args, command: "compare", help: compareHelp) else { return 0 }
        guard a.paths.count == 2 else { throw UsageError("compare: two recordings, A and B (got \(a.paths.count); see compare --help)") }
        (paths, json, minPhaseNs, scope) = (a.paths, a.json, a.minPhaseNs, a.scope)
    } catch {
        Log.error(error.message)
        return 2
    }
    var loaded: [(name: String, table: MetricTable, source: String)] = []
    for path in paths {
        do {
            var (table, source) = try MetricTable.load(path)
            table.override(scope: scope)
            loaded.append((path, table, source))
        } catch {
            Log.error(error.message)
            if case .unreadable = error { return 1 }
            return 2
        }
    }
    let comparison = Comparison(a: loaded[0], b: loaded[1], minPhaseNs: minPhaseNs)
    if json {
        try? Sys.writeAll(1, String(decoding: comparison.json(), as: UTF8.self))
    } else {
        try? Sys.writeAll(1, comparison.text())
    }
    return 0
}
