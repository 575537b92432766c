// The reading side of the ring: a PROT_READ mapping, validated against fstat before any record
// is touched, with every access to the mapping going through CPerf's guarded, seqlock-aware
// copies so a truncated or rewritten file becomes an error instead of SIGBUS or a torn record.
import CPerf
import Glibc

/// Why a ring file cannot be used; each corruption has its own case and message.
public enum RingError: Error, CustomStringConvertible, Equatable, Sendable {
    case missing(String)
    case open(String, Errno)
    case notRegularFile(String)
    case tooSmall(size: Int)
    case badMagic(UInt64)
    case unsupportedVersion(UInt32)
    case badHeaderSize(UInt32)
    case badRecordSize(found: UInt32, expected: Int)
    case badEventCount(UInt32)
    case badCapacity(UInt32)
    case truncated(expected: Int, actual: Int)
    case badPerCpuLayout
    case badMode(UInt32)
    case badEnergyDomainCount(UInt32)
    case badEventName(slot: Int, String)
    case duplicateEvent(String)
    case fault

    public var description: String {
        switch self {
        case .missing(let p): "no ring file at \(p) (is the collector running?)"
        case .open(let p, let e): "cannot open ring file \(p): \(e)"
        case .notRegularFile(let p): "\(p) is not a regular file"
        case .tooSmall(let n): "ring file too small for a header (\(n) bytes, need \(RingLayout.headerSize))"
        case .badMagic(let m): "not a perfring ring file (magic 0x\(String(m, radix: 16)))"
        case .unsupportedVersion(let v): "ring format version \(v) is not supported (this build reads version \(RingLayout.version))"
        case .badHeaderSize(let h): "bad header size \(h) (expected \(RingLayout.headerSize))"
        case .badRecordSize(let f, let e): "bad record size \(f) (expected \(e) for this layout)"
        case .badEventCount(let n): "bad event count \(n) (at most \(RingLayout.maxEvents) in a \(RingLayout.headerSize)-byte header, \(RingLayout.maxEventsExtended) with its extension)"
        case .badCapacity(let c): "bad capacity \(c)"
        case .truncated(let e, let a): "ring file truncated: header describes \(e) bytes, file has \(a)"
        case .badPerCpuLayout: "bad per-CPU section layout"
        case .badMode(let m): "unknown ring mode \(m)"
        case .badEnergyDomainCount(let n): "bad energy domain count \(n) (at most \(RingLayout.maxEnergyDomains))"
        case .badEventName(let slot, let name): "event \(slot) has an invalid name \(quotedName(name)) (\(RingLayout.eventNameCharacters) only)"
        case .duplicateEvent(let name): "event \(quotedName(name)) appears twice"
        case .fault: "ring file changed size under the reader (truncated while mapped)"
        }
    }
}

/// A name from the file, shown in an error without letting it break the message's line.
private func quotedName(_ name: String) -> String {
    "'" + String(name.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) }) + "'"
}

/// The immutable part of a validated header.
public struct RingHeader: Sendable, Equatable {
    public var recordSize: Int
    public var capacity: Int
    public var generation: UInt64
    public var collectorPid: Int32
    public var mode: RingMode
    public var targetPid: Int32
    public var cpuCount: Int
    public var intervalNs: UInt64
    public var createdRealtimeNs: UInt64
    public var createdMonotonicNs: UInt64
    public var eventCount: Int
    public var perCpuCount: Int
    public var perCpuOffset: Int
    public var perCpuStride: Int
    public var flags: RingFlags
    public var hostname: String
    public var target: String
    public var energyDomains: [String]
    public var events: [EventEntry]
    /// OS fields read from /proc only every `slowPeriodNs` (the records in between repeat the
    /// last reading, a delta prorated to their dt).
    public var slowFieldMask: UInt64 = 0
    public var slowPeriodNs: UInt64 = 0

    /// The header's size: where record 0 starts (4096 unless there are more than 16 events).
    public var headerSize: Int { RingLayout.headerSize(eventCount: eventCount) }

    /// Unix time in ms of a monotonic timestamp from this ring.
    public func unixMillis(monotonic t: UInt64) -> Double {
        (Double(createdRealtimeNs) + Double(Int64(bitPattern: t &- createdMonotonicNs))) / 1e6
    }
}

/// Validates and decodes a header image (`bytes` is a copy of `imageSize` bytes: the base
/// header, or the whole header of a ring with more than 16 events).
public func parseRingHeader(_ p: UnsafeRawPointer, fileSize: Int, imageSize: Int = RingLayout.headerSize) throws(RingError) -> RingHeader {
    guard fileSize >= RingLayout.headerSize else { throw .tooSmall(size: fileSize) }
    let magic = p.u64(RingLayout.hMagic)
    guard magic == RingLayout.magic else { throw .badMagic(magic) }
    let version = p.u32(RingLayout.hVersion)
    guard version == RingLayout.version else { throw .unsupportedVersion(version) }
    let hs = p.u32(RingLayout.hHeaderSize)
    let eventCount = p.u32(RingLayout.hEventCount)
    guard eventCount <= UInt32(RingLayout.maxEventsExtended) else { throw .badEventCount(eventCount) }
    let headerSize = RingLayout.headerSize(eventCount: Int(eventCount))
    guard hs == UInt32(headerSize) else {
        // A base header holds 16 events: more means the count is what is wrong.
        throw hs == UInt32(RingLayout.headerSize) && eventCount > UInt32(RingLayout.maxEvents) ? .badEventCount(eventCount) : .badHeaderSize(hs)
    }
    guard headerSize <= imageSize else { throw .badHeaderSize(hs) }
    let perCpu = p.u32(RingLayout.hPerCpuCount)
    guard perCpu <= 65536,
          p.u32(RingLayout.hPerCpuOffset) == UInt32(RingLayout.perCpuOffset(eventCount: Int(eventCount))),
          p.u32(RingLayout.hPerCpuStride) == UInt32(RingLayout.perCpuStride(eventCount: Int(eventCount)))
    else { throw .badPerCpuLayout }
    let expectedRecord = RingLayout.recordSize(eventCount: Int(eventCount), perCpuCount: Int(perCpu))
    let recordSize = p.u32(RingLayout.hRecordSize)
    guard Int(recordSize) == expectedRecord else { throw .badRecordSize(found: recordSize, expected: expectedRecord) }
    let capacity = p.u32(RingLayout.hCapacity)
    guard capacity >= 1 else { throw .badCapacity(capacity) }
    let (bytes, overflow) = Int(capacity).multipliedReportingOverflow(by: Int(recordSize))
    guard !overflow, headerSize + bytes <= fileSize else {
        throw .truncated(expected: overflow ? Int.max : headerSize + bytes, actual: fileSize)
    }
    let rawMode = p.u32(RingLayout.hMode)
    guard let mode = RingMode(rawValue: rawMode) else { throw .badMode(rawMode) }
    let rawEnergyCount = p.u32(RingLayout.hEnergyDomainCount)
    guard rawEnergyCount <= UInt32(RingLayout.maxEnergyDomains) else { throw .badEnergyDomainCount(rawEnergyCount) }
    let energyCount = Int(rawEnergyCount)
    var events: [EventEntry] = []
    for i in 0..<Int(eventCount) {
        let e = p + RingLayout.eventEntryOffset(i)
        let name = e.string(RingLayout.eName, size: RingLayout.eNameSize)
        guard RingLayout.isValidEventName(name) else { throw .badEventName(slot: i, name) }
        guard !events.contains(where: { $0.name == name }) else { throw .duplicateEvent(name) }
        events.append(EventEntry(
            name: name,
            type: e.u32(RingLayout.eType), config: e.u64(RingLayout.eConfig),
            status: EventStatus(rawValue: e.u32(RingLayout.eStatus)) ?? .failed,
            errno: e.i32(RingLayout.eErrno), group: e.u32(RingLayout.eGroup), opened: e.u32(RingLayout.eOpened),
            flags: EventFlags(rawValue: e.u32(RingLayout.eFlags))))
    }
    return RingHeader(
        recordSize: Int(recordSize), capacity: Int(capacity),
        generation: p.u64(RingLayout.hGeneration),
        collectorPid: Int32(bitPattern: p.u32(RingLayout.hCollectorPid)),
        mode: mode, targetPid: Int32(bitPattern: p.u32(RingLayout.hTargetPid)),
        cpuCount: Int(p.u32(RingLayout.hCpuCount)), intervalNs: p.u64(RingLayout.hIntervalNs),
        createdRealtimeNs: p.u64(RingLayout.hCreatedRealtimeNs), createdMonotonicNs: p.u64(RingLayout.hCreatedMonotonicNs),
        eventCount: Int(eventCount), perCpuCount: Int(perCpu),
        perCpuOffset: RingLayout.perCpuOffset(eventCount: Int(eventCount)), perCpuStride: RingLayout.perCpuStride(eventCount: Int(eventCount)),
        flags: RingFlags(rawValue: p.u32(RingLayout.hFlags)),
        hostname: p.string(RingLayout.hHostname, size: RingLayout.hostnameSize),
        target: p.string(RingLayout.hTarget, size: RingLayout.targetSize),
        energyDomains: (0..<energyCount).map { p.string(RingLayout.hEnergyNames + $0 * RingLayout.energyNameSize, size: RingLayout.energyNameSize) },
        events: events,
        slowFieldMask: p.u64(RingLayout.hSlowFieldMask), slowPeriodNs: p.u64(RingLayout.hSlowPeriodNs))
}

/// One decoded record, read-only over a private copy of its bytes.
public struct RecordView {
    public let bytes: UnsafeRawPointer
    public init(_ bytes: UnsafeRawPointer) { self.bytes = bytes }
    @inline(__always) public var seq: UInt64 { bytes.u64(RingLayout.rSeq) }
    @inline(__always) public var index: UInt64 { seq / 2 &- 1 }
    @inline(__always) public var timeNs: UInt64 { bytes.u64(RingLayout.rTimeNs) }
    @inline(__always) public var dtNs: UInt64 { bytes.u64(RingLayout.rDtNs) }
    @inline(__always) public var missed: UInt32 { bytes.u32(RingLayout.rMissed) }
    @inline(__always) public var flags: RecordFlags { RecordFlags(rawValue: bytes.u32(RingLayout.rFlags)) }
    @inline(__always) public var osValid: UInt64 { bytes.u64(RingLayout.rOSValid) }
    /// In a record that read the slow fields, the time since their previous reading (else 0).
    @inline(__always) public var slowSpanNs: UInt64 { bytes.u64(RingLayout.rSlowSpanNs) }
    /// A counter slot's deltas: raw value, time enabled and time running (ns).
    @inline(__always) public func counter(_ slot: Int) -> (value: UInt64, enabled: UInt64, running: UInt64) {
        let o = RingLayout.counterOffset(slot)
        return (bytes.u64(o), bytes.u64(o + 8), bytes.u64(o + 16))
    }
    /// An OS value, or nil when the collector had no source for it.
    @inline(__always) public func os(_ f: OSField) -> UInt64? {
        osValid & f.bit != 0 ? bytes.u64(f.offset) : nil
    }
    /// One CPU's time split (8 ns deltas, user..steal) from the per-CPU section.
    @inline(__always) public func cpuTime(cpu: Int, _ i: Int, header: RingHeader) -> UInt64 {
        bytes.u64(header.perCpuOffset + cpu * header.perCpuStride + RingLayout.cpuTimes + i * 8)
    }
    /// One CPU's counter deltas from the per-CPU section.
    @inline(__always) public func cpuCounter(cpu: Int, _ slot: Int, header: RingHeader) -> (value: UInt64, enabled: UInt64, running: UInt64) {
        let o = header.perCpuOffset + cpu * header.perCpuStride + RingLayout.cpuCounters + slot * RingLayout.counterSize
        return (bytes.u64(o), bytes.u64(o + 8), bytes.u64(o + 16))
    }
}

/// The one reading rule for a counter slot (RING-FORMAT.md, "Scaling"): a slot that ran has
/// its estimate (already scaled per target when `scaledPerTarget`, else value * enabled /
/// running as perf scales); a slot that stood still because the target was off CPU counts 0;
/// anything else (never scheduled, read failure, not opened) has no data (NaN).
@inline(__always)
public func counterEstimate(_ c: (value: UInt64, enabled: UInt64, running: UInt64), flags: EventFlags, record: RecordFlags) -> Double {
    if c.running > 0 {
        return flags.contains(.scaledPerTarget) || c.running == c.enabled ? Double(c.value) : Double(c.value) * Double(c.enabled) / Double(c.running)
    }
    return c.enabled == 0 && record.contains(.targetOffCPU) ? 0 : .nan
}

/// The header's running totals, read together: what Prometheus counters are made of.
public struct RingTotals: Sendable, Equatable {
    /// Per event slot: the cumulative scaled count since the collector started.
    public var events: [UInt64]
    /// Bit k set when OS field k has a running total (0 for a ring without OS totals).
    public var osMask: UInt64
    /// By OS field index: the running total in the field's unit (0 where the mask bit is clear).
    public var os: [UInt64]
    /// Records written by this collector run (the write index).
    public var records: UInt64
    public init(events: [UInt64], osMask: UInt64, os: [UInt64], records: UInt64) {
        precondition(os.count == OSField.allCases.count, "one OS total per field")
        self.events = events; self.osMask = osMask; self.os = os; self.records = records
    }
    public func os(_ f: OSField) -> UInt64? { osMask & f.bit != 0 ? os[f.rawValue] : nil }
}

/// Outcome of reading one record by index.
public enum RecordRead: Equatable, Sendable {
    case ok
    /// Not (or no longer) the record with that index: not written yet, overwritten, or caught
    /// mid-write by the collector.
    case unavailable
    /// The mapping faulted: the file shrank under us.
    case fault
}

/// A validated, read-only mapping of one ring file (one generation).
public final class RingReader {
    public let path: String
    public let header: RingHeader
    private let fd: Int32
    private let base: UnsafeRawPointer
    private let mapLength: Int
    private let device: UInt64
    private let inode: UInt64
    private var releaser: PageReleaser

    public init(path: String) throws(RingError) {
        cperf_install_fault_guard()
        let fd: Int32
        // O_NONBLOCK: a FIFO planted at the path must be refused below, not block the open
        // (and with it the server's only thread) until a writer appears.
        do { fd = try Sys.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY) } catch {
            throw error == .noEntry ? .missing(path) : .open(path, error)
        }
        var ok = false
        defer { if !ok { Sys.close(fd) } }
        let st: stat
        do { st = try Sys.fstat(fd) } catch { throw .open(path, error) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile(path) }
        let size = Int(st.st_size)
        guard size >= RingLayout.headerSize else { throw .tooSmall(size: size) }
        // Map only what fstat says exists; the header then tells how much of it is valid.
        let p: UnsafeMutableRawPointer
        do { p = try Sys.mmap(length: size, prot: PROT_READ, flags: MAP_SHARED, fd: fd) } catch { throw .open(path, error) }
        var mapped = true
        defer { if !ok && mapped { Sys.munmap(p, length: size) } }
        // The base header, then all of a longer one (more than 16 events) that fits the file.
        var imageSize = RingLayout.headerSize
        var image = [UInt8](repeating: 0, count: imageSize)
        guard image.withUnsafeMutableBytes({ cperf_guarded_copy($0.baseAddress, p, imageSize) }) == 0 else { throw .fault }
        let declared = Int(image.withUnsafeBytes { $0.baseAddress!.u32(RingLayout.hHeaderSize) })
        if declared > imageSize, declared <= size, declared <= RingLayout.headerSize(eventCount: RingLayout.maxEventsExtended) {
            imageSize = declared
            image = [UInt8](repeating: 0, count: imageSize)
            guard image.withUnsafeMutableBytes({ cperf_guarded_copy($0.baseAddress, p, imageSize) }) == 0 else { throw .fault }
        }
        let parsed = image.withUnsafeBytes { b in Result { () throws(RingError) in try parseRingHeader(b.baseAddress!, fileSize: size, imageSize: imageSize) } }
        let header = try parsed.get()
        self.path = path
        self.header = header
        self.fd = fd
        self.base = UnsafeRawPointer(p)
        self.mapLength = size
        self.device = UInt64(st.st_dev)
        self.inode = UInt64(st.st_ino)
        self.releaser = PageReleaser(area: p + header.headerSize, recordSize: header.recordSize, capacity: header.capacity)
        mapped = false
        ok = true
    }

    deinit {
        Sys.munmap(UnsafeMutableRawPointer(mutating: base), length: mapLength)
        Sys.close(fd)
    }

    private func loadAcquire(_ offset: Int) -> UInt64? {
        var v: UInt64 = 0
        return cperf_guarded_load_acquire_u64((base + offset).assumingMemoryBound(to: UInt64.self), &v) == 0 ? v : nil
    }

    /// Records written so far (free-running); nil if the mapping faulted.
    public func writeIndex() -> UInt64? { loadAcquire(RingLayout.hWriteIndex) }
    /// CLOCK_MONOTONIC of the collector's last write; nil if the mapping faulted.
    public func heartbeat() -> UInt64? { loadAcquire(RingLayout.hHeartbeatNs) }
    /// True once the collector has stopped cleanly; nil if the mapping faulted.
    public func stopped() -> Bool? {
        var v: UInt32 = 0
        guard cperf_guarded_load_acquire_u32((base + RingLayout.hStopped).assumingMemoryBound(to: UInt32.self), &v) == 0 else { return nil }
        return v != 0
    }
    /// The command's exit status, written before the stop flag (command mode).
    public func exitStatus() -> Int32? {
        var v: UInt32 = 0
        guard cperf_guarded_load_acquire_u32((base + RingLayout.hExitStatus).assumingMemoryBound(to: UInt32.self), &v) == 0 else { return nil }
        return Int32(bitPattern: v)
    }
    /// An event's cumulative scaled count since the collector started; nil on a fault.
    public func total(_ slot: Int) -> UInt64? {
        precondition(slot >= 0 && slot < max(header.eventCount, RingLayout.maxEvents))
        return loadAcquire(RingLayout.eventTotalOffset(slot, eventCount: header.eventCount))
    }

    /// An event's flags as the collector keeps them now (never-scheduled is live); nil on a fault.
    public func eventFlags(_ slot: Int) -> EventFlags? {
        precondition(slot >= 0 && slot < max(header.eventCount, RingLayout.maxEvents))
        var v: UInt32 = 0
        let p = base + RingLayout.eventEntryOffset(slot) + RingLayout.eFlags
        guard cperf_guarded_load_acquire_u32(p.assumingMemoryBound(to: UInt32.self), &v) == 0 else { return nil }
        return EventFlags(rawValue: v)
    }

    /// Every running total in the header at once (see `RingTotals`); nil on a fault.
    public func totals() -> RingTotals? {
        var t = RingTotals(events: [], osMask: 0, os: [UInt64](repeating: 0, count: OSField.allCases.count), records: 0)
        for slot in 0..<header.eventCount {
            guard let v = total(slot) else { return nil }
            t.events.append(v)
        }
        if header.flags.contains(.osTotals) {
            guard let mask = loadAcquire(RingLayout.hOSTotalsMask) else { return nil }
            t.osMask = mask
            for f in OSField.allCases where mask & f.bit != 0 {
                guard let v = loadAcquire(RingLayout.hOSTotals + f.rawValue * 8) else { return nil }
                t.os[f.rawValue] = v
            }
        }
        // Loaded last: the totals above cover (almost exactly) the records before this index.
        guard let w = writeIndex() else { return nil }
        t.records = w
        return t
    }

    /// The oldest index that can still be in the ring given the current write index.
    public func oldestIndex(writeIndex w: UInt64) -> UInt64 {
        w > UInt64(header.capacity) ? w - UInt64(header.capacity) : 0
    }

    /// Copies record `index` into `buffer` (at least `header.recordSize` bytes, or `byteCount`
    /// when only the record's first bytes are wanted) if it is complete and still the record
    /// with that index.
    public func read(_ index: UInt64, into buffer: UnsafeMutableRawPointer, byteCount: Int? = nil) -> RecordRead {
        guard index < RingLayout.maxWriteIndex else { return .unavailable }  // its seqlock word would wrap
        let slot = Int(index % UInt64(header.capacity))
        let rec = base + header.headerSize + slot * header.recordSize
        switch cperf_seq_read(rec, buffer, min(byteCount ?? header.recordSize, header.recordSize), RingLayout.completeSeq(index)) {
        case 0: return .ok
        case 1: return .unavailable
        default: return .fault
        }
    }

    /// Like `read`, copying only the u64 fields at `offsets` (within the record and the buffer,
    /// multiples of 8) to the same offsets of `buffer`.
    public func gather(_ index: UInt64, into buffer: UnsafeMutableRawPointer, offsets: UnsafeBufferPointer<UInt32>) -> RecordRead {
        guard index < RingLayout.maxWriteIndex else { return .unavailable }  // its seqlock word would wrap
        let slot = Int(index % UInt64(header.capacity))
        let rec = base + header.headerSize + slot * header.recordSize
        switch cperf_seq_gather(rec, buffer, offsets.baseAddress, offsets.count, RingLayout.completeSeq(index)) {
        case 0: return .ok
        case 1: return .unavailable
        default: return .fault
        }
    }

    /// `gather` for records `first..<first + count` at once (one fault guard for them all): record
    /// first + i goes to `buffer` + i * `stride`, and ok[i] says whether it was there. False on
    /// a fault: the caller reads those records one at a time to learn which.
    public func gather(_ first: UInt64, count: Int, into buffer: UnsafeMutableRawPointer, stride: Int,
                       offsets: UnsafeBufferPointer<UInt32>, ok: UnsafeMutablePointer<UInt8>) -> Bool {
        guard first &+ UInt64(count) <= RingLayout.maxWriteIndex else {  // a sequence word would wrap
            for i in 0..<count { ok[i] = gather(first &+ UInt64(i), into: buffer + i * stride, offsets: offsets) == .ok ? 1 : 0 }
            return true
        }
        return cperf_seq_gather_block(base + header.headerSize, UInt64(header.capacity), header.recordSize, first, count,
                                      offsets.baseAddress, offsets.count, buffer, stride, ok) == 0
    }

    /// The caller is done with records up to `index` (it copied what it needs): their pages
    /// leave this process's resident set.
    public func finished(through index: UInt64) { releaser.finished(through: index) }

    /// A reply has read records `range` (a random-access read, beside the cursor above): the
    /// whole pages they fill leave this process's resident set (the page cache keeps them).
    public func release(_ range: Range<UInt64>) {
        guard !range.isEmpty else { return }
        let capacity = UInt64(header.capacity)
        let area = UnsafeMutableRawPointer(mutating: base + header.headerSize)
        var from = range.lowerBound
        while from < range.upperBound {
            let slot = Int(from % capacity)
            let n = Int(min(range.upperBound - from, capacity - UInt64(slot)))  // up to the ring's end
            let page = Sys.pageSize
            let start = slot * header.recordSize / page * page
            let end = (slot + n) * header.recordSize / page * page
            if end > start { Sys.dropMappedPages(area + start, length: end - start) }
            from += UInt64(n)
        }
    }

    /// Whether the file at `path` is still the one mapped here and still big enough: false when
    /// the collector replaced it (new inode), it was removed, or it was truncated.
    public func isCurrent() -> Bool {
        guard let st = try? Sys.stat(path), UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else { return false }
        return Int(st.st_size) >= mapLength
    }

    /// Whether the mapped header still says what it said at open (magic, version, layout): a
    /// cheap check that catches a file scribbled on in place.
    public func headerIntact() -> Bool {
        var now = (UInt64(0), UInt64(0), UInt64(0))  // magic; version+header size; record size+capacity
        let ok = withUnsafeMutableBytes(of: &now) { cperf_guarded_copy($0.baseAddress, base, 24) }
        guard ok == 0 else { return false }
        return withUnsafeBytes(of: &now) { b in
            let p = b.baseAddress!
            return p.u64(RingLayout.hMagic) == RingLayout.magic && p.u32(RingLayout.hVersion) == RingLayout.version
                && Int(p.u32(RingLayout.hRecordSize)) == header.recordSize && Int(p.u32(RingLayout.hCapacity)) == header.capacity
        }
    }

    /// Whether the mapped file still has its full size (a truncation makes records fault).
    public func sizeIntact() -> Bool {
        guard let st = try? Sys.fstat(fd) else { return false }
        return Int(st.st_size) >= mapLength
    }
}
