// Every real perf stat recording of ../shared/recordings (13 files from public repositories,
// SOURCES.md beside them) read through `analyze` (MetricTable) and through
// `perfring-collector --replay` into a ring read back by the server's deriver. Each count and
// each derived ratio (IPC, CPI, miss rates, MPKI) is checked against a computation from the
// file's own numbers by a deliberately plain reader below (the file's known separator or
// grouping, fixed columns), and perf's own metric column against the same counts.
import Foundation
import Glibc
import Testing
@testable import Server
@testable import Shared

/// ../shared/recordings, relative to the package root; the suite fails (not skips) without it.
let corpusDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("shared/recordings").path

/// How the plain reader reads one file, and what perfring must make of it.
struct CorpusFile: CustomStringConvertible, Sendable {
    var name: String
    /// nil: the human layout.
    var separator: String?
    var interval: Bool
    var perCPU = false
    /// Human layout: the digit grouping and decimal marks.
    var group: Character = ","
    var decimal: Character = "."
    /// What perfring must call it. Five files do not show their scope (no command line, title,
    /// per-CPU columns, or a CPU clock growing by whole CPUs: lkp's old files have one full
    /// interval, rlsched's 50 ms intervals jitter): they read as a process, perf stat's
    /// default, though their scripts (SOURCES.md) used -a; `--scope system` says so.
    var scope: FeatureScope
    /// Perf printed ratios of later intervals against the running mean of the denominator
    /// (perf before 5.x): its metric column is checked against that instead.
    var runningMeanMetrics = false
    var description: String { name }
}

let corpus: [CorpusFile] = [
    .init(name: "ape598_human_perf6_branches.txt", interval: false, scope: .process),
    .init(name: "ece585_human_hybrid_uk_mux.txt", interval: false, scope: .system),
    .init(name: "faas_interval_human_inlocale_mux.txt", interval: true, scope: .process),
    .init(name: "hperf_arm_percpu_interval_csv.csv", separator: ",", interval: true, perCPU: true, scope: .system),
    .init(name: "hperf_intel_percpu_interval_tab.tsv", separator: "\t", interval: true, perCPU: true, scope: .system),
    .init(name: "lkp_oldperf_interval_csv_mux.csv", separator: ",", interval: true, scope: .process, runningMeanMetrics: true),
    .init(name: "lkp_oldperf_interval_space_sep.txt", separator: " ", interval: true, scope: .process, runningMeanMetrics: true),
    .init(name: "lkp_perf5.13_interval_csv_with_cmdline.csv", separator: ",", interval: true, scope: .system),
    .init(name: "lkp_perf6.17_hybrid_interval_csv.csv", separator: ",", interval: true, scope: .system),
    .init(name: "rlsched_interval_csv_cycles_50ms.csv", separator: ",", interval: true, scope: .process),
    .init(name: "rlsched_interval_csv_instr_50ms.csv", separator: ",", interval: true, scope: .process),
    .init(name: "sortnetsat_human_cache_u.txt", interval: false, scope: .process),
    .init(name: "tiledmatmul_human_hybrid_delocale.txt", interval: false, group: ".", decimal: ",", scope: .process),
]

/// One reading line as the plain reader sees it.
struct PlainLine {
    var time: Double
    var cpu: String
    var spelled: String
    var event: String
    /// nil: <not counted> or <not supported>.
    var count: Double?
    var metric: Double?
    var metricUnit: String
}

/// The file by fixed columns: no detection, no merging rules beyond summing by event name.
func plainRead(_ f: CorpusFile) throws -> (lines: [PlainLine], elapsed: Double?) {
    let text = try String(contentsOfFile: corpusDir + "/" + f.name, encoding: .utf8)
    var out: [PlainLine] = []
    var elapsed: Double?
    let aliases = ["cpu-cycles": "cycles", "branches": "branch-instructions", "cs": "context-switches"]
    func canonical(_ s: String) -> String {
        var n = s
        for pmu in ["cpu_atom/", "cpu_core/"] where n.hasPrefix(pmu) { n = String(n.dropFirst(pmu.count).dropLast()) }
        if n.hasPrefix("msr/") { n = String(n.dropFirst(4).dropLast()) }
        if let c = n.firstIndex(of: ":") { n = String(n[..<c]) }
        return aliases[n] ?? n
    }
    for raw in text.split(separator: "\n") {
        let line = raw.trimmingCharacters(in: .whitespaces)
        guard let first = line.first, first.isNumber else { continue }
        if let sep = f.separator {
            let c = line.components(separatedBy: sep).map { $0.trimmingCharacters(in: .whitespaces) }
            var k = f.interval ? 1 : 0
            let time = f.interval ? Double(c[0])! : 0
            var cpu = ""
            if f.perCPU { cpu = c[k]; k += 1 }
            let unit = c[k + 1]
            let value = Double(c[k]).map { $0 * (unit == "msec" ? 1e6 : 1) }
            let metric = c.count > k + 5 ? Double(c[k + 5]) : nil
            let metricUnit = c.count > k + 6 ? c[(k + 6)...].joined(separator: sep) : ""
            out.append(PlainLine(time: time, cpu: cpu, spelled: c[k + 2], event: canonical(c[k + 2]), count: value, metric: metric, metricUnit: metricUnit))
        } else {
            var words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if words.count >= 4, words[1] == "seconds", words[2] == "time" {
                elapsed = Double(words[0].replacingOccurrences(of: String(f.decimal), with: "."))
                continue
            }
            if words.count >= 2, words[1] == "seconds" { continue }
            let time = f.interval ? Double(words.removeFirst())! : 0
            let number = { (s: String) in Double(s.filter { $0 != f.group }.replacingOccurrences(of: String(f.decimal), with: ".")) }
            var value = number(words[0])
            var k = 1
            if words[1] == "msec" { value = value.map { $0 * 1e6 }; k = 2 }
            var metric: Double?, metricUnit = ""
            if let hash = words.firstIndex(of: "#") {
                let m = words[hash + 1]
                metric = number(m.hasSuffix("%") ? String(m.dropLast()) : m)
                metricUnit = words[(hash + 2)...].prefix { !$0.hasPrefix("(") }.joined(separator: " ")
            }
            out.append(PlainLine(time: time, cpu: "", spelled: words[k], event: canonical(words[k]), count: value, metric: metric, metricUnit: metricUnit))
        }
    }
    return (out, elapsed)
}

/// Per interval (in file order), per perfring key: the summed count. `analyze` keys the CPU
/// clock as task_clock: task-clock, or cpu-clock where the file has no task-clock.
func plainCounts(_ lines: [PlainLine], clockAsTaskClock: Bool) -> [(time: Double, counts: [String: Double])] {
    var out: [(time: Double, counts: [String: Double])] = []
    let clock = lines.contains { $0.event == "task-clock" } ? "task-clock" : "cpu-clock"
    for l in lines {
        if out.last?.time != l.time { out.append((l.time, [:])) }
        var key = MetricDeriver.key(forEvent: l.event)
        if clockAsTaskClock, l.event == "cpu-clock" || l.event == "task-clock" {
            guard l.event == clock else { continue }
            key = "task_clock"
        }
        guard let c = l.count else { continue }
        out[out.count - 1].counts[key, default: 0] += c
    }
    return out
}

/// perfring's ratios from counts, as the issue defines them.
func plainRatios(_ c: [String: Double]) -> [String: Double] {
    var r: [String: Double] = [:]
    func set(_ k: String, _ n: String, _ d: String, _ scale: Double) {
        if let n = c[n], let d = c[d], d > 0 { r[k] = scale * n / d }
    }
    set("ipc", "instructions", "cycles", 1)
    set("cpi", "cycles", "instructions", 1)
    set("cache_miss_rate", "cache_misses", "cache_references", 100)
    set("branch_miss_rate", "branch_misses", "branches", 100)
    set("cache_mpki", "cache_misses", "instructions", 1000)
    set("branch_mpki", "branch_misses", "instructions", 1000)
    return r
}

func relativelyClose(_ a: Double, _ b: Double, _ tolerance: Double) -> Bool {
    a == b || abs(a - b) <= tolerance * max(abs(a), abs(b))
}

@Suite(.serialized) struct RecordingCorpusTests {
    @Test func theCorpusIsThere() throws {
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: corpusDir, isDirectory: &isDir) && isDir.boolValue,
                "the real recordings are expected at \(corpusDir) (../shared/recordings from the package root)")
        let names = try FileManager.default.contentsOfDirectory(atPath: corpusDir).filter { $0 != "SOURCES.md" }.sorted()
        #expect(names == corpus.map(\.name).sorted(), "every file of the corpus is checked below")
    }

    /// analyze: the counts, ratios, time line and scope of every interval.
    @Test(arguments: corpus)
    func analyzeReadsTheFilesOwnNumbers(file: CorpusFile) throws {
        let (lines, elapsed) = try plainRead(file)
        let want = plainCounts(lines, clockAsTaskClock: true)
        let (table, source) = try MetricTable.load(corpusDir + "/" + file.name)
        #expect(source == "perf stat")
        #expect(table.scope == file.scope, "\(table.scopeBasis ?? "")")
        try #require(table.rows.count == want.count)
        let col = Dictionary(table.columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        // The first phase starts where the recording does (perf's time 0), never before it.
        let first = try #require(table.track().reports().first)
        #expect(first.startMs == (file.interval ? 0 : (elapsed ?? .nan) * 1000 - table.rows[0][0]))
        #expect(first.startMs >= 0)
        for (i, w) in want.enumerated() {
            let row = table.rows[i]
            let time = file.interval ? w.time : elapsed ?? .nan
            #expect(relativelyClose(table.timesMs[i], time * 1000, 1e-12))
            for (key, count) in w.counts {
                let c = try #require(col[key], "\(key) is a column")
                #expect(relativelyClose(row[c], count, 1e-12), "\(key) at interval \(i): \(row[c]) vs \(count)")
            }
            for (key, ratio) in plainRatios(w.counts) {
                let value = row[col[key]!]
                #expect(relativelyClose(value, ratio, 1e-12), "\(key) at interval \(i): \(value) vs \(ratio)")
            }
        }
    }

    /// --replay: the same counts and ratios, read back from the ring by the server's deriver,
    /// for every event (lkp's files have 23, hperf's 21: past the base table's 16).
    @Test(arguments: corpus)
    func replayGivesTheFilesOwnNumbers(file: CorpusFile) throws {
        let dir = RingDir()
        let log = try replayCorpusFile(corpusDir + "/" + file.name, into: dir.ring)
        let (lines, _) = try plainRead(file)
        let want = plainCounts(lines, clockAsTaskClock: false)
        let (table, source) = try MetricTable.load(dir.ring)
        #expect(source == "ring" && table.scope == file.scope)
        try #require(table.rows.count == want.count)
        let col = Dictionary(table.columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, w) in want.enumerated() {
            let row = table.rows[i]
            if file.interval {
                let dt = (w.time - (i > 0 ? want[i - 1].time : 0)) * 1000
                #expect(relativelyClose(row[col["dt_ms"]!], dt, 1e-9), "dt at interval \(i)")
            }
            for (key, count) in w.counts {
                let c = try #require(col[key], "\(key) replayed (log: \(log))")
                #expect(relativelyClose(row[c], count, 1e-7), "\(key) at interval \(i): \(row[c]) vs \(count)")
            }
            for (key, ratio) in plainRatios(w.counts) where col[key] != nil {
                #expect(relativelyClose(row[col[key]!], ratio, 1e-6), "\(key) at interval \(i): \(row[col[key]!]) vs \(ratio)")
            }
        }
    }

    /// A replay of more than 16 events, served: every key of every sample is the same in
    /// /api/data's objects and its columns (a column copies only its own record words; those
    /// of slots 16 and up follow the OS fields), and the events past slot 16 have values.
    @Test(arguments: ["lkp_perf5.13_interval_csv_with_cmdline.csv", "hperf_intel_percpu_interval_tab.tsv"])
    func moreThan16EventsAreServedAlikeInBothFormats(_ name: String) throws {
        let dir = RingDir()
        _ = try replayCorpusFile(corpusDir + "/" + name, into: dir.ring)
        let server = APIServer(ring: dir.ring)
        let objects = try #require(try server.object("/api/data")["samples"] as? [[String: Any]])
        let columns = try #require(try server.object("/api/data?format=columns")["columns"] as? [String: [Any]])
        let header = try RingReader(path: dir.ring).header
        try #require(header.eventCount > 16 && !objects.isEmpty)
        for (key, values) in columns where key != "phase" {
            #expect(values.count == objects.count)
            for (i, o) in objects.enumerated() where i < values.count {
                #expect(number(values[i]) == number(o[key]) && isNull(values[i]) == isNull(o[key]), "\(key) at \(i): \(values[i]) vs \(o[key] ?? "none")")
            }
        }
        let late = header.events[16...].filter { $0.status == .counting }.map { MetricDeriver.key(forEvent: $0.name) }
        #expect(!late.isEmpty && late.allSatisfy { k in objects.contains { number($0[k]) != nil } }, "\(late)")
    }

    /// perf's metric column (IPC, branch and cache miss rates) against the same line's counts
    /// (per CPU, per PMU part): equal to perf's two or three printed decimals. Perf before
    /// 5.x divided later intervals by the running mean of the denominator over the intervals
    /// so far (lkp's old files: cache misses "169.608 of all cache refs" where this interval's
    /// count gives 100.00): for those the running-mean formula is what matches.
    @Test(arguments: corpus)
    func perfsMetricColumnAgreesWithTheCounts(file: CorpusFile) throws {
        let (lines, _) = try plainRead(file)
        let checks: [String: (numerator: String, denominator: String, scale: Double)] = [
            "insn per cycle": ("instructions", "cycles", 1), "of all branches": ("branch-misses", "branch-instructions", 100),
            "of all cache refs": ("cache-misses", "cache-references", 100),
        ]
        // Denominators by (time, cpu, PMU prefix), and their running means by (cpu, prefix).
        func pmu(_ l: PlainLine) -> String { l.spelled.hasPrefix("cpu_") ? String(l.spelled.prefix(8)) : "" }
        var counts: [String: Double] = [:]
        for l in lines { if let c = l.count { counts["\(l.time)|\(l.cpu)|\(pmu(l))|\(l.event)"] = c } }
        var history: [String: [Double]] = [:]
        var checked = 0
        for l in lines {
            if let c = l.count { history["\(l.cpu)|\(pmu(l))|\(l.event)", default: []].append(c) }
            let unit = l.metricUnit.hasPrefix("% ") ? String(l.metricUnit.dropFirst(2)) : l.metricUnit
            guard let metric = l.metric, let check = checks[unit], l.event == check.numerator, let n = l.count,
                  let d = counts["\(l.time)|\(l.cpu)|\(pmu(l))|\(check.denominator)"], d > 0 else { continue }
            var expected = check.scale * n / d
            if file.runningMeanMetrics, let past = history["\(l.cpu)|\(pmu(l))|\(check.denominator)"] {
                expected = check.scale * n / (past.reduce(0, +) / Double(past.count))
            }
            #expect(abs(metric - expected) <= 0.005 + 1e-9 * expected, "\(l.spelled) at \(l.time) \(l.cpu): perf \(metric), counts \(expected)")
            checked += 1
        }
        let hasMetrics = lines.contains { checks[$0.metricUnit.hasPrefix("% ") ? String($0.metricUnit.dropFirst(2)) : $0.metricUnit] != nil }
        #expect(!hasMetrics || checked > 0)
    }
}

/// Replays `name` from the corpus into `dir`'s ring; the collector's log.
func replayCorpusFile(_ path: String, into ring: String) throws -> String {
    let r = try runProgram(collectorBinary, ["--ring", ring, "--replay", path, "--speed", "0"])
    try #require(r.status == 0, "\(r.stderr)")
    return r.stderr
}

@Suite(.serialized) struct RecordingCompareTests {
    /// `compare A B` of two perf recordings, and of the CSV exports of their replays: every
    /// figure the recordings have is the same on both (the exports add the ring's own, such as
    /// multiplex, and OS columns without values, which compare leaves out), and so are the
    /// phases. An export keeps a recording's scope through its CPU clock (cpus_utilized is
    /// derived only for a process), so these recordings have one (without, `compare --scope`).
    @Test(arguments: [
        ("rlsched_interval_csv_cycles_50ms.csv", "sortnetsat_human_cache_u.txt"),
        ("ape598_human_perf6_branches.txt", "lkp_perf5.13_interval_csv_with_cmdline.csv"),
        ("hperf_arm_percpu_interval_csv.csv", "tiledmatmul_human_hybrid_delocale.txt"),
    ])
    func compareOfRecordingsAndOfTheirExportsAgree(a: String, b: String) throws {
        let dir = RingDir()
        var perf: [(name: String, table: MetricTable, source: String)] = []
        var exported: [(name: String, table: MetricTable, source: String)] = []
        for (i, name) in [a, b].enumerated() {
            let path = corpusDir + "/" + name
            let (t, s) = try MetricTable.load(path)
            perf.append((name, t, s))
            let ring = dir.path + "/ring\(i)", csv = dir.path + "/export\(i).csv"
            _ = try replayCorpusFile(path, into: ring)
            let export = try runProgram(serverBinary, ["export", "--ring", ring, "--csv", "--out", csv])
            try #require(export.status == 0, "\(export.stderr)")
            let (e, es) = try MetricTable.load(csv)
            #expect(es == "csv" && e.scope == t.scope)
            exported.append((name, e, es))
        }
        let fromPerf = Comparison(a: perf[0], b: perf[1]), fromExports = Comparison(a: exported[0], b: exported[1])
        let rows = Dictionary(fromExports.rows.map { ($0.key, $0) }, uniquingKeysWith: { x, _ in x })
        for r in fromPerf.rows {
            let e = try #require(rows[r.key], "\(r.key) is compared from the exports too")
            #expect(e.kind == r.kind, "\(r.key)")
            for (x, y) in [(r.a, e.a), (r.b, e.b)] {
                #expect(x.isNaN ? y.isNaN : relativelyClose(x, y, 1e-6), "\(r.key): perf \(x), export \(y)")
            }
        }
        #expect(fromPerf.a.samples == fromExports.a.samples && fromPerf.b.samples == fromExports.b.samples)
        #expect(fromPerf.a.phases.map(\.phaseClass) == fromExports.a.phases.map(\.phaseClass)
                && fromPerf.b.phases.map(\.phaseClass) == fromExports.b.phases.map(\.phaseClass))
    }

    /// A replay's events without figures are "not in this recording", whatever this machine has.
    @Test func aReplaysMissingEventsAreNotInTheRecording() throws {
        let dir = RingDir()
        let file = dir.path + "/perf.txt"
        try """
             1.000000000,5,,context-switches,1000,100.00,,
             1.000000000,<not supported>,,cycles,0,100.00,,
        """.write(toFile: file, atomically: true, encoding: .utf8)
        _ = try replayCorpusFile(file, into: dir.ring)
        let header = try RingSnapshot.read(dir.ring).header
        var w = JSONWriter(reserve: 1024)
        w.beginArray()
        PerfringAPI.eventList(header.events, replay: header.mode == .replay, into: &w, unavailableOnly: true)
        w.endArray()
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text.contains("\"name\":\"cycles\"") && text.contains("not in this recording") && !text.contains("PMU"), "\(text)")
    }
}
