// The perf stat reader shared by --replay, analyze and compare: perf's interval lines (plain and
// per-CPU), its statuses, units and event spellings, and errors that name the line.
import Testing
@testable import Shared

@Suite struct PerfStatCSVTests {
    /// One line, parsed: the event and its reading.
    static func single(_ line: String) throws -> (PerfStatCSV.Event, PerfStatCSV.Reading) {
        let r = try PerfStatCSV.parse(line)
        return (r.events[0], try #require(r.intervals[0].readings[0]))
    }

    @Test(arguments: [
        // line, event name, unit, count, running %, status
        ("     0.100163341,287326963,,cycles,100163341,100.00,2.906,GHz", "cycles", "", 287326963.0, 100.0, PerfStatCSV.Status.counted),
        ("0.1,2.48,msec,task-clock,2478869,100.00,0.025,CPUs utilized", "task-clock", "ns", 2_480_000.0, 100.0, .counted),
        ("0.1,1234,,instructions,50000,50.00,,", "instructions", "", 1234.0, 50.0, .counted),
        ("0.1,77,,cs", "context-switches", "", 77.0, 100.0, .counted),
        ("0.1,5,,cpu-cycles:u,100,100.00,,", "cycles", "", 5.0, 100.0, .counted),
        ("0.1,5,,cpu/instructions/k,100,100.00,,", "instructions", "", 5.0, 100.0, .counted),
        ("0.1,6,,branches,100,100.00,,", "branch-instructions", "", 6.0, 100.0, .counted),
        ("0.1,7,,faults,100,100.00,,", "page-faults", "", 7.0, 100.0, .counted),
        ("0.1,12.5,Joules,power/energy-pkg/,100,100.00,,", "energy-pkg", "Joules", 12.5, 100.0, .counted),
        // run = enabled = 0 (perf prints 100 %): the task did not run, it counted 0.
        ("0.210249463,<not counted>,msec,task-clock,0,100.00,,", "task-clock", "ns", 0, 100.0, .notCounted),
        ("0.210249463,<not counted>,,cycles,0,0.00,,", "cycles", "", .nan, 0.0, .notCounted),
        ("0.1,<not supported>,,cycles,0,100.00,,", "cycles", "", .nan, 0.0, .notSupported),
    ])
    func readsOneLine(line: String, name: String, unit: String, count: Double, pct: Double, status: PerfStatCSV.Status) throws {
        let (event, reading) = try Self.single(line)
        #expect(event.name == name && event.unit == unit)
        #expect(reading.status == status && reading.runningPct == pct)
        #expect(count.isNaN ? reading.count.isNaN : reading.count == count, "<not ...> is no value, never zero")
    }

    @Test func groupsLinesIntoIntervalsInEventOrder() throws {
        let text = """
        # started on Tue Mar  3 10:14:22 2026

        0.100,10,,cycles,100,100.00,,
        0.100,20,,instructions,100,100.00,,
        0.200,11,,cycles,100,100.00,,
        0.300,12,,cycles,100,100.00,,
        0.300,<not counted>,,instructions,0,0.00,,
        """
        let r = try PerfStatCSV.parse(text)
        #expect(r.events.map(\.name) == ["cycles", "instructions"] && r.cpus == 0)
        #expect(r.intervals.map(\.time) == [0.1, 0.2, 0.3])
        #expect(r.intervals[0].readings.map { $0?.count } == [10, 20])
        #expect(r.intervals[1].readings[1] == nil, "no line for instructions at 0.2: no reading")
        #expect(r.intervals[2].readings[1]?.status == .notCounted)
    }

    @Test func sumsPerCPULines() throws {
        let text = """
        0.203475042,CPU0,209.04,msec,task-clock,209044546,100.00,1.045,CPUs utilized
        0.203475042,CPU1,209.04,msec,task-clock,209037052,100.00,1.045,CPUs utilized
        0.203475042,CPU0,<not supported>,,cycles,0,100.00,,
        0.203475042,CPU1,<not supported>,,cycles,0,100.00,,
        0.203475042,CPU0,397,,cs,209043424,60.00,1.899,K/sec
        0.203475042,CPU1,113,,cs,209033355,80.00,540.573,/sec
        0.203475042,CPU0,<not counted>,,page-faults,0,0.00,,
        0.203475042,CPU1,9,,page-faults,209033355,100.00,,
        """
        let r = try PerfStatCSV.parse(text)
        #expect(r.cpus == 2 && r.intervals.count == 1)
        let rs = r.intervals[0].readings
        #expect(rs[0]?.count == 2 * 209.04e6 && rs[0]?.status == .counted)
        #expect(rs[1]?.status == .notSupported && rs[1]?.count.isNaN == true)
        #expect(rs[2]?.count == 510 && rs[2]?.runningPct == 70, "counts add; the running share is the CPUs' mean")
        #expect(rs[3]?.count == 9 && rs[3]?.status == .counted, "one CPU counted: the sum is what it counted")
    }

    @Test(arguments: [
        ("x,1,,cycles,1,100.00,,", 1, "column 1: expected a count (a number, <not counted> or <not supported>), found 'x'"),
        ("# comment\n\n0.100000000,abc,,cycles,1,100.00,,", 3, "column 2: expected a count (a number, <not counted> or <not supported>), found 'abc'"),
        ("0.1,5", 1, "the line has 2 columns, too few"),
        ("0.100000000,worker-12,2.48,msec,task-clock,1,100.00,,", 1, "found 'worker-12' (per-thread output"),
        ("0.2,1,,cycles\n0.1,1,,cycles", 2, "goes back"),
        ("0.1,1,,cycles\n0.1,2,,cycles", 2, "cycles printed twice"),
        ("0.1,CPU0,1,,cycles\n0.1,CPU0,2,,cycles", 2, "twice for CPU0"),
        ("0.1,1,,cycles\n0.1,1,,cycles:u", 2, "'cycles:u' and 'cycles' both count cycles"),
        ("0.1,1,,cycles,100,150.00,,", 1, "column 5: expected the counter's run time (ns) and running percentage (0 to 100) after the event name cycles, found '100'"),
        ("0.1,CPU0,1,,cycles\n0.1,2,,instructions", 2, "mixes per-CPU (-A) lines and aggregated lines"),
        ("0.1,1,,42", 1, "column 4: expected an event name, found '42'"),
        ("0.1,-5,,cycles", 1, "column 2: expected a count"),
        ("# only a comment\n", 2, "no perf stat data"),
    ])
    func refusesWhatItCannotReadNamingTheLine(text: String, line: Int, message: String) {
        #expect {
            _ = try PerfStatCSV.parse(text)
        } throws: { e in
            guard let e = e as? PerfStatCSV.ParseError else { return false }
            return e.line == line && e.description.contains(message) && e.description.hasPrefix("line \(line)")
        }
    }

    @Test(arguments: [
        ("  0.1,5,,cycles\n", true),
        ("# started on ...\n\n0.1,5,,cycles\n", true),
        ("seq,time_ms,cycles\n0,1,2\n", false),
        ("", false),
    ])
    func tellsPerfStatFromACSVWithAHeader(text: String, perfStat: Bool) {
        #expect(PerfStatCSV.isPerfStat(text) == perfStat)
    }
}

@Suite struct NumericCSVTests {
    @Test func readsNumbersAndEmptyCellsAsMissing() throws {
        let t = try NumericCSV.parse("# exported\nseq,time_ms,cycles\n0,1000,5\n1,1100,\n")
        #expect(t.header == ["seq", "time_ms", "cycles"] && t.lines == [3, 4])
        #expect(t.rows[0] == [0, 1000, 5] && t.rows[1][2].isNaN)
        #expect(t.column("cycles") == 2 && t.column("nope") == nil)
    }

    @Test(arguments: [
        ("a,b\n1,2\n3\n", 3, "1 fields, the header has 2"),
        ("a,b\n1,x\n", 2, "b: 'x' is not a number"),
        ("a,,c\n", 1, "header column 2 has no name"),
        ("\n# nothing\n", 3, "no data"),
    ])
    func refusesNamingLineAndColumn(text: String, line: Int, message: String) {
        #expect {
            _ = try NumericCSV.parse(text)
        } throws: { e in
            (e as? NumericCSV.ParseError).map { $0.line == line && $0.message.contains(message) } ?? false
        }
    }
}

/// Layouts perf writes that the shared corpus has no file of, written from stat-display.c
/// (aggr_printout, print_noise_pct, print_cgroup, print_running, new_line_csv) across versions.
@Suite struct PerfStatLayoutTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var text: String
        /// Expected: events (perfring names), per interval the counts of the first event.
        var events: [String]
        var firstCounts: [Double]
        var cpus = 0
        var aggregation: String?
        var systemWide: Bool?
        var description: String { name }
    }

    static let cases: [Case] = [
        .init(name: "-x; interval", text: """
            # started on Mon Jan  5 10:00:00 2026

                 1.000123456;4000000;;cycles;1000000000;100.00;4.000;GHz
                 1.000123456;8000000;;instructions;1000000000;100.00;2.00;insn per cycle
                 2.000234567;4100000;;cycles;1000000000;100.00;4.100;GHz
                 2.000234567;8200000;;instructions;1000000000;100.00;2.00;insn per cycle
            """, events: ["cycles", "instructions"], firstCounts: [4_000_000, 4_100_000]),
        .init(name: "-x '::' (several characters), empty unit and metric", text: """
                 1.000000000::5000::::cycles::1000::100.00::::
                 1.000000000::2.50::msec::task-clock::2500000::100.00::0.002::CPUs utilized
            """, events: ["cycles", "task-clock"], firstCounts: [5000]),
        .init(name: "--per-core (perf 5.x: S0-D0-C0, CPUs in the core)", text: """
                 1.001000000,S0-D0-C0,2,1000,,cycles,2002000000,100.00,,
                 1.001000000,S0-D0-C1,2,3000,,cycles,2002000000,100.00,,
            """, events: ["cycles"], firstCounts: [4000], cpus: 4, aggregation: "--per-core", systemWide: true),
        .init(name: "--per-core (perf 4.x: S0-C0)", text: """
            S0-C0,2,1000,,cycles,2002000000,100.00,,
            S0-C1,2,3000,,cycles,2002000000,100.00,,
            """, events: ["cycles"], firstCounts: [4000], cpus: 4, aggregation: "--per-core", systemWide: true),
        .init(name: "--per-socket", text: """
                 1.000000000,S0,8,100,,cycles,8000000000,100.00,,
                 1.000000000,S1,8,200,,cycles,8000000000,100.00,,
            """, events: ["cycles"], firstCounts: [300], cpus: 16, aggregation: "--per-socket", systemWide: true),
        .init(name: "--per-die", text: "     1.000000000,S0-D1,4,70,,instructions,4000000000,100.00,,\n",
              events: ["instructions"], firstCounts: [70], cpus: 4, aggregation: "--per-die", systemWide: true),
        .init(name: "--per-node", text: "     1.000000000,N0,24,9,,cache-misses,24000000000,100.00,,\n",
              events: ["cache-misses"], firstCounts: [9], cpus: 24, aggregation: "--per-node", systemWide: true),
        .init(name: "-G cgroups: one event in two cgroups, summed", text: """
                 1.000000000,1000,,cycles,system.slice,1000000000,100.00,,
                 1.000000000,500,,cycles,user.slice,1000000000,100.00,,
                 2.000000000,1100,,cycles,system.slice,1000000000,100.00,,
                 2.000000000,600,,cycles,user.slice,1000000000,100.00,,
            """, events: ["cycles"], firstCounts: [1500, 1700]),
        .init(name: "-r 5 totals with the variance column", text: """
            5000,,cycles,0.50%,1000000,100.00,2.00,GHz
            10000,,instructions,1.25%,1000000,100.00,2.00,insn per cycle
            """, events: ["cycles", "instructions"], firstCounts: [5000]),
        .init(name: "-r 5 human", text: """

             Performance counter stats for './a.out' (5 runs):

                      5,000      cycles                    #    2.000 GHz                      ( +-  0.50% )
                     10,000      instructions              #    2.00  insn per cycle           ( +-  1.25% )

                   0.002500 +- 0.000010 seconds time elapsed  ( +-  0.40% )
            """, events: ["cycles", "instructions"], firstCounts: [5000], systemWide: false),
        .init(name: "-A human interval", text: """
            #           time CPU                    counts unit events
                 1.000000000 CPU0                  1,234      cycles
                 1.000000000 CPU1                  2,000      cycles
            """, events: ["cycles"], firstCounts: [3234], cpus: 2, aggregation: "per-CPU (-A)", systemWide: true),
        .init(name: "fr_FR: narrow no-break space groups, decimal comma", text: """
             Performance counter stats for 'system wide':

                 1\u{202f}234\u{202f}567      cycles
                   1\u{202f}101,01 msec task-clock                #    0,999 CPUs utilized

                   1,101976138 seconds time elapsed
            """, events: ["cycles", "task-clock"], firstCounts: [1_234_567], systemWide: true),
        .init(name: "de_CH: apostrophe groups", text: "        12'345'678      instructions:u\n",
              events: ["instructions"], firstCounts: [12_345_678]),
        .init(name: "plain spaces as groups", text: "         1 234 567      branch-misses\n",
              events: ["branch-misses"], firstCounts: [1_234_567]),
        .init(name: "metric-only lines (perf 5.x CSV, 6.x topdown titles) are not readings", text: """
                 1.000000000,1000,,cycles,1000,100.00,,
                 1.000000000,,,,,,0.37,stalled cycles per insn
                 1.000000000,2000,,instructions,1000,100.00,2.00,insn per cycle
            """, events: ["cycles", "instructions"], firstCounts: [1000]),
        .init(name: "perf 6.x human: TopdownL1 title and `name [pmu]`", text: """
                     3,000      cycles [cpu_core]
                     1,000      cycles [cpu_atom]
                         TopdownL1 (cpu_core)                 #     27.0 %  tma_backend_bound
                                                              #      6.9 %  tma_bad_speculation
            """, events: ["cycles"], firstCounts: [4000]),
        .init(name: "human <not supported> and a starved <not counted>", text: """
                 <not supported>      cycles
                   <not counted>      instructions                                                  (0.00%)
                        12      context-switches
            """, events: ["cycles", "instructions", "context-switches"], firstCounts: [.nan]),
        .init(name: "perf 2.6 human: task-clock in msec without the unit", text: "       1708.761321  task-clock                #   11.037 CPUs utilized\n",
              events: ["task-clock"], firstCounts: [1_708_761_321]),
        .init(name: "perf 3.x/4.x -r human: `task-clock (msec)`, CPU-migrations, no grouping", text: """

             Performance counter stats for './test1' (100 runs):

                   141.503704      task-clock (msec)         #    1.690 CPUs utilized            ( +-  1.18% )
                           34      CPU-migrations            #    0.241 K/sec                    ( +-  0.65% )
                    683033312      cpu-cycles                                                    ( +-  0.03% )

                  1.98093 +- 0.00586 seconds time elapsed  ( +-  0.30% )
            """, events: ["task-clock", "cpu-migrations", "cycles"], firstCounts: [141_503_704], systemWide: false),
        .init(name: "a command line comment says -a", text: "# perf stat -a -I 1000 -x, -e cycles\n     1.000000000,5,,cycles,1,100.00,,\n",
              events: ["cycles"], firstCounts: [5], systemWide: true),
    ]

    @Test(arguments: cases)
    func readsLayoutsPerfWrites(c: Case) throws {
        let r = try PerfStatCSV.parse(c.text)
        #expect(r.events.map(\.name) == c.events)
        let counts = r.intervals.map { $0.readings[0]?.count ?? -1 }
        #expect(counts.count == c.firstCounts.count && zip(counts, c.firstCounts).allSatisfy { $0.isNaN && $1.isNaN || abs($0 - $1) < 1e-6 },
                "\(counts)")
        #expect(r.cpus == c.cpus && r.aggregation == c.aggregation)
        #expect(r.systemWide == c.systemWide, "\(r.scopeEvidence)")
    }

    @Test func cgroupsAndVarianceAreRecorded() throws {
        let g = try PerfStatCSV.parse(Self.cases.first { $0.name.hasPrefix("-G") }!.text)
        #expect(g.cgroups == ["system.slice", "user.slice"] && g.events[0].parts == ["cycles @system.slice", "cycles @user.slice"])
        let r = try PerfStatCSV.parse(Self.cases.first { $0.name.hasPrefix("-r 5 totals") }!.text)
        #expect(r.hasVariance && r.intervals[0].readings[1]?.metric == 2 && r.intervals[0].readings[1]?.metricUnit == "insn per cycle")
        let h = try PerfStatCSV.parse(Self.cases.first { $0.name == "-r 5 human" }!.text)
        #expect(h.intervals[0].time == 0.0025 && h.layout == .human)
    }

    @Test func hybridPartsSumWithTheirRunningShares() throws {
        let r = try PerfStatCSV.parse("""
                 3,000      cpu_core/cycles/                                              (80.00%)
                 1,000      cpu_atom/cycles/                                              (10.00%)
                   <not counted>      cpu_atom/instructions/
                 6,000      cpu_core/instructions/
            """)
        let cycles = try #require(r.intervals[0].readings[0]), instructions = try #require(r.intervals[0].readings[1])
        #expect(r.events[0].parts == ["cpu_core/cycles/", "cpu_atom/cycles/"] && cycles.parts == [3000, 1000])
        #expect(cycles.count == 4000 && cycles.runningPct == 90, "a task runs on one kind of core at a time: the shares add")
        #expect(instructions.count == 6000 && instructions.parts == [0, 6000], "<not counted> without a percentage: the task never ran on an atom core")
    }

    /// Broken files: each error names the line, the column where it can, and what was expected.
    @Test(arguments: [
        ("truncated last line", "     1.000000000,5,,cycles,100,100.00,,\n     2.000000000,6", "line 2, column 2: expected value,unit,event: the line has 2 columns"),
        ("wrong column count", "     1.000000000,5,,cycles,100,100.00,,\n     2.000000000,5,,cycles,100", "line 2, column 5: expected the counter's run time (ns) and running percentage (0 to 100) after the event name cycles, found '100'"),
        ("not a number", "     1.000000000,5,,cycles,100,100.00,,\n     2.000000000,12x4,,cycles,100,100.00,,", "line 2, column 2: expected a count (a number, <not counted> or <not supported>), found '12x4'"),
        ("mixed separators", "     1.000000000;5;;cycles;100;100.00;;\n     2.000000000,5,,cycles,100,100.00,,", "line 2, column 1: expected a time stamp"),
        ("mixed locales", "         1,234,567      cycles\n         1.234.567      instructions", "line 2, column 10: '1.234.567' does not read in this file's locale (its decimal mark is '.')"),
        ("a line without its time stamp", "     1.000000000,5,,cycles,100,100.00,,\n5,,instructions,100,100.00,,", "line 2, column 1: expected a time stamp"),
        ("prose where data belongs", "         1,234      cycles\n hello world\n", "line 2, column 2: expected a count (digits, grouped as the locale prints them), <not counted> or <not supported>, found 'hello'"),
        ("a digit group of four", "         12,3456      cycles\n", "line 1, column 10: '12,3456' is not a count as perf prints one"),
        ("time goes back", "     2.000000000,5,,cycles\n     1.000000000,5,,cycles", "line 2: time stamp 1.0 goes back (line 1's was 2.0)"),
        ("a value where the unit belongs", "     1.000000000,5,7,cycles,100,100.00,,", "line 1, column 3: expected the value's unit"),
        ("an empty file", "\n\n", "line 3: no perf stat data in the input"),
    ])
    func malformedVariantsNameLineColumnAndWhat(name: String, text: String, message: String) {
        #expect {
            _ = try PerfStatCSV.parse(text)
        } throws: { e in
            guard let e = e as? PerfStatCSV.ParseError else { return false }
            return "\(e)".hasPrefix(message) || "\(e)".contains(message)
        }
        do { _ = try PerfStatCSV.parse(text) } catch { #expect("\(error)".contains(message), "\(name): \(error)") }
    }
}
