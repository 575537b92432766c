// `perfring-server analyze`: perf stat interval output and CSVs read into metric columns, the
// detector and classifier run over them, the table and JSON printed; bad input refused.
import Foundation
import Testing
@testable import Server

/// `perf stat -I 100 -x, -e task-clock,context-switches,major-faults,cycles,instructions,
/// branch-misses` on this machine (no PMU: the hardware events are not supported).
let perfStatNoPMU = """
     0.100177392,2.48,msec,task-clock,2478869,100.00,0.025,CPUs utilized
     0.100177392,5,,context-switches,2478869,100.00,2.017,K/sec
     0.100177392,0,,major-faults,2478869,100.00,0.000,/sec
     0.100177392,<not supported>,,cycles,0,100.00,,
     0.100177392,<not supported>,,instructions,0,100.00,,
     0.100177392,<not supported>,,branch-misses,0,100.00,,
     0.200500629,44.50,msec,task-clock,44495059,100.00,0.445,CPUs utilized
     0.200500629,18,,context-switches,44495059,100.00,404.539,/sec
     0.200500629,1,,major-faults,44495059,100.00,22.474,/sec
     0.200500629,<not supported>,,cycles,0,100.00,,
     0.200500629,<not supported>,,instructions,0,100.00,,
     0.200500629,<not supported>,,branch-misses,0,100.00,,
"""

/// perf stat output of a machine with a PMU: `memory` intervals of a cache-missing loop, then
/// `compute` intervals of a tight one (100 ms each, one CPU busy).
func perfStatWithPMU(memory: Int, compute: Int) -> String {
    var out = "# started on Thu Jan  1 00:00:00 1970\n"
    for i in 0..<(memory + compute) {
        let t = String(format: "%.9f", 0.1 * Double(i + 1))
        let wobble = 1 + 0.02 * Double(i % 3)
        let mem = i < memory
        let instructions = (mem ? 1.0e8 : 4.8e8) * wobble
        let counts: [(String, Double, String)] = [
            ("task-clock", 100.0, "msec"), ("context-switches", 3, ""), ("cycles", 2.4e8, ""),
            ("instructions", instructions, ""), ("cache-references", mem ? 8e6 : 1e6, ""),
            ("cache-misses", mem ? 2.5e6 : 1e4, ""), ("branches", mem ? 1.5e7 : 5e7, ""), ("branch-misses", mem ? 3e4 : 1e4, ""),
        ]
        for (name, v, unit) in counts { out += "\(t),\(String(format: "%.2f", v)),\(unit),\(name),100000000,100.00,,\n" }
    }
    return out
}

@Suite struct AnalyzeTests {
    @Test func readsPerfStatIntervals() throws {
        let t = try MetricTable.parse(perfStatNoPMU)
        #expect(t.rows.count == 2 && t.scope == .process, "nothing in the file says it counted CPUs")
        var system = t
        system.override(scope: .system)   // --scope system
        #expect(system.scope == .system && system.scopeBasis == "--scope")
        #expect(t.timesMs.map { ($0 * 1000).rounded() / 1000 } == [100.177, 200.501])
        let col = { (k: String) in t.columns.firstIndex(of: k)! }
        #expect(abs(t.rows[1][col("dt_ms")] - 100.323237) < 1e-6)
        #expect(abs(t.rows[1][col("cpus_utilized")] - 44.5e6 / (100.323237e6)) < 1e-6)
        #expect(abs(t.rows[1][col("context_switches_per_s")] - 18 / 0.100323237) < 1e-3)
        #expect(t.rows[1][col("major_faults_per_s")] > 9)
        #expect(t.rows.allSatisfy { $0[col("cycles")].isNaN }, "<not supported> is no value, not zero")
        #expect(!t.available.contains("cpi"))
    }

    @Test func findsAndExplainsPhasesInPerfStatWithAPMU() throws {
        let tracker = try MetricTable.parse(perfStatWithPMU(memory: 60, compute: 60)).track()
        let phases = tracker.reports()
        #expect(phases.map(\.classification.phaseClass) == [.memoryBound, .computeBound])
        #expect(abs(Int(phases[1].startSeq) - 60) <= 1)
        #expect(phases[0].stable && !phases[0].open && phases[1].open)
        #expect(phases[0].classification.note == nil, "hardware counters: full confidence")
        let bound = try #require(phases[0].recommendation.bound)
        // w = 1 - compute CPI / memory CPI; f = half the run
        let w = 1 - phases[1].summary[.cpi] / phases[0].summary[.cpi]
        #expect(abs(bound.removableShare - w) < 1e-9 && abs(bound.phaseShare - 0.5) < 0.02)
        #expect(phases[1].recommendation.bound == nil)
    }

    @Test(arguments: [
        ("0.100000000,worker-12,2.48,msec,task-clock,2478869,100.00,,\n", "per-thread output"),
        ("0.1,5\n", "too few for perf stat"),
        ("a,b\n1,2\n", "no time column"),
        ("time_ms,cpu_util\n1,2\n3\n", "line 3"),
        ("time_ms,cpu_util\n1,2\nx,3\n", "line 3: time_ms: 'x' is not a number"),
        ("# only a comment\n", "no data"),
    ])
    func refusesWhatItCannotRead(text: String, message: String) {
        #expect {
            _ = try MetricTable.parse(text)
        } throws: { e in
            (e as? MetricTable.ParseError)?.message.contains(message) == true
        }
    }

    /// `<not counted>` at 100 % (run = enabled = 0): the task did not run, so its counts and
    /// rates are 0 in that interval, and count in averages; `<not supported>` stays no value.
    @Test func aTaskThatDidNotRunCountsZero() throws {
        let t = try MetricTable.parse("""
                 0.100000000,50.00,msec,task-clock,50000000,100.00,,
                 0.100000000,10,,context-switches,50000000,100.00,,
                 0.100000000,<not supported>,,cycles,0,100.00,,
                 0.200000000,<not counted>,msec,task-clock,0,100.00,,
                 0.200000000,<not counted>,,context-switches,0,100.00,,
                 0.200000000,<not supported>,,cycles,0,100.00,,
            """)
        let col = { (k: String) in t.columns.firstIndex(of: k)! }
        #expect(t.rows[1][col("task_clock")] == 0 && t.rows[1][col("context_switches_per_s")] == 0)
        #expect(t.rows.allSatisfy { $0[col("cycles")].isNaN })
        let mean = Comparison.aggregate(t, "context_switches_per_s", .mean)
        #expect(abs(mean - 50) < 1e-9, "the idle interval averages in as 0: (100/s + 0) / 2")
    }

    @Test func readsPerfringExportsAndGenericCSVs() throws {
        let export = "seq,time_ms,dt_ms,cpu_util,proc_cpu_pct,cpus_utilized\n7,1000,100,50,,\n8,1100,100,60,,\n"
        let t = try MetricTable.parse(export)
        #expect(t.seqs == [7, 8] && t.timesMs == [1000, 1100] && t.scope == .system && t.intervalNs == 100_000_000)
        let process = try MetricTable.parse("seq,time_ms,proc_cpu_pct\n0,0,10\n1,100,20\n")
        #expect(process.scope == .process)
        let generic = try MetricTable.parse("time,cycles,instructions\n0.5,200,100\n1.0,300,300\n")
        #expect(generic.timesMs == [500, 1000] && generic.seqs == [0, 1])
        #expect(generic.rows.map { $0[generic.columns.firstIndex(of: "cpi")!] } == [2, 1])
    }

    @Test func tableAndJSONShowTheSamePhases() throws {
        let tracker = try MetricTable.parse(perfStatWithPMU(memory: 40, compute: 40)).track()
        let reports = tracker.reports()
        let table = phaseTable(reports, tracker: tracker, originMs: 0)
        #expect(table.hasPrefix("phase  start_s"))
        #expect(table.contains("memory-bound") && table.contains("compute-bound") && table.contains("upper bound"))
        var w = JSONWriter()
        PhaseJSON.write(reports, tracker: tracker, into: &w)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        let phases = try #require(json["phases"] as? [[String: Any]])
        #expect(phases.map { $0["class"] as? String } == ["memory-bound", "compute-bound"])
        let rec = try #require(phases[0]["recommendation"] as? [String: Any])
        let bound = try #require(rec["speedup_bound"] as? [String: Any])
        #expect(bound["kind"] as? String == "upper bound" && bound["formula"] as? String == "1 / (1 - f * w)")
        #expect((bound["derivation"] as? String)?.contains("baseline CPI") == true)
        #expect((phases[0]["evidence"] as? [[String: Any]])?.isEmpty == false)
        #expect(json["scope"] as? String == "process" && json["min_phase_s"] as? Double == 1)
    }

    static let failures: [([String], Int32)] = [
        ([], 2),
        (["/nonexistent/trace.csv"], 1),
        (["a.csv", "b.csv"], 2),
        (["--frobnicate", "a.csv"], 2),
        (["a.csv", "--min-phase", "0s"], 2),
    ]

    @Test(arguments: failures)
    func commandLineFailuresHaveTheirExitStatus(args: [String], status: Int32) {
        #expect(analyzeMain(args) == status)
    }
}
