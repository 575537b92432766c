// Fixtures for APITests: a fake counter source (rings written with RingWriter, every value
// known), the application (PerfringAPI + HTTPServer) on its own thread, and small JSON helpers.
// Socket clients, threads and `eventually` come from HTTPServerTests.swift.
import Foundation
import Glibc
import Shared
import Testing
@testable import Server

// MARK: files

/// A private directory (0700, ours: RingWriter trusts it), removed on deinit.
final class APITempDir {
    let path: String
    init() {
        var template = Array("/tmp/perfring-api-XXXXXX".utf8CString)
        path = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    }
    deinit { _ = system("rm -rf '\(path)'") }
    var ring: String { path + "/ring" }
}

/// Overwrites bytes of a file in place (the mappings of it see the change).
func apiPatch(_ path: String, at offset: Int, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY)
    precondition(fd >= 0, "cannot open \(path)")
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
    close(fd)
}

func apiLE32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func apiLE64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

// MARK: the fake counter source

/// One counter slot's deltas for an interval.
struct Triple: Sendable {
    var value: UInt64, enabled: UInt64, running: UInt64
    init(_ value: UInt64, _ enabled: UInt64, _ running: UInt64) { (self.value, self.enabled, self.running) = (value, enabled, running) }
    /// Counted the whole interval.
    static func full(_ value: UInt64) -> Triple { Triple(value, 1_000_000, 1_000_000) }
}

/// Event slots of every fake ring: the hardware six and task-clock count; ref-cycles does not.
enum Slot {
    static let cycles = 0, instructions = 1, cacheReferences = 2, cacheMisses = 3
    static let branches = 4, branchMisses = 5, taskClock = 6, refCycles = 7
    static let events: [EventEntry] = [
        EventEntry(name: "cycles", type: 0, config: 0, status: .counting, group: 0, opened: 1),
        EventEntry(name: "instructions", type: 0, config: 1, status: .counting, group: 0, opened: 1),
        EventEntry(name: "cache-references", type: 0, config: 2, status: .counting, group: 1, opened: 1),
        EventEntry(name: "cache-misses", type: 0, config: 3, status: .counting, group: 1, opened: 1),
        EventEntry(name: "branch-instructions", type: 0, config: 4, status: .counting, group: 2, opened: 1),
        EventEntry(name: "branch-misses", type: 0, config: 5, status: .counting, group: 2, opened: 1),
        EventEntry(name: "task-clock", type: 1, config: 1, status: .counting, group: 3, opened: 1),
        EventEntry(name: "ref-cycles", type: 0, config: 9, status: .unsupported, errno: ENOENT, group: 4, opened: 0),
    ]
}

/// One record's content. Its time is the previous record's plus `dtNs`.
struct FakeRecord: Sendable {
    var dtNs: UInt64 = 500_000_000
    var counters: [Int: Triple] = [:]
    /// OS fields with their validity bit set.
    var os: [OSField: UInt64] = [:]
    /// Bytes written for OS fields whose validity bit stays clear (must never show).
    var invalidOS: [OSField: UInt64] = [:]
    /// The time the slow fields' deltas cover (a ring with a slow-field mask), 0: not read.
    var slowSpanNs: UInt64 = 0
    /// Per-CPU section (a ring made with `perCPU:`): each CPU's 8 time deltas (user ... steal,
    /// none: all zero) and counter triples by slot.
    var cpuTimes: [[UInt64]] = []
    var cpuCounters: [[Int: Triple]] = []

    /// The reference interval: every counter counted, every OS value present (see APITests
    /// for the values derived from it).
    static var plain: FakeRecord {
        var r = FakeRecord()
        r.counters = [
            Slot.cycles: .full(2_000_000), Slot.instructions: .full(3_000_000),
            Slot.cacheReferences: .full(100_000), Slot.cacheMisses: .full(5_000),
            Slot.branches: .full(400_000), Slot.branchMisses: .full(8_000),
            Slot.taskClock: Triple(250_000_000, 250_000_000, 250_000_000),
            Slot.refCycles: Triple(999, 999, 999),  // garbage in a slot whose event does not count
        ]
        let ms: UInt64 = 1_000_000
        r.os = [
            .cpuUser: 300 * ms, .cpuNice: 100 * ms, .cpuSystem: 200 * ms, .cpuIdle: 1200 * ms,
            .cpuIowait: 100 * ms, .cpuIrq: 50 * ms, .cpuSoftirq: 50 * ms, .cpuSteal: 0,
            .memTotal: 8 << 30, .memAvailable: 2 << 30, .swapTotal: 1 << 30, .swapFree: 256 << 20,
            .diskReadBytes: 1_000_000, .diskWriteBytes: 4096, .netRxBytes: 250_000, .netTxBytes: 125_000,
            .psiCpuSome: 50_000, .psiCpuFull: 0, .psiMemSome: 5_000, .psiMemFull: 2_500, .psiIoSome: 25_000, .psiIoFull: 10_000,
            .load1: 1500, .load5: 750, .load15: 250, .procsRunning: 3, .procsBlocked: 1,
            .contextSwitches: 5000, .forks: 10, .interrupts: 20_000, .pageFaults: 3000, .majorFaults: 5,
        ]
        return r
    }
}

/// A collector stand-in: a ring at `path` written record by record with known values.
final class FakeCollector {
    /// Wall clock pinned in the header, so sample times are exact.
    static let realtime: UInt64 = 1_700_000_000_000_000_000
    let writer: RingWriter
    let createdMonotonic: UInt64
    private(set) var time: UInt64
    private let perCpuOffset: Int, perCpuStride: Int

    /// - Parameters:
    ///   - interval: the header's sampling interval; long by default so a heartbeat stays
    ///     fresh however slowly the test runs.
    ///   - pid: the collector pid to record (default: this process).
    init(path: String, capacity: Int = 64, interval: UInt64 = 10_000_000_000, pid: Int32? = nil, publish: Bool = true,
         events: [EventEntry] = Slot.events, hostname: String = "fakehost", target: String = "all CPUs", perCPU: Int = 0) throws {
        var config = RingConfig(path: path, capacity: capacity, eventCount: events.count)
        config.perCpuCount = perCPU
        if perCPU > 0 { config.flags.insert(.perCpu) }
        perCpuOffset = RingLayout.perCpuOffset(eventCount: events.count)
        perCpuStride = RingLayout.perCpuStride(eventCount: events.count)
        config.intervalNs = interval
        config.hostname = hostname
        config.target = target
        config.cpuCount = 4
        writer = try RingWriter(config: config)
        for (i, e) in events.enumerated() { writer.setEvent(i, e) }
        createdMonotonic = Sys.monotonicNanos()
        time = createdMonotonic
        // Patch the header of the unpublished file: the clock pair (and pid) become known values.
        let (dir, name) = splitPath(path)
        let temp = dir + "/.\(name).\(String(writer.generation, radix: 16)).tmp"
        apiPatch(temp, at: RingLayout.hCreatedRealtimeNs, apiLE64(Self.realtime))
        apiPatch(temp, at: RingLayout.hCreatedMonotonicNs, apiLE64(createdMonotonic))
        if let pid { apiPatch(temp, at: RingLayout.hCollectorPid, apiLE32(UInt32(bitPattern: pid))) }
        if publish { try writer.publish() }
    }

    var generationHex: String {
        let s = String(writer.generation, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// Unix ms of a record written at monotonic `t` (the header's clock pair is pinned).
    func unixMillis(_ t: UInt64) -> Double { Double(Self.realtime / 1_000_000 + (t - createdMonotonic) / 1_000_000) }

    /// Writes one record; `heartbeat` defaults to now (a live collector).
    func write(_ r: FakeRecord = .plain, heartbeat: UInt64? = nil) {
        time += r.dtNs
        let p = writer.begin()
        p.setU64(RingLayout.rTimeNs, time)
        p.setU64(RingLayout.rDtNs, r.dtNs)
        var valid: UInt64 = 0
        for (slot, t) in r.counters {
            let o = RingLayout.counterOffset(slot)
            p.setU64(o, t.value)
            p.setU64(o + 8, t.enabled)
            p.setU64(o + 16, t.running)
        }
        for (f, v) in r.invalidOS { p.setU64(f.offset, v) }
        for (f, v) in r.os {
            p.setU64(f.offset, v)
            valid |= f.bit
        }
        p.setU64(RingLayout.rOSValid, valid)
        p.setU64(RingLayout.rSlowSpanNs, r.slowSpanNs)
        for (cpu, times) in r.cpuTimes.enumerated() {
            for (i, t) in times.enumerated() { p.setU64(perCpuOffset + cpu * perCpuStride + RingLayout.cpuTimes + i * 8, t) }
        }
        for (cpu, counters) in r.cpuCounters.enumerated() {
            for (slot, t) in counters {
                let o = perCpuOffset + cpu * perCpuStride + RingLayout.cpuCounters + slot * RingLayout.counterSize
                p.setU64(o, t.value)
                p.setU64(o + 8, t.enabled)
                p.setU64(o + 16, t.running)
            }
        }
        writer.commit(heartbeat: heartbeat ?? Sys.monotonicNanos())
    }

    func write(_ n: Int) { for _ in 0..<n { write() } }
}

/// A pid that cannot exist (above the kernel's largest pid_max, 2^22).
let deadPid: Int32 = 99_999_999

// MARK: the application on a thread

/// PerfringAPI behind an HTTPServer on 127.0.0.1:0, run on its own thread; the tick polls the ring.
final class APIServer: Sendable {
    let base: ServerThread
    var port: UInt16 { base.port }

    init(ring: String, webRoot: String? = nil) {
        base = ServerThread { () -> (handler: HTTPHandler, attach: (HTTPServer) -> Void) in
            let api = PerfringAPI(ringPath: ring, files: webRoot.map { StaticFiles(webRoot: $0, chartJS: $0 + "/chart.min.js") })
            api.follower.poll()  // as serverMain does once bound: the ring is read before the test goes on
            return (api, { api.server = $0 })
        }
    }

    /// One request on a fresh connection; HEAD replies are read without a body.
    func request(_ method: String, _ target: String, headers: [String] = []) throws -> TestResponse {
        let c = try TestClient(port: port)
        c.send("\(method) \(target) HTTP/1.1\r\nHost: t\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n")
        return try #require(c.readResponse(bodyless: method == "HEAD"), "no reply to \(method) \(target)")
    }

    func get(_ target: String) throws -> TestResponse { try request("GET", target) }

    /// GET that must answer 200 with a JSON object.
    func object(_ target: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let r = try get(target)
        #expect(r.status == 200, "\(target): \(r.status) \(r.text)", sourceLocation: sourceLocation)
        #expect(r.header("Content-Type") == "application/json", sourceLocation: sourceLocation)
        return try jsonObject(r.body)
    }

    /// Waits until GET `target` satisfies `condition` (the server's tick has caught up).
    func eventuallyObject(_ target: String, _ condition: ([String: Any]) -> Bool) -> [String: Any]? {
        var last: [String: Any]?
        let ok = eventually(seconds: 20) {
            guard let r = try? get(target), r.status == 200, let o = try? jsonObject(r.body) else { return false }
            last = o
            return condition(o)
        }
        return ok ? last : nil
    }
}

// MARK: JSON

struct NotJSON: Error, CustomStringConvertible { let description: String }

func jsonValue(_ bytes: [UInt8]) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
}

func jsonObject(_ bytes: [UInt8]) throws -> [String: Any] {
    guard let o = try jsonValue(bytes) as? [String: Any] else { throw NotJSON(description: String(decoding: bytes, as: UTF8.self)) }
    return o
}

/// A JSON number as Double; nil for null (and for anything that is not a number).
func number(_ v: Any?) -> Double? {
    (v as? NSNumber)?.doubleValue
}

func isNull(_ v: Any?) -> Bool { v is NSNull }

/// Equal within 1e-9 relative (exact for zero).
func near(_ a: Double, _ b: Double) -> Bool { a == b || abs(a - b) <= 1e-9 * max(abs(a), abs(b)) }
