// A simulated kernel PMU behind the collector's CounterSyscalls seam, so the real collector
// (its grouping, fallback, tick and ring writing) runs over counts the test knows exactly.
// It behaves as perf_event_open(2) and kernel/events/core.c describe, at the level of detail
// the collector can observe:
// - each CPU has a core PMU with `counters` general-purpose counters, `reserved` of them held
//   (the NMI watchdog's); flexible groups are scheduled whole, in list order, and after the
//   first hardware group that does not fit no other is added (core.c, merge_sched_in:
//   group_can_go_on / can_add_hw); every rotation interval the first group moves to the end
//   (core.c, rotate_ctx), so multiplexed groups take turns and time_running < time_enabled;
// - a group larger than the PMU's counters is refused with EINVAL when the member that
//   overflows it is opened (arch/x86/events/core.c, validate_group, which counts all counters,
//   the watchdog's too: such a group opens but is never scheduled when one is reserved);
// - a hardware event the PMU lacks is ENOENT (x86_pmu_event_init / armpmu_event_init);
// - without exclude_kernel, perf_allow_kernel() refuses with EACCES at paranoid > 1 unless
//   privileged; a CPU-wide event needs paranoid <= 0 or privilege (find_get_context:
//   perf_allow_cpu);
// - on a hybrid machine each core PMU has its own type number and CPUs; a legacy hardware
//   event names its PMU in config bits 32-63 (PERF_PMU_TYPE_SHIFT, Linux 5.16+) or, on a
//   kernel without extended types, is opened with the PMU's own type (config then the legacy
//   id: a simplification, a real PMU type takes a raw encoding). A CPU-wide event on a CPU the
//   PMU does not cover is ENOENT; a per-task event of that PMU is enabled but not scheduled
//   while its task runs on the other core type (core.c, event_filter_match);
// - a per-task event's context is active only while its task runs: off CPU neither
//   time_enabled nor time_running nor the count advances;
// - reads follow read_format (PERF_FORMAT_GROUP, TOTAL_TIME_ENABLED/RUNNING, ID), ENOSPC for a
//   short buffer; RESET zeroes the count only (core.c, perf_event_reset).
import CPerf
import Collector
import Glibc
import Shared

final class SimulatedPMU: CounterSyscalls {
    struct PMU {
        var name: String
        var type: UInt32
        var cpus: [Int]
        var counters: Int
        var reserved = 0
        /// Counters held on some CPUs only (a watchdog on those CPUs).
        var reservedOn: [Int: Int] = [:]
        /// Legacy hardware ids (PERF_COUNT_HW_*) it counts.
        var hardware: Set<UInt64> = [0, 1, 2, 3, 4, 5]
    }

    final class Event {
        let fd: Int32, id: UInt64
        let type: UInt32, config: UInt64
        /// Index into `pmus` for hardware events; nil for software.
        let pmu: Int?
        let pid: Int32, cpu: Int32
        let readFormat: UInt64
        let attrFlags: Int32
        weak var leader: Event?
        var members: [Event] = []
        var enabled: Bool
        var count: UInt64 = 0, enabledNs: UInt64 = 0, runningNs: UInt64 = 0
        init(fd: Int32, id: UInt64, type: UInt32, config: UInt64, pmu: Int?, pid: Int32, cpu: Int32, readFormat: UInt64, attrFlags: Int32) {
            self.fd = fd; self.id = id; self.type = type; self.config = config; self.pmu = pmu
            self.pid = pid; self.cpu = cpu; self.readFormat = readFormat; self.attrFlags = attrFlags
            enabled = attrFlags & Int32(CPERF_ATTR_DISABLED) == 0
        }
        var isLeader: Bool { leader == nil || leader === self }
        var group: [Event] { [self] + members }
        var name: String {
            if type == 1 { return ["cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations", "minor-faults", "major-faults"][Int(config)] }
            let id = type == 0 ? config & 0xffff_ffff : SimulatedPMU.aliases.first { $0.value.raw == config }!.key
            return ["cycles", "instructions", "cache-references", "cache-misses", "branch-instructions", "branch-misses"][Int(id)]
        }
    }

    var pmus: [PMU]
    var paranoid: Int
    var privileged: Bool
    var extendedType: Bool
    /// The rotation interval: every count below is per slice.
    let sliceNs: UInt64 = 4_000_000
    /// The truth, per slice of running: per CPU (system-wide) and per task, by event name.
    var cpuLoad: [Int: [String: UInt64]] = [:]
    var taskLoad: [Int32: [String: UInt64]] = [:]
    /// Refusals the test wants at open, by event name (in addition to the rules above).
    var refuse: [String: Int32] = [:]
    /// The next read of the event with this name reports a wrong nr (a broken kernel).
    var corruptNextGroupRead: String?

    private(set) var events: [Int32: Event] = [:]
    private var nextFD: Int32 = 10_000
    private var nextID: UInt64 = 100
    /// Flexible groups in rotation order, per (context, PMU): context is a CPU or a task.
    private var order: [String: [Int32]] = [:]

    init(pmus: [PMU], paranoid: Int = 2, privileged: Bool = true, extendedType: Bool = true) {
        self.pmus = pmus; self.paranoid = paranoid; self.privileged = privileged; self.extendedType = extendedType
    }

    /// A fake sysfs tree (`root/NAME/type`, `root/NAME/cpus` for hybrid PMUs) for this machine.
    func writeSysfs(_ root: String) {
        mkdir(root, 0o755)
        for (dir, type, cpus) in [("software", "1", nil), ("tracepoint", "2", nil)] + pmus.map({ ($0.name, String($0.type), pmus.count > 1 ? formatCPUList($0.cpus) : nil) }) {
            mkdir(root + "/" + dir, 0o755)
            writeText(root + "/" + dir + "/type", type + "\n")
            if let cpus { writeText(root + "/" + dir + "/cpus", cpus + "\n") }
        }
        // x86-style event aliases and their bit fields, for kernels without extended types.
        for p in pmus {
            let dir = root + "/" + p.name
            mkdir(dir + "/format", 0o755)
            mkdir(dir + "/events", 0o755)
            writeText(dir + "/format/event", "config:0-7\n")
            writeText(dir + "/format/umask", "config:8-15\n")
            for (id, alias) in Self.aliases where p.hardware.contains(id) { writeText(dir + "/events/" + alias.name, alias.terms + "\n") }
        }
    }

    /// The sysfs aliases written for each legacy hardware id, and the raw config they encode.
    static let aliases: [UInt64: (name: String, terms: String, raw: UInt64)] = [
        0: ("cpu-cycles", "event=0x3c", 0x3c), 1: ("instructions", "event=0xc0", 0xc0),
        2: ("cache-references", "event=0x2e,umask=0x4f", 0x4f2e), 3: ("cache-misses", "event=0x2e,umask=0x41", 0x412e),
        4: ("branch-instructions", "event=0xc4", 0xc4), 5: ("branch-misses", "event=0xc5", 0xc5),
    ]

    private func writeText(_ path: String, _ text: String) {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        Glibc.close(fd)
    }

    var openEvents: Int { events.count }

    // MARK: CounterSyscalls

    func open(_ attr: inout perf_event_attr, pid: Int32, cpu: Int32, groupFD: Int32) throws(Errno) -> Int32 {
        let flags = cperf_attr_flags(&attr)
        // kernel/events/core.c, perf_event_open: perf_allow_kernel() unless exclude_kernel.
        if flags & Int32(CPERF_ATTR_EXCLUDE_KERNEL) == 0 && paranoid > 1 && !privileged { throw .access }
        // find_get_context: perf_allow_cpu() for a CPU-wide event.
        if pid == -1 && paranoid > 0 && !privileged { throw .access }
        var pmu: Int?
        switch attr.type {
        case 1:
            guard attr.config <= 6 else { throw .noEntry }
        case 0:
            let hwID = attr.config & 0xffff_ffff, ext = UInt32(attr.config >> 32)
            if ext != 0 {
                guard extendedType else { throw .invalid }  // config >= max_events
                guard let i = pmus.firstIndex(where: { $0.type == ext }) else { throw .noEntry }
                pmu = i
            } else {
                // A legacy event without a PMU goes to the first core PMU (the boot CPU's).
                guard !pmus.isEmpty else { throw .noEntry }
                pmu = 0
            }
            guard pmus[pmu!].hardware.contains(hwID) else { throw .noEntry }
        default:
            // A PMU's own type takes its raw encoding (here: the aliases' events).
            guard let i = pmus.firstIndex(where: { $0.type == attr.type }),
                  let id = Self.aliases.first(where: { $0.value.raw == attr.config })?.key, pmus[i].hardware.contains(id) else { throw .noEntry }
            pmu = i
        }
        if let p = pmu, cpu >= 0, !pmus[p].cpus.contains(Int(cpu)) { throw .noEntry }
        var leader: Event?
        if groupFD != -1 {
            guard let l = events[groupFD], l.isLeader, l.pid == pid, l.cpu == cpu else { throw .invalid }
            // validate_group: the group with the new event must fit the PMU's counters (all of
            // them: the watchdog's counter is not counted here), and hardware events of one
            // group share one PMU.
            if let p = pmu {
                let hw = l.group.filter { $0.pmu != nil }
                if hw.contains(where: { $0.pmu != p }) { throw .invalid }
                if hw.count + 1 > pmus[p].counters { throw .invalid }
            }
            leader = l
        }
        let e = Event(fd: nextFD, id: nextID, type: attr.type, config: attr.config, pmu: pmu, pid: pid, cpu: cpu, readFormat: attr.read_format, attrFlags: flags)
        if let r = refuse[e.name] { throw Errno(rawValue: r) }
        nextFD += 1; nextID += 1
        events[e.fd] = e
        if let leader {
            e.leader = leader
            leader.members.append(e)
        } else if pid != 0 {
            order[contextKey(e), default: []].append(e.fd)
        }
        return e.fd
    }

    func enable(_ fd: Int32, group: Bool) throws(Errno) {
        guard let e = events[fd] else { throw Errno(rawValue: EBADF) }
        for x in group ? e.group : [e] { x.enabled = true }
    }

    func disable(_ fd: Int32, group: Bool) throws(Errno) {
        guard let e = events[fd] else { throw Errno(rawValue: EBADF) }
        for x in group ? e.group : [e] { x.enabled = false }
    }

    func reset(_ fd: Int32, group: Bool) throws(Errno) {
        guard let e = events[fd] else { throw Errno(rawValue: EBADF) }
        for x in group ? e.group : [e] { x.count = 0 }
    }

    func id(_ fd: Int32) throws(Errno) -> UInt64 {
        guard let e = events[fd] else { throw Errno(rawValue: EBADF) }
        return e.id
    }

    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard let e = events[fd] else { throw Errno(rawValue: EBADF) }
        let format = e.readFormat
        let withTimes = format & UInt64(PERF_FORMAT_TOTAL_TIME_ENABLED.rawValue) != 0
        let withID = format & UInt64(PERF_FORMAT_ID.rawValue) != 0
        var words: [UInt64] = []
        if format & UInt64(PERF_FORMAT_GROUP.rawValue) != 0 {
            guard e.isLeader else { throw .invalid }
            var nr = UInt64(e.group.count)
            if corruptNextGroupRead == e.name { nr += 1; corruptNextGroupRead = nil }
            words.append(nr)
            if withTimes { words += [e.enabledNs, e.runningNs] }
            for x in e.group { words.append(x.count); if withID { words.append(x.id) } }
        } else {
            words.append(e.count)
            if withTimes { words += [e.enabledNs, e.runningNs] }
            if withID { words.append(e.id) }
        }
        guard buffer.count >= words.count * 8 else { throw .noSpace }
        for (i, w) in words.enumerated() { buffer.storeBytes(of: w, toByteOffset: i * 8, as: UInt64.self) }
        return words.count * 8
    }

    func close(_ fd: Int32) {
        guard let e = events.removeValue(forKey: fd) else { return }
        if let l = e.leader, l !== e { l.members.removeAll { $0 === e } }
        for k in order.keys { order[k]!.removeAll { $0 == fd } }
    }

    // MARK: the passage of time

    private func contextKey(_ e: Event) -> String {
        (e.pid == -1 ? "cpu\(e.cpu)" : "task\(e.pid)") + "/" + (e.pmu.map { pmus[$0].name } ?? "software")
    }

    /// `slices` rotation intervals of system-wide time on every CPU, each running `cpuLoad`.
    func runSystem(slices: Int) {
        for _ in 0..<slices {
            for cpu in Set(events.values.filter { $0.pid == -1 }.map { Int($0.cpu) }).sorted() {
                let load = cpuLoad[cpu] ?? [:]
                schedule(contexts: contextKeys { $0.pid == -1 && Int($0.cpu) == cpu }, cpu: cpu, load: load)
            }
        }
    }

    /// The task runs on `cpu` for `slices` rotation intervals (its other time it is off CPU).
    func runTask(_ pid: Int32, cpu: Int, slices: Int) {
        for _ in 0..<slices {
            schedule(contexts: contextKeys { $0.pid == pid }, cpu: cpu, load: taskLoad[pid] ?? [:])
        }
    }

    /// The command exec'd: its enable_on_exec events start.
    func exec(_ pid: Int32) {
        for e in events.values where e.pid == pid && e.attrFlags & Int32(CPERF_ATTR_ENABLE_ON_EXEC) != 0 { e.enabled = true }
    }

    private func contextKeys(_ match: (Event) -> Bool) -> [String] {
        Set(events.values.filter { $0.isLeader && match($0) }.map(contextKey)).sorted()
    }

    /// One slice of one context on one CPU: schedule the groups that fit, count, rotate.
    private func schedule(contexts: [String], cpu: Int, load: [String: UInt64]) {
        for key in contexts {
            guard let fds = order[key] else { continue }
            var free: Int?
            var canAddHW = true, rotate = false
            for fd in fds {
                guard let leader = events[fd], leader.enabled else { continue }
                let group = leader.group.filter(\.enabled)
                for x in group { x.enabledNs += sliceNs }
                let runs: Bool
                if let p = leader.pmu {
                    // event_filter_match: a PMU only counts on its own CPUs.
                    guard pmus[p].cpus.contains(cpu) else { continue }
                    let avail = free ?? (pmus[p].counters - pmus[p].reserved - (pmus[p].reservedOn[cpu] ?? 0))
                    let needed = group.filter { $0.pmu != nil }.count
                    runs = canAddHW && needed <= avail
                    if runs { free = avail - needed } else { canAddHW = false; rotate = true }
                } else {
                    runs = true
                }
                guard runs else { continue }
                for x in group {
                    x.runningNs += sliceNs
                    x.count += x.name == "task-clock" || x.name == "cpu-clock" ? sliceNs : (load[x.name] ?? 0)
                }
            }
            if rotate, !fds.isEmpty { order[key] = Array(fds.dropFirst()) + [fds[0]] }
        }
    }
}
