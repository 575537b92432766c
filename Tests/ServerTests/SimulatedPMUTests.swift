// The real collector over a simulated PMU (SimulatedPMU.swift), and the real server over the
// ring it writes: known counts go in, and the ring, /api/data, /api/events and /metrics must
// say exactly what went in (to the unit), in system-wide, per-CPU, pid and command modes, with
// multiplexing, groups that never run, missing events, the user-space-only fallback, hybrid
// CPUs and a task that sleeps.
import Foundation
import Glibc
import Testing
@testable import Collector
@testable import Server
@testable import Shared

/// One collector run over a simulated PMU, in a private directory.
final class SimulatedRun {
    let dir = APITempDir()
    let sim: SimulatedPMU
    let collector: Collector
    private var stopped = false

    init(_ sim: SimulatedPMU, target: CollectorOptions.Target, perCpu: Bool = false, events: String? = nil) throws {
        self.sim = sim
        sim.writeSysfs(dir.path + "/sys")
        var o = CollectorOptions()
        o.ringPath = dir.ring
        o.ringPathIsDefault = false
        o.osSignals = false
        o.capacity = 64
        o.target = target
        o.perCpu = perCpu
        if let events { o.events = try EventCatalog.parseList(events).get() }
        let env = CounterEnvironment(syscalls: sim, sysfsRoot: dir.path + "/sys", paranoid: sim.paranoid)
        collector = try Collector(options: o, environment: env)
        #expect(collector.start() == nil)
    }

    /// One timer tick of the collector: reads every counter into the next record.
    func tick() { #expect(collector.tick(missed: 0) == nil) }

    /// Stops the run as SIGTERM does (a command is ended first), writing the final record.
    func stop() {
        guard !stopped else { return }
        stopped = true
        if collector.handleSignal(SIGTERM) != nil { return }
        _ = eventually(seconds: 20) { collector.handleSignal(SIGCHLD) != nil }
    }

    deinit { stop() }

    /// Every complete record, oldest first.
    func records() throws -> (RingReader, [[UInt8]]) {
        let r = try RingReader(path: dir.ring)
        let w = r.writeIndex() ?? 0
        var out: [[UInt8]] = []
        var buf = [UInt8](repeating: 0, count: r.header.recordSize)
        for i in r.oldestIndex(writeIndex: w)..<w where buf.withUnsafeMutableBytes({ r.read(i, into: $0.baseAddress!) }) == .ok {
            out.append(buf)
        }
        return (r, out)
    }

    func slot(_ name: String) throws -> Int {
        try #require(collector.counters.entries.firstIndex { $0.name == name }, "no slot \(name)")
    }
}

func recordView<T>(_ bytes: [UInt8], _ body: (RecordView) -> T) -> T { bytes.withUnsafeBytes { body(RecordView($0.baseAddress!)) } }

/// The server's samples in order (the final record of a stopped run included).
func samples(_ server: APIServer, count: Int) throws -> [[String: Any]] {
    let d = try #require(server.eventuallyObject("/api/data") { ($0["samples"] as? [Any])?.count ?? 0 >= count })
    return try #require(d["samples"] as? [[String: Any]])
}

/// `perfring_NAME VALUE` from /metrics, or nil when the line is absent.
func metric(_ text: String, _ name: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") { return Double(line.split(separator: " ")[1]) }
    return nil
}

func eventsByName(_ server: APIServer) throws -> [String: [String: Any]] {
    let e = try server.object("/api/events")
    var out: [String: [String: Any]] = [:]
    for x in e["events"] as? [[String: Any]] ?? [] { out[x["name"] as! String] = x }
    return out
}

let onlineCPUs = HostFacts.onlineCPUs() ?? [0]
let sliceCount = 25  // rotation intervals per tick (100 ms at 4 ms)

/// Known per-slice loads for the six hardware events and the software ones.
func hardwareLoad(_ k: UInt64) -> [String: UInt64] {
    ["cycles": 1000 * k, "instructions": 1500 * k, "cache-references": 300 * k, "cache-misses": 30 * k,
     "branch-instructions": 400 * k, "branch-misses": 8 * k, "context-switches": 2 * k, "page-faults": 5 * k]
}

/// Spawns `sleep 30` and returns its pid (killed by the caller).
func sleeper() throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sleep")
    p.arguments = ["30"]
    try p.run()
    return p
}

@Suite(.serialized) struct SimulatedPMUTests {
    /// System-wide and per CPU, three hardware pairs on four counters (one CPU's watchdog holds
    /// two more): every CPU multiplexes differently. Scaled per CPU then summed, each record,
    /// per-CPU slot, header total, /api/data value and /metrics total is the exact truth; the
    /// old rule (sum then scale) would not be.
    @Test func systemWideMultiplexedCountsExactlyPerCPUAndInTotal() throws {
        let sim = SimulatedPMU(pmus: [.init(name: "cpu", type: 4, cpus: onlineCPUs, counters: 4)])
        for (i, c) in onlineCPUs.enumerated() { sim.cpuLoad[c] = hardwareLoad(UInt64(i + 1)) }
        if onlineCPUs.count > 1 { sim.pmus[0].reservedOn = [onlineCPUs[1]: 2] }
        let run = try SimulatedRun(sim, target: .systemWide, perCpu: true)
        let ticks = 3
        for _ in 0..<ticks { sim.runSystem(slices: sliceCount); run.tick() }
        let (reader, records) = try run.records()
        #expect(records.count == ticks)
        let names = ["cycles", "instructions", "cache-references", "cache-misses", "branch-instructions", "branch-misses", "context-switches", "page-faults"]
        var rawSumThenScale: [String: Double] = [:]
        for name in names {
            let slot = try run.slot(name)
            #expect(reader.header.events[slot].flags.contains(.scaledPerTarget))
            var sum: UInt64 = 0
            for rec in records {
                recordView(rec) { v in
                    var want: UInt64 = 0
                    for (i, c) in onlineCPUs.enumerated() {
                        let perCPU = hardwareLoad(UInt64(i + 1))[name]! * UInt64(sliceCount)
                        want += perCPU
                        #expect(v.cpuCounter(cpu: i, slot, header: reader.header).value == perCPU, "\(name) on CPU \(c)")
                    }
                    let c = v.counter(slot)
                    #expect(c.value == want, "\(name) in a record")
                    if slot < 6 { #expect(c.running < c.enabled, "\(name) multiplexed") }
                    sum += c.value
                }
            }
            #expect(reader.total(slot) == sum, "\(name): the header total is the sum of the records")
            if slot == 0, let rec = records.first {
                rawSumThenScale[name] = recordView(rec) { v in
                    var raw = 0.0, e = 0.0, r = 0.0
                    for i in onlineCPUs.indices {
                        let c = v.cpuCounter(cpu: i, slot, header: reader.header)
                        raw += Double(c.value) * Double(c.running) / Double(c.enabled); e += Double(c.enabled); r += Double(c.running)
                    }
                    return raw * e / r
                }
            }
        }
        if onlineCPUs.count > 1 {
            let truth = Double(hardwareLoad(1)["cycles"]! + hardwareLoad(2)["cycles"]!) * Double(sliceCount)
            #expect(rawSumThenScale["cycles"] != truth, "summing raw counts before scaling would be wrong here")
        }

        let server = APIServer(ring: run.dir.ring)
        let data = try samples(server, count: ticks)
        let cycles = Double(onlineCPUs.indices.reduce(0) { $0 + hardwareLoad(UInt64($1 + 1))["cycles"]! }) * Double(sliceCount)
        let instructions = cycles * 1.5
        for s in data {
            #expect(number(s["cycles"]) == cycles)
            #expect(number(s["instructions"]) == instructions)
            #expect(number(s["branch_misses"]) == cycles * 8 / 1000)
            #expect(near(number(s["ipc"]) ?? 0, 1.5))
            #expect((number(s["multiplex"]) ?? 1) < 1)
        }
        let m = try server.get("/metrics").text
        #expect(metric(m, "perfring_cycles_total") == cycles * Double(ticks), "/metrics equals the sum of /api/data")
        #expect(metric(m, "perfring_context_switches_total") == cycles / 500 * Double(ticks))
        run.stop()
    }

    /// Two counters, one held by the watchdog: each pair passes validate_group at open and is
    /// never scheduled. The table and the API say not-counted, the values are null, never 0;
    /// software events count on.
    @Test func aGroupThatNeverRunsIsReportedNotCounted() throws {
        let sim = SimulatedPMU(pmus: [.init(name: "cpu", type: 4, cpus: onlineCPUs, counters: 2, reserved: 1)])
        for c in onlineCPUs { sim.cpuLoad[c] = hardwareLoad(1) }
        let run = try SimulatedRun(sim, target: .systemWide)
        for _ in 0..<2 { sim.runSystem(slices: sliceCount); run.tick() }
        let (reader, records) = try run.records()
        let cycles = try run.slot("cycles")
        #expect(reader.header.events[cycles].status == .counting)
        #expect(reader.eventFlags(cycles)?.contains(.neverScheduled) == true)
        #expect(run.collector.counters.entries[try run.slot("page-faults")].flags.contains(.neverScheduled) == false)
        for rec in records { recordView(rec) { #expect($0.counter(cycles).running == 0 && $0.counter(cycles).enabled > 0) } }

        let server = APIServer(ring: run.dir.ring)
        for s in try samples(server, count: 2) {
            #expect(isNull(s["cycles"]) && isNull(s["ipc"]))
            #expect(number(s["page_faults"]) == Double(5 * sliceCount * onlineCPUs.count))
        }
        let events = try eventsByName(server)
        #expect(events["cycles"]?["status"] as? String == "not-counted")
        #expect((events["cycles"]?["reason"] as? String)?.contains("never scheduled") == true)
        #expect(events["task-clock"]?["status"] as? String == "counting")
        let health = try server.object("/api/health")
        #expect((health["unavailable_events"] as? [[String: Any]])?.contains { $0["name"] as? String == "branch-misses" } == true)
        let m = try server.get("/metrics").text
        #expect(m.contains("perfring_event_available{event=\"cycles\",status=\"not-counted\"} 0"))
        #expect(metric(m, "perfring_cycles_total") == nil, "no total for an event that never counted")
        run.stop()
    }

    /// One counter: the pair's member cannot join its leader (validate_group: EINVAL at open),
    /// so each event is read on its own; six events take turns on one counter and still come
    /// out exact.
    @Test func aGroupThatCanNeverFitIsReadSingly() throws {
        let sim = SimulatedPMU(pmus: [.init(name: "cpu", type: 4, cpus: onlineCPUs, counters: 1)])
        for c in onlineCPUs { sim.cpuLoad[c] = hardwareLoad(1) }
        let run = try SimulatedRun(sim, target: .systemWide)
        // 24 slices: six singles rotating on one counter each run exactly 4 of them.
        sim.runSystem(slices: 24); run.tick()
        let (_, records) = try run.records()
        for name in ["cycles", "instructions", "branch-misses"] {
            let slot = try run.slot(name)
            #expect(run.collector.counters.entries[slot].status == .counting)
            recordView(records[0]) { v in
                let c = v.counter(slot)
                #expect(c.value == hardwareLoad(1)[name]! * 24 * UInt64(onlineCPUs.count), "\(name)")
                #expect(c.running * 6 == c.enabled)
            }
        }
        run.stop()
    }

    /// A PMU without branch events: ENOENT, shown as unsupported and null, never 0.
    @Test func eventsTheMachineLacksAreUnsupported() throws {
        var pmu = SimulatedPMU.PMU(name: "cpu", type: 4, cpus: onlineCPUs, counters: 8)
        pmu.hardware = [0, 1, 2, 3]
        let sim = SimulatedPMU(pmus: [pmu])
        for c in onlineCPUs { sim.cpuLoad[c] = hardwareLoad(1) }
        let run = try SimulatedRun(sim, target: .systemWide)
        sim.runSystem(slices: sliceCount); run.tick()
        let branches = try run.slot("branch-instructions")
        #expect(run.collector.counters.entries[branches].status == .unsupported)
        #expect(run.collector.counters.entries[branches].errno == ENOENT)
        #expect(run.collector.eventTable().contains("unsupported here"))
        let server = APIServer(ring: run.dir.ring)
        let s = try #require(try samples(server, count: 1).first)
        #expect(isNull(s["branches"]) && isNull(s["branch_miss_rate"]))
        #expect(number(s["cycles"]) == Double(1000 * sliceCount * onlineCPUs.count))
        #expect(try eventsByName(server)["branch-instructions"]?["status"] as? String == "unsupported")
        #expect(metric(try server.get("/metrics").text, "perfring_branches_total") == nil)
        run.stop()
    }

    /// A normal user at paranoid 2 counting its own command: every event is refused without
    /// exclude_kernel and reopened user-space-only, as perf does (`:u`). At paranoid 1 the
    /// kernel allows kernel counting of one's own tasks: no fallback. The counts are exact; an
    /// interval the command spends asleep is 0 with the off-CPU flag, not unknown.
    @Test(arguments: [2, 1]) func commandAsUnprivilegedUserFallsBackToUserSpaceOnly(paranoid: Int) throws {
        let sim = SimulatedPMU(pmus: [.init(name: "cpu", type: 4, cpus: onlineCPUs, counters: 8)], paranoid: paranoid, privileged: false)
        let run = try SimulatedRun(sim, target: .command(["/bin/sleep", "30"]))
        let pid = try #require(run.collector.counters.target.commandPid)
        sim.taskLoad[pid] = hardwareLoad(3)
        sim.exec(pid)
        sim.runTask(pid, cpu: onlineCPUs[0], slices: 10); run.tick()   // ran 40 ms
        run.tick()                                                      // asleep
        sim.runTask(pid, cpu: onlineCPUs.last!, slices: 5); run.tick()  // ran 20 ms
        let userOnly = paranoid > 1
        // Context switches and migrations happen in the kernel: user space only they would read
        // 0 whatever the task does, so they stay not permitted instead.
        let kernelOnly: Set = ["context-switches", "cpu-migrations"]
        for e in run.collector.counters.entries {
            if userOnly && kernelOnly.contains(e.name) {
                #expect(e.status == .notPermitted && e.errno == EACCES && !e.flags.contains(.userOnly), "\(e.name)")
                continue
            }
            #expect(e.status == .counting, "\(e.name)")
            #expect(e.flags.contains(.userOnly) == userOnly, "\(e.name)")
            if userOnly { #expect(e.flags.paranoid == 2 && e.flags.contains(.excludeHV)) }
        }
        #expect(run.collector.eventTable().contains("user space only (paranoid 2)") == userOnly)
        let (reader, records) = try run.records()
        #expect(records.count == 3)
        recordView(records[1]) { #expect($0.flags.contains(.targetOffCPU)) }
        recordView(records[0]) { #expect(!$0.flags.contains(.targetOffCPU)) }
        let tc = try run.slot("task-clock")
        #expect(reader.total(tc) == 15 * sim.sliceNs)

        let server = APIServer(ring: run.dir.ring)
        let data = try samples(server, count: 3)
        let want: [(taskClock: Double, cycles: Double)] = [(10 * 4e6, 30_000), (0, 0), (5 * 4e6, 15_000)]
        for (s, w) in zip(data, want) {
            #expect(number(s["task_clock"]) == w.taskClock)
            #expect(number(s["cycles"]) == w.cycles)
            if userOnly { #expect(isNull(s["context_switches"])) } else { #expect(number(s["context_switches"]) == w.cycles / 500) }
            #expect(number(s["page_faults"]) == w.cycles / 200)
        }
        #expect(isNull(data[1]["ipc"]), "no instructions: no ratio")
        let events = try eventsByName(server)
        #expect(events["task-clock"]?["user_space_only"] as? Bool == userOnly)
        #expect(events["context-switches"]?["status"] as? String == (userOnly ? "not-permitted" : "counting"))
        #expect((events["cycles"]?["reason"] as? String) == (userOnly ? "user space only (paranoid 2)" : "counting"))
        #expect(metric(try server.get("/metrics").text, "perfring_task_clock_seconds_total") == 15 * 4e6 / 1e9)  // nanoseconds as seconds (issue 18)
        run.stop()
    }

    /// System-wide as a normal user at paranoid 2: CPU-wide counting needs privilege whatever
    /// exclude_kernel says, so the fallback cannot help and every event is not-permitted.
    @Test func systemWideAsUnprivilegedUserIsNotPermitted() throws {
        let sim = SimulatedPMU(pmus: [.init(name: "cpu", type: 4, cpus: onlineCPUs, counters: 8)], paranoid: 2, privileged: false)
        let run = try SimulatedRun(sim, target: .systemWide)
        for e in run.collector.counters.entries {
            #expect(e.status == .notPermitted && e.errno == EACCES, "\(e.name)")
            #expect(!e.flags.contains(.userOnly))
        }
        #expect(sim.openEvents == 0)
        run.stop()
    }

    /// A process that sleeps: intervals it spends off CPU count 0 (flagged), intervals it runs
    /// count exactly; nothing reads null.
    @Test func pidModeCountsZeroWhileTheTaskSleeps() throws {
        let p = try sleeper()
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        let sim = SimulatedPMU(pmus: [.init(name: "cpu", type: 4, cpus: onlineCPUs, counters: 8)])
        let run = try SimulatedRun(sim, target: .pid(p.processIdentifier))
        sim.taskLoad[p.processIdentifier] = hardwareLoad(2)
        run.tick()
        sim.runTask(p.processIdentifier, cpu: onlineCPUs[0], slices: 3); run.tick()
        run.tick()
        let server = APIServer(ring: run.dir.ring)
        let data = try samples(server, count: 3)
        for (s, slices) in zip(data, [0.0, 3, 0]) {
            #expect(number(s["task_clock"]) == slices * 4e6)
            #expect(number(s["context_switches"]) == slices * 4)
            #expect(number(s["instructions"]) == slices * 3000)
            #expect(number(s["cpus_utilized"]) != nil)
        }
        run.stop()
    }

    /// A hybrid CPU (cpu_core + cpu_atom, their own type numbers in the fake sysfs): the six
    /// hardware events are opened once per core PMU (extended type in config bits 32-63, or the
    /// PMU's own type on a kernel without it), 16 slots in all; each part counts its PMU's
    /// CPUs, the event is their sum, ratios come from each PMU's own pair.
    @Test(arguments: [true, false]) func hybridSystemWideCountsEachCorePMU(extendedType: Bool) throws {
        try #require(onlineCPUs.count >= 2, "needs two CPUs")
        let half = onlineCPUs.count / 2
        let core = Array(onlineCPUs[..<half]), atom = Array(onlineCPUs[half...])
        let sim = SimulatedPMU(pmus: [.init(name: "cpu_core", type: 4, cpus: core, counters: 8),
                                      .init(name: "cpu_atom", type: 10, cpus: atom, counters: 6)], extendedType: extendedType)
        for c in core { sim.cpuLoad[c] = hardwareLoad(4) }
        for c in atom { sim.cpuLoad[c] = ["cycles": 1000, "instructions": 500, "cache-references": 100, "cache-misses": 50,
                                          "branch-instructions": 100, "branch-misses": 10] }
        let run = try SimulatedRun(sim, target: .systemWide, perCpu: true)
        sim.runSystem(slices: sliceCount); run.tick()
        let entries = run.collector.counters.entries
        #expect(entries.count == 16)
        #expect(entries.map(\.name).prefix(4) == ["cpu_core/cycles/", "cpu_atom/cycles/", "cpu_core/instructions/", "cpu_atom/instructions/"])
        let atomCycles = try run.slot("cpu_atom/cycles/")
        #expect(entries[atomCycles].flags.partOf == 0 && entries[atomCycles].flags.contains(.pmuPart))
        #expect(entries[atomCycles].type == (extendedType ? 0 : 10))
        #expect(entries[atomCycles].config == (extendedType ? 10 << 32 : 0x3c), "extended type, or the PMU's own encoding from its sysfs alias")
        #expect(entries[try run.slot("cpu_atom/cache-references/")].config == (extendedType ? 10 << 32 | 2 : 0x4f2e))
        #expect(entries[atomCycles].opened == UInt32(atom.count), "opened on the atom CPUs only")
        #expect(entries[atomCycles].group != entries[try run.slot("cpu_core/cycles/")].group)

        let n = Double(sliceCount)
        let coreCycles = 4000 * n * Double(core.count), coreInstr = 6000 * n * Double(core.count)
        let atomC = 1000 * n * Double(atom.count), atomI = 500 * n * Double(atom.count)
        let server = APIServer(ring: run.dir.ring)
        let s = try #require(try samples(server, count: 1).first)
        #expect(number(s["cycles_cpu_core"]) == coreCycles)
        #expect(number(s["cycles_cpu_atom"]) == atomC)
        #expect(number(s["cycles"]) == coreCycles + atomC)
        #expect(number(s["instructions"]) == coreInstr + atomI)
        #expect(near(number(s["ipc_cpu_core"]) ?? 0, 1.5))
        #expect(near(number(s["ipc_cpu_atom"]) ?? 0, 0.5))
        #expect(near(number(s["ipc"]) ?? 0, (coreInstr + atomI) / (coreCycles + atomC)))
        #expect(near(number(s["cache_miss_rate_cpu_atom"]) ?? 0, 50))
        let events = try eventsByName(server)
        #expect(events["cpu_atom/cycles/"]?["pmu"] as? String == "cpu_atom")
        #expect(events["cpu_atom/cycles/"]?["part_of"] as? String == "cycles")
        let m = try server.get("/metrics").text
        #expect(metric(m, "perfring_cycles_cpu_atom_total") == atomC)
        #expect(metric(m, "perfring_cycles_total") == coreCycles + atomC)
        run.stop()
    }

    /// A task on a hybrid CPU: each part counts while the task runs on its PMU's CPUs, and is
    /// not-counted (never scheduled) on a core type the task never ran on.
    @Test func hybridTaskCountsOnTheCoreTypeItRunsOn() throws {
        try #require(onlineCPUs.count >= 2, "needs two CPUs")
        let p = try sleeper()
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        let pid = p.processIdentifier
        let sim = SimulatedPMU(pmus: [.init(name: "cpu_core", type: 4, cpus: [onlineCPUs[0]], counters: 8),
                                      .init(name: "cpu_atom", type: 10, cpus: Array(onlineCPUs.dropFirst()), counters: 6)])
        sim.taskLoad[pid] = hardwareLoad(1)
        let run = try SimulatedRun(sim, target: .pid(pid))
        sim.runTask(pid, cpu: onlineCPUs[0], slices: 6); run.tick()
        #expect(run.collector.counters.entries[try run.slot("cpu_atom/cycles/")].flags.contains(.neverScheduled))
        sim.runTask(pid, cpu: onlineCPUs[1], slices: 2); run.tick()
        #expect(!run.collector.counters.entries[try run.slot("cpu_atom/cycles/")].flags.contains(.neverScheduled))
        let server = APIServer(ring: run.dir.ring)
        let data = try samples(server, count: 2)
        #expect(number(data[0]["cycles_cpu_core"]) == 6000)
        #expect(isNull(data[0]["cycles_cpu_atom"]), "enabled, never ran on an atom CPU: no data")
        #expect(number(data[0]["cycles"]) == 6000)
        #expect(isNull(data[1]["cycles_cpu_core"]), "enabled, ran on the atom CPU only")
        #expect(number(data[1]["cycles_cpu_atom"]) == 2000)
        #expect(number(data[1]["cycles"]) == 2000)
        #expect(number(data[1]["task_clock"]) == 2 * 4e6)
        #expect(number(data[1]["multiplex"]) == 1, "a part that did not run is not multiplexing")
        run.stop()
    }

    /// perf's rule for core PMUs (named `cpu`, or with a `cpus` file) over a sysfs tree with an
    /// uncore PMU (a `cpumask`) and the software ones; aliases encoded through `format/`.
    @Test func corePMUsAndTheirEventAliasesComeFromSysfs() throws {
        let dir = APITempDir()
        let sim = SimulatedPMU(pmus: [.init(name: "cpu_core", type: 4, cpus: [0], counters: 8), .init(name: "cpu_atom", type: 10, cpus: [1], counters: 6)])
        sim.writeSysfs(dir.path + "/sys")
        let uncore = dir.path + "/sys/uncore_imc_0"
        mkdir(uncore, 0o755)
        for (f, t) in [("type", "17\n"), ("cpumask", "0\n")] { try t.write(toFile: uncore + "/" + f, atomically: false, encoding: .utf8) }
        try "config:23\n".write(toFile: dir.path + "/sys/cpu_atom/format/inv", atomically: false, encoding: .utf8)
        let pmus = CorePMU.discover(root: dir.path + "/sys")
        #expect(pmus.map(\.name) == ["cpu_core", "cpu_atom"])
        #expect(pmus.map(\.type) == [4, 10])
        #expect(pmus[1].cpus == [1])
        #expect(pmus[1].rawConfigs[2] == 0x4f2e)
        #expect(CorePMU.encode("event=0x3c,umask=0x1,inv", formatDir: dir.path + "/sys/cpu_atom/format") == 0x80_013c)
        #expect(CorePMU.encode("event=0x3c,nosuchterm=1", formatDir: dir.path + "/sys/cpu_atom/format") == nil)
        #expect(CorePMU.discover(root: dir.path + "/nonexistent").isEmpty)
    }

    /// A hostile or odd ring: part flags on names that are not `pmu/event/`, a part whose total
    /// key a plain event already has, any paranoid byte. The server keeps one column per key
    /// and serves everything.
    @Test func oddEventFlagsInARingAreServedSafely() throws {
        let dir = APITempDir()
        let events = [
            EventEntry(name: "cycles", type: 0, config: 0, status: .counting, flags: .scaledPerTarget),
            EventEntry(name: "cpu_core/cycles/", type: 0, config: 4 << 32, status: .counting, flags: [.part(of: 0), .userOnly(paranoid: -100)]),
            EventEntry(name: "a/b/c/", type: 0, config: 1, status: .counting, flags: .part(of: 9)),
            EventEntry(name: "/", type: 0, config: 1, status: .counting, flags: EventFlags(rawValue: .max)),
        ]
        let fake = try FakeCollector(path: dir.ring, events: events)
        var r = FakeRecord()
        r.counters = [0: .full(100), 1: Triple(50, 10, 5), 2: .full(7), 3: Triple(0, 0, 0)]
        fake.write(r)
        let server = APIServer(ring: dir.ring)
        let s = try #require(try samples(server, count: 1).first)
        #expect(number(s["cycles"]) == 100, "the plain event keeps its key")
        #expect(number(s["cycles_cpu_core"]) == 100, "not scaled per target: value * enabled / running")
        let e = try eventsByName(server)
        #expect(e.count == 4)
        #expect(e["/"]?["status"] as? String == "not-counted")
        let m = try server.get("/metrics")
        #expect(m.status == 200)
        #expect(m.text.components(separatedBy: "# TYPE perfring_cycles_total ").count == 2, "one family per name")
    }

    /// Hybrid parts must fit the 16 slots: ten hardware events on two PMUs do not.
    @Test func hybridLayoutThatDoesNotFitIsAUsageError() throws {
        let sim = SimulatedPMU(pmus: [.init(name: "cpu_core", type: 4, cpus: [0], counters: 8), .init(name: "cpu_atom", type: 10, cpus: [1], counters: 6)])
        #expect(throws: CollectorError.self) {
            _ = try SimulatedRun(sim, target: .systemWide, events: "cycles,instructions,cache-references,cache-misses,branch-instructions,branch-misses,bus-cycles,ref-cycles,L1-dcache-loads,task-clock")
        }
    }

    /// A group read whose nr does not match the group (PERF_FORMAT_GROUP checked, with the
    /// ids of PERF_FORMAT_ID): the interval is flagged and null for that group, nothing else
    /// is touched, and the next read carries the counts on, so nothing is lost.
    @Test func aMalformedGroupReadIsRefusedAndRecovered() throws {
        let sim = SimulatedPMU(pmus: [.init(name: "cpu", type: 4, cpus: onlineCPUs, counters: 8)])
        for c in onlineCPUs { sim.cpuLoad[c] = hardwareLoad(1) }
        let run = try SimulatedRun(sim, target: .systemWide)
        sim.corruptNextGroupRead = "cycles"
        sim.runSystem(slices: sliceCount); run.tick()
        sim.runSystem(slices: sliceCount); run.tick()
        let (reader, records) = try run.records()
        let cycles = try run.slot("cycles"), misses = try run.slot("cache-misses")
        let perTick = 1000 * UInt64(sliceCount * onlineCPUs.count)
        recordView(records[0]) { v in
            #expect(v.flags.contains(.readError))
            // Only the first CPU's group read was corrupted; the other CPUs' still count.
            #expect(v.counter(cycles).value == perTick - 1000 * UInt64(sliceCount))
            #expect(v.counter(misses).value == 30 * UInt64(sliceCount * onlineCPUs.count))
        }
        recordView(records[1]) { v in
            #expect(!v.flags.contains(.readError))
            #expect(v.counter(cycles).value == perTick + 1000 * UInt64(sliceCount))
        }
        #expect(reader.total(cycles) == 2 * perTick)
        run.stop()
    }
}

extension CounterTarget {
    var commandPid: Int32? { if case .command(let p) = self { p } else { nil } }
}
