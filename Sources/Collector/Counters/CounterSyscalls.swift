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
