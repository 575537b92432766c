// `perfring-server analyze FILE`: the live phase detector run offline over a recording. Reads
// `perf stat -I MS -x, -e ...` output (so traces recorded with perf elsewhere can be analysed)
// or a CSV with a header row of numeric columns and a time column (perfring's own
// /api/export.csv among them), turns either into perfring's metric columns, and prints the
// phases as a table or as the same JSON as GET /api/phases.
import Shared

// MARK: command

public let analyzeHelp = """
usage: perfring-server analyze FILE [--json] [--min-phase DUR] [--scope system|process]

Splits a recording into phases with the live detector, labels each phase's bottleneck and
prints the phases as a table, or with --json as GET /api/phases does.
FILE: `perf stat` output (any -x separator or the human layout, interval or totals, see
README's Recordings), a CSV with a header row and a time column
(time_ms in milliseconds, or time/time_s/timestamp in seconds), e.g. /api/export.csv, or a
ring file.
  --json           JSON instead of the table
  --min-phase DUR  shortest phase (default 1s)
  --scope system|process
                   what a perf stat recording counted, where the file does not show it
                   (without a command line, perf's title, -A/--per-* columns or a CPU
                   clock that grows by whole CPUs, a recording is read as one process's)
"""

/// What `analyze` and `compare` are given: recordings, --json, --min-phase.
struct RecordingArgs {
    var paths: [String] = []
    var json = false
    var minPhaseNs = PhaseTracker.defaultMinPhaseNs
    /// --scope: what a perf stat recording counted, when the file does not show it.
    var scope: FeatureScope?

    /// The parsed arguments, or nil after --help (printed).
    static func parse(_ args: [String], command: String, help: String) throws(UsageError) -> RecordingArgs? {
        var r = RecordingArgs()
        var cursor = ArgCursor(args)
        while let (flag, inline) = cursor.next() {
            switch flag {
            case "-h", "--help":
                try? Sys.writeAll(1, help + "\n")
                return nil
            case "--json":
                try cursor.noValue(for: flag, inline: inline)
                r.json = true
            case "--min-phase":
                let v = try cursor.value(for: flag, inline: inline)
                guard let ns = parseDuration(v), ns >= 1_000_000 else { throw UsageError("--min-phase: '\(v)' is not a duration of 1ms or more") }
                r.minPhaseNs = ns
            case "--scope":
                let v = try cursor.value(for: flag, inline: inline)
                guard let sc = FeatureScope(rawValue: v) else { throw UsageError("--scope: '\(v)' is neither system nor process") }
                r.scope = sc
            default:
                guard !flag.hasPrefix("-") else { throw UsageError("unknown flag '\(flag)' (see \(command) --help)") }
                r.paths.append(flag)
            }
        }
        return r
    }
}

/// Returns the exit status: 0 ok, 1 unreadable file, 2 usage error or unparseable input.
public func analyzeMain(_ args: [String]) -> Int32 {
    let path: String, json: Bool, minPhaseNs: UInt64, scope: FeatureScope?
    do throws(UsageError) {
        guard let a = try RecordingArgs.parse(args, command: "analyze", help: analyzeHelp) else { return 0 }
        guard a.paths.count <= 1 else { throw UsageError("analyze: one FILE only (see analyze --help)") }
        guard let p = a.paths.first else { throw UsageError("analyze: which FILE? (see analyze --help)") }
        (path, json, minPhaseNs, scope) = (p, a.json, a.minPhaseNs, a.scope)
    } catch {
        Log.error(error.message)
        return 2
    }
    var table: MetricTable
    do { table = try MetricTable.load(path).table } catch {
        Log.error(error.message)
        if case .unreadable = error { return 1 }
        return 2
    }
    table.override(scope: scope)
    if json {
        try? Sys.writeAll(1, String(decoding: analysisJSON(table, minPhaseNs: minPhaseNs), as: UTF8.self))
    } else {
        let tracker = table.track(minPhaseNs: minPhaseNs)
        let origin = tracker.firstStartMs ?? ((table.timesMs.first ?? 0) - tracker.intervalMs)
        try? Sys.writeAll(1, phaseTable(tracker.reports(), tracker: tracker, originMs: origin, scopeBasis: table.scopeBasis))
    }
    return 0
}

/// What `analyze --json` prints, byte for byte: POST /api/analyze answers with this too.
func analysisJSON(_ table: MetricTable, minPhaseNs: UInt64) -> [UInt8] {
    let tracker = table.track(minPhaseNs: minPhaseNs)
    let reports = tracker.reports()
    var w = JSONWriter(reserve: 4096 * (reports.count + 1))
    PhaseJSON.write(reports, tracker: tracker, into: &w)
    w.literal("\n")
    return w.bytes
}

/// Phases as aligned text: one line each, then the notes that apply to all of them.
func phaseTable(_ reports: [PhaseReport], tracker: PhaseTracker, originMs: Double, scopeBasis: String? = nil) -> String {
    let f = Recommendations.fmt
    var rows = [["phase", "start_s", "end_s", "seconds", "class", "conf", "speedup_bound", "evidence"]]
    for r in reports {
        let c = r.classification
        let evidence = c.evidence.map { "\($0.figure.key) \(f($0.value)) \($0.relation) \(f($0.threshold))" }.joined(separator: "; ")
        rows.append(["\(r.id)", f((r.startMs - originMs) / 1000), f((r.endMs - originMs) / 1000), f(r.seconds), c.phaseClass.rawValue,
                     f(c.confidence), r.recommendation.bound.map { "<= \(($0.value * 1000).rounded() / 1000)x" } ?? "-", evidence])
    }
    let widths = (0..<rows[0].count - 1).map { k in rows.map { $0[k].count }.max()! }
    var out = ""
    for row in rows {
        for k in widths.indices { out += row[k] + String(repeating: " ", count: widths[k] - row[k].count + 2) }
        out += row[row.count - 1] + "\n"
    }
    out += "\nscope: \(tracker.extractor.scope.rawValue)\(scopeBasis.map { " (\($0))" } ?? ""); features: \(tracker.extractor.features.map(\.figure.key).joined(separator: ", "))\n"
    for note in Set(reports.compactMap(\.classification.note)).sorted() { out += "note: \(note)\n" }
    out += "speedup bounds are upper bounds: \(SpeedupBound.formula), f = phase share of the run, w = its removable share (see --json for each derivation)\n"
    return out
}
