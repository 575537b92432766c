// perfring-server's application end to end: rings written by a fake counter source (every
// counter triple and OS value known), the server on 127.0.0.1:0, real sockets. Derived values
// are checked exactly (to the JSON's 10 significant digits); unavailable ones must be null,
// never 0. Waits are deadlines for a condition (the server's tick polling the ring), not timings.
import Foundation
import Glibc
import Shared
import Testing
@testable import Server

// MARK: expected values

/// What `FakeRecord.plain` derives to (nil: null). dt is 0.5 s, so rates are twice the counts.
let plainExpected: [String: Double?] = [
    "dt_ms": 500, "missed": 0, "gap": 0,
    "cycles": 2_000_000, "cycles_per_s": 4_000_000, "instructions": 3_000_000, "instructions_per_s": 6_000_000,
    "cache_references": 100_000, "cache_references_per_s": 200_000, "cache_misses": 5_000, "cache_misses_per_s": 10_000,
    "branches": 400_000, "branches_per_s": 800_000, "branch_misses": 8_000, "branch_misses_per_s": 16_000,
    "task_clock": 250_000_000, "task_clock_per_s": 500_000_000,
    "ref_cycles": nil, "ref_cycles_per_s": nil,
    "multiplex": 1, "ipc": 1.5, "cpi": 2.0 / 3, "cache_miss_rate": 5, "branch_miss_rate": 2,
    "cache_mpki": 5.0 / 3, "branch_mpki": 8.0 / 3,
    // system-wide task-clock counts idle CPUs too: no "CPUs utilized" there
    "cpus_utilized": nil,
    // CPU split: 300 user + 100 nice + 200 system + 50 irq + 50 softirq busy of 2000 ms
    "cpu_util": 35, "cpu_user": 20, "cpu_system": 15, "cpu_iowait": 5, "cpu_steal": 0,
    "mem_used_pct": 75, "mem_used_bytes": Double(6 << 30), "swap_used_bytes": Double(768 << 20),
    "disk_read_bps": 2_000_000, "disk_write_bps": 8192, "net_rx_bps": 500_000, "net_tx_bps": 250_000,
    "psi_cpu_some": 10, "psi_cpu_full": 0, "psi_mem_some": 1, "psi_mem_full": 0.5, "psi_io_some": 5, "psi_io_full": 2,
    "load1": 1.5, "load5": 0.75, "load15": 0.25, "procs_running": 3, "procs_blocked": 1,
    "ctxt_per_s": 10_000, "forks_per_s": 20, "intr_per_s": 40_000, "faults_per_s": 6_000, "pgmajfault_per_s": 10,
    // no RAPL domains in the header; system-wide mode has no monitored process
    "power_watts": nil, "proc_rss_bytes": nil, "proc_threads": nil, "proc_cpu_pct": nil,
    "proc_read_bps": nil, "proc_write_bps": nil, "proc_major_faults_per_s": nil,
]

/// Record variants for /api/latest, each with what changes from `plainExpected`.
enum RecordKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case plain
    /// cache-references counted half the interval, instructions a quarter: scaled x2 and x4,
    /// so every ratio is the plain one.
    case multiplexed
    /// branch-misses enabled but never scheduled (running 0): no data, and none of its ratios.
    case notRunning
    /// OS values whose validity bit is clear (with garbage in their bytes): null, never 0.
    case osPartial

    var testDescription: String { rawValue }

    var record: FakeRecord {
        var r = FakeRecord.plain
        switch self {
        case .plain: break
        case .multiplexed:
            r.counters[Slot.cacheReferences] = Triple(50_000, 1_000_000, 500_000)
            r.counters[Slot.instructions] = Triple(750_000, 1_000_000, 250_000)
        case .notRunning:
            r.counters[Slot.branchMisses] = Triple(8_000, 1_000_000, 0)
        case .osPartial:
            for f in OSField.cpuTimes + [.memAvailable, .netTxBytes, .psiCpuSome, .psiCpuFull, .psiMemSome, .psiMemFull,
                                         .psiIoSome, .psiIoFull, .load5, .procsBlocked, .majorFaults] {
                r.os[f] = nil
                r.invalidOS[f] = 12_345
            }
            r.os[.diskWriteBytes] = 0  // present and zero stays 0
        }
        return r
    }

    var expected: [String: Double?] {
        var e = plainExpected
        switch self {
        case .plain: break
        case .multiplexed:
            e["multiplex"] = 0.25
        case .notRunning:
            for k in ["branch_misses", "branch_misses_per_s", "branch_miss_rate", "branch_mpki"] { e[k] = .some(nil) }
            e["multiplex"] = 0
        case .osPartial:
            for k in ["cpu_util", "cpu_user", "cpu_system", "cpu_iowait", "cpu_steal", "mem_used_pct", "mem_used_bytes",
                      "net_tx_bps", "psi_cpu_some", "psi_cpu_full", "psi_mem_some", "psi_mem_full", "psi_io_some",
                      "psi_io_full", "load5", "procs_blocked", "pgmajfault_per_s"] {
                e[k] = .some(nil)
            }
            e["disk_write_bps"] = 0
        }
        return e
    }
}

/// Checks one sample object against expected values: every key present, numbers within 1e-9
/// relative, nulls null.
func expectSample(_ sample: [String: Any], _ expected: [String: Double?], sourceLocation: SourceLocation = #_sourceLocation) {
    for (key, want) in expected.sorted(by: { $0.key < $1.key }) {
        guard let got = sample[key] else {
            Issue.record("missing key \(key)", sourceLocation: sourceLocation)
            continue
        }
        if let want {
            let v = number(got)
            #expect(v.map { near($0, want) } == true, "\(key): got \(got), want \(want)", sourceLocation: sourceLocation)
        } else {
            #expect(isNull(got), "\(key): got \(got), want null", sourceLocation: sourceLocation)
        }
    }
}

func seqs(_ data: [String: Any]) -> [Int] {
    (data["samples"] as? [[String: Any]] ?? []).compactMap { number($0["seq"]).map(Int.init) }
}

// MARK: SSE

struct SSEEvent: Equatable {
    var id: String
    var event: String
    var data: String
}

/// The complete events (`id`, `event`, `data` lines) in a stream's text so far.
func sseEvents(_ text: String) -> [SSEEvent] {
    guard let bodyStart = text.range(of: "\r\n\r\n") else { return [] }
    var out: [SSEEvent] = []
    let body = text[bodyStart.upperBound...]
    var blocks = body.components(separatedBy: "\n\n")
    blocks.removeLast()  // incomplete (or empty) tail
    for block in blocks {
        var e = SSEEvent(id: "", event: "", data: "")
        for line in block.split(separator: "\n") {
            if line.hasPrefix("id: ") { e.id = String(line.dropFirst(4)) }
            if line.hasPrefix("event: ") { e.event = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { e.data = String(line.dropFirst(6)) }
        }
        if !e.id.isEmpty { out.append(e) }
    }
    return out
}

extension TestClient {
    /// Opens /api/stream (optionally resuming) and waits for the stream's head.
    static func stream(port: UInt16, lastEventID: String? = nil) throws -> TestClient {
        let c = try TestClient(port: port)
        c.send("GET /api/stream HTTP/1.1\r\nHost: t\r\n" + (lastEventID.map { "Last-Event-ID: \($0)\r\n" } ?? "") + "\r\n")
        let head = try #require(c.read(until: "retry: 1000\n\n"))
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head.contains("Content-Type: text/event-stream\r\n"))
        return c
    }

    /// Reads until the event with `id` has fully arrived (20 s at most: a live stream that never
    /// sends it keeps sending others); returns all events so far.
    func events(through id: String) -> [SSEEvent] {
        let deadline = Sys.monotonicNanos() + 20_000_000_000
        while true {
            let events = sseEvents(String(decoding: buffer, as: UTF8.self))
            if events.contains(where: { $0.id == id }) || Sys.monotonicNanos() > deadline || !fill() { return events }
        }
    }
}

// MARK: tests

@Suite struct APITests {
    // 1. /api/latest

    @Test(arguments: RecordKind.allCases)
    func latestDerivesExactValues(_ kind: RecordKind) throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        c.write(kind.record)
        let server = APIServer(ring: dir.ring)
        let latest = try server.object("/api/latest")
        expectSample(latest, kind.expected)
        #expect(number(latest["seq"]) == 2)
        #expect(number(latest["time_ms"]) == c.unixMillis(c.time))
        #expect(number(latest["time_ms"]) == Double(1_700_000_001_500))  // three records of 0.5 s after creation
        #expect(latest["generation"] as? String == c.generationHex)
        // Every key of the sample is accounted for: nothing extra, nothing missing (the phase
        // is PhaseAPITests' subject).
        let keys = Set(latest.keys)
        #expect(keys == Set(kind.expected.keys).union(["seq", "time_ms", "generation", "phase"]))
    }

    @Test func latestIs503UntilTheFirstRecord() throws {
        let dir = APITempDir()
        let server = APIServer(ring: dir.ring)
        let none = try server.get("/api/latest")
        #expect(none.status == 503)
        #expect(none.header("Content-Type") == "application/json")
        #expect(none.header("Retry-After") == "1")
        #expect((try jsonObject(none.body))["error"] as? String != nil)

        let c = try FakeCollector(path: dir.ring)
        #expect(server.eventuallyObject("/api/health") { $0["generation"] as? String == c.generationHex } != nil)
        let empty = try server.get("/api/latest")
        #expect(empty.status == 503)
        #expect((try jsonObject(empty.body))["error"] as? String == "no data yet")

        c.write()
        let first = try server.object("/api/latest")
        #expect(number(first["seq"]) == 0)
        expectSample(first, plainExpected)
    }

    // 2. /api/data

    struct DataCase: Sendable, CustomTestStringConvertible {
        let query: String
        let seqs: [Int]
        let next: Int
        var reset = false
        var testDescription: String { query.isEmpty ? "(no query)" : query }
    }

    @Test(arguments: [
        DataCase(query: "", seqs: [0, 1, 2, 3, 4], next: 4),
        DataCase(query: "limit=2", seqs: [3, 4], next: 4),
        DataCase(query: "limit=0", seqs: [], next: 4),
        DataCase(query: "limit=100", seqs: [0, 1, 2, 3, 4], next: 4),
        DataCase(query: "since=2", seqs: [3, 4], next: 4),
        DataCase(query: "since=1&limit=2", seqs: [2, 3], next: 3),
        DataCase(query: "since=4", seqs: [], next: 4),
        // A cursor beyond the newest sample: nothing yet, and the cursor stays (issue 12: the
        // README's since=1200 on a young ring is not a reset).
        DataCase(query: "since=99", seqs: [], next: 99),
        DataCase(query: "since=99&limit=2", seqs: [], next: 99),
        DataCase(query: "since=5", seqs: [], next: 5),
        // Only a cursor naming another run resets.
        DataCase(query: "since=1&generation=0123456789abcdef", seqs: [0, 1, 2, 3, 4], next: 4, reset: true),
        DataCase(query: "since=1&limit=2&generation=0123456789abcdef", seqs: [3, 4], next: 4, reset: true),
    ])
    func dataSelectsByCursorAndLimit(_ t: DataCase) throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(5)
        let server = APIServer(ring: dir.ring)
        let d = try server.object("/api/data" + (t.query.isEmpty ? "" : "?" + t.query))
        #expect(seqs(d) == t.seqs)
        #expect(number(d["next"]) == Double(t.next))
        #expect(d["reset"] as? Bool == t.reset)
        #expect(d["gap"] as? Bool == false)
        #expect(d["generation"] as? String == c.generationHex)
        for s in d["samples"] as? [[String: Any]] ?? [] { expectSample(s, plainExpected) }
    }

    @Test func dataCursorWalksEverySampleOnce() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(7)
        let server = APIServer(ring: dir.ring)
        var seen: [Int] = []
        var cursor = try #require(number(try server.object("/api/data?limit=1")["next"]).map(Int.init))
        seen.append(cursor)
        for _ in 0..<10 {
            let d = try server.object("/api/data?since=\(cursor)&limit=2")
            seen += seqs(d)
            cursor = try #require(number(d["next"]).map(Int.init))
            if seqs(d).isEmpty { break }
        }
        #expect(seen == [6])  // live: the first page starts at the newest sample...
        c.write(5)            // ...and the cursor then follows every new one exactly once
        for _ in 0..<10 {
            let d = try server.object("/api/data?since=\(cursor)&limit=2")
            #expect(d["gap"] as? Bool == false && d["reset"] as? Bool == false)
            seen += seqs(d)
            cursor = try #require(number(d["next"]).map(Int.init))
            if seqs(d).isEmpty { break }
        }
        #expect(seen == [6, 7, 8, 9, 10, 11])
        #expect(cursor == 11)
    }

    @Test func dataFieldsAndColumnFormat() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        c.write(RecordKind.notRunning.record)
        let server = APIServer(ring: dir.ring)

        let d = try server.object("/api/data?fields=ipc,branch_misses,ref_cycles")
        let samples = try #require(d["samples"] as? [[String: Any]])
        #expect(samples.count == 3)
        for s in samples { #expect(Set(s.keys) == ["seq", "time_ms", "ipc", "branch_misses", "ref_cycles", "phase"]) }
        #expect(samples.map { number($0["ipc"]) } == [1.5, 1.5, 1.5])
        #expect(samples.map { number($0["branch_misses"]) } == [8000, 8000, nil])
        #expect(samples.allSatisfy { isNull($0["ref_cycles"]) })

        let col = try server.object("/api/data?format=columns&fields=cycles,branch_misses&since=0")
        #expect(col["samples"] == nil)
        let columns = try #require(col["columns"] as? [String: [Any]])
        #expect(Set(columns.keys) == ["seq", "time_ms", "cycles", "branch_misses", "phase"])
        #expect(columns["seq"]?.map { number($0) } == [1, 2])
        #expect(columns["time_ms"]?.map { number($0) } == [c.unixMillis(c.time - 500_000_000), c.unixMillis(c.time)])
        #expect(columns["cycles"]?.map { number($0) } == [2_000_000, 2_000_000])
        #expect(columns["branch_misses"].map { $0.count == 2 && number($0[0]) == 8000 && isNull($0[1]) } == true)
        #expect(number(col["next"]) == 2)

        // The whole column set by default, in the same order as /api/fields.
        let all = try server.object("/api/data?format=columns")
        let fields = try jsonValue(try server.get("/api/fields").body) as? [[String: Any]] ?? []
        #expect(Set((all["columns"] as? [String: Any] ?? [:]).keys) == Set(fields.compactMap { $0["key"] as? String }).union(["phase"]))
        let refCycles = fields.first { $0["key"] as? String == "ref_cycles" }
        #expect(refCycles?["available"] as? Bool == false)
        #expect(fields.first { $0["key"] as? String == "ipc" }?["available"] as? Bool == true)
    }

    @Test(arguments: [
        ("fields=ipc,bogus", "bogus"), ("since=abc", "since"), ("since=-1", "since"),
        ("limit=-1", "limit"), ("limit=x", "limit"), ("format=xml", "format"), ("foo=1", "foo"), ("since=%zz", "encoding"),
    ])
    func badDataParametersAre400(_ query: String, _ named: String) throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        let server = APIServer(ring: dir.ring)
        for path in ["/api/data", "/api/export.csv"] where !(path == "/api/export.csv" && query.hasPrefix("format")) {
            let r = try server.get(path + "?" + query)
            #expect(r.status == 400, "\(path)?\(query): \(r.status)")
            #expect(r.header("Content-Type") == "application/json")
            let message = try #require(try jsonObject(r.body)["error"] as? String)
            #expect(message.contains(named), "\(message)")
        }
    }

    @Test func dataReportsAGapWhenTheRingWrappedPastTheCursor() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring, capacity: 8)
        c.write(3)
        let server = APIServer(ring: dir.ring)
        let first = try server.object("/api/data")
        #expect(seqs(first) == [0, 1, 2])
        let cursor = try #require(number(first["next"]).map(Int.init))

        c.write(20)  // seq 3...22; a ring of 8 keeps 15...22
        guard let d = server.eventuallyObject("/api/data?since=\(cursor)", { seqs($0).last == 22 }) else {
            Issue.record("the new records never arrived")
            return
        }
        #expect(d["gap"] as? Bool == true)
        #expect(d["reset"] as? Bool == false)
        #expect(seqs(d) == Array(15...22))
        #expect(number(d["next"]) == 22)
        // A cursor right before the oldest sample kept lost nothing.
        let adjacent = try server.object("/api/data?since=14")
        #expect(adjacent["gap"] as? Bool == false)
        #expect(seqs(adjacent) == Array(15...22))
    }

    // 3. /api/stream

    @Test func streamPushesNewRecordsAndResumesAfterLastEventID() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(3)
        let server = APIServer(ring: dir.ring)
        let gen = c.generationHex

        let live = try TestClient.stream(port: server.port)
        c.write(2)  // seq 3 and 4, written while connected
        let events = live.events(through: "\(gen):4")
        #expect(events.map(\.id) == ["\(gen):3", "\(gen):4"])  // live: nothing from before connecting
        #expect(events.allSatisfy { $0.event == "sample" })
        for e in events {
            let o = try jsonObject(Array(e.data.utf8))
            expectSample(o, plainExpected)
            #expect("\(gen):\(Int(number(o["seq"]) ?? -1))" == e.id)
        }

        // Reconnecting with the last id seen resumes exactly after it, with no new record needed.
        let resumed = try TestClient.stream(port: server.port, lastEventID: "\(gen):1")
        #expect(resumed.events(through: "\(gen):4").map(\.id) == ["\(gen):2", "\(gen):3", "\(gen):4"])
        c.write()
        #expect(resumed.events(through: "\(gen):5").map(\.id) == ["\(gen):2", "\(gen):3", "\(gen):4", "\(gen):5"])
        #expect(live.events(through: "\(gen):5").map(\.id) == ["\(gen):3", "\(gen):4", "\(gen):5"])

        // An id from another run starts from the oldest sample kept.
        let other = try TestClient.stream(port: server.port, lastEventID: "0123456789abcdef:3")
        #expect(other.events(through: "\(gen):5").map(\.id) == (0...5).map { "\(gen):\($0)" })
    }

    @Test func recordsReadByARequestStillReachStreams() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(1)
        let server = APIServer(ring: dir.ring)
        let gen = c.generationHex
        let live = try TestClient.stream(port: server.port)
        // Requests poll the ring themselves; what they read must still be pushed on the tick.
        for _ in 0..<5 {
            c.write()
            _ = try server.get("/api/latest")
        }
        #expect(live.events(through: "\(gen):5").map(\.id) == (1...5).map { "\(gen):\($0)" })
    }

    // 4. /api/events and /api/health

    @Test func eventsExplainEveryStatus() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write()
        let server = APIServer(ring: dir.ring)
        let e = try server.object("/api/events")
        #expect(e["generation"] as? String == c.generationHex)
        #expect(e["mode"] as? String == "system-wide")
        #expect(e["target"] as? String == "all CPUs")
        #expect(number(e["interval_ms"]) == 10_000)
        #expect(number(e["capacity"]) == 64)
        let host = try #require(e["host"] as? [String: Any])
        #expect(host["hostname"] as? String == "fakehost")
        #expect(number(host["cpus"]) == 4)
        // What the ring counts (4 here) is not the machine: the page names this one's CPUs.
        #expect(number(host["online_cpus"]) == Double(try #require(HostFacts.onlineCPUs()).count))
        let events = try #require(e["events"] as? [[String: Any]])
        #expect(events.compactMap { $0["name"] as? String } == Slot.events.map(\.name))
        #expect(events.compactMap { $0["key"] as? String } == ["cycles", "instructions", "cache_references", "cache_misses",
                                                               "branches", "branch_misses", "task_clock", "ref_cycles"])
        for (entry, want) in zip(events, Slot.events) {
            #expect(entry["status"] as? String == want.status.name)
            #expect(entry["hardware"] as? Bool == (want.type != 1))
            #expect(number(entry["group"]) == Double(want.group))
            if want.status == .counting { #expect(entry["reason"] as? String == "counting") }
        }
        let reason = try #require(events.last?["reason"] as? String)
        #expect(reason.contains("unsupported") && reason.contains(String(cString: strerror(ENOENT))) && reason.contains("PMU"), "\(reason)")

        let h = try server.object("/api/health")
        let unavailable = try #require(h["unavailable_events"] as? [[String: Any]])
        #expect(unavailable.count == 1)
        #expect(unavailable.first?["name"] as? String == "ref-cycles")
        #expect(unavailable.first?["reason"] as? String == reason)
    }

    struct StateCase: Sendable, CustomTestStringConvertible {
        let name: String
        var pid: Int32? = nil
        var oldHeartbeat = false
        var stop = false
        let collector: String
        let status: String
        var testDescription: String { name }
    }

    @Test(arguments: [
        StateCase(name: "fresh heartbeat", collector: "running", status: "ok"),
        StateCase(name: "clean stop", stop: true, collector: "stopped", status: "degraded"),
        StateCase(name: "old heartbeat, process alive", oldHeartbeat: true, collector: "stalled", status: "degraded"),
        StateCase(name: "old heartbeat, process gone", pid: deadPid, oldHeartbeat: true, collector: "absent", status: "degraded"),
        StateCase(name: "process gone, heartbeat fresh", pid: deadPid, collector: "running", status: "ok"),
    ])
    func healthReportsTheCollectorState(_ t: StateCase) throws {
        let dir = APITempDir()
        // A 100 ms interval: three intervals without a heartbeat is stale.
        let c = try FakeCollector(path: dir.ring, interval: t.oldHeartbeat ? 100_000_000 : 10_000_000_000, pid: t.pid)
        let now = Sys.monotonicNanos()
        let old = now > 60_000_000_000 ? now - 60_000_000_000 : 1
        for _ in 0..<3 { c.write(.plain, heartbeat: t.oldHeartbeat ? old : nil) }
        if t.stop { c.writer.markStopped() }
        let server = APIServer(ring: dir.ring)
        let h = try server.object("/api/health")
        #expect(h["collector"] as? String == t.collector)
        #expect(h["status"] as? String == t.status)
        #expect(isNull(h["ring_error"]))
        #expect(number(h["samples"]) == 3)
        #expect(h["generation"] as? String == c.generationHex)
        #expect(h["ring"] as? String == dir.ring)
        let metrics = try server.get("/metrics").text
        #expect(metrics.contains("perfring_collector_state{state=\"\(t.collector)\"} 1\n"))
        #expect(metrics.contains("perfring_up \(t.collector == "running" ? 1 : 0)\n"))
        // Value series only while the collector runs; the sample age always.
        #expect(metrics.contains("\nperfring_cycles_total ") == (t.collector == "running"))
        #expect(metrics.contains("\nperfring_load1 ") == (t.collector == "running"))
        #expect(metrics.contains("\nperfring_sample_age_seconds "))
    }

    @Test func healthFollowsAStopWhileServing() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        let server = APIServer(ring: dir.ring)
        #expect(try server.object("/api/health")["collector"] as? String == "running")
        c.writer.markStopped()
        #expect(server.eventuallyObject("/api/health") { $0["collector"] as? String == "stopped" } != nil)
    }

    @Test func aRingThatAppearsLaterIsPickedUp() throws {
        let dir = APITempDir()
        let server = APIServer(ring: dir.ring)
        let h = try server.object("/api/health")
        #expect(h["collector"] as? String == "absent")
        #expect(h["status"] as? String == "no-data")
        #expect(isNull(h["generation"]))
        #expect(isNull(h["ring_error"]))  // no ring yet is not an error
        #expect(number(h["samples"]) == 0)
        for path in ["/api/latest", "/api/data", "/api/events", "/api/fields", "/api/export.csv"] {
            #expect(try server.get(path).status == 503, "\(path)")
        }
        #expect(try server.get("/metrics").text.contains("perfring_collector_state{state=\"absent\"} 1\n"))

        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        let running = server.eventuallyObject("/api/health") { number($0["samples"]) == 2 }
        #expect(running?["collector"] as? String == "running")
        #expect(running?["status"] as? String == "ok")
        #expect(running?["generation"] as? String == c.generationHex)
        expectSample(try server.object("/api/latest"), plainExpected)
    }

    // 5. collector restart

    @Test func aRestartedCollectorIsFollowed() throws {
        let dir = APITempDir()
        let first = try FakeCollector(path: dir.ring)
        first.write(5)
        let server = APIServer(ring: dir.ring)
        let old = try server.object("/api/data")
        #expect(old["generation"] as? String == first.generationHex)
        let cursor = try #require(number(old["next"]).map(Int.init))
        #expect(cursor == 4)
        let stream = try TestClient.stream(port: server.port)

        let second = try FakeCollector(path: dir.ring)  // same path, new generation, renamed over
        #expect(second.generationHex != first.generationHex)
        second.write(RecordKind.multiplexed.record)
        second.write(RecordKind.multiplexed.record)
        guard let d = server.eventuallyObject("/api/data?since=\(cursor)&generation=\(first.generationHex)", { $0["generation"] as? String == second.generationHex && seqs($0).count == 2 }) else {
            Issue.record("the new ring was never followed")
            return
        }
        #expect(d["reset"] as? Bool == true)  // the cursor names the old run
        #expect(seqs(d) == [0, 1])
        #expect(number(d["next"]) == 1)
        for s in d["samples"] as? [[String: Any]] ?? [] { expectSample(s, RecordKind.multiplexed.expected) }

        // A cursor that happens to fit the new run is still from the old one: naming its generation resets.
        let named = try server.object("/api/data?since=0&generation=\(first.generationHex)")
        #expect(named["reset"] as? Bool == true)
        #expect(seqs(named) == [0, 1])
        let current = try server.object("/api/data?since=0&generation=\(second.generationHex)")
        #expect(current["reset"] as? Bool == false)
        #expect(seqs(current) == [1])

        #expect(stream.events(through: "\(second.generationHex):1").map(\.id) == ["\(second.generationHex):0", "\(second.generationHex):1"])
        let h = try server.object("/api/health")
        #expect(h["generation"] as? String == second.generationHex)
        #expect(h["collector"] as? String == "running")
        #expect(try server.object("/api/events")["generation"] as? String == second.generationHex)
    }

    // 6. damaged ring

    enum Damage: String, CaseIterable, Sendable {
        case truncatedToNothing, truncatedRecords, replacedByBadMagic, removed
    }

    @Test(arguments: Damage.allCases)
    func aDamagedRingKeepsTheSamplesAndRecovers(_ damage: Damage) throws {
        let dir = APITempDir()
        var first: FakeCollector? = try FakeCollector(path: dir.ring, capacity: 16)
        first?.write(4)
        let server = APIServer(ring: dir.ring)
        #expect(seqs(try server.object("/api/data")) == [0, 1, 2, 3])

        switch damage {
        case .truncatedToNothing:
            first = nil  // the writer must not touch pages that are about to go away
            #expect(truncate(dir.ring, 100) == 0)
        case .truncatedRecords:
            first = nil
            #expect(truncate(dir.ring, off_t(RingLayout.headerSize + 1000)) == 0)
        case .replacedByBadMagic:
            var bytes = [UInt8](repeating: 0, count: 8192)
            bytes.replaceSubrange(0..<8, with: Array("NOTARING".utf8))
            let temp = dir.path + "/bad"
            #expect(FileManager.default.createFile(atPath: temp, contents: Data(bytes)))
            #expect(rename(temp, dir.ring) == 0)
        case .removed:
            #expect(unlink(dir.ring) == 0)
        }
        guard let h = server.eventuallyObject("/api/health", { $0["ring_error"] is String }) else {
            Issue.record("ring_error never reported")
            return
        }
        #expect(h["status"] as? String == "degraded")
        // The samples are read from the mapping when served (the server keeps no copy): a file
        // removed or replaced leaves the mapping valid and everything stays served; a file
        // truncated under it holds nothing any more, and the server says so.
        let truncated = damage == .truncatedToNothing || damage == .truncatedRecords
        #expect(number(h["samples"]) == (truncated ? 0 : 4))
        let kept = try server.object("/api/data")
        #expect(seqs(kept) == (truncated ? [] : [0, 1, 2, 3]))
        if truncated {
            let latest = try server.get("/api/latest")
            #expect(latest.status == 503)
            #expect((try jsonObject(latest.body))["error"] as? String == h["ring_error"] as? String)
        } else {
            expectSample(try server.object("/api/latest"), plainExpected)
        }
        #expect(try server.get("/metrics").status == 200)
        #expect(try server.get("/api/export.csv").status == 200)

        let second = try FakeCollector(path: dir.ring)
        second.write(2)
        let healed = server.eventuallyObject("/api/health") { $0["generation"] as? String == second.generationHex && number($0["samples"]) == 2 }
        #expect(healed != nil)
        #expect(isNull(healed?["ring_error"]))
        #expect(healed?["collector"] as? String == "running")
        #expect(healed?["status"] as? String == "ok")
        #expect(seqs(try server.object("/api/data")) == [0, 1])
        _ = first
    }

    /// A scribble over the magic of the mapped file in place is noticed on the next poll: the
    /// health reports it, the samples already read stay served, a valid ring heals it.
    @Test func aMagicOverwrittenInPlaceIsReportedAndServingGoesOn() throws {
        let dir = APITempDir()
        let first = try FakeCollector(path: dir.ring)
        first.write(3)
        let server = APIServer(ring: dir.ring)
        apiPatch(dir.ring, at: RingLayout.hMagic, Array("NOTARING".utf8))
        first.write()
        #expect(server.eventuallyObject("/api/data") { seqs($0).starts(with: [0, 1, 2]) } != nil)
        let damaged = server.eventuallyObject("/api/health") { ($0["ring_error"] as? String)?.contains("magic") == true }
        #expect(damaged != nil, "the bad magic is named in ring_error")
        #expect(try server.get("/metrics").status == 200)
        let second = try FakeCollector(path: dir.ring)
        second.write()
        let healed = server.eventuallyObject("/api/health") { $0["generation"] as? String == second.generationHex }
        #expect(healed.map { isNull($0["ring_error"]) && number($0["samples"]) == 1 } == true)
    }

    // 7. /metrics

    @Test func metricsExposeTotalsAndAvailableGauges() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        var last = RecordKind.notRunning.record
        last.os = RecordKind.osPartial.record.os
        c.write(last)
        let totals: [Int: UInt64] = [Slot.cycles: 123_456_789_012, Slot.instructions: 98_765_432_109, Slot.cacheReferences: 1_000_000,
                                     Slot.cacheMisses: 50_000, Slot.branches: 7_000_000, Slot.branchMisses: 0, Slot.taskClock: 5_000_000_000]
        for (slot, t) in totals {
            c.writer.addTotal(slot, t / 2)
            c.writer.addTotal(slot, t - t / 2)
        }
        c.writer.publishTotals()  // the collector's next commit would
        // OS running totals, in the ring's units; the ones never started stay out.
        let os: [(OSField, UInt64)] = [(.cpuUser, 4_270_000_000), (.cpuIdle, 0), (.diskReadBytes, 1_093_632), (.psiIoSome, 39_149),
                                       (.contextSwitches, 293_405), (.majorFaults, 4)]
        for (f, v) in os { c.writer.addOSTotal(f, 0); c.writer.addOSTotal(f, v) }
        let server = APIServer(ring: dir.ring)
        let r = try server.get("/metrics")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let text = r.text
        let samples = try parseExposition(text)
        func value(_ name: String, _ labels: String = "") -> Double? { samples.first { $0.name == name && $0.labels == labels }?.value }

        for (slot, t) in totals where slot != Slot.taskClock {
            let name = "perfring_" + MetricDeriver.key(forEvent: Slot.events[slot].name) + "_total"
            #expect(value(name) == Double(t), "\(name)")
            #expect(text.contains("# TYPE \(name) counter\n"))
        }
        #expect(value("perfring_task_clock_seconds_total") == 5, "nanoseconds as seconds")
        #expect(value("perfring_cpu_seconds_total", "mode=\"user\"") == 4.27)
        #expect(value("perfring_cpu_seconds_total", "mode=\"idle\"") == 0, "started and still zero: 0")
        #expect(value("perfring_cpu_seconds_total", "mode=\"nice\"") == nil, "never started: absent")
        #expect(value("perfring_disk_read_bytes_total") == 1_093_632)
        #expect(value("perfring_pressure_stall_seconds_total", "resource=\"io\",kind=\"some\"") == 0.039149)
        #expect(value("perfring_system_context_switches_total") == 293_405)
        #expect(value("perfring_system_major_page_faults_total") == 4)
        #expect(value("perfring_network_receive_bytes_total") == nil)
        #expect(value("perfring_samples_total") == 3)
        #expect(!text.contains("perfring_ref_cycles"))  // no counter, no gauges for an event that does not count
        #expect(samples.contains { $0.name == "perfring_event_available" && $0.labels == "event=\"ref-cycles\",status=\"unsupported\"" && $0.value == 0 })
        #expect(samples.contains { $0.name == "perfring_event_available" && $0.labels == "event=\"cycles\",status=\"counting\"" && $0.value == 1 })
        #expect(value("perfring_events_available", "kind=\"hardware\"") == 6)
        #expect(value("perfring_events_available", "kind=\"software\"") == 1)

        // Gauges: the newest sample's levels and ratios in base units, nothing for unavailable
        // ones, and no per-interval counts or rates (the counters give those over any window).
        var want = RecordKind.notRunning.expected
        for (k, v) in RecordKind.osPartial.expected where v != plainExpected[k]! { want[k] = .some(v) }
        for g in PrometheusExposition.gaugeTable {
            let expected = try #require(want[g.key], "\(g.key) is an API key")
            if let expected {
                #expect(value(g.name).map { near($0, expected / g.divisor) } == true, "\(g.name): \(String(describing: value(g.name))), want \(expected / g.divisor)")
                #expect(text.contains("# TYPE \(g.name) gauge\n"), "\(g.name)")
            } else {
                #expect(value(g.name) == nil, "\(g.name) must be absent")
                #expect(!text.contains("# HELP \(g.name) "), "\(g.name)")
            }
        }
        #expect(value("perfring_cache_miss_ratio") == 0.05 && value("perfring_cpu_busy_ratio") == nil && value("perfring_load1") == 1.5)
        for gone in ["perfring_cycles", "perfring_cycles_per_second", "perfring_disk_read_bps", "perfring_psi_io_some", "perfring_ctxt_per_s"] {
            #expect(!samples.contains { $0.name == gone }, "\(gone)")
        }
        #expect(value("perfring_up") == 1)
        #expect(value("perfring_build_info", "version=\"\(perfringServerVersion)\",ring_format=\"1\"") == 1)
        let info = samples.first { $0.name == "perfring_info" }
        #expect(info?.labels == "mode=\"system-wide\",target=\"all CPUs\",host=\"fakehost\",generation=\"\(c.generationHex)\"")
        #expect(value("perfring_interval_seconds") == 10)
        #expect(value("perfring_sample_age_seconds") != nil)

        if let promtool = promtoolPath {
            let (status, output) = try runWithInput(promtool, ["check", "metrics"], input: r.body)
            #expect(status == 0, "promtool check metrics: \(output)")
        }
    }

    /// Every event name the collector knows (perf's spelling, mixed case, raw events), in two rings.
    @Test(arguments: [
        ["cycles", "instructions", "cache-references", "cache-misses", "branch-instructions", "branch-misses", "bus-cycles",
         "stalled-cycles-frontend", "stalled-cycles-backend", "ref-cycles", "L1-dcache-loads", "L1-dcache-load-misses",
         "LLC-loads", "LLC-load-misses", "dTLB-load-misses", "iTLB-load-misses"],
        ["cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations", "minor-faults", "major-faults", "r003c"],
    ])
    func metricsAreValidForEveryEventName(_ names: [String]) throws {
        let dir = APITempDir()
        let software: Set = ["cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations", "minor-faults", "major-faults"]
        let events = names.enumerated().map { EventEntry(name: $1, type: software.contains($1) ? 1 : 0, config: UInt64($0), status: .counting) }
        let c = try FakeCollector(path: dir.ring, events: events)
        var r = FakeRecord.plain
        r.counters = Dictionary(uniqueKeysWithValues: events.indices.map { ($0, Triple.full(UInt64(1000 + $0))) })
        c.write(r)
        for slot in events.indices { c.writer.addTotal(slot, UInt64(5000 + slot)) }
        c.writer.publishTotals()
        let server = APIServer(ring: dir.ring)
        let keys = (try jsonValue(try server.get("/api/fields").body) as? [[String: Any]] ?? []).compactMap { $0["key"] as? String }
        #expect(Set(keys).count == keys.count, "duplicate keys: \(Dictionary(grouping: keys) { $0 }.filter { $1.count > 1 }.keys)")
        let text = try server.get("/metrics").text
        let samples = try parseExposition(text)
        for (slot, name) in names.enumerated() {
            let family = "perfring_" + name.lowercased().replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: "branch_instructions", with: "branches")
            let clock = name.hasSuffix("-clock")
            #expect(samples.first { $0.name == family + (clock ? "_seconds_total" : "_total") }?.value == Double(5000 + slot) / (clock ? 1e9 : 1), "\(family)")
            #expect(!samples.contains { $0.name == family || $0.name == family + "_per_second" }, "\(family): no per-interval gauge")
        }
        #expect(samples.first { $0.name == "perfring_events_available" && $0.labels == "kind=\"hardware\"" }?.value == Double(names.count - names.filter(software.contains).count))
        if let promtool = promtoolPath {
            let (status, output) = try runWithInput(promtool, ["check", "metrics"], input: Array(text.utf8))
            #expect(status == 0, "promtool check metrics: \(output)")
        }
    }

    @Test(arguments: [("ipc", "perfring_ipc"), ("dTLB_load_misses", "perfring_dtlb_load_misses"), ("L1_dcache_loads", "perfring_l1_dcache_loads"),
                      ("cycles:u", "perfring_cycles_u"), ("cpu_core/cycles/", "perfring_cpu_core_cycles_"), ("r2a", "perfring_r2a"), ("", "perfring_")])
    func prometheusNamesAreLowerSnakeCase(_ key: String, _ name: String) {
        #expect(PrometheusExposition.metricName(key) == name)
    }

    // 8. /api/export.csv

    @Test func csvHasAHeaderAndOneRowPerSample() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        c.write(RecordKind.osPartial.record)
        let server = APIServer(ring: dir.ring)
        let r = try server.get("/api/export.csv")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "text/csv; charset=utf-8")
        #expect(r.header("Content-Disposition")?.contains("attachment") == true)
        #expect(r.text.hasSuffix("\n"))
        let lines = r.text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(lines.count == 4)
        let header = lines[0]
        let fields = (try jsonValue(try server.get("/api/fields").body) as? [[String: Any]] ?? []).compactMap { $0["key"] as? String }
        #expect(header == fields)
        for row in lines.dropFirst() { #expect(row.count == header.count) }
        func cell(_ row: Int, _ key: String) -> String? { header.firstIndex(of: key).map { lines[row][$0] } }
        #expect((1...3).map { cell($0, "seq") } == ["0", "1", "2"])
        #expect((1...3).map { cell($0, "ipc") } == ["1.5", "1.5", "1.5"])
        #expect((1...3).map { cell($0, "ref_cycles") } == ["", "", ""])  // unavailable: empty, never 0
        #expect((1...3).map { cell($0, "psi_cpu_some") } == ["10", "10", ""])
        #expect((1...3).map { cell($0, "disk_write_bps") } == ["8192", "8192", "0"])
        #expect(cell(1, "cpi") == "0.6666666667")
        #expect(cell(3, "time_ms") == "1700000001500")

        let some = try server.get("/api/export.csv?fields=ipc,psi_io_some&limit=2")
        #expect(some.text == "seq,time_ms,ipc,psi_io_some\n1,1700000001000,1.5,5\n2,1700000001500,1.5,\n")
    }

    // 9. routing

    @Test(arguments: ["POST", "PUT", "DELETE", "PATCH"], ["/api/latest", "/api/data?limit=1", "/metrics", "/", "/api/nope"])
    func otherMethodsAre405(_ method: String, _ path: String) throws {
        let dir = APITempDir()
        let server = APIServer(ring: dir.ring)
        let r = try server.request(method, path, headers: ["Content-Length: 0"])
        #expect(r.status == 405)
        #expect(r.header("Allow") == "GET, HEAD")
        #expect(r.header("Content-Type") == "application/json")
        #expect((try jsonObject(r.body))["error"] as? String != nil)
    }

    @Test func headHasGETsHeadersAndNoBody() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(3)
        let server = APIServer(ring: dir.ring)
        for path in ["/api/latest", "/api/data", "/api/health", "/metrics", "/api/export.csv"] {
            let get = try server.get(path)
            let client = try TestClient(port: server.port)
            client.send("HEAD \(path) HTTP/1.1\r\nHost: t\r\n\r\nGET /api/events HTTP/1.1\r\nHost: t\r\n\r\n")
            let head = try #require(client.readResponse(bodyless: true))
            #expect(head.status == 200)
            #expect(head.header("Content-Type") == get.header("Content-Type"))
            if path == "/api/data" || path == "/api/export.csv" {
                // Streamed as made (chunked): HEAD makes no body, so it has no length to give.
                #expect(get.header("Transfer-Encoding") == "chunked" && head.header("Transfer-Encoding") == "chunked", "\(path)")
                #expect(head.header("Content-Length") == nil)
            } else if path != "/api/health" && path != "/metrics" {  // those two carry clocks (uptime, ages)
                #expect(head.header("Content-Length") == "\(get.body.count)", "\(path)")
            }
            let next = try #require(client.readResponse())  // no stray body bytes in between
            #expect(next.status == 200)
            #expect((try jsonObject(next.body))["events"] != nil)
        }
        let stream = try server.request("HEAD", "/api/stream")
        #expect(stream.status == 200)
        #expect(stream.header("Content-Type") == "text/event-stream")
    }

    @Test(arguments: ["/api/x", "/api/", "/api", "/api/latest/extra", "/api/data.json", "/metrics/x"])
    func unknownEndpointsAre404JSON(_ path: String) throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write()
        let server = APIServer(ring: dir.ring)
        let r = try server.get(path)
        #expect(r.status == 404)
        #expect(r.header("Content-Type") == "application/json")
        #expect((try jsonObject(r.body))["error"] as? String != nil)
    }

    @Test(arguments: ["/../etc/passwd", "/%2e%2e/", "/%2e%2e/%2e%2e/etc/passwd", "/api/../../etc/passwd", "/api/%2e%2e/%2e%2e/etc/passwd",
                      "/..%2f..%2fetc%2fpasswd", "/static/../../../../etc/passwd", "/./../secret.txt", "/%2E%2E/secret.txt",
                      "/..\\secret.txt", "/api/..%5c..%5csecret.txt", "/%252e%252e/secret.txt"])
    func pathTraversalIs404(_ target: String) throws {
        let dir = APITempDir()
        #expect(mkdir(dir.path + "/web", 0o755) == 0)
        #expect(FileManager.default.createFile(atPath: dir.path + "/web/index.html", contents: Data("<title>perfring</title>".utf8)))
        #expect(FileManager.default.createFile(atPath: dir.path + "/secret.txt", contents: Data("TOP-SECRET".utf8)))
        let server = APIServer(ring: dir.ring, webRoot: dir.path + "/web")
        #expect(try server.get("/").text.contains("perfring"))  // the web root is served...
        let r = try server.get(target)                          // ...and nothing outside it
        #expect(r.status == 404, "\(target): \(r.status) \(r.text)")
        #expect(!r.text.contains("root:") && !r.text.contains("TOP-SECRET"))
    }

    @Test(arguments: ["/api/latest", "/api/data", "/api/data?limit=z", "/api/events", "/api/health", "/api/fields", "/api/nope"])
    func apiRepliesAreJSON(_ path: String) throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write()
        let server = APIServer(ring: dir.ring)
        let r = try server.get(path)
        #expect(r.header("Content-Type") == "application/json")
        #expect((try? jsonValue(r.body)) != nil, "\(path): \(r.text)")
    }

    // 10. JSONWriter numbers

    @Test(arguments: [
        (0.0, "0"), (42, "42"), (-7, "-7"), (1e15, "1000000000000000"), (-8_999_999_999_999_998, "-8999999999999998"),
        (0.5, "0.5"), (1.25, "1.25"), (-0.5, "-0.5"), (123456.789, "123456.789"), (-123456.789, "-123456.789"),
        (2.0 / 3, "0.6666666667"), (-1.0 / 3, "-0.3333333333"), (100.0 / 3, "33.33333333"), (0.001, "0.001"),
        (0.000003, "0.000003"), (0.1000000004999, nil), (1.000000000499, nil), (0.09999999996, nil), (9.9999999999, nil),
        (1e-7, nil), (-2.5e-9, nil), (1.5e15 + 0.5, nil), (1e20, nil), (-1e300, nil), (Double(UInt64.max), nil),
        (9_007_199_254_740_993, nil), (Double.greatestFiniteMagnitude, nil),
        (.nan, "null"), (.infinity, "null"), (-.infinity, "null"),
    ] as [(Double, String?)])
    func jsonNumbers(_ value: Double, _ text: String?) throws {
        var w = JSONWriter()
        w.number(value)
        let out = String(decoding: w.bytes, as: UTF8.self)
        if let text { #expect(out == text) }
        let parsed = try jsonValue(w.bytes)
        if value.isFinite {
            let v = try #require(number(parsed), "\(out) did not parse as a number")
            #expect(near(v, value), "\(value) -> \(out) -> \(v)")
        } else {
            #expect(isNull(parsed))
        }
        // Inside an array, numbers stay separated and valid.
        var a = JSONWriter()
        a.beginArray(); a.number(value); a.number(value); a.endArray()
        #expect((try jsonValue(a.bytes) as? [Any])?.count == 2)
    }

    /// The formatter's digits, whatever the value: the same text as a plain reference (the
    /// earlier, division-per-digit version) for a million values across every magnitude.
    @Test func jsonNumbersMatchTheReferenceFormatting() {
        var rng = SeededRNG(seed: 0x9E37_79B9_7F4A_7C15)
        var mismatches: [String] = []
        for k in 0..<1_000_000 {
            let exponent = Double(Int(rng.next() % 44) - 22)
            let mantissa: Double = Double(rng.next() % 1_000_000_007) / 1_000_000_007 + Double(rng.next() % 9) + 1
            let sign: Double = rng.next() & 1 == 0 ? 1 : -1
            var v = mantissa * pow(10, exponent) * sign
            if k % 7 == 0 { v = v.rounded() }
            if k % 11 == 0 { v = Double(Int(rng.next() % 100_000)) / 100 }
            var w = JSONWriter()
            w.number(v)
            let got = String(decoding: w.bytes, as: UTF8.self)
            let want = Self.referenceNumber(v)
            if got != want, mismatches.count < 5 { mismatches.append("\(v): \(got) vs \(want)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
    }

    /// A run of numbers (a column's items, repeats copied) and an object's members are written
    /// through a local pointer: the same text as `number` a value at a time, whatever the mix,
    /// and a run split in two the same as one.
    @Test(arguments: [1, 2, 255, 256, 257, 5000])
    func numberRunsMatchOneAtATime(_ count: Int) {
        var rng = SeededRNG(seed: UInt64(count) &+ 17)
        let pool: [Double] = [0, -0.0, 1, -1, .nan, .infinity, 0.5, 1e-7, 1e20, -123456.789, 2.0 / 3, 100,
                              9_007_199_254_740_993, -.greatestFiniteMagnitude, 0.000012345678912, 1e15 - 0.5]
        var values: [Double] = []
        for _ in 0..<count {
            switch rng.next() % 3 {
            case 0: values.append(values.last ?? 1)
            case 1: values.append(pool[Int(rng.next() % UInt64(pool.count))])
            default: values.append(Double(Int64(bitPattern: rng.next()) >> 20) / 1000)
            }
        }
        var one = JSONWriter(), run = JSONWriter(), split = JSONWriter()
        one.beginArray(); for v in values { one.number(v) }; one.endArray()
        let cut = Int(rng.next() % UInt64(count))
        values.withUnsafeBufferPointer { b in
            run.beginArray(); run.numbers(b.baseAddress!, count: count, comma: false); run.endArray()
            split.beginArray()
            split.numbers(b.baseAddress!, count: cut, comma: false)
            split.numbers(b.baseAddress! + cut, count: count - cut, comma: cut > 0)
            split.endArray()
        }
        #expect(String(decoding: run.bytes, as: UTF8.self) == String(decoding: one.bytes, as: UTF8.self))
        #expect(split.bytes == one.bytes)

        let keys = values.indices.map { JSONWriter.render(key: "key_\($0)") }
        var starts = [0]
        for k in keys { starts.append(starts.last! + k.count) }
        var byKey = JSONWriter(), members = JSONWriter()
        byKey.beginObject()
        for (k, v) in zip(keys, values) { byKey.key(rendered: k); byKey.number(v) }
        byKey.key("after"); byKey.endObject()
        members.beginObject()
        Array(keys.joined()).withUnsafeBytes { k in
            starts.withUnsafeBufferPointer { s in values.withUnsafeBufferPointer { members.members(keys: k, starts: s, values: $0.baseAddress!, stride: 1) } }
        }
        members.key("after"); members.endObject()
        #expect(members.bytes == byKey.bytes)
    }

    /// 10 significant digits in fixed point, trailing zeros dropped; integers exactly.
    static func referenceNumber(_ v: Double) -> String {
        guard v.isFinite else { return "null" }
        let a = v.magnitude
        if a < 9.0e15, a == a.rounded(.towardZero) { return (v < 0 ? "-" : "") + String(UInt64(a)) }
        guard a >= 1e-6, a < 1e15 else { return v.description }
        var intDigits = 1, bound = 10.0
        while intDigits < 16 && bound <= a { intDigits += 1; bound *= 10 }
        var decimals = 10 - intDigits
        if a < 1 {
            decimals = 10
            var q = a
            while q < 0.1 { q *= 10; decimals += 1 }
        }
        decimals = max(0, min(decimals, 19))
        var divisor: UInt64 = 1
        for _ in 0..<decimals { divisor *= 10 }
        let scaled = a * Double(divisor) + 0.5
        guard scaled < 1.8e19 else { return v.description }
        let m = UInt64(scaled)
        let whole = m / divisor, frac = m % divisor
        var text = (v < 0 && m != 0 ? "-" : "") + String(whole)
        if frac != 0 {
            var f = String(frac)
            f = String(repeating: "0", count: decimals - f.count) + f
            while f.hasSuffix("0") { f.removeLast() }
            text += "." + f
        }
        return text
    }
}

// MARK: helpers for /metrics

struct ExpositionSample {
    let name: String
    let labels: String
    let value: Double
}

/// Parses the text format strictly enough to catch mistakes: every sample belongs to a family
/// announced by `# HELP` and `# TYPE` (once each, before its samples, samples contiguous).
func parseExposition(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [ExpositionSample] {
    var helped = Set<String>(), typed = [String: String](), finished = Set<String>()
    var current: String?
    var out: [ExpositionSample] = []
    #expect(text.hasSuffix("\n"), sourceLocation: sourceLocation)
    for line in text.split(separator: "\n") {
        if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ", maxSplits: 3)
            #expect(parts.count == 4, "\(line)", sourceLocation: sourceLocation)
            let name = String(parts[2])
            if line.hasPrefix("# HELP ") {
                #expect(helped.insert(name).inserted, "HELP twice: \(name)", sourceLocation: sourceLocation)
            } else {
                #expect(typed[name] == nil, "TYPE twice: \(name)", sourceLocation: sourceLocation)
                #expect(["counter", "gauge"].contains(parts[3]), "\(line)", sourceLocation: sourceLocation)
                typed[name] = String(parts[3])
            }
            if let current, current != name { finished.insert(current) }
            current = name
            continue
        }
        let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
        let name = String(line[..<nameEnd])
        #expect(name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }, "\(name)", sourceLocation: sourceLocation)
        #expect(helped.contains(name) && typed[name] != nil, "no HELP/TYPE before \(name)", sourceLocation: sourceLocation)
        #expect(!finished.contains(name), "samples of \(name) are not contiguous", sourceLocation: sourceLocation)
        #expect(typed[name] != "counter" || name.hasSuffix("_total"), "counter \(name) without _total", sourceLocation: sourceLocation)
        #expect(typed[name] != "gauge" || !name.hasSuffix("_total"), "gauge \(name) ends in _total", sourceLocation: sourceLocation)
        var labels = ""
        var rest = line[nameEnd...]
        if rest.first == "{" {
            let close = try #require(rest.lastIndex(of: "}"), sourceLocation: sourceLocation)
            labels = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
        }
        let valueText = rest.trimmingCharacters(in: .whitespaces)
        let value = try #require(Double(valueText), "bad value in \(line)", sourceLocation: sourceLocation)
        out.append(ExpositionSample(name: name, labels: labels, value: value))
    }
    return out
}

/// promtool from Debian's prometheus package, when installed (scripts/test installs it).
let promtoolPath = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Runs a program with `input` on its stdin; returns its exit status and its output (stdout, then stderr).
func runWithInput(_ path: String, _ args: [String], input: [UInt8]) throws -> (Int32, String) {
    let r = try runProgram(path, args, input: input)
    return (r.status, r.out + r.stderr)
}
