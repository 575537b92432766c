// `perfring-collector --replay`: perf stat output and perfring's own CSV export loaded into a
// ring. A reader gets perf's counts back (value × enabled / running), the server's export of a
// replayed export gives the same values, statuses survive, and bad flags exit 2 with one line.
import Foundation
import Glibc
import Testing
@testable import Collector
@testable import Shared

/// Tests/Fixtures/perf-stat-sample.txt: `perf stat -I 100 -x, -e task-clock,context-switches,
/// cpu-migrations,page-faults,cycles,instructions,cache-references,cache-misses,branches,
/// branch-misses` of a program with a cache-missing phase then a compute phase, on a machine
/// with a PMU (four intervals multiplexed at 80 %; the hardware counters not counted in the
/// short last interval).
let perfStatFixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/perf-stat-sample.txt").path

/// Replays `file` at full speed into `ring` in this process; returns the exit status.
@discardableResult
func replay(_ file: String, into ring: String, extra: [String] = []) -> Int32 {
    collectorMain(["-q", "--ring", ring, "--replay", file, "--speed", "0"] + extra)
}

/// Every complete record of a ring with its counters scaled as a reader scales them.
func scaledCounts(_ ring: String) throws -> (RingHeader, [[Double]]) {
    let (reader, records) = try readAll(ring)
    let rows = records.map { bytes in
        view(bytes) { r in
            (0..<reader.header.eventCount).map { s -> Double in
                let c = r.counter(s)
                return c.running == 0 ? .nan : Double(c.value) * Double(c.enabled) / Double(c.running)
            }
        }
    }
    return (reader.header, rows)
}

/// Equal within `relative` (counts a reader scales: a multiplexed one is exact to about 1e-8).
func close(_ x: Double?, _ y: Double, _ relative: Double = 1e-8) -> Bool {
    guard let x else { return false }
    return abs(x - y) <= relative * max(abs(y), 1)
}

/// `perfring-server export` of a ring, parsed.
func exportJSON(_ ring: String) throws -> [String: Any] {
    let r = try runProduct("perfring-server", ["export", "--ring", ring, "--json"])
    try #require(r.status == 0, "export failed: \(r.stderr)")
    return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
}

@Suite(.serialized) struct ReplayTests {
    @Test func perfStatSampleReplaysToPerfsCounts() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        #expect(replay(perfStatFixture, into: ring) == 0)
        let perf = try PerfStatCSV.parse(try String(contentsOfFile: perfStatFixture, encoding: .utf8))
        let (header, rows) = try scaledCounts(ring)

        #expect(header.mode == .replay && header.flags.contains(.replay))
        #expect(header.target == "\(perfStatFixture) (perf stat)", "the mode says replay: the target does not repeat it")
        #expect(header.events.map(\.name) == ["task-clock", "context-switches", "cpu-migrations", "page-faults", "cycles",
                                              "instructions", "cache-references", "cache-misses", "branch-instructions", "branch-misses"])
        #expect(header.events.allSatisfy { $0.status == .counting })
        #expect(abs(Double(header.intervalNs) - 100.2e6) < 0.3e6, "the median step of perf's time stamps")
        #expect(rows.count == perf.intervals.count && rows.count == 31)
        for (row, interval) in zip(rows, perf.intervals) {
            for (e, reading) in interval.readings.enumerated() {
                let want = reading?.count ?? .nan
                #expect(want.isNaN ? row[e].isNaN : close(row[e], want), "event \(e) at \(interval.time)")
            }
        }
        let reader = try RingReader(path: ring)
        #expect(reader.stopped() == true)

        // The server's derivation (MetricDeriver, via export) of the replayed ring.
        let json = try exportJSON(ring)
        let samples = try #require(json["samples"] as? [[String: Any]])
        #expect(samples.count == 31)
        for (s, interval) in zip(samples, perf.intervals).prefix(30) {
            let cycles = interval.readings[4]!.count, instructions = interval.readings[5]!.count
            #expect(close(s["cycles"] as? Double, cycles) && close(s["instructions"] as? Double, instructions))
            #expect(close(s["ipc"] as? Double, instructions / cycles))
            #expect(close(s["task_clock"] as? Double, interval.readings[0]!.count))
        }
        #expect(abs((samples[11]["multiplex"] as? Double ?? 0) - 0.8) < 1e-6, "perf's running share comes back")
        #expect(samples[30]["cycles"] is NSNull && samples[30]["ipc"] is NSNull, "<not counted>: no value, never zero")
        #expect(close(samples[30]["task_clock"] as? Double, 410_000))
        #expect(samples[0]["cycles"] as? Double == 287_326_963, "not multiplexed: exact")
    }

    @Test func statusesAndMissingLinesStayUnavailable() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let file = dir.path + "/nopmu.txt"
        try """
             0.100177392,2.48,msec,task-clock,2478869,100.00,0.025,CPUs utilized
             0.100177392,<not supported>,,cycles,0,100.00,,
             0.100177392,<not counted>,,context-switches,0,0.00,,
             0.200500629,44.50,msec,task-clock,44495059,100.00,0.445,CPUs utilized
             0.200500629,<not supported>,,cycles,0,100.00,,
             0.200500629,18,,context-switches,44495059,100.00,404.539,/sec
             0.300000000,1.00,msec,task-clock,1000000,100.00,,
        """.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(replay(file, into: dir.path + "/ring") == 0)
        let (header, rows) = try scaledCounts(dir.path + "/ring")
        #expect(header.events.map(\.status) == [.counting, .unsupported, .counting])
        #expect(header.events[1].errno == 0 && header.target.hasSuffix("(perf stat)"))
        #expect(rows[0][0] == 2_480_000 && rows[0][2].isNaN && rows[1][2] == 18)
        #expect(rows[2][2].isNaN, "no line for the event in that interval: no data")
        let (_, records) = try readAll(dir.path + "/ring")
        #expect(view(records[0]) { $0.counter(2).running } == 0 && view(records[1]) { $0.dtNs } == 100_323_237)
    }

    /// A ring as a collector would write it: counters and every OS field the CSV carries.
    func writeSourceRing(_ path: String, records: Int) throws {
        var config = RingConfig(path: path, capacity: 64, eventCount: 4)
        config.intervalNs = 100_000_000
        config.cpuCount = 2
        let w = try RingWriter(config: config)
        let names = ["cycles", "instructions", "task-clock", "ref-cycles"]
        for (i, n) in names.enumerated() {
            let s = EventCatalog.spec(named: n)!
            w.setEvent(i, EventEntry(name: n, type: s.type, config: s.config, status: n == "ref-cycles" ? .unsupported : .counting, errno: n == "ref-cycles" ? ENOENT : 0))
        }
        try w.publish()
        var t = w.createdMonotonicNs
        for i in 0..<records {
            let dt: UInt64 = 100_000_000 + UInt64(i) * 37_123
            t += dt
            let p = w.begin()
            p.setU64(RingLayout.rTimeNs, t)
            p.setU64(RingLayout.rDtNs, dt)
            let counters: [(UInt64, UInt64, UInt64)] = [(2_000_000 + UInt64(i) * 1000, dt, dt), (3_000_000 + UInt64(i) * 7, dt, dt * 3 / 4),
                                                        (150_000_000, dt, dt), (0, 0, 0)]
            for (s, c) in counters.enumerated() {
                let o = RingLayout.rCounters + s * RingLayout.counterSize
                p.setU64(o, c.0); p.setU64(o + 8, c.1); p.setU64(o + 16, c.2)
            }
            // Two CPUs' time over dt in 10 ms ticks, as /proc/stat gives it.
            let tick: UInt64 = 10_000_000
            let os: [OSField: UInt64] = [
                .cpuUser: 6 * tick, .cpuNice: 1 * tick, .cpuSystem: 3 * tick, .cpuIdle: 8 * tick, .cpuIowait: UInt64(i % 2) * tick,
                .cpuIrq: 0, .cpuSoftirq: 1 * tick, .cpuSteal: 1 * tick,
                .memTotal: 8 << 30, .memAvailable: (5 << 30) + UInt64(i) * 4096, .swapTotal: 1 << 30, .swapFree: 1 << 29,
                .diskReadBytes: 4096 * UInt64(i), .diskWriteBytes: 1_000_000, .netRxBytes: 12_345, .netTxBytes: 678,
                .psiCpuSome: 12_000, .psiCpuFull: 0, .psiMemSome: 500, .psiMemFull: 100, .psiIoSome: 2_500, .psiIoFull: 1_000,
                .load1: 1250, .load5: 800, .load15: 500, .procsRunning: 3, .procsBlocked: 1,
                .contextSwitches: 900 + UInt64(i), .forks: 2, .interrupts: 4_000, .pageFaults: 1_500, .majorFaults: 1,
            ]
            var valid: UInt64 = 0
            for (f, v) in os { p.setU64(f.offset, v); valid |= f.bit }
            p.setU64(RingLayout.rOSValid, valid)
            w.commit(heartbeat: t)
        }
        w.markStopped()
    }

    /// CSV cells by column, from the server's export of a ring.
    func exportCSV(_ ring: String, to file: String) throws -> [String: [String]] {
        let r = try runProduct("perfring-server", ["export", "--ring", ring, "--csv", "--out", file])
        try #require(r.status == 0, "export failed: \(r.stderr)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        var out: [String: [String]] = [:]
        for (k, key) in lines[0].enumerated() { out[key] = lines.dropFirst().map { $0[k] } }
        return out
    }

    @Test func perfringCSVRoundTripsThroughAReplay() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        try writeSourceRing(dir.path + "/source", records: 12)
        let a = try exportCSV(dir.path + "/source", to: dir.path + "/a.csv")
        #expect(replay(dir.path + "/a.csv", into: dir.path + "/replayed") == 0)
        let b = try exportCSV(dir.path + "/replayed", to: dir.path + "/b.csv")
        #expect(Set(a.keys) == Set(b.keys), "the same columns")

        // Not invertible (documented in Replay.swift): swap size, and cpus_utilized, which only
        // pid and command rings show but any non-system-wide ring (a replay) derives.
        let notInvertible: Set<String> = ["swap_used_bytes", "cpus_utilized"]
        var compared = 0
        for (key, column) in a where !notInvertible.contains(key) {
            for (i, cell) in column.enumerated() {
                let other = b[key]![i]
                guard let x = Double(cell) else {
                    #expect(other.isEmpty, "\(key)[\(i)]: no value in the original, none after the replay")
                    continue
                }
                let y = try #require(Double(other), "\(key)[\(i)]: \(cell) lost in the replay")
                #expect(abs(x - y) <= 1e-6 * max(abs(x), abs(y)), "\(key)[\(i)]: \(cell) became \(other)")
                compared += 1
            }
        }
        #expect(compared > 12 * 40, "most columns carry values")
        #expect(a["ref_cycles"]!.allSatisfy(\.isEmpty) && a["multiplex"]![0] == "0.75")
        #expect(a["swap_used_bytes"]![0] != "" && b["swap_used_bytes"]!.allSatisfy(\.isEmpty), "swap's size is unknown: left invalid, never zero")
        let replayed = try RingReader(path: dir.path + "/replayed")
        let header = replayed.header
        // The replay keeps the OS running totals too: the sum of what it wrote.
        let totals = try #require(replayed.totals())
        let diskRead = a["disk_read_bps"]!.indices.reduce(0.0) { $0 + (Double(a["disk_read_bps"]![$1]) ?? 0) * (Double(a["dt_ms"]![$1]) ?? 0) / 1000 }
        #expect(close(totals.os(.diskReadBytes).map { Double($0) }, diskRead, 1e-6))
        #expect(totals.os(.cpuUser) != nil && totals.os(.memTotal) == nil)
        #expect(header.events.map(\.name) == ["cycles", "instructions", "task-clock", "ref-cycles"])
        #expect(header.events[3].status == .unsupported && header.target.hasSuffix("(perfring csv)"))
    }

    @Test func historyCountsTheRecordingsIntervals() throws {
        let recording = try ReplayRecording.load(perfStatFixture)
        guard case .run(var o) = try CollectorOptions.parse(["--replay", perfStatFixture, "--history", "2s"]) else { Issue.record("no run"); return }
        #expect(try Replay.capacity(o, recording) == 19, "2 s at the recording's 100.24 ms")
        o.capacity = 5
        #expect(try Replay.capacity(o, recording) == 5)
        o.capacity = nil
        o.historyNs = 100_000_000
        #expect(throws: UsageError.self) { try Replay.capacity(o, recording) }
    }

    @Test(arguments: [
        (["--replay", "RECORDING", "--speed", "-1"], "--speed: '-1' is not a factor of 0 or more"),
        (["--replay", "RECORDING", "--speed", "fast"], "--speed: 'fast'"),
        (["--speed", "2"], "--speed: only with --replay"),
        (["--replay", "RECORDING", "--pid", "1"], "--replay: not with --pid"),
        (["--replay", "RECORDING", "--events", "cycles"], "--replay: not with --events"),
        (["--replay", "RECORDING", "--interval", "10ms"], "--replay: not with --interval"),
        (["--replay", "RECORDING", "--", "true"], "--replay: not with -- CMD"),
        (["--replay", "GARBAGE"], "line 2, column 2: expected a count (a number, <not counted> or <not supported>), found 'lots'"),
    ])
    func badFlagsAndRecordingsExit2WithOneLine(args: [String], message: String) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        try "# perf\n0.100000000,lots,,cycles\n".write(toFile: dir.path + "/garbage.txt", atomically: true, encoding: .utf8)
        let argv = args.map { $0 == "RECORDING" ? perfStatFixture : $0 == "GARBAGE" ? dir.path + "/garbage.txt" : $0 }
        let r = try runProduct("perfring-collector", ["--ring", dir.path + "/ring"] + argv)
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains(message), "stderr: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/ring"), "nothing created")
    }

    /// A recording that cannot be read is a runtime failure (exit 1), as in `perfring-server
    /// analyze`; only one that does not parse is the input's (exit 2).
    @Test(arguments: ["/nonexistent/perf.txt", "DIR"])
    func anUnreadableRecordingExits1WithOneLine(path: String) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let recording = path == "DIR" ? dir.path : path
        let r = try runProduct("perfring-collector", ["--ring", dir.path + "/ring", "--replay", recording])
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("--replay \(recording): "), "stderr: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/ring"), "nothing created")
    }

    static let perfInstalled = access("/usr/bin/perf", X_OK) == 0

    @Test(.enabled(if: perfInstalled, "perf is not installed"))
    func thisMachinesPerfStatOutputReplays() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let out = dir.path + "/perf.txt"
        let r = try runProduct("/usr/bin/perf", ["stat", "-I", "100", "-x,", "-e", "task-clock,context-switches,page-faults", "-o", out, "--", "sleep", "1"])
        try #require(r.status == 0, "perf stat failed: \(r.stderr)")
        let perf = try PerfStatCSV.parse(try String(contentsOfFile: out, encoding: .utf8))
        #expect(perf.events.map(\.name) == ["task-clock", "context-switches", "page-faults"] && perf.intervals.count >= 5)
        #expect(replay(out, into: dir.path + "/ring") == 0)
        let (header, rows) = try scaledCounts(dir.path + "/ring")
        #expect(header.events.allSatisfy { $0.status == .counting } && rows.count == perf.intervals.count)
        for (row, interval) in zip(rows, perf.intervals) {
            for (e, reading) in interval.readings.enumerated() {
                let want = reading?.count ?? .nan
                #expect(want.isNaN ? row[e].isNaN : close(row[e], want))
            }
        }
    }
}
