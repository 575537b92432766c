// The collector's side of the ring file: safe creation, then one record per tick under a seqlock.
import CPerf
import Glibc

/// What the collector knows about one counter slot when it creates the ring.
public struct EventEntry: Sendable, Equatable {
    public var name: String
    public var type: UInt32
    public var config: UInt64
    public var status: EventStatus
    public var errno: Int32
    public var group: UInt32
    public var opened: UInt32
    public init(name: String, type: UInt32, config: UInt64, status: EventStatus, errno: Int32 = 0, group: UInt32 = 0, opened: UInt32 = 0) {
        self.name = name; self.type = type; self.config = config; self.status = status
        self.errno = errno; self.group = group; self.opened = opened
    }
}

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
    /// The wall clock the header pairs with its creation instant, when not now: a replay
    /// anchors the ring at its recording's wall time.
    public var createdRealtimeNs: UInt64?
    public init(path: String, capacity: Int, eventCount: Int) {
        self.path = path; self.capacity = capacity; self.eventCount = eventCount
    }
    public var recordSize: Int { RingLayout.recordSize(eventCount: eventCount, perCpuCount: perCpuCount) }
    public var fileSize: Int { RingLayout.headerSize + capacity * recordSize }
}

public enum RingSetupError: Error, CustomStringConvertible, Equatable {
    case directory(String, Errno)
    case untrustedDirectory(String, String)
    case badTarget(String, String)
    case create(String, Errno)
    case space(String, Int, Errno)
    case publish(String, Errno)
    case invalidConfig(String)

    public var description: String {
        switch self {
        case .directory(let d, let e): "ring directory \(d): \(e)"
        case .untrustedDirectory(let d, let why): "refusing ring directory \(d): \(why)"
        case .badTarget(let p, let why): "refusing ring path \(p): \(why)"
        case .create(let p, let e): "cannot create ring file \(p): \(e)"
        case .space(let p, let n, let e): "cannot reserve \(n) bytes for ring file \(p): \(e)"
        case .publish(let p, let e): "cannot move the new ring into place at \(p): \(e)"
        case .invalidConfig(let why): "invalid ring configuration: \(why)"
        }
    }
}

/// Splits a path into its directory and final name ("ring" -> (".", "ring")).
public func splitPath(_ path: String) -> (dir: String, name: String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", path) }
    let dir = String(path[..<slash])
    return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
}

/// Writes the ring. Creation never follows links and never trusts the directory: a temporary file
/// is made with O_EXCL|O_NOFOLLOW in a checked directory, its blocks reserved with
/// posix_fallocate (a full disk fails here, not as SIGBUS later), the header filled, and only
/// then is it renamed over the final path by `publish()`. An existing file is never truncated,
/// so a server that still maps the previous ring keeps a valid mapping.
public final class RingWriter {
    public let config: RingConfig
    public let generation: UInt64
    private let dirFD: Int32
    private let fd: Int32
    private let tempName: String
    private let finalName: String
    private let base: UnsafeMutableRawPointer
    private let mapLength: Int
    private let recordSize: Int
    private var nextIndex: UInt64 = 0
    private var current: UnsafeMutableRawPointer?
    private var releaser: PageReleaser
    private var published = false
    /// The OS totals mask as last stored.
    private var osTotalsKept: UInt64 = 0

    /// Checks the directory and the final path without creating anything, so the collector can
    /// report a bad location before it opens a single counter.
    public static func checkLocation(_ path: String) throws(RingSetupError) {
        let (dir, name) = splitPath(path)
        guard !name.isEmpty, name != ".", name != ".." else { throw .badTarget(path, "not a file name") }
        let dfd: Int32
        do { dfd = try Sys.open(dir, O_RDONLY | O_DIRECTORY) } catch { throw .directory(dir, error) }
        defer { Sys.close(dfd) }
        try checkDirectory(dfd, dir)
        try checkTarget(dfd, dir: dir, name: name, path: path)
    }

    /// Creates the directory (one level, 0755) when it is missing and its parent is trusted.
    public static func ensureDirectory(_ dir: String) throws(RingSetupError) {
        do {
            _ = try Sys.stat(dir)
        } catch .noEntry {
            do { try Sys.mkdir(dir, 0o755) } catch { if error != .exists { throw .directory(dir, error) } }
        } catch {
            throw .directory(dir, error)
        }
    }

    private static func checkDirectory(_ dfd: Int32, _ dir: String) throws(RingSetupError) {
        let st: stat
        do { st = try Sys.fstat(dfd) } catch { throw .directory(dir, error) }
        let mode = st.st_mode
        let euid = Sys.geteuid()
        if st.st_uid != 0 && st.st_uid != euid {
            throw .untrustedDirectory(dir, "owned by uid \(st.st_uid), not root or the running user")
        }
        if mode & (S_IWGRP | S_IWOTH) != 0 && mode & S_ISVTX == 0 {
            throw .untrustedDirectory(dir, "writable by group or others without the sticky bit")
        }
    }

    private static func checkTarget(_ dfd: Int32, dir: String, name: String, path: String) throws(RingSetupError) {
        let st: stat
        do { st = try Sys.lstatat(dfd, name) } catch .noEntry { return } catch { throw .badTarget(path, error.description) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFLNK: throw .badTarget(path, "it is a symbolic link")
        case S_IFDIR: throw .badTarget(path, "it is a directory")
        case S_IFIFO: throw .badTarget(path, "it is a FIFO")
        default: throw .badTarget(path, "it is not a regular file")
        }
        if st.st_uid != Sys.geteuid() {
            throw .badTarget(path, "the existing file is owned by uid \(st.st_uid), not the running user")
        }
    }

    /// Creates and maps the ring under a temporary name. Call `setEvent`, then `publish()`.
    public convenience init(config: RingConfig) throws(RingSetupError) {
        try self.init(config: config, generation: Sys.random64())
    }

    /// The generation (and so the temporary name) is a parameter so that tests can plant a
    /// symlink at the exact temporary path and show that creation refuses it.
    init(config: RingConfig, generation: UInt64) throws(RingSetupError) {
        guard config.capacity >= 2, config.capacity <= Int(UInt32.max) else { throw .invalidConfig("capacity \(config.capacity) out of range") }
        guard (0...RingLayout.maxEvents).contains(config.eventCount) else { throw .invalidConfig("\(config.eventCount) events (at most \(RingLayout.maxEvents))") }
        guard config.energyDomains.count <= RingLayout.maxEnergyDomains else { throw .invalidConfig("too many energy domains") }
        let (dir, name) = splitPath(config.path)
        let dfd: Int32
        do { dfd = try Sys.open(dir, O_RDONLY | O_DIRECTORY) } catch { throw .directory(dir, error) }
        var ok = false
        defer { if !ok { Sys.close(dfd) } }
        try Self.checkDirectory(dfd, dir)
        try Self.checkTarget(dfd, dir: dir, name: name, path: config.path)

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
        let p: UnsafeMutableRawPointer
        do { p = try Sys.mmap(length: length, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED, fd: fd) } catch { throw .create(config.path, error) }

        self.config = config
        self.generation = generation
        self.dirFD = dfd
        self.fd = fd
        self.tempName = temp
        self.finalName = name
        self.base = p
        self.mapLength = length
        self.recordSize = config.recordSize
        self.releaser = PageReleaser(area: p + RingLayout.headerSize, recordSize: config.recordSize, capacity: config.capacity)
        writeHeader()
        cleanup = false
        ok = true
    }

    deinit {
        if !published { try? Sys.unlinkat(dirFD, tempName) }
        Sys.munmap(base, length: mapLength)
        Sys.close(fd)
        Sys.close(dirFD)
    }

    private func writeHeader() {
        let c = config
        base.setU64(RingLayout.hMagic, RingLayout.magic)
        base.setU32(RingLayout.hVersion, RingLayout.version)
        base.setU32(RingLayout.hHeaderSize, UInt32(RingLayout.headerSize))
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
        base.setU32(RingLayout.hPerCpuOffset, UInt32(RingLayout.fixedRecordSize))
        base.setU32(RingLayout.hPerCpuStride, UInt32(RingLayout.perCpuStride(eventCount: c.eventCount)))
        // Every ring this build writes keeps the OS running totals (zero until a field starts).
        base.setU32(RingLayout.hFlags, c.flags.union(.osTotals).rawValue)
        base.setU32(RingLayout.hEnergyDomainCount, UInt32(c.energyDomains.count))
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
        let p = base + RingLayout.hEventTable + slot * RingLayout.eventEntrySize
        p.setString(RingLayout.eName, size: RingLayout.eNameSize, e.name)
        p.setU32(RingLayout.eType, e.type)
        p.setU32(RingLayout.eStatus, e.status.rawValue)
        p.setU64(RingLayout.eConfig, e.config)
        p.setI32(RingLayout.eErrno, e.errno)
        p.setU32(RingLayout.eGroup, e.group)
        p.setU32(RingLayout.eOpened, e.opened)
    }

    /// Makes the ring visible at its final path (atomically replacing an older ring there).
    public func publish() throws(RingSetupError) {
        guard !published else { return }
        do { try Sys.renameat(dirFD, tempName, finalName) } catch { throw .publish(config.path, error) }
        published = true
    }

    /// Starts the next record: marks it odd (being written), zeroes it and returns its bytes.
    /// Exactly one `commit()` must follow before the next `begin()`.
    @inline(__always)
    public func begin() -> UnsafeMutableRawPointer {
        precondition(current == nil, "begin() twice without commit()")
        let slot = Int(nextIndex % UInt64(config.capacity))
        let rec = base + RingLayout.headerSize + slot * recordSize
        cperf_seq_write_begin(rec.assumingMemoryBound(to: UInt64.self), nextIndex &* 2 &+ 1)
        (rec + 8).initializeMemory(as: UInt8.self, repeating: 0, count: recordSize - 8)
        current = rec
        return rec
    }

    /// Publishes the record begun last: its even sequence, then the write index, then the
    /// heartbeat, each with release ordering.
    @inline(__always)
    public func commit(heartbeat now: UInt64) {
        guard let rec = current else { preconditionFailure("commit() without begin()") }
        cperf_seq_write_end(rec.assumingMemoryBound(to: UInt64.self), RingLayout.completeSeq(nextIndex))
        releaser.finished(through: nextIndex)
        nextIndex &+= 1
        cperf_store_release_u64((base + RingLayout.hWriteIndex).assumingMemoryBound(to: UInt64.self), nextIndex)
        beat(now)
        current = nil
    }

    /// Records that the collector is alive without writing a record.
    @inline(__always)
    public func beat(_ now: UInt64) {
        cperf_store_release_u64((base + RingLayout.hHeartbeatNs).assumingMemoryBound(to: UInt64.self), now)
    }

    /// Adds to an event's cumulative (scaled) total in the header.
    @inline(__always)
    public func addTotal(_ slot: Int, _ delta: UInt64) {
        let p = (base + RingLayout.hEventTotals + slot * 8).assumingMemoryBound(to: UInt64.self)
        cperf_store_release_u64(p, cperf_load_acquire_u64(p) &+ delta)
    }

    /// Adds to an OS delta field's running total in the header; the first call for a field (with
    /// 0 from its first reading) also sets its bit in the totals mask, after the total.
    @inline(__always)
    public func addOSTotal(_ f: OSField, _ delta: UInt64) {
        let p = (base + RingLayout.hOSTotals + f.rawValue * 8).assumingMemoryBound(to: UInt64.self)
        cperf_store_release_u64(p, cperf_load_acquire_u64(p) &+ delta)
        guard osTotalsKept & f.bit == 0 else { return }
        osTotalsKept |= f.bit
        cperf_store_release_u64((base + RingLayout.hOSTotalsMask).assumingMemoryBound(to: UInt64.self), osTotalsKept)
    }

    /// Marks a clean stop (and the command's exit status, if any).
    public func markStopped(exitStatus: Int32 = 0) {
        base.setI32(RingLayout.hExitStatus, exitStatus)
        cperf_store_release_u32((base + RingLayout.hStopped).assumingMemoryBound(to: UInt32.self), 1)
        Sys.msyncAsync(base, length: mapLength)
    }

    public var recordsWritten: UInt64 { nextIndex }
    /// The CLOCK_MONOTONIC instant the header's wall clock is paired with.
    public var createdMonotonicNs: UInt64 { base.u64(RingLayout.hCreatedMonotonicNs) }
}
