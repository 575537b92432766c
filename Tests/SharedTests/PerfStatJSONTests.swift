// perf stat -j (JSON lines, perf 5.19 and later) is read as the same recording as perf's -x,
// output of the same counts: aggregated, per CPU, per core, totals with -r, -G and hybrid
// parts. Lines as perf 6.1 writes them; hostile lines get an error that names the line.
import Testing
@testable import Shared

@Suite struct PerfStatJSONTests {
    /// The same readings as -j and as -x, output.
    static let pairs: [(name: String, json: String, csv: String)] = [
        ("interval, aggregated, <not supported>", """
        # started on Thu Dec  3 15:37:08 2026

        {"interval" : 0.200346170, "counter-value" : "401.194054", "unit" : "msec", "event" : "task-clock", "event-runtime" : 401192832, "pcnt-running" : 100.00, "metric-value" : 2.005970, "metric-unit" : "CPUs utilized"}
        {"interval" : 0.200346170, "counter-value" : "32.000000", "unit" : "", "event" : "context-switches", "event-runtime" : 401201765, "pcnt-running" : 100.00, "metric-value" : 79.761900, "metric-unit" : "/sec"}
        {"interval" : 0.200346170, "counter-value" : "<not supported>", "unit" : "", "event" : "cycles", "event-runtime" : 0, "pcnt-running" : 100.00, "metric-value" : 0.000000, "metric-unit" : ""}
        {"interval" : 0.400712000, "counter-value" : "400.5", "unit" : "msec", "event" : "task-clock", "event-runtime" : 400500000, "pcnt-running" : 100.00, "metric-value" : 2.0, "metric-unit" : "CPUs utilized"}
        {"interval" : 0.400712000, "counter-value" : "<not counted>", "unit" : "", "event" : "context-switches", "event-runtime" : 0, "pcnt-running" : 0.00, "metric-value" : 0.000000, "metric-unit" : ""}
        {"interval" : 0.400712000, "counter-value" : "<not supported>", "unit" : "", "event" : "cycles", "event-runtime" : 0, "pcnt-running" : 100.00, "metric-value" : 0.000000, "metric-unit" : ""}
        """, """
        # started on Thu Dec  3 15:37:08 2026

        0.200346170,401.194054,msec,task-clock,401192832,100.00,2.005970,CPUs utilized
        0.200346170,32.000000,,context-switches,401201765,100.00,79.761900,/sec
        0.200346170,<not supported>,,cycles,0,100.00,,
        0.400712000,400.5,msec,task-clock,400500000,100.00,2.0,CPUs utilized
        0.400712000,<not counted>,,context-switches,0,0.00,,
        0.400712000,<not supported>,,cycles,0,100.00,,
        """),
        ("per CPU (-A)", """
        {"interval" : 0.300393548, "cpu" : "0", "counter-value" : "300.736749", "unit" : "msec", "event" : "task-clock", "event-runtime" : 300735948, "pcnt-running" : 100.00, "metric-value" : 1.002456, "metric-unit" : "CPUs utilized"}
        {"interval" : 0.300393548, "cpu" : "1", "counter-value" : "300.917919", "unit" : "msec", "event" : "task-clock", "event-runtime" : 300917107, "pcnt-running" : 100.00, "metric-value" : 1.003060, "metric-unit" : "CPUs utilized"}
        {"interval" : 0.300393548, "cpu" : "0", "counter-value" : "119.000000", "unit" : "", "event" : "context-switches", "event-runtime" : 300745201, "pcnt-running" : 100.00, "metric-value" : 395.694907, "metric-unit" : "/sec"}
        {"interval" : 0.300393548, "cpu" : "1", "counter-value" : "15.000000", "unit" : "", "event" : "context-switches", "event-runtime" : 300745201, "pcnt-running" : 50.00, "metric-value" : 49.9, "metric-unit" : "/sec"}
        """, """
        0.300393548,CPU0,300.736749,msec,task-clock,300735948,100.00,1.002456,CPUs utilized
        0.300393548,CPU1,300.917919,msec,task-clock,300917107,100.00,1.003060,CPUs utilized
        0.300393548,CPU0,119.000000,,context-switches,300745201,100.00,395.694907,/sec
        0.300393548,CPU1,15.000000,,context-switches,300745201,50.00,49.9,/sec
        """),
        ("per core, two CPUs each", """
        {"interval" : 0.300561363, "core" : "S0-D0-C0", "aggregate-number" : 2, "counter-value" : "601.367492", "unit" : "msec", "event" : "task-clock", "event-runtime" : 601366861, "pcnt-running" : 100.00, "metric-value" : 2.004558, "metric-unit" : "CPUs utilized"}
        {"interval" : 0.300561363, "core" : "S0-D0-C1", "aggregate-number" : 2, "counter-value" : "600.5", "unit" : "msec", "event" : "task-clock", "event-runtime" : 600500000, "pcnt-running" : 100.00, "metric-value" : 2.0, "metric-unit" : "CPUs utilized"}
        """, """
        0.300561363,S0-D0-C0,2,601.367492,msec,task-clock,601366861,100.00,2.004558,CPUs utilized
        0.300561363,S0-D0-C1,2,600.5,msec,task-clock,600500000,100.00,2.0,CPUs utilized
        """),
        ("totals with -r", """
        {"counter-value" : "0.765538", "unit" : "msec", "event" : "task-clock", "variance" : 7.54, "event-runtime" : 765538, "pcnt-running" : 100.00, "metric-value" : 0.543791, "metric-unit" : "CPUs utilized"}
        {"counter-value" : "48.000000", "unit" : "", "event" : "page-faults", "variance" : 0.00, "event-runtime" : 765538, "pcnt-running" : 100.00, "metric-value" : 57.282928, "metric-unit" : "K/sec"}
        """, """
        0.765538,msec,task-clock,7.54%,765538,100.00,0.543791,CPUs utilized
        48.000000,,page-faults,0.00%,765538,100.00,57.282928,K/sec
        """),
        ("cgroups (-G)", """
        {"interval" : 1.000000000, "counter-value" : "1000", "unit" : "", "event" : "cycles", "cgroup" : "/web", "event-runtime" : 1000, "pcnt-running" : 100.00, "metric-value" : 0, "metric-unit" : ""}
        {"interval" : 1.000000000, "counter-value" : "7", "unit" : "", "event" : "cycles", "cgroup" : "/db", "event-runtime" : 1000, "pcnt-running" : 100.00, "metric-value" : 0, "metric-unit" : ""}
        """, """
        1.000000000,1000,,cycles,/web,1000,100.00,,
        1.000000000,7,,cycles,/db,1000,100.00,,
        """),
        ("hybrid parts", """
        {"interval" : 1.000000000, "counter-value" : "1000", "unit" : "", "event" : "cpu_core/cycles/", "event-runtime" : 1000, "pcnt-running" : 100.00, "metric-value" : 0, "metric-unit" : ""}
        {"interval" : 1.000000000, "counter-value" : "300", "unit" : "", "event" : "cpu_atom/cycles/", "event-runtime" : 1000, "pcnt-running" : 50.00, "metric-value" : 0, "metric-unit" : ""}
        """, """
        1.000000000,1000,,cpu_core/cycles/,1000,100.00,,
        1.000000000,300,,cpu_atom/cycles/,1000,50.00,,
        """),
    ]

    @Test(arguments: pairs.indices)
    func jsonReadsAsTheSameRecordingAsCSV(_ k: Int) throws {
        let pair = Self.pairs[k]
        var json = try PerfStatCSV.parse(pair.json)
        let csv = try PerfStatCSV.parse(pair.csv)
        #expect(json.layout == .json, "\(pair.name)")
        json.layout = csv.layout
        // Compared as text: a missing value is NaN, which == never matches.
        #expect(String(describing: json) == String(describing: csv), "\(pair.name)")
    }

    /// newer perf puts a second metric of an event on a line of its own, and `--metric-only`
    /// prints `{}`: neither is a reading.
    @Test func linesWithoutAnEventAreNoReading() throws {
        let r = try PerfStatCSV.parse("""
        {}
        {"interval" : 1.0, "counter-value" : "5", "unit" : "", "event" : "cycles", "event-runtime" : 10, "pcnt-running" : 100.00}
        {"interval" : 1.0, "metric-value" : "2.5", "metric-unit" : "GHz"}
        {}
        """)
        #expect(r.events.map(\.name) == ["cycles"] && r.intervals.count == 1 && r.isInterval)
    }

    /// Shapes other perf versions print, as reported on linux-perf-users: metric values as
    /// strings, a comma before the closing brace (ARM, perf 6.9), an event's further metric on
    /// the same line (perf 6.3 with -M).
    @Test func otherPerfVersionsShapesAreRead() throws {
        let r = try PerfStatCSV.parse("""
        {"counter-value" : "225904.823297", "unit" : "msec", "event" : "cpu-clock", "event-runtime" : 225904323425, "pcnt-running" : 100.00, "metric-value" : "224.456872", "metric-unit" : "CPUs utilized"}
        {"counter-value" : "3112.000000", "unit" : "", "event" : "armv8_pmuv3_1/branch-misses/", "event-runtime" : 20699340, "pcnt-running" : 100.00, }
        {"counter-value" : "1117309.000000", "unit" : "", "event" : "UNC_M_CAS_COUNT.RD", "event-runtime" : 8017286783, "pcnt-running" : 100.00, "metric-value" : 124.961911, "metric-unit" : "MB/s  memory_bandwidth_read"} {"metric-value" : 2.5, "metric-unit" : "MB/s  memory_bandwidth_total"}
        """)
        #expect(r.events.count == 3)
        let readings = r.intervals[0].readings.compactMap { $0 }
        #expect(readings.map(\.count) == [225_904_823_297, 3112, 1_117_309])
        #expect(readings[0].metric == 224.456872 && readings[2].metricUnit == "MB/s  memory_bandwidth_read")
    }

    @Test(arguments: [
        ("{\"interval\" : 0.1, \"counter-value\" : \"5\", \"event\" : \"cycles\"} {\"interval\" : 0.1, \"counter-value\" : \"6\", \"event\" : \"instructions\"}", "two readings"),
        ("{\"interval\" : 0.1, \"counter-value\" : \"5\", \"unit\" : \"\", \"event\" : \"cycles\"", "not closed"),
        ("{\"interval\" : 0.1, \"counter-value\" : {\"v\" : 5}, \"event\" : \"cycles\"}", "a string or a number"),
        ("{\"interval\" : 0.1, \"counter-value\" : \"-5\", \"unit\" : \"\", \"event\" : \"cycles\"}", "expected a count"),
        ("{\"interval\" : 0.1, \"counter-value\" : \"5\", \"unit\" : \"\", \"event\" : \"two words\"}", "expected an event name"),
        ("{\"interval\" : 0.1, \"counter-value\" : \"5\", \"unit\" : \"\", \"event\" : \"cyc\\u0007les\"}", "expected an event name"),
        ("{\"interval\" : 0.1, \"core\" : \"S0-D0-C0\", \"aggregate-number\" : 1e300, \"counter-value\" : \"5\", \"event\" : \"cycles\"}", "aggregate-number"),
        ("{\"interval\" : 0.1, \"cpu\" : \"zero\", \"counter-value\" : \"5\", \"event\" : \"cycles\"}", "a CPU number"),
        ("{\"interval\" : 0.1, \"socket\" : \"S0-C1\", \"aggregate-number\" : 2, \"counter-value\" : \"5\", \"event\" : \"cycles\"}", "--per-socket"),
        ("{\"interval\" : 0.1, \"event\" : \"cycles\"}", "counter-value"),
        ("{\"interval\" : \"soon\", \"counter-value\" : \"5\", \"event\" : \"cycles\"}", "\"interval\""),
        ("{\"interval\" : 0.1, \"thread\" : \"bash-4242\", \"counter-value\" : \"5\", \"event\" : \"cycles\"}", "--per-thread"),
        ("{\"interval\" : 0.1, \"counter-value\" : \"5\", \"event\" : \"cycles\"} trailing", "after the object"),
        ("{\"interval\" : 0.1, \"counter-value\" : \"5\", \"event\" : \"cyc", "not closed"),
    ])
    func hostileLinesGetAnErrorNamingTheLine(_ bad: String, _ says: String) {
        let good = "{\"interval\" : 0.1, \"counter-value\" : \"5\", \"unit\" : \"\", \"event\" : \"cycles\", \"event-runtime\" : 10, \"pcnt-running\" : 100.00}"
        for (text, line) in [(bad, 1), (good + "\n" + bad, 2)] {
            do {
                _ = try PerfStatCSV.parse(text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.line == line && error.message.contains(says), "\(error)")
            }
        }
    }

    /// `-I --summary` ends with the totals of the whole run, in both layouts: the intervals
    /// already hold them, so they are skipped rather than refused (perf 6.1's output).
    @Test func summaryTotalsAfterTheIntervalsAreSkipped() throws {
        let csv = try PerfStatCSV.parse("""
             0.300421930,601.54,msec,task-clock,601533332,100.00,2.005,CPUs utilized
             0.300421930,51,,context-switches,601533351,100.00,84.783,/sec
             0.601253045,601.59,msec,task-clock,601593276,100.00,2.005,CPUs utilized
             0.601253045,27,,context-switches,601592604,100.00,44.881,/sec
                 summary,1203.13,msec,task-clock,1203126608,100.00,1.999,CPUs utilized
                 summary,78,,context-switches,1203126955,100.00,64.070,/sec
        """)
        var json = try PerfStatCSV.parse("""
        {"interval" : 0.300421930, "counter-value" : "601.54", "unit" : "msec", "event" : "task-clock", "event-runtime" : 601533332, "pcnt-running" : 100.00, "metric-value" : 2.005, "metric-unit" : "CPUs utilized"}
        {"interval" : 0.300421930, "counter-value" : "51", "unit" : "", "event" : "context-switches", "event-runtime" : 601533351, "pcnt-running" : 100.00, "metric-value" : 84.783, "metric-unit" : "/sec"}
        {"interval" : 0.601253045, "counter-value" : "601.59", "unit" : "msec", "event" : "task-clock", "event-runtime" : 601593276, "pcnt-running" : 100.00, "metric-value" : 2.005, "metric-unit" : "CPUs utilized"}
        {"interval" : 0.601253045, "counter-value" : "27", "unit" : "", "event" : "context-switches", "event-runtime" : 601592604, "pcnt-running" : 100.00, "metric-value" : 44.881, "metric-unit" : "/sec"}
        {"counter-value" : "1203.13", "unit" : "msec", "event" : "task-clock", "event-runtime" : 1203126608, "pcnt-running" : 100.00, "metric-value" : 1.999, "metric-unit" : "CPUs utilized"}
        {"counter-value" : "78", "unit" : "", "event" : "context-switches", "event-runtime" : 1203126955, "pcnt-running" : 100.00, "metric-value" : 64.070, "metric-unit" : "/sec"}
        """)
        #expect(csv.intervals.map(\.time) == [0.30042193, 0.601253045])
        #expect(csv.intervals.map { $0.readings.compactMap { $0?.count } } == [[601_540_000, 51], [601_590_000, 27]])
        json.layout = csv.layout
        #expect(String(describing: json) == String(describing: csv))
    }

    /// --metric-only output (perf 6.1 without a PMU: time stamps only) says what it is, in
    /// every layout, rather than failing on a column.
    @Test(arguments: [
        "# started on Thu Dec  3 16:21:26 2026\n\n time,\n     0.200350421,\n     0.401119470,\n",
        "# started on Thu Dec  3 16:21:26 2026\n\n#           time \n     0.200323006 \n     0.401726359 \n",
        "# started on Thu Dec  3 16:18:11 2026\n\n{}\n{\"interval\" : 0.300746469}\n{\"interval\" : 0.601524574}\n",
    ])
    func metricOnlyOutputIsNamed(_ text: String) {
        #expect(PerfStatCSV.isPerfStat(text))
        #expect(throws: PerfStatCSV.ParseError.self) { try PerfStatCSV.parse(text) }
        do { _ = try PerfStatCSV.parse(text) } catch { #expect(error.message.contains("--metric-only"), "\(error)") }
    }

    /// Damaged files (any byte changed, or cut anywhere) are read or refused, never a crash.
    @Test func damagedFilesAreReadOrRefused() {
        let text = Array(Self.pairs.map(\.json).joined(separator: "\n").utf8)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            var t = text
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                t[Int.random(in: 0..<t.count, using: &rng)] = [UInt8(ascii: "{"), UInt8(ascii: "\""), UInt8(ascii: ","), UInt8(ascii: ":"), 0, 0xFF, UInt8(ascii: "9"), UInt8(ascii: "\\")].randomElement(using: &rng)!
            }
            if Bool.random(using: &rng) { t = Array(t.prefix(Int.random(in: 0..<t.count, using: &rng))) }
            _ = try? PerfStatCSV.parse(String(decoding: t, as: UTF8.self))
        }
    }
}
