// Opens perf events for the monitored targets and reads them once per tick into a record.
// Every open failure is classified and kept (never fatal on its own); each counter group is
// read with one read() of PERF_FORMAT_GROUP; where the kernel refuses a combination (inherit
// with group reads, or a member the leader cannot host) events fall back to reads of their own.
// A refusal for privilege at paranoid > 1 reopens the event for user space only, as perf does.
// Every read is checked (size, nr, ids) and scaled per target before it is summed: the one
// scaling rule of RING-FORMAT.md ("Scaling"). All syscalls go through CounterSyscalls.
import CPerf
import Glibc
import Shared

/// What the counters are attached to.
public enum CounterTarget: Sendable, Equatable {
    /// System-wide on these CPUs (pid -1, one group set per CPU).
    case cpus([Int])
    /// These threads (pid mode: each thread of the process, with inherit for new children).
    case threads([Int32])
    /// A command launched paused: counting starts at its exec (enable_on_exec, inherit).
    case command(Int32)

    var count: Int {
        switch self {
        case .cpus(let c): c.count
        case .threads(let t): t.count
        case .command: 1
        }
    }
}

/// Maps an open failure to the status shown to users.
public func classifyOpenError(_ e: Errno) -> EventStatus {
    switch e.rawValue {
    case ENOENT, EOPNOTSUPP, ENODEV, EINVAL, ENOSYS: .unsupported
    case EACCES, EPERM: .notPermitted
    default: .failed
    }
}

public final class PerfCounters {
    /// One read(): a group (leader + members) or a single event.
    struct ReadUnit {
        var fd: Int32
        var memberFDs: [Int32]
        var slots: [Int]
        /// PERF_EVENT_IOC_ID of each slot's event, in read order: a read must report these.
        var ids: [UInt64]
        var grouped: Bool
        var target: Int
        var failing: Bool = false
    }

    public let specs: [EventSpec]
    public private(set) var entries: [EventEntry]
    public let target: CounterTarget
    private let sys: CounterSyscalls
    private let paranoid: Int?
    private var units: [ReadUnit] = []
    private let targetCount: Int
    private let readBuf: UnsafeMutableBufferPointer<UInt64>
    /// Last cumulative (value, enabled, running) per target and slot.
    private let prev: UnsafeMutableBufferPointer<UInt64>
    private var raisedFileLimit = false
    /// Per slot: opened with exclude_kernel and exclude_hv after a refusal for privilege.
    private var userOnly: [Bool]
    /// Hybrid parts: the PMU's type goes in config bits 32-63 (PERF_PMU_TYPE_SHIFT, Linux
    /// 5.16+) when the kernel takes it; older kernels get the PMU's own type number with its
    /// own encoding of the event (its sysfs alias).
    private var extendedType = true
    /// Per slot: enabled, and running, at some time on some target since the start.
    private var everEnabled: [Bool]
    private var everRan: [Bool]
    /// Called when an event's live flags change (the never-scheduled bit).
    public var flagsChanged: ((Int, EventFlags) -> Void)?

    public init(specs: [EventSpec], target: CounterTarget, environment: CounterEnvironment = .kernel) {
        precondition(specs.count <= RingLayout.maxEvents)
        self.specs = specs
        self.target = target
        self.targetCount = target.count
        self.sys = environment.syscalls
        self.paranoid = environment.paranoid
        userOnly = [Bool](repeating: false, count: specs.count)
        everEnabled = userOnly
        everRan = userOnly
        var groupIndex: [String: UInt32] = [:]
        entries = specs.map { s in
            let g = groupIndex[s.groupKey] ?? UInt32(groupIndex.count)
            groupIndex[s.groupKey] = g
            return EventEntry(name: s.name, type: s.type, config: s.config, status: .counting, group: g)
        }
        readBuf = .allocate(capacity: 3 + 2 * RingLayout.maxEvents)
        prev = .allocate(capacity: max(1, target.count) * specs.count * 3)
        prev.initialize(repeating: 0)
        let pmus = specs.compactMap(\.pmu)
        if !pmus.isEmpty { extendedType = pmus.allSatisfy { Self.kernelTakesExtendedType(sys, $0) } }
        var firstError = [Errno?](repeating: nil, count: specs.count)
        var opened = [UInt32](repeating: 0, count: specs.count)
        let groups = Dictionary(grouping: specs.indices, by: { entries[$0].group }).sorted { $0.key < $1.key }.map(\.value)
        for t in 0..<targetCount {
            for slots in groups {
                let here = slots.filter { countsOn(target: t, specs[$0]) }
                if !here.isEmpty { openGroup(here, target: t, firstError: &firstError, opened: &opened) }
            }
        }
        for i in specs.indices {
            let (type, config) = typeAndConfig(specs[i])
            entries[i].type = type
            entries[i].config = config ?? specs[i].config
            entries[i].opened = opened[i]
            if let e = firstError[i], opened[i] == 0 {
                entries[i].status = classifyOpenError(e)
                entries[i].errno = e.rawValue
            } else if let e = firstError[i] {
                // Opened on some targets only: counting, but say why the rest failed.
                entries[i].errno = e.rawValue
            }
            var flags: EventFlags = []
            if entries[i].status == .counting { flags.insert(.scaledPerTarget) }
            if userOnly[i] { flags.formUnion(.userOnly(paranoid: paranoid ?? 2)) }
            if let first = specs[i].partOf { flags.formUnion(.part(of: first)) }
            entries[i].flags = flags
        }
        if case .command = target {} else { enable() }
        readAll(into: nil, perCpu: nil, totals: nil)  // prime the baselines
    }

    deinit {
        for u in units {
            for fd in u.memberFDs { sys.close(fd) }
            sys.close(u.fd)
        }
        readBuf.deallocate()
        prev.deallocate()
    }

    public var countingSlots: Int { entries.filter { $0.status == .counting }.count }

    /// Whether counting a task (pid and command modes): its counters stand still off CPU.
    private var countsTask: Bool {
        if case .cpus = target { return false }
        return true
    }

    /// A hybrid part is opened on its own PMU's CPUs only (perf does the same: an event on a
    /// CPU of the other core type would never count there).
    private func countsOn(target t: Int, _ s: EventSpec) -> Bool {
        guard case .cpus(let cpus) = target, let pmuCPUs = s.pmu?.cpus else { return true }
        return pmuCPUs.contains(cpus[t])
    }

    /// perf's probe (tools/perf/util/pmus.c, __perf_pmus__supports_extended_type, for every
    /// core PMU): a cycles event with the PMU's type in config bits 32-63 opens on 5.16+
    /// kernels and is refused before. User space only and disabled: it needs no privilege.
    private static func kernelTakesExtendedType(_ sys: CounterSyscalls, _ pmu: CorePMU) -> Bool {
        var a = perf_event_attr()
        a.type = 0
        a.size = cperf_attr_size()
        a.config = UInt64(pmu.type) << 32
        cperf_attr_set_flags(&a, 1, 0, 0, 0)
        cperf_attr_set_exclude(&a, 1, 1)
        guard let fd = try? sys.open(&a, pid: 0, cpu: -1, groupFD: -1) else { return false }
        sys.close(fd)
        return true
    }

    /// What to open for a slot; nil config: a hybrid part this kernel cannot be asked for (no
    /// extended type, and no sysfs alias for the event on that PMU).
    private func typeAndConfig(_ s: EventSpec) -> (UInt32, UInt64?) {
        guard let pmu = s.pmu else { return (s.type, s.config) }
        if extendedType { return (s.type, s.config | UInt64(pmu.type) << 32) }
        return (pmu.type, s.type == 0 ? pmu.rawConfigs[s.config] : nil)
    }

    private func pidAndCPU(_ t: Int) -> (Int32, Int32, inherit: Bool, onExec: Bool) {
        switch target {
        case .cpus(let cpus): (-1, Int32(cpus[t]), false, false)
        case .threads(let tids): (tids[t], -1, true, false)
        case .command(let pid): (pid, -1, true, true)
        }
    }

    private func attr(_ slot: Int, grouped: Bool, leader: Bool, inherit: Bool, onExec: Bool) -> perf_event_attr {
        var a = perf_event_attr()
        let (type, config) = typeAndConfig(specs[slot])
        a.type = type
        a.config = config ?? 0
        a.size = cperf_attr_size()
        var fmt = UInt64(PERF_FORMAT_TOTAL_TIME_ENABLED.rawValue | PERF_FORMAT_TOTAL_TIME_RUNNING.rawValue | PERF_FORMAT_ID.rawValue)
        if grouped { fmt |= UInt64(PERF_FORMAT_GROUP.rawValue) }
        a.read_format = fmt
        // Leaders start disabled and are enabled once their group is complete (or at exec):
        // members added to an already-running leader stay inactive on a busy CPU until the
        // group happens to be rescheduled, and then count nothing. perf does the same.
        cperf_attr_set_flags(&a, leader ? 1 : 0, inherit ? 1 : 0, onExec && leader ? 1 : 0, 0)
        if userOnly[slot] { cperf_attr_set_exclude(&a, 1, 1) }
        return a
    }

    private func open(_ slot: Int, target t: Int, grouped: Bool, leaderFD: Int32) throws(Errno) -> Int32 {
        // No way to name this part to this kernel: the PMU does not have the event, to us.
        guard typeAndConfig(specs[slot]).1 != nil else { throw .noEntry }
        let (pid, cpu, inherit, onExec) = pidAndCPU(t)
        var a = attr(slot, grouped: grouped, leader: leaderFD == -1, inherit: inherit, onExec: onExec)
        do {
            return try openRaisingLimit(&a, pid: pid, cpu: cpu, groupFD: leaderFD)
        } catch {
            // perf's fallback (tools/perf/util/evsel.c, evsel__fallback): refused for privilege
            // at perf_event_paranoid > 1, the kernel still lets anyone count their own tasks in
            // user space (kernel/events/core.c, perf_event_open: perf_allow_kernel() is asked
            // only without exclude_kernel). Reopen with exclude_kernel and exclude_hv, and keep
            // them for this event's other targets. perfring differs for context switches and
            // migrations: user space only they always read 0 (perf prints that 0); perfring
            // leaves them not permitted rather than show a count that cannot be right.
            guard error == .access || error == .permission, !userOnly[slot], (paranoid ?? 2) > 1,
                  !specs[slot].countsInKernelOnly else { throw error }
            cperf_attr_set_exclude(&a, 1, 1)
            let fd = try openRaisingLimit(&a, pid: pid, cpu: cpu, groupFD: leaderFD)
            userOnly[slot] = true
            return fd
        }
    }

    private func openRaisingLimit(_ a: inout perf_event_attr, pid: Int32, cpu: Int32, groupFD: Int32) throws(Errno) -> Int32 {
        do {
            return try sys.open(&a, pid: pid, cpu: cpu, groupFD: groupFD)
        } catch .tooManyFiles where !raisedFileLimit {
            // Many CPUs or threads: raise the soft descriptor limit to the hard one and retry.
            raisedFileLimit = true
            var rl = Sys.getrlimitNofile()
            rl.rlim_cur = rl.rlim_max
            try? Sys.setrlimitNofile(rl)
            Log.info("raised the open-file limit to \(rl.rlim_cur) for counters")
            return try sys.open(&a, pid: pid, cpu: cpu, groupFD: groupFD)
        }
    }

    /// Opens one event and asks its id (PERF_FORMAT_ID reads report it).
    private func openWithID(_ slot: Int, target t: Int, grouped: Bool, leaderFD: Int32) throws(Errno) -> (Int32, UInt64) {
        let fd = try open(slot, target: t, grouped: grouped, leaderFD: leaderFD)
        do { return (fd, try sys.id(fd)) } catch {
            sys.close(fd)
            throw error
        }
    }

    private func openGroup(_ slots: [Int], target t: Int, firstError: inout [Errno?], opened: inout [UInt32]) {
        func fail(_ slot: Int, _ e: Errno) { if firstError[slot] == nil { firstError[slot] = e } }
        func openSingle(_ slot: Int) {
            do {
                let (fd, id) = try openWithID(slot, target: t, grouped: false, leaderFD: -1)
                units.append(ReadUnit(fd: fd, memberFDs: [], slots: [slot], ids: [id], grouped: false, target: t))
                opened[slot] += 1
            } catch {
                fail(slot, error)
            }
        }
        var unit: ReadUnit?
        var grouped = slots.count > 1
        for slot in slots {
            if let u = unit {
                do {
                    let (fd, id) = try openWithID(slot, target: t, grouped: true, leaderFD: u.fd)
                    unit!.memberFDs.append(fd)
                    unit!.slots.append(slot)
                    unit!.ids.append(id)
                    opened[slot] += 1
                } catch {
                    // The leader cannot host it (EINVAL: the group could never fit the PMU's
                    // counters, kernel validate_group; or another PMU): count it on its own.
                    openSingle(slot)
                }
                continue
            }
            do {
                let (fd, id) = try openWithID(slot, target: t, grouped: grouped, leaderFD: -1)
                unit = ReadUnit(fd: fd, memberFDs: [], slots: [slot], ids: [id], grouped: grouped, target: t)
                opened[slot] += 1
            } catch .invalid where grouped {
                // Older kernels refuse inherit together with PERF_FORMAT_GROUP: read singly.
                grouped = false
                openSingle(slot)
            } catch {
                fail(slot, error)
            }
            if !grouped, let u = unit {
                units.append(u)
                unit = nil
            }
        }
        if let u = unit { units.append(u) }
    }

    /// Zeroes and starts every group (command mode does not call this: its counters start at
    /// exec, enable_on_exec).
    func enable() {
        for u in units {
            try? sys.reset(u.fd, group: u.grouped)
            try? sys.enable(u.fd, group: u.grouped)
        }
    }

    /// Stops every group, so the final read sees all groups stopped at the same point (perf
    /// stat disables its events before the last read too).
    func disable() {
        for u in units { try? sys.disable(u.fd, group: u.grouped) }
    }

    /// Checks a read against the unit: the size the read format gives, the group's `nr`, and
    /// every member's id (PERF_FORMAT_ID), so a value can only land in its own event's slot.
    private func readMatches(_ u: ReadUnit, bytes: Int) -> Bool {
        if u.grouped {
            guard bytes == (3 + 2 * u.slots.count) * 8, readBuf[0] == UInt64(u.slots.count) else { return false }
            for (k, id) in u.ids.enumerated() where readBuf[4 + 2 * k] != id { return false }
            return true
        }
        return bytes == 4 * 8 && readBuf[3] == u.ids[0]
    }

    /// Reads every unit and adds each slot's interval into `record` (totals section and, when
    /// given, the per-CPU section at `perCpu` offset/stride), and its scaled delta to `totals`.
    /// The rule (RING-FORMAT.md, "Scaling"): each target's delta is scaled by its own
    /// enabled/running before it is summed; a target that did not run adds 0 to the value and
    /// its times to enabled/running. Returns readError when any unit failed to read (logged
    /// once per failure run) and targetOffCPU when a task's counters were enabled for no time.
    @discardableResult
    public func readAll(into record: UnsafeMutableRawPointer?, perCpu: (offset: Int, stride: Int)?, totals: ((Int, UInt64) -> Void)?) -> RecordFlags {
        var allOK = true, anyEnabled = false
        let n = specs.count
        for ui in units.indices {
            let u = units[ui]
            let got = try? sys.read(u.fd, into: UnsafeMutableRawBufferPointer(readBuf))
            guard let got, readMatches(u, bytes: got) else {
                allOK = false
                if !u.failing {
                    units[ui].failing = true
                    Log.warning("reading counter group \(u.slots.map { specs[$0].name }) on target \(u.target) failed\(got.map { " (a malformed read: \($0) bytes, nr \(readBuf[0]))" } ?? ""); retrying each tick")
                }
                continue
            }
            if u.failing {
                units[ui].failing = false
                Log.info("counter group \(u.slots.map { specs[$0].name }) on target \(u.target) reads again")
            }
            // Both read formats put time_enabled and time_running at words 1 and 2.
            let te = readBuf[1], tr = readBuf[2]
            for (k, slot) in u.slots.enumerated() {
                let value = u.grouped ? readBuf[3 + 2 * k] : readBuf[0]
                let p = (u.target * n + slot) * 3
                let dv = value &- prev[p], de = te &- prev[p + 1], dr = tr &- prev[p + 2]
                prev[p] = value; prev[p + 1] = te; prev[p + 2] = tr
                guard let record else { continue }
                if de > 0 { anyEnabled = true; everEnabled[slot] = true }
                if dr > 0 { everRan[slot] = true }
                // perf's estimate (tools/lib/perf/evsel.c, perf_counts_values__scale): a target
                // that never ran has no count (0 here); one that ran part of the time is scaled.
                let scaled = dr == 0 ? 0 : (de <= dr ? dv : UInt64(min(Double(dv) * Double(de) / Double(dr), 1.8e19)))
                add(record, RingLayout.rCounters + slot * RingLayout.counterSize, scaled, de, dr)
                if let perCpu {
                    add(record, perCpu.offset + u.target * perCpu.stride + RingLayout.cpuCounters + slot * RingLayout.counterSize, scaled, de, dr)
                }
                totals?(slot, scaled)
            }
        }
        guard record != nil else { return [] }
        updateNeverScheduled()
        var flags: RecordFlags = []
        if !allOK { flags.insert(.readError) }
        if allOK && countsTask && !anyEnabled && !units.isEmpty { flags.insert(.targetOffCPU) }
        return flags
    }

    /// An event enabled for some time but never scheduled on the PMU (perf: `<not counted>`)
    /// gets the live never-scheduled flag, and loses it once it runs.
    private func updateNeverScheduled() {
        for i in entries.indices where entries[i].status == .counting {
            let never = everEnabled[i] && !everRan[i]
            guard never != entries[i].flags.contains(.neverScheduled) else { continue }
            if never {
                entries[i].flags.insert(.neverScheduled)
                if let pmu = specs[i].pmu, countsTask {
                    Log.info("\(entries[i].name): the target has not run on a \(pmu.name) CPU yet: not counted so far")
                } else {
                    Log.warning("\(entries[i].name) is enabled but has never been scheduled on the PMU: not counted (its group needs more counters than are free)")
                }
            } else {
                entries[i].flags.remove(.neverScheduled)
                Log.info("\(entries[i].name) is counting now")
            }
            flagsChanged?(i, entries[i].flags)
        }
    }

    @inline(__always)
    private func add(_ r: UnsafeMutableRawPointer, _ o: Int, _ v: UInt64, _ e: UInt64, _ run: UInt64) {
        r.setU64(o, r.u64(o) &+ v)
        r.setU64(o + 8, r.u64(o + 8) &+ e)
        r.setU64(o + 16, r.u64(o + 16) &+ run)
    }
}
