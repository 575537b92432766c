import Glibc
import Testing
@testable import Shared

@Suite struct RingRoundTrip {
    @Test func headerAndRecordsRoundTrip() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        let w = try makeRing(at: path, capacity: 8, events: 3, perCpu: 2)
        for i in 0..<5 { writeRecord(w, value: UInt64(i * 10), time: UInt64(1000 + i)) }
        let r = try RingReader(path: path)
        #expect(r.header.capacity == 8)
        #expect(r.header.eventCount == 3)
        #expect(r.header.perCpuCount == 2)
        #expect(r.header.generation == w.generation)
        #expect(r.header.events.map(\.name) == ["ev0", "ev1", "ev2"])
        #expect(r.header.target == "test")
        #expect(r.header.recordSize % 64 == 0)
        #expect(r.writeIndex() == 5)
        #expect(r.heartbeat() == 1004)
        #expect(r.stopped() == false)
        let buf = UnsafeMutableRawPointer.allocate(byteCount: r.header.recordSize, alignment: 64)
        defer { buf.deallocate() }
        for i in 0..<5 {
            #expect(r.read(UInt64(i), into: buf) == .ok)
            let v = RecordView(UnsafeRawPointer(buf))
            #expect(v.index == UInt64(i))
            #expect(v.counter(0).value == UInt64(i * 10))
            #expect(v.timeNs == UInt64(1000 + i))
        }
        #expect(r.read(5, into: buf) == .unavailable)  // not written yet
        w.markStopped(exitStatus: 3)
        #expect(r.stopped() == true)
        #expect(r.exitStatus() == 3)
    }

    @Test func wrapAroundKeepsTheNewestCapacityRecords() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        let w = try makeRing(at: path, capacity: 4)
        for i in 0..<11 { writeRecord(w, value: UInt64(i), time: UInt64(i)) }
        let r = try RingReader(path: path)
        let wi = try #require(r.writeIndex())
        #expect(wi == 11)
        #expect(r.oldestIndex(writeIndex: wi) == 7)
        let buf = UnsafeMutableRawPointer.allocate(byteCount: r.header.recordSize, alignment: 64)
        defer { buf.deallocate() }
        for i in 0..<7 { #expect(r.read(UInt64(i), into: buf) == .unavailable, "record \(i) was overwritten") }
        for i in 7..<11 {
            #expect(r.read(UInt64(i), into: buf) == .ok)
            #expect(RecordView(UnsafeRawPointer(buf)).counter(0).value == UInt64(i))
        }
    }

    @Test func totalsAccumulateInTheHeader() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let w = try makeRing(at: dir.path + "/ring")
        w.addTotal(1, 5); w.addTotal(1, 7)
        let r = try RingReader(path: dir.path + "/ring")
        #expect(r.total(1) == 0, "totals reach the header with the next record")
        _ = w.begin()
        #expect(w.commit(heartbeat: 1))
        #expect(r.total(1) == 12)
        #expect(r.total(0) == 0)
    }

    /// The OS running totals: flagged in every ring this build writes, a field's bit set from
    /// its first reading (total 0), growing with each add; read together with the event
    /// totals and the write index.
    @Test(arguments: [OSField.cpuUser, .diskReadBytes, .psiIoFull, .energy3, .procMajorFaults])
    func osTotalsAccumulateInTheHeader(_ field: OSField) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let w = try makeRing(at: dir.path + "/ring")
        let r = try RingReader(path: dir.path + "/ring")
        #expect(r.header.flags.contains(.osTotals))
        #expect(r.totals()?.osMask == 0)
        #expect(r.totals()?.os(field) == nil, "no reading yet: no total, not zero")
        w.addOSTotal(field, 0)
        #expect(r.totals()?.os(field) == 0)
        w.addOSTotal(field, 40); w.addOSTotal(field, 2)
        w.addTotal(0, 9)
        writeRecord(w, value: 1, time: 1)
        let t = try #require(r.totals())
        #expect(t.osMask == field.bit)
        #expect(t.os(field) == 42)
        #expect(t.events.first == 9)
        #expect(t.records == 1)
        for other in OSField.allCases where other != field { #expect(t.os(other) == nil) }
    }

    /// A ring without flag bit 3 (an older writer) has no OS totals, whatever the bytes say.
    @Test func aRingWithoutTheFlagHasNoOSTotals() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        let w = try makeRing(at: path)
        w.addOSTotal(.cpuIdle, 5)
        let fd = open(path, O_RDWR)
        defer { close(fd) }
        var flags = UInt32(0)
        #expect(pread(fd, &flags, 4, off_t(RingLayout.hFlags)) == 4)
        flags &= ~RingFlags.osTotals.rawValue
        #expect(pwrite(fd, &flags, 4, off_t(RingLayout.hFlags)) == 4)
        let r = try RingReader(path: path)
        #expect(r.totals()?.osMask == 0)
        #expect(r.totals()?.os(.cpuIdle) == nil)
    }

    @Test func restartIsDetectedByANewFileAtThePath() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        let w1 = try makeRing(at: path)
        writeRecord(w1, value: 1, time: 1)
        let r1 = try RingReader(path: path)
        #expect(r1.isCurrent())
        let w2 = try makeRing(at: path)
        #expect(!r1.isCurrent())
        // The old mapping stays readable after the rename.
        let buf = UnsafeMutableRawPointer.allocate(byteCount: r1.header.recordSize, alignment: 64)
        defer { buf.deallocate() }
        #expect(r1.read(0, into: buf) == .ok)
        let r2 = try RingReader(path: path)
        #expect(r2.header.generation == w2.generation)
        #expect(r2.header.generation != r1.header.generation)
        #expect(r2.writeIndex() == 0)
    }

    @Test func unpublishedRingIsInvisibleAndRemoved() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        do {
            let w = try RingWriter(config: RingConfig(path: path, capacity: 4, eventCount: 1))
            _ = w
            #expect(throws: RingError.missing(path)) { _ = try RingReader(path: path) }
        }
        #expect(try Sys.listDirectory(dir.path).isEmpty)
    }
}

@Suite struct RingCorruption {
    enum Damage: String, CaseIterable {
        case magic, version, headerSize, recordSize, capacity, hugeCapacity, truncated, tiny, eventCount, perCpu
        case mode, energyDomainCount, eventNameWithNewline, eventNameWithQuote, eventNameWithSpace, emptyEventName, duplicateEvent
    }

    @Test(arguments: Damage.allCases)
    func eachCorruptionHasItsOwnError(_ damage: Damage) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        let w = try makeRing(at: path, capacity: 8)
        let fileSize = w.config.fileSize
        let expected: RingError
        switch damage {
        case .magic:
            patch(path, at: RingLayout.hMagic, le64(0x1234))
            expected = .badMagic(0x1234)
        case .version:
            patch(path, at: RingLayout.hVersion, le32(99))
            expected = .unsupportedVersion(99)
        case .headerSize:
            patch(path, at: RingLayout.hHeaderSize, le32(512))
            expected = .badHeaderSize(512)
        case .recordSize:
            patch(path, at: RingLayout.hRecordSize, le32(64))
            expected = .badRecordSize(found: 64, expected: w.config.recordSize)
        case .capacity:
            patch(path, at: RingLayout.hCapacity, le32(1000))
            expected = .truncated(expected: RingLayout.headerSize + 1000 * w.config.recordSize, actual: fileSize)
        case .hugeCapacity:
            // 4 billion records of 832 bytes: the product is checked against the file, not allocated.
            patch(path, at: RingLayout.hCapacity, le32(UInt32.max))
            expected = .truncated(expected: RingLayout.headerSize + Int(UInt32.max) * w.config.recordSize, actual: fileSize)
        case .mode:
            patch(path, at: RingLayout.hMode, le32(7))
            expected = .badMode(7)
        case .energyDomainCount:
            patch(path, at: RingLayout.hEnergyDomainCount, le32(9))
            expected = .badEnergyDomainCount(9)
        case .eventNameWithNewline:
            patch(path, at: RingLayout.hEventTable + RingLayout.eName, Array("ev\nperfring_up 1".utf8) + [0])
            expected = .badEventName(slot: 0, "ev\nperfring_up 1")
        case .eventNameWithQuote:
            patch(path, at: RingLayout.hEventTable + RingLayout.eventEntrySize + RingLayout.eName, Array("ev\"1".utf8) + [0])
            expected = .badEventName(slot: 1, "ev\"1")
        case .eventNameWithSpace:
            patch(path, at: RingLayout.hEventTable + RingLayout.eName, Array("a b".utf8) + [0])
            expected = .badEventName(slot: 0, "a b")
        case .emptyEventName:
            patch(path, at: RingLayout.hEventTable + RingLayout.eName, [0])
            expected = .badEventName(slot: 0, "")
        case .duplicateEvent:
            patch(path, at: RingLayout.hEventTable + RingLayout.eventEntrySize + RingLayout.eName, Array("ev0".utf8) + [0])
            expected = .duplicateEvent("ev0")
        case .truncated:
            _ = truncate(path, off_t(fileSize - 100))
            expected = .truncated(expected: fileSize, actual: fileSize - 100)
        case .tiny:
            _ = truncate(path, 100)
            expected = .tooSmall(size: 100)
        case .eventCount:
            patch(path, at: RingLayout.hEventCount, le32(40))
            expected = .badEventCount(40)
        case .perCpu:
            patch(path, at: RingLayout.hPerCpuStride, le32(7))
            expected = .badPerCpuLayout
        }
        #expect(throws: expected) { _ = try RingReader(path: path) }
        // Every error reads as a sentence.
        #expect(!expected.description.isEmpty)
    }

    /// The seqlock word of record i is 2i+2: a write index near 2^63 would make it wrap to 0,
    /// the word of a never-written slot. Such an index is never read.
    @Test func aRecordIndexWhoseSeqWordWouldWrapIsNeverRead() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        let w = try makeRing(at: path, capacity: 8)
        writeRecord(w, value: 1, time: 1)
        let r = try RingReader(path: path)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: r.header.recordSize, alignment: 64)
        defer { buffer.deallocate() }
        #expect(r.read(0, into: buffer) == .ok)
        #expect(r.read(7, into: buffer) == .unavailable)  // never written: its word is 0, not 16
        let wraps: UInt64 = (1 << 63) - 1  // 2i+2 == 2^64 == 0: slot 7's word
        #expect(RingLayout.completeSeq(wraps) == 0 && wraps % 8 == 7)
        #expect(r.read(wraps, into: buffer) == .unavailable)
        #expect(r.read(RingLayout.maxWriteIndex, into: buffer) == .unavailable)
    }

    @Test func truncationUnderAMappedReaderIsAFaultNotACrash() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        let w = try makeRing(at: path, capacity: 64)
        for i in 0..<64 { writeRecord(w, value: UInt64(i), time: UInt64(i)) }
        let r = try RingReader(path: path)
        _ = truncate(path, 0)
        #expect(!r.sizeIntact())
        #expect(!r.isCurrent())
        let buf = UnsafeMutableRawPointer.allocate(byteCount: r.header.recordSize, alignment: 64)
        defer { buf.deallocate() }
        #expect(r.read(60, into: buf) == .fault)
        #expect(r.writeIndex() == nil)
    }

    @Test func garbageAndOtherFilesAreRefused() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let garbage = dir.path + "/garbage"
        let fd = open(garbage, O_CREAT | O_WRONLY, 0o644)
        var bytes = [UInt8](repeating: 0, count: 8192)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        #expect(throws: RingError.self) { _ = try RingReader(path: garbage) }
        #expect(throws: RingError.notRegularFile(dir.path)) { _ = try RingReader(path: dir.path) }
        #expect(throws: RingError.missing(dir.path + "/none")) { _ = try RingReader(path: dir.path + "/none") }
    }
}

/// What the collector checks before it creates anything: the directory walk and the final name.
private func checkLocation(_ path: String) throws(RingSetupError) {
    let (dir, name) = splitPath(path)
    try RingDirectory(dir).checkTarget(name, path: path)
}

@Suite struct RingLocationSafety {
    /// Every directory on the way is checked, not only the last: a symlink anywhere (planted by
    /// another user in a sticky, world-writable directory), a directory another user owns or
    /// one writable by others without the sticky bit refuses the path, and nothing is created.
    @Test(arguments: ["symlink", "foreign-owner", "open-writable"])
    func anUntrustedDirectoryAnywhereOnThePathIsRefused(_ kind: String) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let shared = dir.path + "/s"
        mkdir(shared, 0o755)
        chmod(shared, 0o1777)                   // like /tmp: sticky and world-writable
        let victim = dir.path + "/v"
        mkdir(victim, 0o755)
        let bad = shared + "/p"
        let expected: RingSetupError
        switch kind {
        case "symlink":
            symlink(victim, bad)
            expected = .untrustedDirectory(bad, "it is a symbolic link")
        case "foreign-owner":
            guard Sys.geteuid() == 0 else { return }  // only root can hand a directory to another user
            mkdir(bad, 0o755)
            chown(bad, 65534, 65534)
            expected = .untrustedDirectory(bad, "owned by uid 65534, not root or the running user")
        default:
            mkdir(bad, 0o755)
            chmod(bad, 0o777)
            expected = .untrustedDirectory(bad, "writable by group or others without the sticky bit")
        }
        mkdir(bad + "/sub", 0o755)                // reached through the bad directory
        let ring = bad + "/sub/ring"
        #expect(throws: expected) { try checkLocation(ring) }
        #expect(throws: expected) { _ = try RingWriter(config: RingConfig(path: ring, capacity: 4, eventCount: 1)) }
        #expect(try Sys.listDirectory(bad + "/sub").isEmpty, "nothing was created (through the link, for a symlink)")
    }

    @Test func aRelativePathIsWalkedFromTheWorkingDirectory() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let saved = try Sys.getcwd()
        defer { _ = chdir(saved) }
        #expect(chdir(dir.path) == 0)
        let w = try RingWriter(config: RingConfig(path: "ring", capacity: 4, eventCount: 1))
        w.setEvent(0, EventEntry(name: "task-clock", type: 1, config: 1, status: .counting))
        try w.publish()
        #expect(try RingReader(path: dir.path + "/ring").header.generation == w.generation)
        chmod(dir.path, 0o777)
        #expect(throws: RingSetupError.untrustedDirectory(dir.path, "writable by group or others without the sticky bit")) {
            try checkLocation("ring")
        }
        chmod(dir.path, 0o700)
    }

    @Test func symlinkDirectoryFifoAndForeignFilesAreRefused() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        symlink("/etc/passwd", dir.path + "/link")
        mkdir(dir.path + "/adir", 0o755)
        mkfifo(dir.path + "/fifo", 0o644)
        for name in ["link", "adir", "fifo"] {
            #expect(throws: RingSetupError.self) { try checkLocation(dir.path + "/" + name) }
            #expect(throws: RingSetupError.self) { _ = try RingWriter(config: RingConfig(path: dir.path + "/" + name, capacity: 4, eventCount: 1)) }
        }
        // The symlink still points where it did: nothing was followed or replaced.
        #expect(Sys.readlink(dir.path + "/link") == "/etc/passwd")
        if Sys.geteuid() == 0 {
            let foreign = dir.path + "/foreign"
            let fd = open(foreign, O_CREAT | O_WRONLY, 0o644); fchown(fd, 65534, 65534); close(fd)
            #expect(throws: RingSetupError.badTarget(foreign, "the existing file is owned by uid 65534, not the running user")) {
                try checkLocation(foreign)
            }
        }
    }

    @Test func worldWritableDirectoryWithoutStickyBitIsRefused() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        chmod(dir.path, 0o777)
        #expect(throws: RingSetupError.untrustedDirectory(dir.path, "writable by group or others without the sticky bit")) {
            try checkLocation(dir.path + "/ring")
        }
        chmod(dir.path, 0o1777)
        try checkLocation(dir.path + "/ring")
    }

    @Test func missingDirectoryIsAClearError() {
        #expect(throws: RingSetupError.directory("/nonexistent-perfring", .noEntry)) {
            try checkLocation("/nonexistent-perfring/ring")
        }
    }

    @Test(.enabled(if: Sys.geteuid() == 0, "needs root to mount a small tmpfs"))
    func fullDiskFailsAtCreationNotLater() throws {
        // A 1 MiB tmpfs stands in for a full disk: posix_fallocate reports ENOSPC at creation.
        let dir = TempDir(); defer { dir.cleanup() }
        #expect(system("mount -t tmpfs -o size=1m perfring-test '\(dir.path)'") == 0)
        defer { _ = system("umount '\(dir.path)'") }
        let c = RingConfig(path: dir.path + "/ring", capacity: 100_000, eventCount: 10)
        #expect(throws: RingSetupError.space(c.path, c.fileSize, .noSpace)) { _ = try RingWriter(config: c) }
        #expect(try Sys.listDirectory(dir.path).isEmpty, "the temporary file is removed")
    }
}

/// Rings of more than 16 events (replays of recordings with more): the extension's entries,
/// totals and counter triples read back per slot, beside a per-CPU section; 16 or fewer keep
/// the base layout's offsets; a reader that knows only the base layout is refused by the
/// header size, not misled.
@Suite struct ExtendedEventTableTests {
    @Test(arguments: [(16, 0), (17, 0), (23, 2), (128, 1)])
    func everySlotReadsBack(events: Int, perCpu: Int) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        let w = try makeRing(at: path, capacity: 4, events: events, perCpu: perCpu)
        for slot in 0..<events { w.addTotal(slot, UInt64(1000 + slot)) }
        let r = w.begin()
        r.setU64(RingLayout.rTimeNs, 5)
        for slot in 0..<events {
            let o = RingLayout.counterOffset(slot)
            r.setU64(o, UInt64(slot)); r.setU64(o + 8, 100); r.setU64(o + 16, 50)
        }
        let p = RingLayout.perCpuOffset(eventCount: events)
        for cpu in 0..<perCpu {
            let o = p + cpu * RingLayout.perCpuStride(eventCount: events) + RingLayout.cpuCounters + (events - 1) * RingLayout.counterSize
            r.setU64(o, UInt64(7 + cpu))
        }
        w.commit(heartbeat: 5)

        let reader = try RingReader(path: path)
        #expect(reader.header.events.map(\.name) == (0..<events).map { "ev\($0)" })
        #expect(reader.header.headerSize == (events <= 16 ? 4096 : 4096 + ((events - 16) * 72 + 4095) / 4096 * 4096))
        #expect((0..<events).map { reader.total($0) } == (0..<events).map { UInt64(1000 + $0) })
        var buf = [UInt8](repeating: 0, count: reader.header.recordSize)
        #expect(buf.withUnsafeMutableBytes { reader.read(0, into: $0.baseAddress!) } == .ok)
        buf.withUnsafeBytes { b in
            let v = RecordView(b.baseAddress!)
            #expect((0..<events).map { v.counter($0).value } == (0..<events).map(UInt64.init))
            #expect((0..<events).allSatisfy { v.counter($0).enabled == 100 && v.counter($0).running == 50 })
            #expect((0..<perCpu).map { v.cpuCounter(cpu: $0, events - 1, header: reader.header).value } == (0..<perCpu).map { UInt64(7 + $0) })
        }
        if events <= 16 {
            #expect(RingLayout.counterOffset(events - 1) == RingLayout.rCounters + (events - 1) * 24 && RingLayout.perCpuOffset(eventCount: events) == 792)
        }
    }

    @Test func aBaseHeaderWithMoreThan16EventsIsRefused() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        _ = try makeRing(at: path, capacity: 4, events: 20)
        patch(path, at: RingLayout.hHeaderSize, le32(4096))
        #expect(throws: RingError.badEventCount(20)) { _ = try RingReader(path: path) }
        #expect(throws: RingSetupError.self) { _ = try RingWriter(config: RingConfig(path: dir.path + "/big", capacity: 4, eventCount: 129)) }
    }
}

/// The writer drops written pages from its mapping in batches (PageReleaser): however many
/// records it writes, and across a wrap, its resident share of the ring stays within the header,
/// one batch and the page being written, and every record stays readable from the file.
@Suite struct RingWriterResidency {
    /// Resident kB of this process's mapping of `path` (/proc/self/smaps), nil when not mapped.
    static func residentKB(of path: String) -> Int? {
        guard let text = try? Sys.readFile("/proc/self/smaps", limit: 1 << 26) else { return nil }
        var inRing = false
        for line in text.split(separator: "\n") {
            if line.first.map({ $0.isHexDigit }) == true, line.contains("-") {
                inRing = line.hasSuffix(" " + path)
            } else if inRing, line.hasPrefix("Rss:") {
                return Int(line.split(separator: " ")[1])
            }
        }
        return nil
    }

    @Test(arguments: [40, 1_000, 2_600])
    func writtenPagesLeaveTheMappingInBatches(records: Int) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        let capacity = 2_000
        let w = try makeRing(at: path, capacity: capacity, events: 2)
        for i in 0..<records { writeRecord(w, value: UInt64(i), time: UInt64(1 + i)) }
        let page = Sys.pageSize
        let ringKB = (RingLayout.headerSize(eventCount: 2) + capacity * w.config.recordSize) / 1024
        let boundKB = (RingLayout.headerSize(eventCount: 2) + (RingWriter.releaseBatchPages + 2) * page) / 1024
        let resident = try #require(Self.residentKB(of: path))
        #expect(ringKB > 4 * boundKB)  // the bound is far below the ring's size
        #expect(resident <= boundKB, "\(resident) kB of the ring mapped after \(records) records (bound \(boundKB) kB)")
        let r = try RingReader(path: path)
        let buf = UnsafeMutableRawPointer.allocate(byteCount: r.header.recordSize, alignment: 64)
        defer { buf.deallocate() }
        for i in max(0, records - capacity)..<records {
            #expect(r.read(UInt64(i), into: buf) == .ok)
            #expect(RecordView(UnsafeRawPointer(buf)).counter(0).value == UInt64(i))
        }
    }
}
