// `perfring-server export` and `compare`, and the recordings directory behind /api/recordings
// and /api/compare: rings with known counts (FakeCollector) written out and compared, the change
// figures checked, metrics missing on one side shown as n/a, and names that could leave the
// directory refused.
import Foundation
import Glibc
import Shared
import Testing
@testable import Server

@Suite struct ExportCompareTests {
    // MARK: export

    @Test func exportWritesEverySampleAsCSVAndJSON() throws {
        let dir = APITempDir()
        let fake = try FakeCollector(path: dir.ring)
        fake.write(5)
        let csvPath = dir.path + "/out.csv", jsonPath = dir.path + "/out.json"
        #expect(exportMain(["--ring", dir.ring, "--csv", "--out", csvPath]) == 0)
        #expect(exportMain(["--ring=\(dir.ring)", "--json", "--out", jsonPath]) == 0)

        let lines = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let keys = MetricDeriver(header: try RingReader(path: dir.ring).header).columns.map(\.key)
        #expect(lines[0].map(String.init) == keys && lines.count == 6)
        let col = { (k: String) in keys.firstIndex(of: k)! }
        #expect(lines[1][col("cycles")] == "2000000" && lines[5][col("ipc")] == "1.5")
        #expect(lines.dropFirst().allSatisfy { $0[col("ref_cycles")].isEmpty }, "an event that does not count: empty, never 0")

        let json = try jsonObject(Array(try Data(contentsOf: URL(fileURLWithPath: jsonPath))))
        #expect(json["generation"] as? String == fake.generationHex)
        let events = try #require(json["events"] as? [[String: Any]])
        #expect(events.count == Slot.events.count && events[Slot.refCycles]["status"] as? String == "unsupported")
        let samples = try #require(json["samples"] as? [[String: Any]])
        #expect(samples.count == 5 && samples.allSatisfy { $0.keys.contains("phase") })
        #expect(number(samples[0]["cycles"]) == 2_000_000 && number(samples[0]["ipc"]) == 1.5 && isNull(samples[0]["ref_cycles"]))
    }

    /// With neither --csv nor --json, export writes the CSV.
    @Test func exportDefaultsToCSV() throws {
        let dir = APITempDir()
        try FakeCollector(path: dir.ring).write(3)
        let plain = dir.path + "/plain.csv", csv = dir.path + "/out.csv"
        #expect(exportMain(["--ring", dir.ring, "--out", plain]) == 0)
        #expect(exportMain(["--ring", dir.ring, "--csv", "--out", csv]) == 0)
        let written = try Data(contentsOf: URL(fileURLWithPath: plain))
        #expect(written == (try Data(contentsOf: URL(fileURLWithPath: csv))) && written.starts(with: Array("seq,".utf8)))
    }

    static let exportFailures: [([String], Int32)] = [
        (["--csv", "--json"], 2), (["--csv=yes"], 2), (["--frobnicate", "--csv"], 2), (["extra", "--csv"], 2),
        (["--ring", "/nonexistent/ring", "--csv"], 1), (["--csv", "--out", "/nonexistent/dir/out.csv"], 1),
    ]

    @Test(arguments: exportFailures)
    func exportFailuresHaveTheirExitStatus(args: [String], status: Int32) throws {
        let dir = APITempDir()
        let fake = try FakeCollector(path: dir.ring)
        fake.write(1)
        let argv = args.contains("--ring") ? args : ["--ring", dir.ring] + args
        #expect(exportMain(argv) == status)
    }

    // MARK: compare

    /// Ring A: the plain interval four times. Ring B: half the cycles, and the cache events do
    /// not count there.
    func twoRings(_ dir: APITempDir) throws -> (a: String, b: String) {
        let a = dir.path + "/a.ring", b = dir.path + "/b.ring"
        try FakeCollector(path: a).write(4)
        var events = Slot.events
        for s in [Slot.cacheReferences, Slot.cacheMisses] { events[s].status = .unsupported }
        let fb = try FakeCollector(path: b, events: events)
        var r = FakeRecord.plain
        r.counters[Slot.cycles] = .full(1_000_000)
        for _ in 0..<4 { fb.write(r) }
        return (a, b)
    }

    @Test func comparesTwoRingsWithKnownCounts() throws {
        let dir = APITempDir()
        let (a, b) = try twoRings(dir)
        let (ta, sa) = try MetricTable.load(a), (tb, sb) = try MetricTable.load(b)
        #expect(sa == "ring" && sb == "ring")
        let c = Comparison(a: ("a.ring", ta, sa), b: ("b.ring", tb, sb))
        let row = { (k: String) in c.rows.first { $0.key == k } }

        let duration = try #require(row("duration_s"))
        #expect(duration.a == 2 && duration.b == 2 && duration.change == 0)
        let cycles = try #require(row("cycles"))
        #expect(cycles.kind == .total && cycles.a == 8_000_000 && cycles.b == 4_000_000)
        #expect(cycles.change == -4_000_000 && cycles.changePct == -50)
        let instructions = try #require(row("instructions"))
        #expect(instructions.a == 12_000_000 && instructions.change == 0 && instructions.changePct == 0)
        let ipc = try #require(row("ipc"))
        #expect(ipc.kind == .mean && ipc.a == 1.5 && ipc.b == 3 && ipc.changePct == 100)
        let rate = try #require(row("cycles_per_s"))
        #expect(rate.kind == .mean && rate.a == 4_000_000 && rate.b == 2_000_000, "a rate averages over time")
        let cache = try #require(row("cache_references"))
        #expect(cache.a == 400_000 && cache.b.isNaN && cache.change.isNaN && cache.changePct.isNaN, "only in A: n/a in B, never 0")
        #expect(row("ref_cycles") == nil, "unavailable in both: left out")
        #expect(row("seq") == nil && row("time_ms") == nil)
        for side in [c.a, c.b] {
            #expect(side.samples == 4 && abs(side.phases.map(\.share).reduce(0, +) - 1) < 1e-9)
        }

        var w = JSONWriter()
        c.write(into: &w)
        let json = try jsonObject(w.bytes)
        let metrics = try #require(json["metrics"] as? [[String: Any]])
        let cacheJSON = try #require(metrics.first { $0["key"] as? String == "cache_references" })
        #expect(isNull(cacheJSON["b"]) && isNull(cacheJSON["change"]) && isNull(cacheJSON["change_pct"]))
        #expect((json["a"] as? [String: Any])?["source"] as? String == "ring")

        let text = c.text()
        let cacheLine = try #require(text.split(separator: "\n").first { $0.hasPrefix("cache_references ") })
        #expect(cacheLine.contains("n/a") && !cacheLine.contains(" 0 "))
        #expect(text.contains("cycles") && text.contains("-50%") && text.contains("phases A: "))
    }

    @Test func comparesPerfStatAgainstACSVExport() throws {
        // Before: half cache-missing, half compute; after: all compute (perf stat output), and
        // the same run exported by perfring as a CSV.
        let before = try MetricTable.parse(perfStatWithPMU(memory: 30, compute: 30))
        let after = try MetricTable.parse(perfStatWithPMU(memory: 0, compute: 60))
        let c = Comparison(a: ("before", before, "perf stat"), b: ("after", after, "perf stat"))
        let cycles = try #require(c.rows.first { $0.key == "cycles" })
        #expect(cycles.kind == .total && cycles.a == 60 * 2.4e8 && cycles.changePct == 0)
        let taskClock = try #require(c.rows.first { $0.key == "task_clock" })
        #expect(taskClock.kind == .total && abs(taskClock.a - 60 * 100e6) < 1)
        #expect(c.a.phases.map(\.phaseClass).sorted() == ["compute-bound", "memory-bound"])
        #expect(c.b.phases.map(\.phaseClass) == ["compute-bound"] && c.b.phases[0].share == 1)

        let export = try MetricTable.parse("seq,time_ms,dt_ms,cycles,cycles_per_s,cpu_util\n0,100,100,5,50,10\n1,200,100,7,70,30\n")
        let mixed = Comparison(a: ("before", before, "perf stat"), b: ("export.csv", export, "csv"))
        let util = try #require(mixed.rows.first { $0.key == "cpu_util" })
        #expect(util.a.isNaN && util.b == 20, "only in B: n/a in A")
        #expect(mixed.rows.first { $0.key == "cycles" }?.b == 12)
    }

    static let compareRuns: [([String], Int32)] = [
        (["ONE"], 2), (["ONE", "TWO", "THREE"], 2), (["--frobnicate", "ONE", "TWO"], 2),
        (["ONE", "/nonexistent/b.csv"], 1), (["ONE", "GARBAGE"], 2), (["ONE", "TWO"], 0), (["ONE", "TWO", "--json"], 0),
    ]

    @Test(arguments: compareRuns)
    func compareCommandLine(args: [String], status: Int32) throws {
        let dir = APITempDir()
        let (a, b) = try twoRings(dir)
        try "time_ms,cpu_util\n1,2\nx,3\n".write(toFile: dir.path + "/garbage.csv", atomically: true, encoding: .utf8)
        let argv = args.map { ["ONE": a, "TWO": b, "THREE": a, "GARBAGE": dir.path + "/garbage.csv"][$0] ?? $0 }
        #expect(compareMain(argv) == status)
    }

    // MARK: recordings directory

    @Test(arguments: [
        ("before.csv", true), ("run 2 (after).txt", true), ("ring", true),
        ("", false), (".", false), ("..", false), (".hidden", false), ("../ring", false), ("a/b", false),
        ("/etc/passwd", false), ("x\u{0}y", false), ("tab\tname", false), (String(repeating: "n", count: 256), false),
    ])
    func recordingNamesCannotLeaveTheDirectory(name: String, valid: Bool) {
        #expect(RecordingsDirectory.isValidName(name) == valid)
    }

    /// DIR with two recordings, a hidden file, a subdirectory, a symlink and a FIFO; a ring
    /// outside it.
    func recordingsDir(_ dir: APITempDir) throws -> String {
        let rec = dir.path + "/recordings"
        mkdir(rec, 0o755)
        let (a, b) = try twoRings(dir)
        _ = system("cp '\(a)' '\(rec)/a.ring' && cp '\(b)' '\(rec)/b.ring'")
        try "x".write(toFile: rec + "/.hidden", atomically: true, encoding: .utf8)
        mkdir(rec + "/sub", 0o755)
        symlink(a, rec + "/link")
        mkfifo(rec + "/fifo", 0o644)
        return rec
    }

    @Test func listsOnlyPlainFilesDirectlyInTheDirectory() throws {
        let dir = APITempDir()
        let api = PerfringAPI(ringPath: dir.ring, files: nil, recordingsDir: try recordingsDir(dir))
        let r = api.recordingList()
        #expect(r.status == .ok)
        let list = try #require(try jsonObject(r.body)["recordings"] as? [[String: Any]])
        #expect(list.map { $0["name"] as? String } == ["a.ring", "b.ring"])
        #expect(list.allSatisfy { (number($0["bytes"]) ?? 0) > 4096 })
        #expect(PerfringAPI(ringPath: dir.ring, files: nil).recordingList().status == .notFound, "no --recordings: 404")
    }

    @Test(arguments: [
        ("../a.ring", 400), ("..", 400), (".hidden", 400), ("sub/../a.ring", 400), ("/etc/passwd", 400), ("", 400),
        ("link", 404), ("sub", 404), ("fifo", 404), ("missing", 404), ("a.ring", 200),
    ])
    func compareRefusesNamesOutsideTheDirectory(name: String, status: Int) throws {
        let dir = APITempDir()
        let api = PerfringAPI(ringPath: dir.ring, files: nil, recordingsDir: try recordingsDir(dir))
        let r = api.compare([HTTPQueryItem("a", name), HTTPQueryItem("b", "b.ring")])
        #expect(r.status.code == status, "\(String(decoding: r.body, as: UTF8.self))")
        if status != 200 {
            #expect(!String(decoding: r.body, as: UTF8.self).contains(dir.path), "the server's paths stay private")
        }
    }

    @Test func compareEndpointGivesTheCLIsJSON() throws {
        let dir = APITempDir()
        let rec = try recordingsDir(dir)
        let api = PerfringAPI(ringPath: dir.ring, files: nil, recordingsDir: rec)
        let r = api.compare([HTTPQueryItem("a", "a.ring"), HTTPQueryItem("b", "b.ring")])
        #expect(r.status == .ok)
        let c = Comparison(a: ("a.ring", try MetricTable.load(rec + "/a.ring").table, "ring"), b: ("b.ring", try MetricTable.load(rec + "/b.ring").table, "ring"))
        var w = JSONWriter()
        c.write(into: &w)
        #expect(r.body == w.bytes)
        #expect(api.compare([HTTPQueryItem("a", "a.ring")]).status == .badRequest, "b missing")
        #expect(api.compare([HTTPQueryItem("a", "a.ring"), HTTPQueryItem("b", "b.ring"), HTTPQueryItem("c", "x")]).status == .badRequest)
    }
}
