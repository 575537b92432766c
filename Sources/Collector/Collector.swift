// The collector daemon: opens the ring location, the counters and the OS sources, then writes
// one record per tick on absolute CLOCK_MONOTONIC deadlines (a periodic timerfd: no drift; a
// late tick is counted as missed, never replayed as a burst) until a signal or the target ends.
import CPerf
import Glibc
import Shared

public struct CollectorError: Error, CustomStringConvertible {
    public let message: String
    /// A flag's value that only the running system can refuse (a CPU that is not online, a pid
    /// that does not exist): still a usage error, exit status 2.
    public let isUsage: Bool
    public init(_ message: String, isUsage: Bool = false) { self.message = message; self.isUsage = isUsage }
    public var description: String { message }
}

public final class Collector {
    public let options: CollectorOptions
    let counters: PerfCounters
    let proc: ProcSignals
    /// Replaced by a new ring when the published one is truncated or replaced under us.
    private(set) var writer: RingWriter
    /// Held for the whole run: no other collector writes this ring meanwhile.
    private let lock: RingLock
    /// When the ring file was last checked for damage (truncation, replacement).
    private var lastDamageCheck: UInt64 = 0
    let intervalNs: UInt64
    private var child: Int32?
    /// The paused command's pipes: write to `go` to let it exec; `err` reports a failed exec.
    private var release: (go: Int32, err: Int32)?
    private var lastRead: UInt64
    /// OS values: the current cumulative reading, the previous one, and per-CPU time splits.
    private let osNow: UnsafeMutableBufferPointer<UInt64>
    private let osPrev: UnsafeMutableBufferPointer<UInt64>
    private let cpuNow: UnsafeMutableBufferPointer<UInt64>
    private let cpuPrev: UnsafeMutableBufferPointer<UInt64>
    private var prevValid: UInt64 = 0
    /// OS fields read only every `slowEvery` ticks (ProcSignals.slowFields, less those the
    /// counters supply), and when they were last read.
    private let slowMask: UInt64
    private let slowEvery: UInt64
    /// Starts "due", so the first record already has memory, load, I/O and pressure.
    private var ticksSinceSlow = UInt64.max / 2
    private var lastSlowNs: UInt64 = 0
    /// The last reading of the slow fields, per field: a level, or a delta per nanosecond of
    /// the span it covered. Every record in between repeats it (a delta prorated to the
    /// record's dt), so each record is complete on its own and readers need no history.
    private let slowHeld: UnsafeMutableBufferPointer<Double>
    private var slowHeldValid: UInt64 = 0
    /// OS fields taken from a counting software event instead of /proc (system-wide, all CPUs).
    private let counterSourced: [(OSField, Int)]
    /// Their fields, and the slow ones: fields whose header total adds what the records hold
    /// rather than /proc's growth (so that every total is the sum of its records).
    private let totalFromRecords: UInt64
    /// The delta fields whose header running total has started (from their first reading;
    /// `osPrev` holds the reading it grows from).
    private var totalBaseValid: UInt64 = 0
    private let perCpu: (offset: Int, stride: Int)?
    private var stopping = false
    private var killDeadline: UInt64?
    /// The `--user` account, looked up before anything is created or started.
    private let account: Sys.Account?

    /// Sets everything up; nothing is counted before the ring location has been checked.
    /// `environment` is the kernel's counters, or a simulated PMU in tests.
    public init(options: CollectorOptions, environment: CounterEnvironment = .kernel) throws(CollectorError) {
        self.options = options
        self.intervalNs = options.intervalNs
        let path = options.ringPath
        var account: Sys.Account? = nil
        if let name = options.user {
            guard let found = Sys.lookupUser(name) else { throw CollectorError("--user: no user named '\(name)'") }
            account = found
        }
        self.account = account
        // Values only the running system can refuse are usage errors, reported before the ring
        // is even looked at.
        let online = HostFacts.onlineCPUs() ?? [0]
        switch options.target {
        case .systemWide:
            if let bad = options.cpus?.first(where: { !online.contains($0) }) { throw CollectorError("--cpus: CPU \(bad) is not online (online: \(formatCPUList(online)))", isUsage: true) }
        case .pid(let pid):
            guard Sys.processExists(pid) else { throw CollectorError("--pid \(pid): no such process", isUsage: true) }
        case .command:
            break
        }
        // The location is checked and locked before anything is created, renamed, started or
        // counted: a bad path or a ring another collector writes costs nothing but one line.
        let directory: RingDirectory
        do {
            let (dir, name) = splitPath(path)
            guard !name.isEmpty, name != ".", name != ".." else { throw RingSetupError.badTarget(path, "not a file name") }
            directory = try RingDirectory(dir, create: options.ringPathIsDefault)
            try directory.checkTarget(name, path: path)
            lock = try RingLock(directory: directory, name: name, path: path, replace: options.replace)
        } catch { throw CollectorError("\(error)") }

        // Targets.
        let target: CounterTarget
        var ringMode = RingMode.systemWide
        var targetPid: Int32 = 0
        // What is monitored, without the mode (the ring header holds that): readers print both.
        var description = "all CPUs"
        var cpus: [Int]? = nil
        var pendingRelease: (go: Int32, err: Int32)? = nil
        var childPid: Int32? = nil
        switch options.target {
        case .systemWide:
            let chosen = options.cpus ?? online
            target = .cpus(chosen)
            cpus = options.cpus == nil ? nil : chosen
            description = options.cpus == nil ? "all CPUs" : "CPUs \(formatCPUList(chosen))"
        case .pid(let pid):
            let tids = ((try? Sys.listDirectory("/proc/\(pid)/task")) ?? []).compactMap { Int32($0) }.sorted()
            target = .threads(tids.isEmpty ? [pid] : tids)
            ringMode = .pid
            targetPid = pid
            description = "\(pid) (\(Self.commandName(pid)))"
        case .command(let argv):
            let (pid, go, err) = try Self.spawnPaused(argv, as: account)
            pendingRelease = (go, err)
            childPid = pid
            target = .command(pid)
            ringMode = .command
            targetPid = pid
            description = argv.joined(separator: " ")
        }
        var cleanupChild = true
        defer {
            if cleanupChild, let c = childPid {
                if let p = pendingRelease { Sys.close(p.go); Sys.close(p.err) }
                try? Sys.kill(c, SIGKILL)
                _ = try? Sys.wait(c)
            }
        }

        do { proc = try ProcSignals(cpus: cpus, pid: ringMode == .systemWide ? nil : targetPid) } catch {
            throw CollectorError("cannot read OS statistics under /proc: \(error)")
        }
        // On a hybrid CPU each hardware event takes one slot per core PMU.
        let specs: [EventSpec]
        switch EventCatalog.layout(options.events, hybrid: environment.hybridPMUs) {
        case .success(let s): specs = s
        case .failure(let e): throw CollectorError(e.message, isUsage: true)
        }
        var config = RingConfig(path: path, capacity: options.resolvedCapacity, eventCount: specs.count)
        config.mode = ringMode
        config.targetPid = targetPid
        config.target = description
        config.cpuCount = target.count
        if case .cpus(let c) = target { config.cpuCount = c.count }
        config.perCpuCount = options.perCpu ? config.cpuCount : 0
        if options.perCpu { config.flags.insert(.perCpu) }
        config.intervalNs = options.intervalNs
        config.energyDomains = options.osSignals ? proc.energyDomainNames : []
        // Slowly changing files at most once a second; counters that duplicate an OS figure
        // replace its /proc source (the counters are opened below, but which slots count is
        // only known then: the table decides, and a refused event leaves the /proc source).
        let slowEvery = max(1, 1_000_000_000 / options.intervalNs)
        let duplicates: [(OSField, String)] = [(.contextSwitches, "context-switches"), (.pageFaults, "page-faults")]
        // The ring's blocks are reserved before any counter opens, so a full disk or an
        // unwritable directory is reported without having touched perf at all.
        if let large = config.sizeWarning { Log.warning(large) }
        do { writer = try RingWriter(config: config, directory: directory) } catch { throw CollectorError("\(error)") }
        let opened = PerfCounters(specs: specs, target: target, environment: environment)
        counters = opened
        let sourced = options.target == .systemWide && options.cpus == nil
            ? duplicates.compactMap { f, name in opened.entries.firstIndex { $0.name == name && $0.status == .counting }.map { (f, $0) } }
            : []
        counterSourced = sourced
        let mask = options.osSignals && slowEvery > 1 ? ProcSignals.slowFields & ~sourced.reduce(UInt64(0)) { $0 | $1.0.bit } : 0
        slowMask = mask
        totalFromRecords = mask | sourced.reduce(UInt64(0)) { $0 | $1.0.bit }
        self.slowEvery = mask == 0 ? 1 : slowEvery
        writer.setSlowFields(mask, periodNs: slowEvery &* options.intervalNs)
        do {
            for (i, e) in counters.entries.enumerated() { writer.setEvent(i, e) }
            try writer.publish()
        } catch { throw CollectorError("\(error)") }
        perCpu = options.perCpu ? (RingLayout.fixedRecordSize, RingLayout.perCpuStride(eventCount: specs.count)) : nil

        let fields = OSField.allCases.count
        osNow = .allocate(capacity: fields); osNow.initialize(repeating: 0)
        osPrev = .allocate(capacity: fields); osPrev.initialize(repeating: 0)
        slowHeld = .allocate(capacity: fields); slowHeld.initialize(repeating: 0)
        let cpuSlots = max(1, config.perCpuCount) * 8
        cpuNow = .allocate(capacity: cpuSlots); cpuNow.initialize(repeating: 0)
        cpuPrev = .allocate(capacity: cpuSlots); cpuPrev.initialize(repeating: 0)
        prevValid = options.osSignals ? proc.sample(into: osPrev, perCpu: options.perCpu ? cpuPrev : nil) : 0
        for f in OSField.allCases where f.kind == .delta && prevValid & f.bit != 0 {
            writer.addOSTotal(f, 0)  // the running total starts at this first reading
            totalBaseValid |= f.bit
        }
        lastRead = Sys.monotonicNanos()
        lastSlowNs = lastRead
        release = pendingRelease
        child = childPid
        cleanupChild = false
        // Through self: a ring made anew (replaceRing) gets the flags from then on.
        counters.flagsChanged = { [unowned self] slot, flags in self.writer.updateEventFlags(slot, flags) }
    }

    deinit {
        osNow.deallocate(); osPrev.deallocate(); slowHeld.deallocate(); cpuNow.deallocate(); cpuPrev.deallocate()
    }

    static func commandName(_ pid: Int32) -> String {
        ((try? Sys.readFile("/proc/\(pid)/comm")) ?? "?").trimmingNewline
    }

    /// Forks the command, paused before exec; with `--user` it will run as that account.
    private static func spawnPaused(_ argv: [String], as account: Sys.Account?) throws(CollectorError) -> (pid: Int32, go: Int32, err: Int32) {
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: Int32 = 0, go: Int32 = -1, err: Int32 = -1
        guard cperf_spawn_paused(&cargs, account == nil ? 0 : 1, account?.uid ?? 0, account?.gid ?? 0, &pid, &go, &err) == 0 else {
            throw CollectorError("cannot start \(argv[0]): \(Errno.current)")
        }
        return (pid, go, err)
    }

    /// Lets the paused command exec; fails when exec did.
    private func releaseChild() throws(CollectorError) {
        guard let (go, err) = release, case .command(let argv) = options.target else { return }
        release = nil
        let one: [UInt8] = [1]
        _ = try? one.withUnsafeBytes { try Sys.write(go, $0) }
        Sys.close(go)
        var failure: (stage: Int32, code: Int32) = (0, 0)
        let n = (try? withUnsafeMutableBytes(of: &failure) { try Sys.read(err, $0) }) ?? 0
        Sys.close(err)
        if n == MemoryLayout.size(ofValue: failure) {
            if let c = child { _ = try? Sys.wait(c) }
            child = nil
            if failure.stage == Int32(CPERF_SPAWN_CREDENTIALS), let account {
                throw CollectorError("cannot run \(argv[0]) as \(account.name): switching to that user failed: \(Errno(rawValue: failure.code))")
            }
            throw CollectorError("cannot run \(argv[0]): \(Errno(rawValue: failure.code))")
        }
    }

    /// The event table as printed at startup (and by --self-test).
    public func eventTable() -> String {
        var lines = ["  event                    status          detail"]
        for (i, entry) in counters.entries.enumerated() {
            var e = entry
            e.status = entry.effectiveStatus
            var detail = e.status == .counting
                ? (e.errno != 0 ? "counting on \(e.opened) targets; others: \(Errno(rawValue: e.errno))" : "group \(e.group), \(e.opened) target\(e.opened == 1 ? "" : "s")")
                : explainStatus(e.status, errno: e.errno, isHardware: counters.specs[i].isHardware)
            if e.status == .counting, let more = explainFlags(e.flags, name: e.name) { detail += "; " + more }
            lines.append("  " + e.name.padded(24) + " " + e.status.name.padded(15) + " " + detail)
        }
        return lines.joined(separator: "\n")
    }

    /// Runs until SIGINT/SIGTERM, the target's end or a fatal error; returns the exit status.
    public func run() -> Int32 {
        let sources: TickSources
        do { sources = try TickSources(handling: [SIGINT, SIGTERM, SIGCHLD, SIGHUP]) } catch {
            Log.error("event setup failed: \(error)")
            return 1
        }
        defer { sources.close() }
        let sfd = sources.signals, tfd = sources.timer, ep = sources.epoll
        Sys.ignoreSignal(SIGPIPE)
        if let status = start() { return status }
        do { try Sys.timerfdArm(tfd, firstAt: lastRead &+ intervalNs, interval: intervalNs) } catch {
            Log.error("timer setup failed: \(error)")
            return 1
        }
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: 4)
        defer { events.deallocate() }
        while true {
            let n: Int
            do { n = try Sys.epollWait(ep, events, timeoutMs: -1) } catch {
                Log.error("epoll_wait: \(error)")
                return 1
            }
            for i in 0..<n {
                switch events[i].data.u64 {
                case TickSources.timerKey:
                    guard let expirations = Sys.readCounter(tfd) else { continue }
                    if let status = tick(missed: UInt32(clamping: expirations &- 1)) { return status }
                default:
                    while let sig = Sys.readSignal(sfd) {
                        if let status = handleSignal(sig) { return status }
                    }
                }
            }
        }
    }

    /// Prints the table, drops privileges and releases the command: everything before the
    /// first tick. Returns an exit status when the run cannot start.
    func start() -> Int32? {
        let cfg = writer.config
        Log.info("ring \(cfg.path): \(cfg.capacity) records of \(cfg.recordSize) B (\(formatDuration(UInt64(cfg.capacity) * intervalNs)) at \(formatDuration(intervalNs))), generation \(String(writer.generation, radix: 16))")
        Log.info("monitoring \(cfg.mode.name) \(cfg.target)")
        Log.info("events:\n\(eventTable())")
        let counting = counters.countingSlots
        // With -q the table is not shown: the warning then names the events itself.
        let tableShown = Log.minimum.rawValue <= Log.Level.info.rawValue
        if counting == 0 {
            Log.warning("no counter could be opened: recording OS signals only" + (tableShown ? " (see the table above)" : " (run without -q for each event's reason)"))
        } else if counting < counters.entries.count {
            let missing = counters.entries.filter { $0.status != .counting }.map(\.name)
            Log.warning("\(missing.count) of \(counters.entries.count) events unavailable (\(missing.joined(separator: ", "))): "
                        + (tableShown ? "see the table above" : "run without -q for each event's reason") + "; recorded as unavailable, never as zero")
        }
        // Drop first, so that a refused drop stops everything before the command has run; the
        // command then switches to the same account itself, just before its exec.
        if let account {
            do { try dropPrivileges(account) } catch {
                Log.error(error.message)
                // Closing its pipe ends the paused command even if we can no longer signal it.
                if let (go, err) = release { Sys.close(go); Sys.close(err); release = nil }
                if let c = child { try? Sys.kill(c, SIGKILL); _ = try? Sys.wait(c) }
                writer.markStopped(exitStatus: 1)
                return 1
            }
        }
        do { try releaseChild() } catch {
            Log.error(error.message)
            finalRecord(flags: [.final, .targetExited])
            writer.markStopped(exitStatus: 127)
            return 127
        }
        lastRead = Sys.monotonicNanos()
        return nil
    }

    private func dropPrivileges(_ account: Sys.Account) throws(CollectorError) {
        do { try Sys.dropPrivileges(to: account) } catch {
            throw CollectorError("--user \(account.name): privilege drop failed: \(error)")
        }
        Log.info("running as \(account.name) (uid \(account.uid)) from here on")
    }

    /// One sample (the timer's work). Returns an exit status once the run is over.
    func tick(missed: UInt32) -> Int32? {
        if missed > 0 { Log.debug("\(missed) tick(s) missed") }
        if let status = writeRecord(missed: missed, flags: []) { return status }
        if let killDeadline, Sys.monotonicNanos() >= killDeadline, let c = child {
            Log.warning("command did not exit after the signal; killing it")
            try? Sys.kill(c, SIGKILL)
            self.killDeadline = nil
        }
        if case .pid(let pid) = options.target, proc.targetGone || !Sys.processExists(pid) {
            Log.info("process \(pid) has exited; stopping")
            finalRecord(flags: [.final, .targetExited])
            writer.markStopped()
            return 0
        }
        return nil
    }

    func handleSignal(_ sig: Int32) -> Int32? {
        switch sig {
        case SIGCHLD:
            guard let c = child, let status = try? Sys.tryWait(c) else { return nil }
            child = nil
            let code = Self.exitCode(status)
            Log.info("command exited with status \(code)")
            finalRecord(flags: [.final, .targetExited])
            writer.markStopped(exitStatus: code)
            return code
        case SIGHUP:
            return nil
        default:
            if let c = child {
                // Let the command end first so its last counts land in the final record.
                if !stopping { try? Sys.kill(c, sig); killDeadline = Sys.monotonicNanos() &+ 5_000_000_000 }
                stopping = true
                return nil
            }
            Log.info("stopping on signal \(sig)")
            finalRecord(flags: [.final])
            writer.markStopped()
            return 0
        }
    }

    static func exitCode(_ status: Int32) -> Int32 {
        let sig = status & 0x7f
        return sig == 0 ? (status >> 8) & 0xff : 128 + sig
    }

    private func finalRecord(flags: RecordFlags) {
        counters.disable()
        _ = writeRecord(missed: 0, flags: flags)
    }

    /// The ring was truncated or replaced by someone else: makes a new one at the path (same
    /// layout, new generation, the events' totals carried over), or returns exit status 1 when
    /// that is not possible. The record being written when a truncation faulted is lost.
    private func replaceRing(_ damage: String) -> Int32? {
        let old = writer
        let path = old.config.path
        do {
            let fresh = try RingWriter(config: old.config, directory: old.directory)
            for (i, e) in counters.entries.enumerated() { fresh.setEvent(i, e) }
            fresh.setTotals(old.runningTotals)
            try fresh.publish()
            writer = fresh
            Log.warning("ring \(path) \(damage); wrote a new ring there (generation \(String(fresh.generation, radix: 16)))")
            return nil
        } catch {
            Log.error("ring \(path) \(damage), and no new ring can be made: \(error)")
            return 1
        }
    }

    /// A rate per nanosecond over `dt` nanoseconds, as a whole count.
    private static func prorated(_ perNs: Double, _ dt: UInt64) -> UInt64 {
        UInt64(min(max(0, (perNs * Double(dt)).rounded()), 1.8e19))
    }

    /// `OSField.allCases` builds a new array on each call; the tick uses this one.
    private static let osFields = OSField.allCases

    /// How much a cumulative OS value grew between two readings: RAPL energy wraps at its
    /// range; any other value that went backwards (a device removed) has no delta (nil).
    @inline(__always)
    private func growth(_ f: OSField, from a: UInt64, to b: UInt64) -> UInt64? {
        if let domain = OSField.energies.firstIndex(of: f) { return proc.energyDelta(domain: domain, from: a, to: b) }
        return b >= a ? b - a : nil
    }

    /// Reads every source into the next record. Allocates nothing. Returns an exit status when
    /// the ring is damaged beyond repair.
    private func writeRecord(missed: UInt32, flags: RecordFlags) -> Int32? {
        let rec = writer.begin()
        let counterFlags = counters.readAll(into: rec, perCpu: perCpu) { slot, scaled in self.writer.addTotal(slot, scaled) }
        let now = Sys.monotonicNanos()
        // The slowly changing files are read every `slowEvery` ticks (missed ones count).
        ticksSinceSlow &+= 1 &+ UInt64(missed)
        let slow = ticksSinceSlow >= slowEvery
        let attempted = !options.osSignals ? 0 : slow ? UInt64.max : ~slowMask
        let valid = options.osSignals ? proc.sample(into: osNow, perCpu: perCpu == nil ? nil : cpuNow, slow: slow) : 0
        let dt = now &- lastRead, span = now &- lastSlowNs
        var present: UInt64 = 0
        for f in Self.osFields {
            let i = f.rawValue
            guard valid & f.bit != 0 else { continue }
            switch f.kind {
            case .level:
                rec.setU64(f.offset, osNow[i])
                slowHeld[i] = Double(osNow[i])
                present |= f.bit
            case .delta:
                // Growth since the last good reading: the header's running total takes it, so
                // it misses nothing even where this record's delta is invalid; the record's
                // delta also needs the previous attempt to have read the field.
                // A slow or counter-sourced field's total adds what its records hold instead
                // (below), so that every total is the sum of its records, as the event totals are.
                let g = totalBaseValid & f.bit != 0 ? growth(f, from: osPrev[i], to: osNow[i]) : nil
                let slowField = slowMask & f.bit != 0
                if totalBaseValid & f.bit == 0 {
                    writer.addOSTotal(f, 0)
                    totalBaseValid |= f.bit
                } else if let g, totalFromRecords & f.bit == 0 {
                    writer.addOSTotal(f, g)
                }
                let d = prevValid & f.bit != 0 ? g : nil
                osPrev[i] = osNow[i]
                guard let d else { continue }
                if slowField {
                    slowHeld[i] = span > 0 ? Double(d) / Double(span) : 0
                    let v = Self.prorated(slowHeld[i], dt)
                    rec.setU64(f.offset, v)
                    writer.addOSTotal(f, v)
                } else {
                    rec.setU64(f.offset, d)
                }
                present |= f.bit
            }
        }
        prevValid = (prevValid & ~attempted) | (valid & attempted)
        if slow && options.osSignals {
            ticksSinceSlow = 0
            rec.setU64(RingLayout.rSlowSpanNs, span)
            lastSlowNs = now
            slowHeldValid = present & slowMask
        } else if slowHeldValid != 0 {
            for f in Self.osFields where slowHeldValid & f.bit != 0 {
                if f.kind == .level {
                    rec.setU64(f.offset, UInt64(slowHeld[f.rawValue]))
                } else {
                    let v = Self.prorated(slowHeld[f.rawValue], dt)
                    rec.setU64(f.offset, v)
                    writer.addOSTotal(f, v)
                }
            }
            present |= slowHeldValid
        }
        // System-wide, the OS figures that are also software events come from the counters
        // just read (one source, every tick), not from /proc.
        for (f, slot) in counterSourced where options.osSignals {
            present &= ~f.bit
            let c = RecordView(rec).counter(slot)
            guard c.running > 0 else { continue }
            let v = c.enabled == c.running ? c.value : UInt64(min(Double(c.value) * Double(c.enabled) / Double(c.running), 1.8e19))
            rec.setU64(f.offset, v)
            writer.addOSTotal(f, v)
            present |= f.bit
        }
        if let perCpu {
            for c in 0..<writer.config.perCpuCount {
                for k in 0..<8 {
                    let j = c * 8 + k
                    rec.setU64(perCpu.offset + c * perCpu.stride + RingLayout.cpuTimes + k * 8, cpuNow[j] &- cpuPrev[j])
                }
            }
            _ = cpuPrev.update(fromContentsOf: cpuNow)
        }
        var f = flags
        f.formUnion(counterFlags)
        rec.setU64(RingLayout.rTimeNs, now)
        rec.setU64(RingLayout.rDtNs, now &- lastRead)
        rec.setU32(RingLayout.rMissed, missed)
        rec.setU32(RingLayout.rFlags, f.rawValue)
        rec.setU64(RingLayout.rOSValid, present)
        lastRead = now
        if !writer.commit(heartbeat: now) {
            return replaceRing("was truncated under the collector (its mapping faulted)")
        }
        // A ring replaced or truncated beyond the records written so far does not fault yet:
        // look at the file about once a second.
        if now &- lastDamageCheck >= 1_000_000_000 {
            lastDamageCheck = now
            if let damage = writer.damage() { return replaceRing(damage) }
        }
        return nil
    }
}

extension String {
    func padded(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
