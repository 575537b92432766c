// `perfring-collector --self-test`: checks what this machine can measure before anyone trusts a
// number from it, and prints a table. A failed check makes the exit status 1; a check that
// cannot run here (no PMU) is skipped, and says why.
import CPerf
import Glibc
import Shared

public struct SelfTest {
    public enum Outcome: String { case ok, failed = "FAILED", skipped }
    public struct Check {
        public let name: String
        public let outcome: Outcome
        public let detail: String
    }

    let options: CollectorOptions
    public init(options: CollectorOptions) { self.options = options }

    /// Runs every check; returns the table's rows.
    public func run() -> [Check] {
        [events(), timer(), taskClock(), instructions(), overhead()]
    }

    /// Which events open for this process, and why the others do not.
    func events() -> Check {
        let counters = PerfCounters(specs: options.events, target: .threads([Sys.getpid()]))
        let counting = counters.entries.filter { $0.status == .counting }.map(\.name)
        let failing = counters.entries.filter { $0.status != .counting }
        var detail = "\(counting.count) of \(counters.entries.count) count"
        if !counting.isEmpty { detail += " (\(counting.joined(separator: ", ")))" }
        if let first = failing.first {
            let spec = options.events.first { $0.name == first.name }
            detail += "; \(failing.map(\.name).joined(separator: ", ")): " + explainStatus(first.status, errno: first.errno, isHardware: spec?.isHardware ?? true)
        }
        return Check(name: "events", outcome: counting.isEmpty ? .failed : .ok, detail: detail)
    }

    /// Lateness of 200 absolute-deadline ticks at 10 ms, and the drift of the last one.
    func timer() -> Check {
        let interval: UInt64 = 10_000_000, ticks = 200
        guard let tfd = try? Sys.timerfd(), let ep = try? Sys.epollCreate() else {
            return Check(name: "timer (10ms x 200)", outcome: .failed, detail: "timerfd/epoll unavailable")
        }
        defer { Sys.close(tfd); Sys.close(ep) }
        let start = Sys.monotonicNanos() + interval
        try? Sys.timerfdArm(tfd, firstAt: start, interval: interval)
        try? Sys.epollAdd(ep, tfd, events: EPOLLIN.rawValue, data: 0)
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: 1)
        defer { events.deallocate() }
        var lateness: [Double] = []
        var missed: UInt64 = 0, k: UInt64 = 0
        while k < UInt64(ticks) {
            _ = try? Sys.epollWait(ep, events, timeoutMs: 1000)
            let now = Sys.monotonicNanos()
            guard let n = Sys.readCounter(tfd) else { continue }
            k += n
            missed += n - 1
            let deadline = start + (k - 1) * interval
            lateness.append(Double(now > deadline ? now - deadline : 0) / 1e6)
        }
        lateness.sort()
        let p50 = lateness[lateness.count / 2], p99 = lateness[min(lateness.count - 1, lateness.count * 99 / 100)], maxL = lateness.last ?? 0
        let ok = p99 < 5 && Double(missed) <= Double(ticks) * 0.01
        return Check(name: "timer (10ms x \(ticks))", outcome: ok ? .ok : .failed,
                     detail: "lateness p50 \(fmt(p50)) ms, p99 \(fmt(p99)) ms, max \(fmt(maxL)) ms; \(missed) missed; deadlines are absolute (no drift)")
    }

    /// task-clock of a busy loop against the kernel's own CPU accounting (getrusage).
    func taskClock() -> Check {
        guard let spec = EventCatalog.spec(named: "task-clock") else { return Check(name: "task-clock", outcome: .failed, detail: "no such event") }
        let counters = PerfCounters(specs: [spec], target: .threads([Sys.getpid()]))
        guard counters.entries[0].status == .counting else {
            return Check(name: "task-clock vs getrusage", outcome: .failed, detail: explainStatus(counters.entries[0].status, errno: counters.entries[0].errno, isHardware: false))
        }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: RingLayout.recordSize(eventCount: 1, perCpuCount: 0), alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: RingLayout.recordSize(eventCount: 1, perCpuCount: 0))
        let cpu0 = Sys.processCPUNanos()
        counters.readAll(into: nil, perCpu: nil, totals: nil)
        busy(nanos: 300_000_000)
        counters.readAll(into: buffer, perCpu: nil, totals: nil)
        let cpu = Double(Sys.processCPUNanos() - cpu0) / 1e6
        let tc = Double(RecordView(UnsafeRawPointer(buffer)).counter(0).value) / 1e6
        let diff = abs(tc - cpu) / max(cpu, 1) * 100
        // getrusage is tick-accounted on some kernels: allow 5 % plus one 10 ms tick.
        let ok = abs(tc - cpu) <= cpu * 0.05 + 10
        return Check(name: "task-clock vs getrusage", outcome: ok ? .ok : .failed, detail: "\(fmt(tc)) ms counted vs \(fmt(cpu)) ms accounted (\(fmt(diff)) %)")
    }

    /// Instructions of a loop whose count is known (2 per iteration), where a PMU exists.
    func instructions() -> Check {
        let name = "instructions (known loop)"
        guard let spec = EventCatalog.spec(named: "instructions") else { return Check(name: name, outcome: .failed, detail: "no such event") }
        let counters = PerfCounters(specs: [spec], target: .threads([Sys.getpid()]))
        let e = counters.entries[0]
        guard e.status == .counting else {
            return Check(name: name, outcome: .skipped, detail: explainStatus(e.status, errno: e.errno, isHardware: true))
        }
        let size = RingLayout.recordSize(eventCount: 1, perCpuCount: 0)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let n: UInt64 = 50_000_000
        counters.readAll(into: nil, perCpu: nil, totals: nil)
        let perIteration = cperf_known_loop(n)
        counters.readAll(into: buffer, perCpu: nil, totals: nil)
        guard perIteration > 0 else { return Check(name: name, outcome: .skipped, detail: "no known loop for this architecture") }
        let c = RecordView(UnsafeRawPointer(buffer)).counter(0)
        guard c.running > 0 else { return Check(name: name, outcome: .failed, detail: "the counter never ran (PMU busy or multiplexed out)") }
        let counted = counterEstimate(c, flags: e.flags, record: [])
        let expected = Double(n * perIteration)
        let err = abs(counted - expected) / expected * 100
        return Check(name: name, outcome: err < 1 ? .ok : .failed, detail: "\(Int(counted)) counted vs \(Int(expected)) executed (\(fmt(err)) %)")
    }

    /// CPU time one tick costs (reading every counter group and every OS source), as a share of
    /// one CPU at the configured interval.
    func overhead() -> Check {
        let name = "collector overhead"
        let target: CounterTarget = .cpus(HostFacts.onlineCPUs() ?? [0])
        let counters = PerfCounters(specs: options.events, target: target)
        guard let proc = try? ProcSignals(cpus: nil, pid: nil) else { return Check(name: name, outcome: .failed, detail: "cannot read /proc") }
        let size = RingLayout.recordSize(eventCount: options.events.count, perCpuCount: 0)
        let record = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        let values = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: OSField.allCases.count)
        defer { record.deallocate(); values.deallocate() }
        let rounds = 500
        let t0 = Sys.threadCPUNanos()
        for _ in 0..<rounds {
            record.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            counters.readAll(into: record, perCpu: nil, totals: nil)
            _ = proc.sample(into: values, perCpu: nil)
        }
        let perTick = Double(Sys.threadCPUNanos() - t0) / Double(rounds)
        let share = perTick / Double(options.intervalNs) * 100
        return Check(name: name, outcome: share < 1 ? .ok : .failed,
                     detail: "\(fmt(perTick / 1000)) µs CPU per tick = \(fmt(share)) % of one CPU at \(formatDuration(options.intervalNs))")
    }

    private func busy(nanos: UInt64) {
        let end = Sys.threadCPUNanos() + nanos
        var x: UInt64 = 1
        while Sys.threadCPUNanos() < end {
            for _ in 0..<10_000 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
        }
        if x == 42 { Log.debug("unlikely") }  // keeps the loop from being optimised away
    }

    private func fmt(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    /// The table as printed, and the exit status.
    public static func report(_ checks: [Check]) -> (String, Int32) {
        var lines = ["perfring self-test on \(Sys.hostname()) (kernel \(HostFacts.kernelRelease()), \(HostFacts.cpuModelName() ?? "unknown CPU"))",
                     "  " + "check".padded(28) + " " + "result".padded(8) + " detail"]
        for c in checks { lines.append("  " + c.name.padded(28) + " " + c.outcome.rawValue.padded(8) + " " + c.detail) }
        let failed = checks.filter { $0.outcome == .failed }.count
        let passed = checks.filter { $0.outcome == .ok }.count
        let skipped = checks.filter { $0.outcome == .skipped }.count
        lines.append("self-test: \(passed) passed, \(failed) failed, \(skipped) skipped")
        return (lines.joined(separator: "\n") + "\n", failed == 0 ? 0 : 1)
    }
}
