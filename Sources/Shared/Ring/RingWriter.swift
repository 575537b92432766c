// The collector's side of the ring file: safe creation, then one record per tick under a seqlock.
import CPerf
import Glibc

/// Everything fixed at ring creation.
public struct RingConfig: Sendable {
    public var path: String
    public var capacity: Int
    public var mode: RingMode = .systemWide
    public var targetPid: Int32 = 0
    public var target: String = ""
    public var cpuCount: Int = 1
    public var perCpuCount: Int = 0
    public var intervalNs: UInt64 = 100_000_000
    public var hostname: String = Sys.hostname()
    public var eventCount: Int
    public var energyDomains: [String] = []
    public var flags: RingFlags = []
    /// OS fields read only every `slowPeriodNs` (slowly changing files); 0 when all are read
    /// every tick.
    public var slowFieldMask: UInt64 = 0
    public var slowPeriodNs: UInt64 = 0
    /// The wall clock the header pairs with its creation instant, when not now: a replay
    /// anchors the ring at its recording's wall time.
    public var createdRealtimeNs: UInt64?
    public init(path: String, capacity: Int, eventCount: Int) {
        self.path = path; self.capacity = capacity; self.eventCount = eventCount
    }
    public var recordSize: Int { RingLayout.recordSize(eventCount: eventCount, perCpuCount: perCpuCount) }
    public var fileSize: Int { RingLayout.headerSize(eventCount: eventCount) + capacity * recordSize }
}

public enum RingSetupError: Error, CustomStringConvertible, Equatable {
    case directory(String, Errno)
    case untrustedDirectory(String, String)
    case badTarget(String, String)
    case create(String, Errno)
    case space(String, Int, Errno)
    case publish(String, Errno)
    case invalidConfig(String)
    /// Another writer holds the ring's lock (its pid, when it could be read).
    case inUse(String, Int32?)
    case replaceRefused(String, String)

    public var description: String {
        switch self {
        case .directory(let d, let e): "ring directory \(d): \(e)"
        case .untrustedDirectory(let d, let why): "refusing ring directory \(d): \(why)"
        case .badTarget(let p, let why): "refusing ring path \(p): \(why)"
        case .create(let p, let e): "cannot create ring file \(p): \(e)"
        case .space(let p, let n, let e): "cannot reserve \(n) bytes for ring file \(p): \(e)"
        case .publish(let p, let e): "cannot move the new ring into place at \(p): \(e)"
        case .invalidConfig(let why): "invalid ring configuration: \(why)"
        case .inUse(let p, let pid):
            "ring \(p) is in use by perfring-collector \(pid.map { "pid \($0)" } ?? "(pid unknown)") (--replace stops it first)"
        case .replaceRefused(let p, let why): "cannot take over ring \(p): \(why)"
        }
    }
}

/// Splits a path into its directory and final name ("ring" -> (".", "ring")).
public func splitPath(_ path: String) -> (dir: String, name: String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", path) }
    let dir = String(path[..<slash])
    return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
}

/// Writes the ring. Creation never follows links and never trusts the directory: in a
/// directory reached by a checked walk (`RingDirectory`), a temporary file is made with
/// O_EXCL|O_NOFOLLOW, its blocks reserved with posix_fallocate (a full disk fails here, not as
/// SIGBUS later), the header filled, and only then is it renamed over the final name by
/// `publish()`. An existing file is never truncated, so a server that still maps the previous
/// ring keeps a valid mapping.
///
/// Someone with write access may still truncate or replace the published file. Each record is
/// therefore composed in private memory and copied into the mapping by one guarded routine
/// (CPerf), so a truncated file is a failed `commit()`, not SIGBUS; `damage()` notices a file
/// truncated or replaced before a write faults. The caller then makes a new ring or stops.
public final class RingWriter {
    public private(set) var config: RingConfig
    public let generation: UInt64
    public let directory: RingDirectory
    private let fd: Int32
    private let tempName: String
    private let finalName: String
    private let base: UnsafeMutableRawPointer
    private let mapLength: Int
    private let recordSize: Int
    private let inode: UInt64
    /// The header's size: where record 0 starts.
    private let recordsOffset: Int
    private var nextIndex: UInt64 = 0
    /// The record being composed: private memory, copied into the ring by `commit()`.
    private let staging: UnsafeMutableRawPointer
    private var composing = false
    /// Per-event cumulative totals, kept here and stored into the header on each commit.
    private let totals: UnsafeMutableBufferPointer<UInt64>
    private var releaser: PageReleaser
    /// Written pages are released from the mapping 64 KB at a time (PageReleaser).
    static let releaseBatchPages = 16
    private var published = false
    /// The OS fields' running totals, and the mask of those kept, as last stored.
    private let osTotals: UnsafeMutableBufferPointer<UInt64>
    private var osTotalsKept: UInt64 = 0

    /// Creates and maps the ring under a temporary name in `directory` (walked and checked from
    /// the config's path when not given). Call `setEvent`, then `publish()`.
    public convenience init(config: RingConfig, directory: RingDirectory? = nil) throws(RingSetupError) {
        try self.init(config: config, directory: directory, generation: Sys.random64())
    }

    /// The generation (and so the temporary name) is a parameter so that tests can plant a
    /// symlink at the exact temporary path and show that creation refuses it.
    init(config: RingConfig, directory: RingDirectory? = nil, generation: UInt64) throws(RingSetupError) {
        guard config.capacity >= 2, config.capacity <= Int(UInt32.max) else { throw .invalidConfig("capacity \(config.capacity) out of range") }
        guard (0...RingLayout.maxEventsExtended).contains(config.eventCount) else { throw .invalidConfig("\(config.eventCount) events (at most \(RingLayout.maxEventsExtended))") }
        guard config.energyDomains.count <= RingLayout.maxEnergyDomains else { throw .invalidConfig("too many energy domains") }
        let (dir, name) = splitPath(config.path)
        guard !name.isEmpty, name != ".", name != ".." else { throw .badTarget(config.path, "not a file name") }
        let held: RingDirectory
        if let directory { held = directory } else { held = try RingDirectory(dir) }
        let dfd = held.fd
        try held.checkTarget(name, path: config.path)

        let temp = ".\(name).\(String(generation, radix: 16)).tmp"
        let fd: Int32
        do { fd = try Sys.openat(dfd, temp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644) } catch { throw .create(dir + "/" + temp, error) }
        var cleanup = true
        defer {
            if cleanup {
                Sys.close(fd)
                try? Sys.unlinkat(dfd, temp)
            }
        }
        do { try Sys.fchmod(fd, 0o644) } catch { throw .create(config.path, error) }
        let length = config.fileSize
        do { try Sys.fallocate(fd, length: length) } catch { throw .space(config.path, length, error) }
        let st: stat
        do { st = try Sys.fstat(fd) } catch { throw .create(config.path, error) }
        let p: UnsafeMutableRawPointer
        do { p = try Sys.mmap(length: length, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED, fd: fd) } catch { throw .create(config.path, error) }
        cperf_install_fault_guard()

        self.config = config
        self.generation = generation
        self.directory = held
        self.fd = fd
        self.tempName = temp
        self.finalName = name
        self.base = p
        self.mapLength = length
        self.recordSize = config.recordSize
        self.inode = UInt64(st.st_ino)
        self.staging = .allocate(byteCount: config.recordSize, alignment: 64)
        self.totals = .allocate(capacity: max(1, config.eventCount))
        totals.initialize(repeating: 0)
        self.osTotals = .allocate(capacity: OSField.allCases.count)
        osTotals.initialize(repeating: 0)
        self.recordsOffset = RingLayout.headerSize(eventCount: config.eventCount)
        self.releaser = PageReleaser(area: p + recordsOffset, recordSize: config.recordSize, capacity: config.capacity,
                                     batchPages: Self.releaseBatchPages)
        writeHeader()
        cleanup = false
    }

    deinit {
        if !published { try? Sys.unlinkat(directory.fd, tempName) }
        Sys.munmap(base, length: mapLength)
        Sys.close(fd)
        staging.deallocate()
        totals.deallocate()
        osTotals.deallocate()
    }

    private func writeHeader() {
        let c = config
        base.setU64(RingLayout.hMagic, RingLayout.magic)
        base.setU32(RingLayout.hVersion, RingLayout.version)
        base.setU32(RingLayout.hHeaderSize, UInt32(recordsOffset))
        base.setU32(RingLayout.hRecordSize, UInt32(recordSize))
        base.setU32(RingLayout.hCapacity, UInt32(c.capacity))
        base.setU64(RingLayout.hGeneration, generation)
        base.setU32(RingLayout.hCollectorPid, UInt32(bitPattern: Sys.getpid()))
        base.setU32(RingLayout.hMode, c.mode.rawValue)
        base.setU32(RingLayout.hTargetPid, UInt32(bitPattern: c.targetPid))
        base.setU32(RingLayout.hCpuCount, UInt32(c.cpuCount))
        base.setU64(RingLayout.hIntervalNs, c.intervalNs)
        // Read the two clocks back to back so record times convert to wall time.
        let real = Sys.realtimeNanos(), mono = Sys.monotonicNanos()
        base.setU64(RingLayout.hCreatedRealtimeNs, c.createdRealtimeNs ?? real)
        base.setU64(RingLayout.hCreatedMonotonicNs, mono)
        base.setU32(RingLayout.hEventCount, UInt32(c.eventCount))
        base.setU32(RingLayout.hPerCpuCount, UInt32(c.perCpuCount))
        base.setU32(RingLayout.hPerCpuOffset, UInt32(RingLayout.perCpuOffset(eventCount: c.eventCount)))
        base.setU32(RingLayout.hPerCpuStride, UInt32(RingLayout.perCpuStride(eventCount: c.eventCount)))
        // Every ring this build writes keeps the OS running totals (zero until a field starts).
        base.setU32(RingLayout.hFlags, c.flags.union(.osTotals).rawValue)
        base.setU32(RingLayout.hEnergyDomainCount, UInt32(c.energyDomains.count))
        base.setU64(RingLayout.hSlowFieldMask, c.slowFieldMask)
        base.setU64(RingLayout.hSlowPeriodNs, c.slowPeriodNs)
        base.setU64(RingLayout.hHeartbeatNs, mono)
        base.setString(RingLayout.hHostname, size: RingLayout.hostnameSize, c.hostname)
        base.setString(RingLayout.hTarget, size: RingLayout.targetSize, c.target)
        for (i, n) in c.energyDomains.enumerated() {
            base.setString(RingLayout.hEnergyNames + i * RingLayout.energyNameSize, size: RingLayout.energyNameSize, n)
        }
    }

    /// Fills one slot of the event table (before `publish()`).
    public func setEvent(_ slot: Int, _ e: EventEntry) {
        precondition(slot >= 0 && slot < config.eventCount, "event slot out of range")
        let p = base + RingLayout.eventEntryOffset(slot)
        p.setString(RingLayout.eName, size: RingLayout.eNameSize, e.name)
        p.setU32(RingLayout.eType, e.type)
        p.setU32(RingLayout.eStatus, e.status.rawValue)
        p.setU64(RingLayout.eConfig, e.config)
        p.setI32(RingLayout.eErrno, e.errno)
        p.setU32(RingLayout.eGroup, e.group)
        p.setU32(RingLayout.eOpened, e.opened)
        p.setU32(RingLayout.eFlags, e.flags.rawValue)
    }

    /// Updates an event's flags after publishing (the never-scheduled bit is live). A ring
    /// truncated under the writer faults here harmlessly: the next commit finds the damage.
    public func updateEventFlags(_ slot: Int, _ flags: EventFlags) {
        precondition(slot >= 0 && slot < config.eventCount, "event slot out of range")
        let p = base + RingLayout.eventEntryOffset(slot) + RingLayout.eFlags
        _ = cperf_guarded_store_release_u32(p.assumingMemoryBound(to: UInt32.self), flags.rawValue)
    }

    /// Which OS fields are read at the slow period, once the collector knows (before `publish()`).
    public func setSlowFields(_ mask: UInt64, periodNs: UInt64) {
        config.slowFieldMask = mask
        config.slowPeriodNs = mask == 0 ? 0 : periodNs
        base.setU64(RingLayout.hSlowFieldMask, config.slowFieldMask)
        base.setU64(RingLayout.hSlowPeriodNs, config.slowPeriodNs)
    }

    /// Makes the ring visible at its final path (atomically replacing an older ring there).
    public func publish() throws(RingSetupError) {
        guard !published else { return }
        do { try Sys.renameat(directory.fd, tempName, finalName) } catch { throw .publish(config.path, error) }
        published = true
    }

    /// Starts the next record: returns its private, zeroed bytes (the sequence word excluded
    /// from what `commit()` copies). Exactly one `commit()` must follow before the next `begin()`.
    @inline(__always)
    public func begin() -> UnsafeMutableRawPointer {
        precondition(!composing, "begin() twice without commit()")
        composing = true
        staging.initializeMemory(as: UInt8.self, repeating: 0, count: recordSize)
        return staging
    }

    /// Publishes the record begun last into the ring under its seqlock (odd sequence, the
    /// bytes, even sequence), then the totals, the write index and the heartbeat, each with
    /// release ordering. False when the file no longer covers the mapping (truncated): nothing
    /// more can be written to this ring.
    @discardableResult @inline(__always)
    public func commit(heartbeat now: UInt64) -> Bool {
        precondition(composing, "commit() without begin()")
        composing = false
        let slot = Int(nextIndex % UInt64(config.capacity))
        let rec = base + recordsOffset + slot * recordSize
        guard cperf_guarded_seq_write(rec.assumingMemoryBound(to: UInt64.self), staging + 8, recordSize - 8,
                                      nextIndex &* 2 &+ 1, RingLayout.completeSeq(nextIndex)) == 0 else { return false }
        releaser.finished(through: nextIndex)
        nextIndex &+= 1
        return publishTotals() && store(RingLayout.hWriteIndex, nextIndex) && beat(now)
    }

    /// Stores the events' totals into the header (each commit does); false on a fault.
    @discardableResult
    public func publishTotals() -> Bool {
        for slot in 0..<config.eventCount where !store(RingLayout.eventTotalOffset(slot, eventCount: config.eventCount), totals[slot]) { return false }
        return true
    }

    @inline(__always)
    private func store(_ offset: Int, _ v: UInt64) -> Bool {
        cperf_guarded_store_release_u64((base + offset).assumingMemoryBound(to: UInt64.self), v) == 0
    }

    /// Records that the collector is alive without writing a record; false on a fault.
    @discardableResult @inline(__always)
    public func beat(_ now: UInt64) -> Bool { store(RingLayout.hHeartbeatNs, now) }

    /// Adds to an event's cumulative (scaled) total; the header gets it at the next commit.
    @inline(__always)
    public func addTotal(_ slot: Int, _ delta: UInt64) { totals[slot] &+= delta }

    /// Adds to an OS delta field's running total in the header at once; the first call for a
    /// field (with 0 from its first reading) also sets its bit in the totals mask, after the
    /// total. A truncated file is left as it is (the next commit finds it).
    @inline(__always)
    public func addOSTotal(_ f: OSField, _ delta: UInt64) {
        osTotals[f.rawValue] &+= delta
        guard store(RingLayout.hOSTotals + f.rawValue * 8, osTotals[f.rawValue]), osTotalsKept & f.bit == 0 else { return }
        osTotalsKept |= f.bit
        _ = store(RingLayout.hOSTotalsMask, osTotalsKept)
    }

    /// Every total so far (events, then the OS fields and their mask), to carry over into a
    /// ring that replaces this one.
    public var runningTotals: (events: [UInt64], os: [UInt64], osMask: UInt64) {
        (Array(totals.prefix(config.eventCount)), Array(osTotals), osTotalsKept)
    }

    /// Starts from totals carried over from a previous ring of the same run (before `publish()`).
    public func setTotals(_ t: (events: [UInt64], os: [UInt64], osMask: UInt64)) {
        for (slot, v) in t.events.prefix(config.eventCount).enumerated() {
            totals[slot] = v
            base.setU64(RingLayout.eventTotalOffset(slot, eventCount: config.eventCount), v)
        }
        for (k, v) in t.os.prefix(osTotals.count).enumerated() {
            osTotals[k] = v
            base.setU64(RingLayout.hOSTotals + k * 8, v)
        }
        osTotalsKept = t.osMask
        base.setU64(RingLayout.hOSTotalsMask, t.osMask)
    }

    /// Marks a clean stop (and the command's exit status, if any). A truncated file is left as
    /// it is.
    public func markStopped(exitStatus: Int32 = 0) {
        guard cperf_guarded_store_release_u32((base + RingLayout.hExitStatus).assumingMemoryBound(to: UInt32.self), UInt32(bitPattern: exitStatus)) == 0,
              cperf_guarded_store_release_u32((base + RingLayout.hStopped).assumingMemoryBound(to: UInt32.self), 1) == 0 else { return }
        Sys.msyncAsync(base, length: mapLength)
    }

    /// What happened to the published file, if anything: truncated below the mapped size,
    /// removed, or replaced by another file at the path. Two stats; call it now and then.
    public func damage() -> String? {
        if let st = try? Sys.fstat(fd), Int(st.st_size) < mapLength {
            return "was truncated to \(st.st_size) bytes (it needs \(mapLength))"
        }
        guard published else { return nil }
        do {
            return UInt64(try Sys.lstatat(directory.fd, finalName).st_ino) == inode ? nil : "was replaced by another file"
        } catch .noEntry {
            return "was removed"
        } catch {
            return nil  // e.g. EACCES after --user dropped root: the directory cannot be looked into
        }
    }

    public var recordsWritten: UInt64 { nextIndex }
    /// The CLOCK_MONOTONIC instant the header's wall clock is paired with.
    public var createdMonotonicNs: UInt64 { base.u64(RingLayout.hCreatedMonotonicNs) }
}
