// ProcSignals: the collector's OS-signal reader.
//
// Every source under /proc and /sys is opened ONCE here, at setup, and re-read each tick with
// pread(fd, buf, 0) into one preallocated byte buffer that every source shares in turn (the
// kernel regenerates seq_file and sysfs text at offset 0). Parsing walks raw bytes with a
// pointer cursor: the per-tick path creates no String, Array or closure context, so it does
// not allocate. The only exception is deliberate and rare: when a read fills the buffer, the
// buffer doubles (up to 64 MiB) and the read is retried.
//
// Values are CUMULATIVE, in the ring's units (ns, bytes, µs, µJ, load x 1000). The collector
// takes deltas of `.delta` fields itself; `energyDelta` handles RAPL counter wrap.
//
// Validity: a bit of the returned mask is set only when its source was read this tick AND the
// value was present in it. Absent sources (no /proc/pressure, no RAPL, /proc/PID/io refused)
// leave their bits clear and their values 0; a zero with a set bit is a real zero.
//
// Disk choice (diskReadBytes/diskWriteBytes): the sum over "physical whole disks", decided once
// at setup: entries of /sys/block that have a `device` link (backed by a bus device: virtio,
// SCSI/SATA, NVMe, MMC, Xen...) and whose names do not start with loop, ram, zram, dm- or md.
// Virtual and stacked devices (loop, ram, zram, dm, md, nbd, zd, bcache) have no `device`
// link, and the name rule backs that up, so I/O through LVM/dm-crypt/md/loop is counted once,
// at the physical disk it reaches (a RAID1 write counts on each mirror: bytes the disks moved).
// Partitions are never in /sys/block. A name's '!' becomes '/' as in diskstats (cciss!c0d0).
// The disk bits are set when diskstats was read and at least one chosen disk appeared in it.
import Glibc
import Shared

/// An optional source that could not be opened at setup (the collector may log these).
public struct SourceProblem: Sendable, CustomStringConvertible {
    public let path: String
    public let error: Errno
    public var description: String { "\(path): \(error)" }
}

public final class ProcSignals {
    /// Values in `sample(into:)`'s buffer: one per `OSField` (computed once: `allCases`
    /// builds an array on every call).
    public static let fieldCount = OSField.allCases.count
    /// u64 values per CPU in the per-CPU buffer: user nice system idle iowait irq softirq steal.
    public static let perCpuValues = 8
    /// Fields from files that change slowly or are costly for the kernel to render (meminfo,
    /// diskstats, net/dev, loadavg, vmstat, pressure): `sample(slow: false)` skips them. What
    /// stays per tick is /proc/stat (the CPU time split), RAPL energy and the process's files.
    public static let slowFields: UInt64 = {
        let slow: [OSField] = [.memTotal, .memAvailable, .swapTotal, .swapFree, .diskReadBytes, .diskWriteBytes, .netRxBytes, .netTxBytes,
                               .psiCpuSome, .psiCpuFull, .psiMemSome, .psiMemFull, .psiIoSome, .psiIoFull, .load1, .load5, .load15,
                               .pageFaults, .majorFaults]
        return slow.reduce(0) { $0 | $1.bit }
    }()
    /// Top-level RAPL domains first, then subzones, at most this many.
    public static let maxEnergyDomains = RingLayout.maxEnergyDomains

    /// CPUs whose times are summed into cpuUser...cpuSteal and written, in this order, to the
    /// per-CPU buffer: the `cpus` given, or every `cpuN` line of /proc/stat at setup.
    public let monitoredCPUs: [Int]
    /// RAPL domain names ("package-0", "core", "dram", "psys"...), energy0... in this order.
    public let energyDomainNames: [String]
    /// Each domain's `max_energy_range_uj` (the value at which energy_uj wraps to 0); 0 when
    /// unknown.
    public let energyMaxRangeUJ: [UInt64]
    /// The whole disks summed into diskReadBytes/diskWriteBytes (diskstats spelling).
    public let diskNames: [String]
    /// The monitored process (pid / command mode), or nil for system-wide.
    public let pid: Int32?
    /// Optional sources that could not be opened at setup; their fields stay invalid.
    public let unavailable: [SourceProblem]
    /// True once the monitored process has ended: /proc/PID/stat fails with ESRCH/ENOENT (the
    /// process was reaped), or it reads as a zombie/dead ('Z'/'X') with no live thread left.
    /// After that the process fields are invalid and the process files are closed.
    public private(set) var targetGone = false

    private let hz: UInt64
    private let nsPerTick: UInt64  // 0 when USER_HZ does not divide 1e9
    private let pageSize: UInt64
    private let subset: Bool       // cpus given: sum cpuN lines instead of the "cpu " line

    private let statFd: Int32
    private let meminfoFd: Int32
    private let diskstatsFd: Int32
    private let netdevFd: Int32
    private let loadavgFd: Int32
    private let vmstatFd: Int32
    private let psiFds: [Int32]      // cpu, memory, io; -1 when absent
    private let energyFds: [Int32]
    private var pidStatFd: Int32 = -1
    private var pidIoFd: Int32 = -1

    private var buf: UnsafeMutableBufferPointer<UInt8>
    private static let maxBuffer = 64 << 20
    /// CPU number -> index in monitoredCPUs, or -1.
    private let cpuSlot: UnsafeMutableBufferPointer<Int32>
    /// Last-seen ticks per monitored CPU (8 each). A CPU that goes offline drops out of
    /// /proc/stat; keeping its last value makes it contribute no time instead of a drop to 0.
    private let cpuTicks: UnsafeMutableBufferPointer<UInt64>
    /// The chosen disk names, concatenated, with (offset, length) pairs.
    private let diskBytes: UnsafeMutableBufferPointer<UInt8>
    private let diskSpans: UnsafeMutableBufferPointer<Int>

    /// Opens every source. Throws only when /proc/stat cannot be opened, when a CPU in `cpus`
    /// has no line in /proc/stat or is listed twice (`.invalid`), or when `pid` has no
    /// /proc/PID/stat (`.noSuchProcess`). Every other source is optional.
    public init(procRoot: String = "/proc", sysRoot: String = "/sys", cpus: [Int]? = nil, pid: Int32? = nil) throws(Errno) {
        var problems: [SourceProblem] = []
        var opened: [Int32] = []  // closed again if init throws
        var ok = false
        defer { if !ok { for fd in opened { Sys.close(fd) } } }
        func open(_ path: String, required: Bool = false) throws(Errno) -> Int32 {
            do {
                let fd = try Sys.open(path, O_RDONLY)
                opened.append(fd)
                return fd
            } catch {
                if required { throw error }
                problems.append(SourceProblem(path: path, error: error))
                return -1
            }
        }

        let tck = sysconf(Int32(_SC_CLK_TCK))
        hz = tck > 0 ? UInt64(tck) : 100
        nsPerTick = 1_000_000_000 % hz == 0 ? 1_000_000_000 / hz : 0
        let ps = sysconf(Int32(_SC_PAGESIZE))
        pageSize = ps > 0 ? UInt64(ps) : 4096

        // /proc/stat: required; its cpuN lines say which CPUs exist.
        statFd = try open(procRoot + "/stat", required: true)
        let statText = try Sys.readFile(procRoot + "/stat", limit: 1 << 24)
        var present: [Int] = []
        for line in statText.utf8.split(separator: UInt8(ascii: "\n")) {
            guard line.starts(with: "cpu".utf8) else { continue }
            let rest = line.dropFirst(3).prefix { $0 >= 0x30 && $0 <= 0x39 }
            if !rest.isEmpty, rest.count < 7, let n = Int(String(decoding: rest, as: UTF8.self)) { present.append(n) }
        }
        // The process (before any allocation below, since a throwing init cannot free it):
        // /proc/PID/stat is required, /proc/PID/io optional (EACCES unless it is
        // ours or we are root). Only the process itself is read (all its threads, live and
        // exited, which /proc/PID/stat and io aggregate); children are not added: their CPU
        // shows in cutime/cstime only once reaped, and the perf counters cover children
        // through `inherit` instead.
        self.pid = pid
        if let pid {
            do {
                pidStatFd = try open(procRoot + "/\(pid)/stat", required: true)
            } catch where error == .noEntry {
                throw Errno.noSuchProcess
            }
            pidIoFd = try open(procRoot + "/\(pid)/io")
        }

        if let cpus {
            guard Set(cpus).count == cpus.count, cpus.allSatisfy({ present.contains($0) }) else { throw Errno.invalid }
            monitoredCPUs = cpus
        } else {
            monitoredCPUs = present
        }
        subset = cpus != nil
        let slots = (monitoredCPUs.max() ?? 0) + 1
        cpuSlot = .allocate(capacity: slots)
        cpuSlot.initialize(repeating: -1)
        for (i, c) in monitoredCPUs.enumerated() { cpuSlot[c] = Int32(i) }
        cpuTicks = .allocate(capacity: max(1, monitoredCPUs.count) * Self.perCpuValues)
        cpuTicks.initialize(repeating: 0)

        meminfoFd = try open(procRoot + "/meminfo")
        diskstatsFd = try open(procRoot + "/diskstats")
        netdevFd = try open(procRoot + "/net/dev")
        loadavgFd = try open(procRoot + "/loadavg")
        vmstatFd = try open(procRoot + "/vmstat")
        psiFds = [try open(procRoot + "/pressure/cpu"), try open(procRoot + "/pressure/memory"), try open(procRoot + "/pressure/io")]

        // Whole physical disks (see the file comment).
        var disks: [String] = []
        do {
            let excluded = ["loop", "ram", "zram", "dm-", "md"]
            for name in try Sys.listDirectory(sysRoot + "/block").sorted() {
                if excluded.contains(where: { name.hasPrefix($0) }) { continue }
                guard (try? Sys.lstat(sysRoot + "/block/" + name + "/device")) != nil else { continue }
                disks.append(String(decoding: name.utf8.map { $0 == UInt8(ascii: "!") ? UInt8(ascii: "/") : $0 }, as: UTF8.self))
            }
        } catch {
            problems.append(SourceProblem(path: sysRoot + "/block", error: error))
        }
        diskNames = disks
        let total = disks.reduce(0) { $0 + $1.utf8.count }
        diskBytes = .allocate(capacity: max(1, total))
        diskBytes.initialize(repeating: 0)
        diskSpans = .allocate(capacity: max(1, disks.count) * 2)
        diskSpans.initialize(repeating: 0)
        var at = 0
        for (i, d) in disks.enumerated() {
            diskSpans[2 * i] = at
            diskSpans[2 * i + 1] = d.utf8.count
            for b in d.utf8 { diskBytes[at] = b; at += 1 }
        }

        // RAPL: intel-rapl:N (top level, by N) first, then intel-rapl:N:M (by N, M).
        var zones: [(sub: Bool, n: Int, m: Int, entry: String)] = []
        let powercap = sysRoot + "/class/powercap"
        do {
            for e in try Sys.listDirectory(powercap) {
                guard e.hasPrefix("intel-rapl:") else { continue }
                let parts = e.dropFirst("intel-rapl:".count).split(separator: ":", omittingEmptySubsequences: false)
                let nums = parts.compactMap { p in p.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) ? Int(p) : nil }
                guard nums.count == parts.count, nums.count == 1 || nums.count == 2 else { continue }
                zones.append((nums.count == 2, nums[0], nums.count == 2 ? nums[1] : -1, e))
            }
        } catch {
            problems.append(SourceProblem(path: powercap, error: error))
        }
        zones.sort { ($0.sub ? 1 : 0, $0.n, $0.m) < ($1.sub ? 1 : 0, $1.n, $1.m) }
        var names: [String] = [], ranges: [UInt64] = [], efds: [Int32] = []
        for z in zones where efds.count < Self.maxEnergyDomains {
            let dir = powercap + "/" + z.entry
            let fd = try open(dir + "/energy_uj")
            guard fd >= 0 else { continue }
            efds.append(fd)
            let name = (try? Sys.readFile(dir + "/name")).map(Self.trimmed) ?? ""
            names.append(name.isEmpty ? z.entry : name)
            ranges.append((try? Sys.readFile(dir + "/max_energy_range_uj")).flatMap { UInt64(Self.trimmed($0)) } ?? 0)
        }
        energyDomainNames = names
        energyMaxRangeUJ = ranges
        energyFds = efds

        buf = .allocate(capacity: max(64 << 10, statText.utf8.count * 2))
        buf.initialize(repeating: 0)
        unavailable = problems
        ok = true

        // Prime the per-CPU cache so a CPU is never summed as 0.
        if let n = read(statFd) {
            let scratch = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: Self.fieldCount)
            scratch.initialize(repeating: 0)
            var sink = Sink(values: scratch)
            parseStat(count: n, into: &sink)
            scratch.deallocate()
        }
    }

    deinit {
        for fd in [statFd, meminfoFd, diskstatsFd, netdevFd, loadavgFd, vmstatFd, pidStatFd, pidIoFd] + psiFds + energyFds where fd >= 0 {
            Sys.close(fd)
        }
        buf.deallocate()
        cpuSlot.deallocate()
        cpuTicks.deallocate()
        diskBytes.deallocate()
        diskSpans.deallocate()
    }

    // MARK: sampling

    /// Reads every source (with `slow` false, all but those of `slowFields`); writes cumulative values into `values` (indexed by
    /// `OSField.rawValue`, count >= `fieldCount`; invalid fields are written as 0) and returns
    /// the validity mask (`OSField.bit`). When `perCpu` is given, writes the 8 cumulative ns
    /// times of each monitored CPU, CPU after CPU in `monitoredCPUs` order, for as many whole
    /// CPUs as fit. Allocates nothing.
    public func sample(into values: UnsafeMutableBufferPointer<UInt64>, perCpu: UnsafeMutableBufferPointer<UInt64>?, slow: Bool = true) -> UInt64 {
        precondition(values.count >= Self.fieldCount, "ProcSignals.sample: values buffer too small")
        for i in 0..<Self.fieldCount { values[i] = 0 }
        var sink = Sink(values: values)

        if let n = read(statFd) { parseStat(count: n, into: &sink) }
        if let perCpu {
            let cpus = min(monitoredCPUs.count, perCpu.count / Self.perCpuValues)
            for j in 0..<(cpus * Self.perCpuValues) { perCpu[j] = ns(cpuTicks[j]) }
        }
        for i in 0..<energyFds.count {
            guard let n = read(energyFds[i]) else { continue }
            var s = scanner(n)
            if let uj = s.uint() { sink.set(OSField(rawValue: OSField.energy0.rawValue + i)!, uj) }
        }
        if pid != nil && !targetGone { sampleProcess(&sink) }
        guard slow else { return sink.mask }
        if let n = read(meminfoFd) { parseMeminfo(scanner(n), &sink) }
        if let n = read(diskstatsFd) { parseDiskstats(scanner(n), &sink) }
        if let n = read(netdevFd) { parseNetDev(scanner(n), &sink) }
        if let n = read(loadavgFd) { parseLoadavg(scanner(n), &sink) }
        if let n = read(vmstatFd) { parseVmstat(scanner(n), &sink) }
        for i in 0..<psiFds.count {
            guard let n = read(psiFds[i]) else { continue }
            let some = OSField(rawValue: OSField.psiCpuSome.rawValue + 2 * i)!
            let full = OSField(rawValue: OSField.psiCpuSome.rawValue + 2 * i + 1)!
            parsePressure(scanner(n), some: some, full: full, &sink)
        }
        return sink.mask
    }

    /// Wrap-correct energy delta of domain `domain` between two cumulative readings.
    public func energyDelta(domain: Int, from: UInt64, to: UInt64) -> UInt64 {
        Self.wrapDelta(from: from, to: to, range: domain < energyMaxRangeUJ.count ? energyMaxRangeUJ[domain] : 0)
    }

    /// Delta of a counter that wraps to 0 after reaching `range` (RAPL's max_energy_range_uj).
    /// A decrease with an unknown range (0), or from a value beyond the range, cannot be told
    /// from a reset and gives 0.
    public static func wrapDelta(from: UInt64, to: UInt64, range: UInt64) -> UInt64 {
        if to >= from { return to - from }
        guard range != 0, from <= range else { return 0 }
        return range - from + to
    }

    // MARK: reading

    /// pread at offset 0 into `buf`; a read that fills the buffer may have been cut, so the
    /// buffer doubles and the read is repeated. nil when the source is absent or fails.
    private func read(_ fd: Int32) -> Int? {
        guard fd >= 0 else { return nil }
        do {
            return try readOrThrow(fd)
        } catch {
            return nil
        }
    }

    private func readOrThrow(_ fd: Int32) throws(Errno) -> Int {
        while true {
            let n = try Sys.pread(fd, UnsafeMutableRawBufferPointer(buf), at: 0)
            if n < buf.count || buf.count >= Self.maxBuffer { return n }
            let bigger = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: buf.count * 2)
            bigger.initialize(repeating: 0)
            buf.deallocate()
            buf = bigger
        }
    }

    private func scanner(_ n: Int) -> ByteScanner { ByteScanner(UnsafeBufferPointer(rebasing: buf[0..<n])) }

    @inline(__always) private func ns(_ ticks: UInt64) -> UInt64 {
        if nsPerTick != 0 { return ticks &* nsPerTick }
        return (ticks / hz) &* 1_000_000_000 &+ (ticks % hz) &* 1_000_000_000 / hz
    }

    // MARK: parsers (raw bytes, no allocation)

    /// /proc/stat: "cpu " (or the monitored cpuN lines), intr, ctxt, processes, procs_*.
    private func parseStat(count n: Int, into sink: inout Sink) {
        var s = scanner(n)
        var columns = 0
        var aggregate = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while !s.atEnd {
            if s.consume("cpu") {
                if s.peekIsDigit {
                    let c = s.uint() ?? UInt64.max
                    if c < UInt64(cpuSlot.count), case let slot = Int(cpuSlot[Int(c)]), slot >= 0 {
                        for k in 0..<Self.perCpuValues {
                            guard let t = s.uint() else { break }
                            cpuTicks[slot * Self.perCpuValues + k] = t
                        }
                    }
                } else {
                    withUnsafeMutableBytes(of: &aggregate) { raw in
                        let a = raw.bindMemory(to: UInt64.self)
                        while columns < Self.perCpuValues, let t = s.uint() { a[columns] = t; columns += 1 }
                    }
                }
            } else if s.consume("intr ") {
                if let v = s.uint() { sink.set(.interrupts, v) }
            } else if s.consume("ctxt ") {
                if let v = s.uint() { sink.set(.contextSwitches, v) }
            } else if s.consume("processes ") {
                if let v = s.uint() { sink.set(.forks, v) }
            } else if s.consume("procs_running ") {
                if let v = s.uint() { sink.set(.procsRunning, v) }
            } else if s.consume("procs_blocked ") {
                if let v = s.uint() { sink.set(.procsBlocked, v) }
            }
            s.nextLine()
        }
        // The column count of the "cpu " line says which times this kernel has (all 8 since
        // 2.6.11); the subset sums use the same columns.
        withUnsafeBytes(of: &aggregate) { raw in
            let a = raw.bindMemory(to: UInt64.self)
            for k in 0..<columns {
                var ticks = a[k]
                if subset {
                    ticks = 0
                    for slot in 0..<monitoredCPUs.count { ticks &+= cpuTicks[slot * Self.perCpuValues + k] }
                }
                sink.set(OSField(rawValue: OSField.cpuUser.rawValue + k)!, ns(ticks))
            }
        }
    }

    private func parseMeminfo(_ scanner: ByteScanner, _ sink: inout Sink) {
        var s = scanner
        while !s.atEnd {
            let field: OSField? =
                s.consume("MemTotal:") ? .memTotal :
                s.consume("MemAvailable:") ? .memAvailable :
                s.consume("SwapTotal:") ? .swapTotal :
                s.consume("SwapFree:") ? .swapFree : nil
            if let field, let kb = s.uint() { sink.set(field, kb &* 1024) }
            s.nextLine()
        }
    }

    /// "major minor name reads merged sectors ms writes merged sectors ..." (fields 6 and 10).
    private func parseDiskstats(_ scanner: ByteScanner, _ sink: inout Sink) {
        var s = scanner
        var read: UInt64 = 0, written: UInt64 = 0
        var found = false
        while !s.atEnd {
            defer { s.nextLine() }
            guard s.uint() != nil, s.uint() != nil else { continue }
            let (name, len) = s.token()
            guard isChosenDisk(name, len) else { continue }
            _ = s.uint(); _ = s.uint()
            guard let sr = s.uint() else { continue }
            _ = s.uint(); _ = s.uint(); _ = s.uint()
            guard let sw = s.uint() else { continue }
            read &+= sr
            written &+= sw
            found = true
        }
        if found {
            sink.set(.diskReadBytes, read &* 512)
            sink.set(.diskWriteBytes, written &* 512)
        }
    }

    private func isChosenDisk(_ name: UnsafePointer<UInt8>, _ len: Int) -> Bool {
        for i in 0..<diskNames.count where diskSpans[2 * i + 1] == len {
            if memcmp(diskBytes.baseAddress! + diskSpans[2 * i], name, len) == 0 { return true }
        }
        return false
    }

    /// "  name: rxbytes rxpackets errs drop fifo frame compressed multicast txbytes ...";
    /// header lines have no ':'. Every interface but lo.
    private func parseNetDev(_ scanner: ByteScanner, _ sink: inout Sink) {
        var s = scanner
        var rx: UInt64 = 0, tx: UInt64 = 0
        while !s.atEnd {
            defer { s.nextLine() }
            s.skipBlanks()
            let start = s.p
            guard s.skip(to: UInt8(ascii: ":")) else { continue }
            var len = s.p - start
            while len > 0 && (start[len - 1] == 0x20 || start[len - 1] == 0x09) { len -= 1 }
            s.p += 1
            if len == 2 && start[0] == UInt8(ascii: "l") && start[1] == UInt8(ascii: "o") { continue }
            guard let r = s.uint() else { continue }
            for _ in 0..<7 { _ = s.uint() }
            guard let t = s.uint() else { continue }
            rx &+= r
            tx &+= t
        }
        sink.set(.netRxBytes, rx)
        sink.set(.netTxBytes, tx)
    }

    /// "0.52 0.58 0.59 1/234 5678": each load x 1000, exact from the decimal text.
    private func parseLoadavg(_ scanner: ByteScanner, _ sink: inout Sink) {
        var s = scanner
        if let v = s.milli() { sink.set(.load1, v) } else { return }
        if let v = s.milli() { sink.set(.load5, v) } else { return }
        if let v = s.milli() { sink.set(.load15, v) }
    }

    private func parseVmstat(_ scanner: ByteScanner, _ sink: inout Sink) {
        var s = scanner
        while !s.atEnd {
            if s.consume("pgfault ") {
                if let v = s.uint() { sink.set(.pageFaults, v) }
            } else if s.consume("pgmajfault ") {
                if let v = s.uint() { sink.set(.majorFaults, v) }
            }
            s.nextLine()
        }
    }

    /// "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345" and the same for "full".
    private func parsePressure(_ scanner: ByteScanner, some: OSField, full: OSField, _ sink: inout Sink) {
        var s = scanner
        while !s.atEnd {
            let field: OSField? = s.consume("some ") ? some : s.consume("full ") ? full : nil
            if let field {
                while !s.atLineEnd {
                    s.skipBlanks()
                    if s.consume("total=") {
                        if let v = s.uint() { sink.set(field, v) }
                        break
                    }
                    s.skipToken()
                }
            }
            s.nextLine()
        }
    }

    // MARK: the process

    private func sampleProcess(_ sink: inout Sink) {
        let n: Int
        do {
            n = try readOrThrow(pidStatFd)
        } catch {
            if error == .noSuchProcess || error == .noEntry { markGone() }
            return
        }
        // "pid (comm) S ppid ...": comm may hold spaces and ')', so fields start after the
        // LAST ')'. Field numbers as in proc(5): 3 state, 10 minflt, 12 majflt, 14 utime,
        // 15 stime, 20 num_threads, 23 vsize, 24 rss (pages).
        var close = n - 1
        while close >= 0 && buf[close] != UInt8(ascii: ")") { close -= 1 }
        guard close >= 0 else { return }
        var s = ByteScanner(UnsafeBufferPointer(rebasing: buf[(close + 1)..<n]))
        s.skipBlanks()
        let state = s.peek
        s.skipToken()
        var minflt: UInt64?, majflt: UInt64?, utime: UInt64?, stime: UInt64?
        var threads: UInt64?, vsize: UInt64?, rss: UInt64?
        for field in 4...24 {
            switch field {
            case 10: minflt = s.uintToken()
            case 12: majflt = s.uintToken()
            case 14: utime = s.uintToken()
            case 15: stime = s.uintToken()
            case 20: threads = s.uintToken()
            case 23: vsize = s.uintToken()
            case 24: rss = s.uintToken()
            default: s.skipToken()
            }
        }
        guard let minflt, let majflt, let utime, let stime, let threads, let vsize, let rss else { return }
        sink.set(.procMinorFaults, minflt)
        sink.set(.procMajorFaults, majflt)
        sink.set(.procUtime, ns(utime))
        sink.set(.procStime, ns(stime))
        sink.set(.procThreads, threads)
        sink.set(.procVms, vsize)
        sink.set(.procRss, rss &* pageSize)

        if pidIoFd >= 0 {
            do {
                var io = ByteScanner(UnsafeBufferPointer(rebasing: buf[0..<(try readOrThrow(pidIoFd))]))
                while !io.atEnd {
                    if io.consume("read_bytes:") {
                        if let v = io.uint() { sink.set(.procReadBytes, v) }
                    } else if io.consume("write_bytes:") {
                        if let v = io.uint() { sink.set(.procWriteBytes, v) }
                    }
                    io.nextLine()
                }
            } catch {
                if error == .noSuchProcess || error == .noEntry { markGone() }
            }
        }
        // A zombie whose thread group is empty has exited: this reading holds its final
        // counters; later ones are skipped. (A 'Z' leader with live threads, after the main
        // thread called pthread_exit, is still running: num_threads counts those threads.)
        if (state == UInt8(ascii: "Z") || state == UInt8(ascii: "X")) && threads <= 1 { markGone() }
    }

    private func markGone() {
        targetGone = true
        if pidStatFd >= 0 { Sys.close(pidStatFd); pidStatFd = -1 }
        if pidIoFd >= 0 { Sys.close(pidIoFd); pidIoFd = -1 }
    }

    private static func trimmed(_ s: String) -> String {
        var u = Substring(s).utf8[...]
        while let l = u.last, l == 0x0A || l == 0x20 || l == 0x09 || l == 0x0D { u = u.dropLast() }
        while let f = u.first, f == 0x20 || f == 0x09 { u = u.dropFirst() }
        return String(decoding: u, as: UTF8.self)
    }
}

/// Where one sample's values go, with their validity mask.
struct Sink {
    let values: UnsafeMutableBufferPointer<UInt64>
    var mask: UInt64 = 0
    init(values: UnsafeMutableBufferPointer<UInt64>) { self.values = values }
    @inline(__always) mutating func set(_ f: OSField, _ v: UInt64) {
        values[f.rawValue] = v
        mask |= f.bit
    }
}

/// A cursor over bytes of /proc text. Blanks are spaces and tabs; lines end at '\n'.
struct ByteScanner {
    var p: UnsafePointer<UInt8>
    let end: UnsafePointer<UInt8>

    /// `bytes` is a slice of an allocated buffer, so its base is never nil (even when empty).
    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        p = bytes.baseAddress!
        end = p + bytes.count
    }

    var atEnd: Bool { p >= end }
    var atLineEnd: Bool { p >= end || p.pointee == 0x0A }
    var peek: UInt8 { p < end ? p.pointee : 0 }
    var peekIsDigit: Bool { p < end && p.pointee &- 0x30 <= 9 }

    @inline(__always) mutating func skipBlanks() {
        while p < end && (p.pointee == 0x20 || p.pointee == 0x09) { p += 1 }
    }
    /// Moves past the next '\n' (or to the end).
    mutating func nextLine() {
        guard p < end else { return }
        if let q = memchr(p, 0x0A, end - p) {
            p = UnsafePointer(q.assumingMemoryBound(to: UInt8.self)) + 1
        } else {
            p = end
        }
    }
    /// Moves to `byte` within the current line; false (position unchanged) when absent.
    mutating func skip(to byte: UInt8) -> Bool {
        var q = p
        while q < end && q.pointee != 0x0A {
            if q.pointee == byte { p = q; return true }
            q += 1
        }
        return false
    }
    /// Skips blanks, then one token (up to a blank or the end of the line).
    mutating func skipToken() {
        skipBlanks()
        while p < end && p.pointee != 0x20 && p.pointee != 0x09 && p.pointee != 0x0A { p += 1 }
    }
    /// Skips blanks and returns the next token's start and length.
    mutating func token() -> (UnsafePointer<UInt8>, Int) {
        skipBlanks()
        let start = p
        while p < end && p.pointee != 0x20 && p.pointee != 0x09 && p.pointee != 0x0A { p += 1 }
        return (start, p - start)
    }
    /// Consumes `s` when the bytes here start with it.
    mutating func consume(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard end - p >= n, memcmp(p, s.utf8Start, n) == 0 else { return false }
        p += n
        return true
    }
    /// Skips blanks and reads an unsigned decimal; nil when no digit follows.
    mutating func uint() -> UInt64? {
        skipBlanks()
        var v: UInt64 = 0
        var any = false
        while p < end {
            let d = p.pointee &- 0x30
            if d > 9 { break }
            v = v &* 10 &+ UInt64(d)
            any = true
            p += 1
        }
        return any ? v : nil
    }
    /// Reads one whole blank-separated token as an unsigned decimal; nil (token skipped)
    /// when it does not start with a digit, as for "-1".
    mutating func uintToken() -> UInt64? {
        let v = uint()
        while p < end && p.pointee != 0x20 && p.pointee != 0x09 && p.pointee != 0x0A { p += 1 }
        return v
    }
    /// Reads a decimal such as "12.34" as thousandths (12340), exactly; digits past the
    /// third decimal are dropped.
    mutating func milli() -> UInt64? {
        guard let whole = uint() else { return nil }
        var frac: UInt64 = 0
        var digits = 0
        if p < end && p.pointee == UInt8(ascii: ".") {
            p += 1
            while p < end, p.pointee &- 0x30 <= 9 {
                if digits < 3 { frac = frac * 10 + UInt64(p.pointee - 0x30); digits += 1 }
                p += 1
            }
        }
        while digits < 3 { frac *= 10; digits += 1 }
        return whole &* 1000 &+ frac
    }
}
