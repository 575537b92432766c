// Per-CPU figures (`perfring-collector --per-cpu`) in /api/data?per_cpu=1 and /metrics: rings
// with known per-CPU counts (each CPU's share, scaled count, rate and ratio checked exactly,
// unavailable ones null, never 0), the same values in both reply formats, and a real
// collector counting software events per CPU.
import Foundation
import Glibc
import Shared
import Testing
@testable import Server

/// Three CPUs with known per-CPU sections; dt is 0.5 s, so rates are twice the counts.
enum PerCPUFixture {
    static let ms: UInt64 = 1_000_000
    static var record: FakeRecord {
        var r = FakeRecord.plain
        r.cpuTimes = [
            // user nice system idle iowait irq softirq steal: 1000 ms, 500 busy
            [300 * ms, 100 * ms, 50 * ms, 400 * ms, 100 * ms, 25 * ms, 25 * ms, 0],
            [100 * ms, 0, 0, 850 * ms, 0, 0, 0, 50 * ms],
            [],  // all zero: not sampled
        ]
        r.cpuCounters = [
            [Slot.cycles: .full(1_000_000), Slot.instructions: .full(2_000_000),
             Slot.cacheReferences: .full(1000), Slot.cacheMisses: .full(100),
             Slot.branches: .full(10_000), Slot.branchMisses: .full(500),
             Slot.taskClock: Triple(400_000_000, 500_000_000, 500_000_000), Slot.refCycles: Triple(999, 999, 999)],
            // cycles ran half its time (scaled x2); cache-references never ran (no data)
            [Slot.cycles: Triple(500_000, 1_000_000, 500_000), Slot.instructions: .full(1_000_000),
             Slot.cacheReferences: Triple(5, 1_000_000, 0), Slot.cacheMisses: .full(7)],
            [:],
        ]
        return r
    }

    /// What each CPU derives to (nil: null).
    static let expected: [[String: Double?]] = [
        ["cpu_util": 50, "cpu_user": 40, "cpu_system": 10, "cpu_iowait": 10, "cpu_steal": 0,
         "cycles": 1_000_000, "cycles_per_s": 2_000_000, "instructions": 2_000_000, "instructions_per_s": 4_000_000,
         "cache_references": 1000, "cache_misses": 100, "branches": 10_000, "branch_misses": 500,
         "task_clock": 400_000_000, "task_clock_per_s": 800_000_000,
         "ipc": 2, "cpi": 0.5, "cache_miss_rate": 10, "branch_miss_rate": 5, "cache_mpki": 0.05, "branch_mpki": 0.25],
        ["cpu_util": 15, "cpu_user": 10, "cpu_system": 0, "cpu_iowait": 0, "cpu_steal": 5,
         "cycles": 1_000_000, "cycles_per_s": 2_000_000, "instructions": 1_000_000,
         "cache_references": nil, "cache_references_per_s": nil, "cache_misses": 7, "cache_misses_per_s": 14,
         "ipc": 1, "cpi": 1, "cache_miss_rate": nil, "branch_miss_rate": nil, "cache_mpki": 0.007, "branch_mpki": nil],
        ["cpu_util": nil, "cpu_user": nil, "cpu_steal": nil, "cycles": nil, "instructions_per_s": nil, "task_clock": nil,
         "ipc": nil, "cpi": nil, "cache_miss_rate": nil, "branch_miss_rate": nil, "cache_mpki": nil, "branch_mpki": nil],
    ]

    /// Every key a reply lists by default: the shares, the counting events and their rates,
    /// the ratios (ref-cycles does not count: not listed).
    static let defaultKeys = ["cpu_util", "cpu_user", "cpu_system", "cpu_iowait", "cpu_steal",
                              "cycles", "cycles_per_s", "instructions", "instructions_per_s", "cache_references", "cache_references_per_s",
                              "cache_misses", "cache_misses_per_s", "branches", "branches_per_s", "branch_misses", "branch_misses_per_s",
                              "task_clock", "task_clock_per_s", "ipc", "cpi", "cache_miss_rate", "branch_miss_rate", "cache_mpki", "branch_mpki"]

    /// A server on a 3-CPU per-CPU ring holding `records` fixture records.
    static func server(records: Int = 4) throws -> (APITempDir, FakeCollector, APIServer) {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring, perCPU: 3)
        for _ in 0..<records { c.write(record) }
        let s = APIServer(ring: dir.ring)
        return (dir, c, s)
    }
}

func matches(_ got: Any?, _ want: Double?) -> Bool {
    guard let want else { return isNull(got) }
    guard let v = number(got) else { return false }
    return near(v, want)
}

@Suite struct PerCPUAPITests {
    @Test(arguments: 0..<3)
    func objectsHoldEachCPUsFigures(cpu: Int) throws {
        let (_, _, s) = try PerCPUFixture.server()
        let o = try s.object("/api/data?per_cpu=1&limit=2")
        #expect(number(o["cpu_count"]) == 3)
        let samples = try #require(o["samples"] as? [[String: Any]])
        #expect(samples.count == 2)
        for sample in samples {
            let perCPU = try #require(sample["per_cpu"] as? [[String: Any]])
            #expect(perCPU.count == 3)
            #expect(Array(perCPU[cpu].keys).sorted() == PerCPUFixture.defaultKeys.sorted())
            for (key, want) in PerCPUFixture.expected[cpu] {
                #expect(matches(perCPU[cpu][key], want), "cpu \(cpu) \(key): \(String(describing: perCPU[cpu][key])), want \(String(describing: want))")
            }
        }
    }

    /// format=columns: `per_cpu[key]` is one array per CPU, each as long as the columns and
    /// holding what the objects hold, sample by sample.
    @Test(arguments: ["", "&since=1", "&limit=3", "&since=2&limit=1", "&since=99"])
    func columnsAlignWithTheSamplesAndMatchTheObjects(_ cursor: String) throws {
        let (_, c, s) = try PerCPUFixture.server(records: 3)
        var other = PerCPUFixture.record
        other.cpuCounters[0][Slot.instructions] = .full(3_000_000)  // ipc 3 on CPU 0 in the last
        c.write(other)
        _ = s.eventuallyObject("/api/health") { number($0["samples"]) == 4 }
        let cols = try s.object("/api/data?per_cpu=1&format=columns" + cursor)
        let objs = try s.object("/api/data?per_cpu=1" + cursor)
        let seqs = try #require((cols["columns"] as? [String: Any])?["seq"] as? [Any])
        let samples = try #require(objs["samples"] as? [[String: Any]])
        #expect(seqs.count == samples.count && number(cols["cpu_count"]) == 3)
        let perCPU = try #require(cols["per_cpu"] as? [String: Any])
        #expect(Array(perCPU.keys).sorted() == PerCPUFixture.defaultKeys.sorted())
        for key in PerCPUFixture.defaultKeys {
            let byCPU = try #require(perCPU[key] as? [[Any]], "\(key)")
            #expect(byCPU.count == 3)
            for cpu in 0..<3 {
                #expect(byCPU[cpu].count == seqs.count, "\(key) cpu \(cpu)")
                for (i, sample) in samples.enumerated() where i < byCPU[cpu].count {
                    let want = ((sample["per_cpu"] as? [[String: Any]])?[cpu])?[key]
                    #expect(matches(byCPU[cpu][i], number(want)), "\(key) cpu \(cpu) sample \(i)")
                }
            }
        }
        if cursor.isEmpty { #expect((perCPU["ipc"] as? [[Any]])?[0].compactMap(number) == [2, 2, 2, 3]) }
    }

    @Test(arguments: ["", "&format=columns"])
    func perCPUFieldsLimitTheKeys(_ format: String) throws {
        let (_, _, s) = try PerCPUFixture.server()
        let o = try s.object("/api/data?per_cpu=1&per_cpu_fields=cpu_util,ipc,ref_cycles&fields=cycles&limit=1" + format)
        if format.isEmpty {
            let cpus = try #require((o["samples"] as? [[String: Any]])?.first?["per_cpu"] as? [[String: Any]])
            #expect(cpus.map { Array($0.keys).sorted() } == Array(repeating: ["cpu_util", "ipc", "ref_cycles"], count: 3))
            #expect(number(cpus[0]["cpu_util"]) == 50 && number(cpus[0]["ipc"]) == 2)
            #expect(isNull(cpus[0]["ref_cycles"]), "an event that does not count is null on every CPU, never its bytes")
        } else {
            let perCPU = try #require(o["per_cpu"] as? [String: [[Any]]])
            #expect(Array(perCPU.keys).sorted() == ["cpu_util", "ipc", "ref_cycles"])
            #expect(perCPU["ipc"]?.map { $0.map(number) } == [[2], [1], [nil]])
        }
    }

    /// Without the per_cpu parameter the reply is as before: no per-CPU key anywhere.
    @Test func withoutTheParameterNothingChanges() throws {
        let (_, _, s) = try PerCPUFixture.server()
        let o = try s.object("/api/data?limit=1")
        #expect(o["cpu_count"] == nil && o["per_cpu"] == nil)
        #expect((o["samples"] as? [[String: Any]])?.first?["per_cpu"] == nil)
        let c = try s.object("/api/data?limit=1&format=columns&per_cpu=0")
        #expect(c["per_cpu"] == nil)
    }

    @Test(arguments: ["", "&format=columns"])
    func aRingWithoutASectionSaysWhy(_ format: String) throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        let s = APIServer(ring: dir.ring)
        let o = try s.object("/api/data?per_cpu=1&per_cpu_fields=cpu_util,ipc" + format)
        #expect(isNull(o["per_cpu"]) && number(o["cpu_count"]) == 0)
        #expect(o["per_cpu_reason"] as? String == "the collector was started without --per-cpu")
        if format.isEmpty { #expect((o["samples"] as? [[String: Any]])?.count == 2) }
        else { #expect(((o["columns"] as? [String: Any])?["seq"] as? [Any])?.count == 2) }
    }

    @Test(arguments: ["/api/data?per_cpu=2", "/api/data?per_cpu=yes", "/api/data?per_cpu=1&per_cpu_fields=nope",
                      "/api/data?per_cpu=1&per_cpu_fields=cpu_util,<script>", "/api/data?per_cpu_fields=ipc",
                      "/api/export.csv?per_cpu=1"])
    func badPerCPUParametersAre400(_ target: String) throws {
        let (_, _, s) = try PerCPUFixture.server(records: 1)
        let r = try s.get(target)
        #expect(r.status == 400, "\(target): \(r.status) \(r.text)")
        #expect(try jsonObject(r.body)["error"] is String)
    }

    /// A large per-CPU reply streams: every sample arrives, in order, with its CPUs.
    @Test(arguments: ["", "&format=columns"])
    func aWholeRingStreams(_ format: String) throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring, capacity: 4096, perCPU: 3)
        for _ in 0..<3000 { c.write(PerCPUFixture.record) }
        let s = APIServer(ring: dir.ring)
        let r = try s.get("/api/data?per_cpu=1" + format)
        #expect(r.status == 200 && r.header("Transfer-Encoding") == "chunked")
        let o = try jsonObject(r.body)
        if format.isEmpty {
            let samples = try #require(o["samples"] as? [[String: Any]])
            #expect(samples.count == 3000 && samples.allSatisfy { ($0["per_cpu"] as? [Any])?.count == 3 })
        } else {
            let util = try #require((o["per_cpu"] as? [String: Any])?["cpu_util"] as? [[Any]])
            #expect(util.map(\.count) == [3000, 3000, 3000] && util[1].allSatisfy { number($0) == 15 })
        }
    }

    // MARK: /metrics

    @Test func metricsExportEachCPUsGaugesInTheirOwnFamilies() throws {
        let (_, _, s) = try PerCPUFixture.server()
        let r = try s.get("/metrics")
        #expect(r.status == 200)
        let samples = try parseExposition(r.text)
        func value(_ name: String, _ labels: String) -> Double? { samples.first { $0.name == name && $0.labels == labels }?.value }
        #expect(value("perfring_per_cpu_busy_ratio", "cpu=\"0\"") == 0.5)
        #expect(value("perfring_per_cpu_busy_ratio", "cpu=\"1\"") == 0.15)
        #expect(value("perfring_per_cpu_busy_ratio", "cpu=\"2\"") == nil, "not sampled: left out, never 0")
        #expect(value("perfring_per_cpu_steal_ratio", "cpu=\"1\"") == 0.05)
        #expect(value("perfring_per_cpu_ipc", "cpu=\"0\"") == 2 && value("perfring_per_cpu_ipc", "cpu=\"1\"") == 1)
        #expect(value("perfring_per_cpu_cache_miss_ratio", "cpu=\"0\"") == 0.1 && value("perfring_per_cpu_cache_miss_ratio", "cpu=\"1\"") == nil)
        #expect(value("perfring_per_cpu_events_per_second", "cpu=\"1\",event=\"cache-misses\"") == 14)
        #expect(value("perfring_per_cpu_event_seconds_per_second", "cpu=\"0\",event=\"task-clock\"") == 0.8)
        #expect(!samples.contains { $0.name.hasPrefix("perfring_per_cpu_") && $0.labels.contains("ref-cycles") }, "an event that does not count has no series")
        // The machine-wide gauges stay unlabelled, the per-CPU families are all labelled.
        #expect(samples.filter { $0.name == "perfring_ipc" }.map(\.labels) == [""])
        #expect(samples.filter { $0.name.hasPrefix("perfring_per_cpu_") }.allSatisfy { $0.labels.hasPrefix("cpu=\"") })
    }

    @Test func metricsOfARingWithoutASectionHaveNoPerCPUFamily() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        let s = APIServer(ring: dir.ring)
        let r = try s.get("/metrics")
        #expect(r.status == 200 && !r.text.contains("perfring_per_cpu_") && r.text.contains("perfring_cpu_busy_ratio 0.35"))
    }

    // MARK: the real collector

    /// `perfring-collector --per-cpu` system-wide (root: the test runs as root in CI): each CPU's
    /// software counts add up to the machine-wide ones, its time split is a share, and the
    /// hardware events this VM cannot count are null on every CPU (and no per-CPU IPC series).
    @Test(.enabled(if: geteuid() == 0, "system-wide counting needs root"))
    func theRealCollectorsPerCPUSection() throws {
        let dir = RingDir()
        let collector = try Daemon(collectorBinary, ["-q", "--ring", dir.ring, "--interval", "50ms", "--per-cpu"])
        defer { collector.stop() }
        let s = APIServer(ring: dir.ring)
        try #require(s.eventuallyObject("/api/health") { number($0["samples"]) ?? 0 >= 4 } != nil, "no samples: \(collector.log)")
        let o = try s.object("/api/data?per_cpu=1&limit=3&fields=task_clock,context_switches,cpu_util,ipc")
        let cpus = Int(number(o["cpu_count"]) ?? 0)
        #expect(cpus == Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let samples = try #require(o["samples"] as? [[String: Any]])
        #expect(samples.count == 3)
        for sample in samples {
            let perCPU = try #require(sample["per_cpu"] as? [[String: Any]])
            #expect(perCPU.count == cpus)
            for key in ["task_clock", "context_switches"] {
                let total = try #require(number(sample[key]), "\(key) counts machine-wide")
                let parts = perCPU.compactMap { number($0[key]) }
                #expect(parts.count == cpus && parts.reduce(0, +) == total, "\(key): the CPUs' counts add up to the machine's")
            }
            for c in perCPU {
                let util = try #require(number(c["cpu_util"]))
                #expect(util >= 0 && util <= 100)
                if isNull(sample["ipc"]) { #expect(isNull(c["ipc"]) && c["cycles"] == nil, "no PMU here: null, never 0") }
            }
        }
        let metrics = try s.get("/metrics").text
        #expect(metrics.contains("perfring_per_cpu_busy_ratio{cpu=\"0\"}") && metrics.contains("perfring_per_cpu_events_per_second{cpu=\"0\",event=\"context-switches\"}"))
        if isNull(samples[0]["ipc"]) { #expect(!metrics.contains("perfring_per_cpu_ipc")) }
    }
}
