// The one seam between the collector and the kernel's counters: perf_event_open, the enable,
// disable, reset and id ioctls, read and close. The collector (PerfCounters, Collector) calls
// only this protocol, so a test can put a simulated PMU (Tests/ServerTests/SimulatedPMU.swift)
// under the real tick loop, grouping, fallback and ring writing. The machine facts that decide
// how events are opened (core PMUs in sysfs, perf_event_paranoid) come with it.
import CPerf
import Shared

/// The counter syscalls, as perf_event_open(2) describes them.
public protocol CounterSyscalls: AnyObject {
    /// perf_event_open(2) (always with PERF_FLAG_FD_CLOEXEC).
    func open(_ attr: inout perf_event_attr, pid: Int32, cpu: Int32, groupFD: Int32) throws(Errno) -> Int32
    /// PERF_EVENT_IOC_ENABLE / DISABLE / RESET; `group` adds PERF_IOC_FLAG_GROUP.
    func enable(_ fd: Int32, group: Bool) throws(Errno)
    func disable(_ fd: Int32, group: Bool) throws(Errno)
    func reset(_ fd: Int32, group: Bool) throws(Errno)
    /// PERF_EVENT_IOC_ID: the id PERF_FORMAT_ID reads report for this event.
    func id(_ fd: Int32) throws(Errno) -> UInt64
    /// read(2) of the counter: the bytes read.
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int
    func close(_ fd: Int32)
}

/// The real kernel, through Sys (the one file of syscall wrappers).
public final class KernelCounterSyscalls: CounterSyscalls {
    public init() {}
    public func open(_ attr: inout perf_event_attr, pid: Int32, cpu: Int32, groupFD: Int32) throws(Errno) -> Int32 {
        try Sys.perfEventOpen(&attr, pid: pid, cpu: cpu, groupFD: groupFD)
    }
    public func enable(_ fd: Int32, group: Bool) throws(Errno) { try Sys.perfEnable(fd, group: group) }
    public func disable(_ fd: Int32, group: Bool) throws(Errno) { try Sys.perfDisable(fd, group: group) }
    public func reset(_ fd: Int32, group: Bool) throws(Errno) { try Sys.perfReset(fd, group: group) }
    public func id(_ fd: Int32) throws(Errno) -> UInt64 { try Sys.perfID(fd) }
    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int { try Sys.read(fd, buffer) }
    public func close(_ fd: Int32) { Sys.close(fd) }
}

/// A core PMU (the CPU's own counters) as sysfs lists it.
public struct CorePMU: Sendable, Equatable {
    public let name: String
    /// /sys/bus/event_source/devices/NAME/type: its perf_event_attr.type.
    public let type: UInt32
    /// The CPUs it counts on (its `cpus` file); nil when it has none (a single core PMU "cpu").
    public let cpus: [Int]?
    /// Legacy hardware ids (PERF_COUNT_HW_*) as this PMU's own raw config, from its sysfs event
    /// aliases: how a kernel without extended types is asked for `cpu_atom/cycles/`.
    public let rawConfigs: [UInt64: UInt64]
    public init(name: String, type: UInt32, cpus: [Int]?, rawConfigs: [UInt64: UInt64] = [:]) {
        self.name = name; self.type = type; self.cpus = cpus; self.rawConfigs = rawConfigs
    }

    /// The core PMUs under `root` (normally /sys/bus/event_source/devices), sorted by type.
    /// perf's rule (tools/perf/util/pmus.c, is_pmu_core): a PMU is a core PMU when it is named
    /// `cpu`, or when its directory has a `cpus` file (x86 hybrid cpu_core/cpu_atom, Arm's
    /// armv8_* PMUs on big.LITTLE). Uncore PMUs have a `cpumask` instead.
    public static func discover(root: String) -> [CorePMU] {
        guard let names = try? Sys.listDirectory(root) else { return [] }
        var out: [CorePMU] = []
        for name in names where !name.hasPrefix(".") {
            let dir = root + "/" + name
            guard let text = try? Sys.readFile(dir + "/type", limit: 64),
                  let type = UInt32(text.split(separator: "\n").first ?? "") else { continue }
            let cpus = (try? Sys.readFile(dir + "/cpus", limit: 4096)).flatMap { parseCPUList($0.trimmingNewline) }
            guard name == "cpu" || cpus != nil else { continue }
            out.append(CorePMU(name: name, type: type, cpus: cpus, rawConfigs: rawConfigs(dir)))
        }
        return out.sorted { $0.type < $1.type }
    }

    /// The sysfs aliases of the legacy hardware events, by PERF_COUNT_HW_* id: x86 names
    /// (`cpu-cycles`, ...), then the Arm PMUv3 events the kernel maps them to
    /// (drivers/perf/arm_pmuv3.c, armv8_pmuv3_perf_map).
    static let aliases: [UInt64: [String]] = [
        0: ["cpu-cycles", "cycles", "cpu_cycles"], 1: ["instructions", "inst_retired"],
        2: ["cache-references", "l1d_cache"], 3: ["cache-misses", "l1d_cache_refill"],
        4: ["branch-instructions", "branches", "pc_write_retired"], 5: ["branch-misses", "br_mis_pred"],
    ]

    /// Encodes each alias found under `dir/events` with the bit fields of `dir/format`, as perf
    /// parses `pmu/event/` terms (`event=0x3c,umask=0x00` with `event: config:0-7`, ...). An
    /// alias that uses anything but `config` bits is left out.
    static func rawConfigs(_ dir: String) -> [UInt64: UInt64] {
        var out: [UInt64: UInt64] = [:]
        for (id, names) in aliases {
            for name in names {
                guard let text = try? Sys.readFile(dir + "/events/" + name, limit: 4096),
                      let config = encode(text.trimmingNewline, formatDir: dir + "/format") else { continue }
                out[id] = config
                break
            }
        }
        return out
    }

    static func encode(_ terms: String, formatDir: String) -> UInt64? {
        var config: UInt64 = 0
        for term in terms.split(separator: ",") {
            let kv = term.split(separator: "=", maxSplits: 1)
            let key = String(kv[0])
            let text = kv.count > 1 ? String(kv[1]) : "1"
            guard let value = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text),
                  let format = try? Sys.readFile(formatDir + "/" + key, limit: 256) else { return nil }
            // `config:0-7` or `config:0-7,21`: the value's bits go to those positions in order.
            let spec = format.trimmingNewline.split(separator: ":", maxSplits: 1)
            guard spec.count == 2, spec[0] == "config" else { return nil }
            var bit = 0
            for range in spec[1].split(separator: ",") {
                let ends = range.split(separator: "-").compactMap { Int($0) }
                guard let lo = ends.first, let hi = ends.last, lo <= hi, hi < 64 else { return nil }
                for position in lo...hi {
                    if bit < 64, value >> UInt64(bit) & 1 == 1 { config |= 1 << UInt64(position) }
                    bit += 1
                }
            }
        }
        return config
    }
}

/// What the counters are opened through, and the machine facts that decide how.
public struct CounterEnvironment {
    public var syscalls: CounterSyscalls
    /// Where the PMUs are listed (tests point it at a fake tree).
    public var sysfsRoot: String
    /// kernel.perf_event_paranoid (nil when unreadable); decides the user-space-only fallback.
    public var paranoid: Int?
    public init(syscalls: CounterSyscalls, sysfsRoot: String, paranoid: Int?) {
        self.syscalls = syscalls; self.sysfsRoot = sysfsRoot; self.paranoid = paranoid
    }
    public static var kernel: CounterEnvironment {
        CounterEnvironment(syscalls: KernelCounterSyscalls(), sysfsRoot: "/sys/bus/event_source/devices", paranoid: paranoidLevel())
    }
    /// The core PMUs when there are two or more (a hybrid CPU); empty otherwise.
    public var hybridPMUs: [CorePMU] {
        let core = CorePMU.discover(root: sysfsRoot)
        return core.count > 1 ? core : []
    }
}
