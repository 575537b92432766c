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
