// Opens perf events for the monitored targets and reads them once per tick into a record.
// Every open failure is classified and kept (never fatal on its own); each counter group is
// read with one read() of PERF_FORMAT_GROUP; where the kernel refuses a combination (inherit
// with group reads, or a member the leader cannot host) events fall back to reads of their own.
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
        var grouped: Bool
        var target: Int
        var failing: Bool = false
    }

    public let specs: [EventSpec]
    public private(set) var entries: [EventEntry]
    public let target: CounterTarget
    private var units: [ReadUnit] = []
    private let targetCount: Int
    private let readBuf: UnsafeMutableBufferPointer<UInt64>
    /// Last cumulative (value, enabled, running) per target and slot.
    private let prev: UnsafeMutableBufferPointer<UInt64>
    private var raisedFileLimit = false

    public init(specs: [EventSpec], target: CounterTarget) {
        precondition(specs.count <= RingLayout.maxEvents)
        self.specs = specs
        self.target = target
        self.targetCount = target.count
        var groupIndex: [String: UInt32] = [:]
        entries = specs.map { s in
            let g = groupIndex[s.groupKey] ?? UInt32(groupIndex.count)
            groupIndex[s.groupKey] = g
            return EventEntry(name: s.name, type: s.type, config: s.config, status: .counting, group: g)
        }
        readBuf = .allocate(capacity: 3 + 2 * RingLayout.maxEvents)
        prev = .allocate(capacity: max(1, target.count) * specs.count * 3)
        prev.initialize(repeating: 0)
        var firstError = [Errno?](repeating: nil, count: specs.count)
        var opened = [UInt32](repeating: 0, count: specs.count)
        let groups = Dictionary(grouping: specs.indices, by: { entries[$0].group }).sorted { $0.key < $1.key }.map(\.value)
        for t in 0..<targetCount {
            for slots in groups {
                openGroup(slots, target: t, firstError: &firstError, opened: &opened)
            }
        }
        for i in specs.indices {
            entries[i].opened = opened[i]
            if let e = firstError[i], opened[i] == 0 {
                entries[i].status = classifyOpenError(e)
                entries[i].errno = e.rawValue
            } else if let e = firstError[i] {
                // Opened on some targets only: counting, but say why the rest failed.
                entries[i].errno = e.rawValue
            }
        }
        if case .command = target {} else { enable() }
        _ = readAll(into: nil, perCpu: nil, totals: nil)  // prime the baselines
    }

    deinit {
        for u in units {
            for fd in u.memberFDs { Sys.close(fd) }
            Sys.close(u.fd)
        }
        readBuf.deallocate()
        prev.deallocate()
    }

    public var countingSlots: Int { entries.filter { $0.status == .counting }.count }

    private func pidAndCPU(_ t: Int) -> (Int32, Int32, inherit: Bool, onExec: Bool) {
        switch target {
        case .cpus(let cpus): (-1, Int32(cpus[t]), false, false)
        case .threads(let tids): (tids[t], -1, true, false)
        case .command(let pid): (pid, -1, true, true)
        }
    }

    private func attr(_ s: EventSpec, grouped: Bool, leader: Bool, inherit: Bool, onExec: Bool) -> perf_event_attr {
        var a = perf_event_attr()
        a.type = s.type
        a.size = cperf_attr_size()
        a.config = s.config
        var fmt = UInt64(PERF_FORMAT_TOTAL_TIME_ENABLED.rawValue | PERF_FORMAT_TOTAL_TIME_RUNNING.rawValue | PERF_FORMAT_ID.rawValue)
        if grouped { fmt |= UInt64(PERF_FORMAT_GROUP.rawValue) }
        a.read_format = fmt
        // Leaders start disabled and are enabled once their group is complete (or at exec):
        // members added to an already-running leader stay inactive on a busy CPU until the
        // group happens to be rescheduled, and then count nothing. perf does the same.
        cperf_attr_set_flags(&a, leader ? 1 : 0, inherit ? 1 : 0, onExec && leader ? 1 : 0, 0)
        return a
    }

    private func open(_ s: EventSpec, target t: Int, grouped: Bool, leaderFD: Int32) throws(Errno) -> Int32 {
        let (pid, cpu, inherit, onExec) = pidAndCPU(t)
        var a = attr(s, grouped: grouped, leader: leaderFD == -1, inherit: inherit, onExec: onExec)
        do {
            return try Sys.perfEventOpen(&a, pid: pid, cpu: cpu, groupFD: leaderFD)
        } catch .tooManyFiles where !raisedFileLimit {
            // Many CPUs or threads: raise the soft descriptor limit to the hard one and retry.
            raisedFileLimit = true
            var rl = Sys.getrlimitNofile()
            rl.rlim_cur = rl.rlim_max
            try? Sys.setrlimitNofile(rl)
            Log.info("raised the open-file limit to \(rl.rlim_cur) for counters")
            return try Sys.perfEventOpen(&a, pid: pid, cpu: cpu, groupFD: leaderFD)
        }
    }

    private func openGroup(_ slots: [Int], target t: Int, firstError: inout [Errno?], opened: inout [UInt32]) {
        func fail(_ slot: Int, _ e: Errno) { if firstError[slot] == nil { firstError[slot] = e } }
        func openSingle(_ slot: Int) {
            do {
                let fd = try open(specs[slot], target: t, grouped: false, leaderFD: -1)
                units.append(ReadUnit(fd: fd, memberFDs: [], slots: [slot], grouped: false, target: t))
                opened[slot] += 1
            } catch {
                fail(slot, error)
            }
        }
        var unit: ReadUnit?
        var grouped = slots.count > 1
        for slot in slots {
            let s = specs[slot]
            if let u = unit {
                do {
                    let fd = try open(s, target: t, grouped: true, leaderFD: u.fd)
                    unit!.memberFDs.append(fd)
                    unit!.slots.append(slot)
                    opened[slot] += 1
                } catch {
                    // The leader cannot host it (EINVAL, or a PMU limit): count it on its own.
                    openSingle(slot)
                }
                continue
            }
            do {
                let fd = try open(s, target: t, grouped: grouped, leaderFD: -1)
                unit = ReadUnit(fd: fd, memberFDs: [], slots: [slot], grouped: grouped, target: t)
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

    /// Starts every group (command mode does not call this: its counters start at exec).
    func enable() {
        for u in units { try? Sys.perfEnable(u.fd, group: u.grouped) }
    }

    /// Reads every unit; adds deltas since the previous read into `record` (totals section and,
    /// when given, the per-CPU section at `perCpu` offset/stride), and reports each slot's scaled
    /// delta to `totals`. Returns false when any unit failed to read (logged once per failure run).
    @discardableResult
    public func readAll(into record: UnsafeMutableRawPointer?, perCpu: (offset: Int, stride: Int)?, totals: ((Int, UInt64) -> Void)?) -> Bool {
        var allOK = true
        let n = specs.count
        for ui in units.indices {
            let u = units[ui]
            let got = try? Sys.read(u.fd, UnsafeMutableRawBufferPointer(readBuf))
            let expected = u.grouped ? (3 + 2 * u.slots.count) * 8 : 4 * 8
            guard let got, got >= expected else {
                allOK = false
                if !u.failing {
                    units[ui].failing = true
                    Log.warning("reading counter group \(u.slots.map { specs[$0].name }) on target \(u.target) failed; retrying each tick")
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
                add(record, RingLayout.rCounters + slot * RingLayout.counterSize, dv, de, dr)
                if let perCpu {
                    add(record, perCpu.offset + u.target * perCpu.stride + RingLayout.cpuCounters + slot * RingLayout.counterSize, dv, de, dr)
                }
                if let totals, dr > 0 {
                    // Scale a multiplexed count by enabled/running (perf's own estimate).
                    let scaled = de == dr ? dv : UInt64(min(Double(dv) * Double(de) / Double(dr), 1.8e19))
                    totals(slot, scaled)
                }
            }
        }
        return allOK
    }

    @inline(__always)
    private func add(_ r: UnsafeMutableRawPointer, _ o: Int, _ v: UInt64, _ e: UInt64, _ run: UInt64) {
        r.setU64(o, r.u64(o) &+ v)
        r.setU64(o + 8, r.u64(o + 8) &+ e)
        r.setU64(o + 16, r.u64(o + 16) &+ run)
    }
}
