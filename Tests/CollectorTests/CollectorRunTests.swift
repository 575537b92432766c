import Foundation
import Glibc
import Testing
@testable import Collector
@testable import Shared

@Suite(.serialized) struct CollectorRuns {
    @Test func commandModeWritesOrderedRecordsWithMeasuredDt() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let r = try runProduct("perfring-collector", ["--ring", ring, "--interval", "10ms", "--", "sleep", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let (reader, records) = try readAll(ring)
        #expect(reader.header.mode == .command)
        #expect(reader.header.intervalNs == 10_000_000)
        #expect(reader.header.target == "sleep 1")
        #expect(reader.stopped() == true)
        #expect(reader.exitStatus() == 0)
        #expect(records.count >= 50, "about 100 ticks in a second")
        var previous: (index: UInt64, time: UInt64)?
        var dts: [Double] = []
        for rec in records {
            view(rec) { v in
                if let p = previous {
                    #expect(v.index == p.index + 1)
                    #expect(v.timeNs > p.time)
                    #expect(v.dtNs == v.timeNs - p.time, "dt is the time measured between reads")
                }
                previous = (v.index, v.timeNs)
                dts.append(Double(v.dtNs) / 1e6)
            }
        }
        #expect(records.contains { rec in view(rec) { $0.os(.memTotal) ?? 0 > 0 } }, "memory is read (once a second)")
        let last = try #require(records.last)
        view(last) { v in #expect(v.flags.contains(.final)); #expect(v.flags.contains(.targetExited)) }
        // The median dt is the interval (behaviour, not timing: a tolerance of several ms).
        let median = dts.dropFirst().sorted()[dts.count / 2]
        #expect(abs(median - 10) < 5, "median dt \(median) ms")
    }

    @Test func softwareEventsReallyCount() throws {
        // A child that burns about 0.3 s of CPU: task-clock must agree with its CPU time.
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let r = try runProduct("perfring-collector", ["--ring", ring, "--interval", "50ms", "--",
                                                      "/bin/sh", "-c", "i=0; while [ $i -lt 60000 ]; do i=$((i+1)); done; cat /proc/$$/stat"])
        #expect(r.status == 0, "\(r.stderr)")
        let fields = r.stdout.split(separator: ")").last!.split(separator: " ")
        let ticks = Double(fields[11])! + Double(fields[12])!  // utime + stime of the shell
        let cpuNs = ticks * 1e9 / Double(sysconf(Int32(_SC_CLK_TCK)))
        let (reader, records) = try readAll(ring)
        let slot = try #require(reader.header.events.firstIndex { $0.name == "task-clock" })
        #expect(reader.header.events[slot].status == .counting)
        var taskClock: UInt64 = 0
        for rec in records { view(rec) { taskClock += $0.counter(slot).value } }
        #expect(taskClock > 50_000_000, "busy loop counted")
        // Clock ticks are 10 ms coarse; task-clock also includes cat's exec: within 25% + 30 ms.
        #expect(abs(Double(taskClock) - cpuNs) < cpuNs * 0.25 + 30e6, "task-clock \(taskClock) vs cpu \(cpuNs)")
        #expect(reader.total(slot)! >= taskClock * 9 / 10)
    }

    @Test func hardwareEventsOnThisMachineAreUnsupportedNotZero() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let r = try runProduct("perfring-collector", ["--ring", ring, "--interval", "20ms", "--", "true"])
        #expect(r.status == 0)
        let (reader, records) = try readAll(ring)
        let pmu = FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/cpu")
            || FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/cpu_core")
        for (slot, e) in reader.header.events.enumerated() where e.type == 0 {
            if pmu { continue }
            #expect(e.status == .unsupported, "\(e.name)")
            #expect(e.errno != 0)
            #expect(r.stderr.contains(e.name) && r.stderr.contains("unsupported"))
            for rec in records { view(rec) { #expect($0.counter(slot).running == 0, "no running time: readers show it unavailable") } }
        }
    }

    /// --no-os counts and reads nothing else: every OS field is absent (null to readers), the
    /// counters are there.
    @Test func noOsRecordsCountersOnly() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let busy = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"
        let r = try runProduct("perfring-collector", ["--ring", ring, "--interval", "20ms", "--no-os", "--", "/bin/sh", "-c", busy])
        #expect(r.status == 0, "\(r.stderr)")
        let (reader, records) = try readAll(ring)
        let taskClock = try #require(reader.header.events.firstIndex { $0.name == "task-clock" })
        #expect(records.count >= 3)
        #expect(reader.header.energyDomains.isEmpty)
        for rec in records { view(rec) { #expect($0.osValid == 0) } }
        #expect(reader.totals()?.osMask == 0, "no OS reads, no OS totals")
        #expect(records.contains { rec in view(rec) { $0.counter(taskClock).running > 0 } })
    }

    /// The header's OS running totals are what the records add up to: this collector reads
    /// every field every tick, so each delta field's total is exactly the sum of its record
    /// deltas, and a total exists for every delta field a record had.
    @Test func osTotalsAreTheSumOfTheRecordDeltas() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let busy = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; head -c 3000000 /dev/zero > \(dir.path)/f; sync"
        let r = try runProduct("perfring-collector", ["--ring", ring, "--interval", "10ms", "--", "/bin/sh", "-c", busy])
        #expect(r.status == 0, "\(r.stderr)")
        let (reader, records) = try readAll(ring)
        let totals = try #require(reader.totals())
        #expect(totals.records == UInt64(records.count))
        var sums = [UInt64](repeating: 0, count: OSField.allCases.count)
        var seen: UInt64 = 0
        for rec in records {
            view(rec) { v in
                for f in OSField.allCases where f.kind == .delta {
                    guard let d = v.os(f) else { continue }
                    sums[f.rawValue] += d
                    seen |= f.bit
                }
            }
        }
        #expect(seen & OSField.cpuUser.bit != 0 && seen & OSField.procUtime.bit != 0, "system and process fields were read")
        for f in OSField.allCases {
            if f.kind == .level { #expect(totals.os(f) == nil, "\(f): a level has no total"); continue }
            if seen & f.bit == 0 { continue }
            #expect(totals.os(f) == sums[f.rawValue], "\(f): total \(String(describing: totals.os(f))), records add up to \(sums[f.rawValue])")
        }
        var cpu: UInt64 = 0
        for f in OSField.cpuTimes { cpu += totals.os(f) ?? 0 }
        #expect(cpu > 0)
    }

    @Test func pidModeStopsCleanlyWhenTheTargetExits() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["1"]
        try child.run()
        let r = try runProduct("perfring-collector", ["--ring", ring, "--interval", "20ms", "--pid", "\(child.processIdentifier)"])
        child.waitUntilExit()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("has exited"))
        let (reader, records) = try readAll(ring)
        #expect(reader.header.mode == .pid)
        #expect(reader.header.target == "\(child.processIdentifier) (sleep)")
        #expect(reader.stopped() == true)
        let last = try #require(records.last)
        view(last) { #expect($0.flags.contains(.targetExited)) }
        // Process fields were present while it ran.
        let first = try #require(records.first)
        view(first) { #expect($0.os(.procThreads) == 1) }
    }

    @Test func commandThatCannotRunIsReported() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let r = try runProduct("perfring-collector", ["--ring", dir.path + "/ring", "--", "/nonexistent/program"])
        #expect(r.status == 127)
        #expect(r.stderr.contains("cannot run /nonexistent/program"))
    }

    @Test func commandExitStatusIsPassedThrough() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let r = try runProduct("perfring-collector", ["--ring", dir.path + "/ring", "--interval", "20ms", "--", "/bin/sh", "-c", "exit 7"])
        #expect(r.status == 7)
        let reader = try RingReader(path: dir.path + "/ring")
        #expect(reader.exitStatus() == 7)
    }

    @Test func sigtermWritesAFinalRecordAndStops() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let p = try Background(productsDir + "/perfring-collector", ["--ring", ring, "--interval", "20ms", "-q"])
        var waited = 0
        while (try? RingReader(path: ring))?.writeIndex() ?? 0 < 5, waited < 500 { usleep(10_000); waited += 1 }
        p.signal(SIGTERM)
        #expect(p.wait() == 0)
        let (reader, records) = try readAll(ring)
        #expect(reader.stopped() == true)
        #expect(reader.header.mode == .systemWide)
        #expect(reader.header.target == "all CPUs", "the target says what, the mode says how: no \"system-wide system-wide\"")
        let last = try #require(records.last)
        view(last) { v in
            #expect(v.flags.contains(.final))
            #expect(v.os(.cpuIdle) != nil)
        }
    }

    /// -q hides the event table, so the warning about unavailable events names them itself
    /// instead of pointing at a table that is not there.
    @Test(arguments: [true, false])
    func unavailableEventsAreNamedWithOrWithoutTheTable(quiet: Bool) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let r = try runProduct("perfring-collector", ["--ring", dir.path + "/ring", "--events", "cycles,instructions,task-clock"] + (quiet ? ["-q"] : []) + ["--", "true"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("events:") == !quiet, "the table shows without -q only")
        if quiet { #expect(!r.stderr.contains("see the table")) }
        // Without a PMU (this VM) cycles and instructions cannot count; with one, no warning.
        if let warning = r.stderr.split(separator: "\n").first(where: { $0.contains("events unavailable") }) {
            #expect(warning.contains("cycles") && warning.contains("instructions") && !warning.contains("task-clock"), "\(warning)")
            #expect(warning.contains(quiet ? "run without -q" : "see the table above"), "\(warning)")
        }
    }

    @Test func aBadRingLocationFailsBeforeCounting() throws {
        let r = try runProduct("perfring-collector", ["--ring", "/nonexistent-dir/ring", "--", "true"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("ring directory /nonexistent-dir"))
        #expect(!r.stderr.contains("events:"), "no counter was opened")
    }
}

@Suite struct CollectorFlags {
    @Test(arguments: [
        (["--interval", "5"], "--interval"),
        (["--interval", "0.5ms"], "--interval"),
        (["--interval", "2m"], "--interval"),
        (["--history", "soon"], "--history"),
        (["--capacity", "1"], "--capacity"),
        (["--capacity", "x"], "--capacity"),
        (["--events", "cycles,bogus"], "bogus"),
        (["--events", "cycles,cycles"], "twice"),
        (["--events", ""], "--events"),
        (["--cpus", "3-1"], "--cpus"),
        (["--pid", "-4"], "--pid"),
        (["--pid", "abc"], "--pid"),
        (["--frobnicate"], "unknown flag"),
        (["stray"], "unexpected argument"),
        (["--ring"], "needs a value"),
        (["--"], "no command"),
        (["--pid", "1", "--", "true"], "only one"),
        (["--per-cpu", "--pid", "1"], "--per-cpu"),
        (["--history", "1h", "--capacity", "10"], "give one"),
        (["--interval", "1ms", "--history", "30d"], "--history"),
    ])
    func badFlagsAreUsageErrors(_ args: [String], _ mention: String) {
        do {
            _ = try CollectorOptions.parse(args)
            Issue.record("accepted \(args)")
        } catch {
            #expect(error.message.contains(mention), "\(error.message)")
        }
    }

    @Test func badFlagExitsWithStatusTwoAndOneLine() throws {
        let r = try runProduct("perfring-collector", ["--interval", "fast"])
        #expect(r.status == 2)
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(r.stderr.contains("--interval"))
    }

    @Test func defaultsAndParsing() throws {
        guard case .run(let o) = try CollectorOptions.parse(["--interval", "250ms", "--history", "10m", "--events", "task-clock,cs,cycles", "--cpus", "0"]) else {
            Issue.record("not a run"); return
        }
        #expect(o.intervalNs == 250_000_000)
        #expect(o.resolvedCapacity == 2400)
        #expect(o.events.map(\.name) == ["task-clock", "context-switches", "cycles"])
        #expect(o.cpus == [0])
        #expect(try CollectorOptions.parse(["--help"]) == .help)
        #expect(try CollectorOptions.parse(["--version"]) == .version)
    }

    /// A ring over 256 MiB (1 ms with the default hour is over 3 GiB) is reserved with a
    /// warning that gives its size and a --history and --capacity that fit.
    @Test func aLargeRingIsReservedWithAWarningThatSaysHowToShrinkIt() throws {
        guard case .run(let o) = try CollectorOptions.parse(["--interval", "1ms"]) else { Issue.record("not a run"); return }
        var big = RingConfig(path: "/run/perfring/ring", capacity: o.resolvedCapacity, eventCount: o.events.count)
        big.intervalNs = o.intervalNs
        let warning = try #require(big.sizeWarning)
        #expect(warning.contains("GiB") && warning.contains("3600000 records") && warning.contains("--history 5m "), "\(warning)")
        // The suggestions fit: the capacity given, and the history at this interval.
        let capacity = try #require(warning.split(separator: " ").last.flatMap { Int($0) })
        var fits = big
        fits.capacity = capacity
        #expect(fits.fileSize <= RingConfig.largeBytes && fits.sizeWarning == nil)
        let history = try #require(warning.firstRange(of: "--history ").map { warning[$0.upperBound...].prefix { $0 != " " } })
        guard case .run(let shrunk) = try CollectorOptions.parse(["--interval", "1ms", "--history", String(history)]) else { Issue.record("not a run"); return }
        #expect(shrunk.resolvedCapacity <= capacity && shrunk.resolvedCapacity > capacity / 2, "\(history)")
        // The default ring (an hour at 100 ms) is far below: no warning.
        guard case .run(let d) = try CollectorOptions.parse([]) else { Issue.record("not a run"); return }
        var small = RingConfig(path: "/run/perfring/ring", capacity: d.resolvedCapacity, eventCount: d.events.count)
        small.intervalNs = d.intervalNs
        #expect(small.sizeWarning == nil)
    }

    @Test func theWarningIsPrintedWhenTheRingIsCreated() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let records = RingConfig.largeBytes / RingLayout.recordSize(eventCount: 1, perCpuCount: 0) + 1
        let r = try runProduct("perfring-collector", ["--ring", dir.path + "/ring", "--events", "task-clock", "--capacity", "\(records)", "--interval", "1ms", "--", "true"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("warning: reserving 256 MiB for the ring"), "\(r.stderr)")
    }

    @Test func eventGroupsPairRatioInputs() {
        let specs = EventCatalog.defaultNames.compactMap(EventCatalog.spec(named:))
        #expect(specs.count == 10)
        let key = { (n: String) in specs.first { $0.name == n }!.groupKey }
        #expect(key("cycles") == key("instructions"))
        #expect(key("cache-references") == key("cache-misses"))
        #expect(key("branch-instructions") == key("branch-misses"))
        #expect(key("cycles") != key("cache-misses"))
        #expect(EventCatalog.spec(named: "r01c2")?.config == 0x1c2)
        #expect(EventCatalog.spec(named: "rzz") == nil)
    }
}

@Suite(.serialized) struct CollectorPrivilegeAndLayout {
    @Test(.enabled(if: geteuid() == 0, "needs root to drop privileges"))
    func dropsToAnUnprivilegedUser() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ok = try runProduct("perfring-collector", ["--ring", dir.path + "/ring", "--interval", "20ms", "--user", "nobody", "--", "sleep", "0.2"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.contains("running as nobody"))
        let bad = try runProduct("perfring-collector", ["--ring", dir.path + "/ring2", "--user", "no-such-user-xyz", "--", "true"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("no user named"))
    }

    /// With --user, the command runs as that user too: the dropped collector can still signal
    /// it, so SIGTERM ends both (it used to hang, unable to signal a root-owned child).
    @Test(.enabled(if: geteuid() == 0, "needs root to drop privileges"))
    func commandRunsAsTheUserAndStopsOnSigterm() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: productsDir + "/perfring-collector")
        p.arguments = ["--ring", ring, "--interval", "20ms", "-q", "--user", "nobody", "--", "/bin/sh", "-c", "id -u; exec sleep 60"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        var waited = 0
        while (try? RingReader(path: ring))?.writeIndex() ?? 0 < 5, waited < 500 { usleep(10_000); waited += 1 }
        p.terminate()
        waited = 0
        while p.isRunning, waited < 2000 { usleep(10_000); waited += 1 }
        let hung = p.isRunning
        if hung { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        #expect(!hung, "the collector did not stop on SIGTERM")
        #expect(p.terminationStatus == 128 + SIGTERM)
        let uid = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(uid.trimmingCharacters(in: .whitespacesAndNewlines) == String(try #require(getpwnam("nobody")).pointee.pw_uid))
        #expect(try RingReader(path: ring).stopped() == true)
    }

    @Test func perCpuSectionSumsToTheTotals() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let p = try Background(productsDir + "/perfring-collector", ["--ring", ring, "--interval", "20ms", "--per-cpu", "--events", "task-clock,context-switches", "-q"])
        var waited = 0
        while (try? RingReader(path: ring))?.writeIndex() ?? 0 < 10, waited < 500 { usleep(10_000); waited += 1 }
        p.signal(SIGTERM)
        _ = p.wait()
        let (reader, records) = try readAll(ring)
        let h = reader.header
        #expect(h.perCpuCount == h.cpuCount)
        #expect(h.flags.contains(.perCpu))
        var perCpuIdle: UInt64 = 0, totalIdle: UInt64 = 0
        for rec in records {
            view(rec) { v in
                for slot in 0..<h.eventCount {
                    var sum: UInt64 = 0
                    for cpu in 0..<h.perCpuCount { sum += v.cpuCounter(cpu: cpu, slot, header: h).value }
                    #expect(sum == v.counter(slot).value)
                }
                for cpu in 0..<h.perCpuCount { perCpuIdle += v.cpuTime(cpu: cpu, 3, header: h) }
                totalIdle += v.os(.cpuIdle) ?? 0
            }
        }
        // The kernel prints /proc/stat's "cpu" sum and the cpuN lines from separate passes, so a
        // single interval may differ by a tick; over the run they agree within a few ticks.
        #expect(abs(Int64(perCpuIdle) - Int64(totalIdle)) <= 50_000_000, "per-CPU idle \(perCpuIdle) vs total \(totalIdle)")
    }

    /// The tick allocates nothing: valgrind counts the same heap allocations for a short run and
    /// for a run with several times more ticks. Only the optimised build makes that promise
    /// (-Onone code boxes freely), so this checks the release binary scripts/test builds.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/valgrind")
                   && FileManager.default.isExecutableFile(atPath: releaseCollector), "needs valgrind and a release build"))
    func theTickAllocatesNothing() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        func allocations(ticks: Int) throws -> (allocs: Int, records: UInt64) {
            let ring = dir.path + "/ring\(ticks)"
            // A command of known length keeps the run deterministic in ticks, not in seconds.
            let r = try runProduct("/usr/bin/valgrind", ["--tool=memcheck", releaseCollector, "--ring", ring,
                                                          "--interval", "10ms", "-q", "--", "sleep", String(Double(ticks) / 100)], timeout: 120)
            let line = try #require(r.stderr.split(separator: "\n").first { $0.contains("total heap usage") })
            let n = line.split(separator: ":")[1].split(separator: " ").first!.replacingOccurrences(of: ",", with: "")
            return (Int(n)!, try RingReader(path: ring).writeIndex() ?? 0)
        }
        let short = try allocations(ticks: 50)
        let long = try allocations(ticks: 250)
        #expect(long.records > short.records + 100)
        // A per-tick allocation would add one per extra tick (200 here); shutdown paths that
        // race with the child's exit may differ by one or two.
        #expect(abs(long.allocs - short.allocs) <= 5, "\(long.allocs - short.allocs) allocations over \(long.records - short.records) extra ticks")
    }
}

@Suite struct CollectorSelfTest {
    @Test func printsEveryCheckAndItsVerdictDecidesTheExitStatus() throws {
        let r = try runProduct("perfring-collector", ["--self-test"], timeout: 60)
        for row in ["events", "timer (10ms x 200)", "task-clock vs getrusage", "instructions (known loop)", "collector overhead"] {
            #expect(r.stdout.contains("  " + row), "row \(row)")
        }
        let failed = r.stdout.split(separator: "\n").contains { $0.contains(" FAILED ") }
        #expect(r.status == (failed ? 1 : 0))
        #expect(r.stdout.contains("self-test: "))
        let pmu = FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/cpu")
        if !pmu {
            #expect(r.stdout.contains("instructions (known loop)    skipped"), "no PMU: skipped, not failed")
            #expect(r.stdout.contains("no hardware PMU"))
        }
    }
}

@Suite(.serialized) struct CollectorCountAgreement {
    /// System-wide context switches from the software event agree with /proc/stat's ctxt while
    /// both CPUs are busy (a group opened enabled counted nothing here until it was rescheduled).
    /// System-wide on every CPU, context switches and page faults are software events already:
    /// the OS fields take the counters' values (one source, read once) instead of /proc.
    @Test func systemWideContextSwitchesAndPageFaultsAreTheCounters() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let p = try Background(productsDir + "/perfring-collector", ["--ring", ring, "--interval", "50ms", "-q", "--events", "task-clock,context-switches,page-faults"])
        var waited = 0
        while (try? RingReader(path: ring))?.writeIndex() ?? 0 < 10, waited < 1000 { usleep(10_000); waited += 1 }
        p.signal(SIGTERM)
        _ = p.wait()
        let (reader, records) = try readAll(ring)
        let cs = try #require(reader.header.events.firstIndex { $0.name == "context-switches" })
        let pf = try #require(reader.header.events.firstIndex { $0.name == "page-faults" })
        try #require(reader.header.events[cs].status == .counting, "system-wide counting needs root or CAP_PERFMON")
        #expect(reader.header.slowFieldMask & (OSField.contextSwitches.bit | OSField.pageFaults.bit) == 0, "read every tick")
        var switches: UInt64 = 0
        for rec in records {
            view(rec) { v in
                guard v.counter(cs).running > 0 else { return }
                #expect(v.os(.contextSwitches) == v.counter(cs).value)
                #expect(v.os(.pageFaults) == v.counter(pf).value)
                switches += v.counter(cs).value
            }
        }
        #expect(switches > 0)
    }

    /// What the collector reads each tick, under strace: every source is opened once and
    /// re-read with pread; /proc/stat every tick, the slowly changing files (meminfo,
    /// diskstats, net/dev, loadavg, vmstat, pressure) about once a second, as the header says,
    /// and their fields are present only in the records that read them.
    @Test func slowFilesAreReadOnceASecondAndEveryFileIsOpenedOnce() throws {
        let strace = "/usr/bin/strace"
        guard FileManager.default.isExecutableFile(atPath: strace) else { return }
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let log = dir.path + "/strace"
        let r = try runProduct(strace, ["-qq", "-y", "-e", "trace=openat,pread64", "-o", log, "-E", "ASAN_OPTIONS=detect_leaks=0",
                                        productsDir + "/perfring-collector", "--ring", ring, "--interval", "20ms", "--capacity", "500", "-q",
                                        "--", "sleep", "2.5"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        func count(_ call: String, _ path: String) -> Int { lines.filter { $0.hasPrefix(call) && $0.contains(path) }.count }
        let (reader, records) = try readAll(ring)
        let ticks = records.count
        #expect(ticks >= 50)
        #expect(count("pread64", "</proc/stat>") >= ticks, "/proc/stat every tick")
        for file in ["/proc/meminfo", "/proc/diskstats", "/proc/loadavg", "/proc/vmstat"] {
            #expect(count("openat", "\"\(file)\"") == 1, "\(file) opened once")
            let reads = count("pread64", "<\(file)>")
            #expect(reads >= 2 && reads <= ticks / 50 + 3, "\(file) read \(reads) times in \(ticks) ticks")
        }
        #expect(reader.header.slowPeriodNs == 1_000_000_000)
        #expect(reader.header.slowFieldMask & OSField.memAvailable.bit != 0)
        var readings = 0
        var lastReading: (mem: UInt64?, load: UInt64?, diskPerNs: Double?) = (nil, nil, nil)
        for rec in records {
            view(rec) { v in
                if v.slowSpanNs > 0 {
                    readings += 1
                    #expect(v.os(.memAvailable) != nil && v.os(.load1) != nil)
                    // The first record reads them at once (its span is one interval), then once a second.
                    #expect(v.index == 0 || v.slowSpanNs >= 900_000_000, "a reading covers about a second: \(v.slowSpanNs)")
                    lastReading = (v.os(.memAvailable), v.os(.load1), v.os(.diskReadBytes).map { Double($0) / Double(v.dtNs) })
                } else if !v.flags.contains(.final) {
                    // Between readings the record repeats the last one: a level as it was, a
                    // delta at the same rate over this record's dt.
                    #expect(v.os(.memAvailable) == lastReading.mem && v.os(.load1) == lastReading.load, "record \(v.index) repeats the reading")
                    if let rate = lastReading.diskPerNs, let d = v.os(.diskReadBytes) {
                        #expect(abs(Double(d) - rate * Double(v.dtNs)) <= 1 + rate * 1e3, "record \(v.index): \(d) bytes at \(rate)/ns over \(v.dtNs) ns")
                    }
                    #expect(v.os(.cpuUser) != nil, "the CPU time split is read every tick")
                }
            }
        }
        #expect(readings >= 1 && readings <= ticks / 50 + 2)
    }
}
