import Glibc
import Synchronization
import Testing
@testable import Shared

/// A writer thread at full speed against a reader that checks every accepted record's
/// checksum: a torn record must never be accepted.
@Suite struct SeqlockStress {
    final class Box: @unchecked Sendable {
        let writer: RingWriter
        let done = Atomic<Bool>(false)
        init(_ w: RingWriter) { writer = w }
    }

    static let total: UInt64 = 1_000_000

    /// Fills every counter word with a value derived from the index, so a mix of two records fails the check.
    static func fill(_ r: UnsafeMutableRawPointer, _ i: UInt64, size: Int) {
        var o = RingLayout.rTimeNs
        while o + 8 <= size {
            r.setU64(o, i &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(o))
            o += 8
        }
    }

    static func check(_ r: UnsafeRawPointer, _ i: UInt64, size: Int) -> Bool {
        var o = RingLayout.rTimeNs
        while o + 8 <= size {
            if r.u64(o) != i &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(o) { return false }
            o += 8
        }
        return true
    }

    @Test func noTornRecordIsEverAccepted() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.path + "/ring"
        // A small ring so the writer laps the reader constantly.
        let box = Box(try makeRing(at: path, capacity: 16, events: 16, perCpu: 4))
        let size = box.writer.config.recordSize
        var thread = pthread_t()
        let unmanaged = Unmanaged.passRetained(box)
        pthread_create(&thread, nil, { arg in
            let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            let size = box.writer.config.recordSize
            for i in 0..<SeqlockStress.total {
                let r = box.writer.begin()
                SeqlockStress.fill(r, i, size: size)
                box.writer.commit(heartbeat: i)
            }
            box.done.store(true, ordering: .releasing)
            return nil
        }, unmanaged.toOpaque())

        let reader = try RingReader(path: path)
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer { buf.deallocate() }
        var accepted = 0, torn = 0
        while !box.done.load(ordering: .acquiring) {
            guard let w = reader.writeIndex(), w > 0 else { continue }
            // Read the newest and the oldest (about to be overwritten) records.
            for i in [w - 1, reader.oldestIndex(writeIndex: w)] {
                switch reader.read(i, into: buf) {
                case .ok:
                    accepted += 1
                    if !Self.check(UnsafeRawPointer(buf), i, size: size) { torn += 1 }
                case .unavailable: break  // being written or already lapped: rejected, as it must be
                case .fault: Issue.record("fault")
                }
            }
        }
        pthread_join(thread, nil)
        #expect(reader.writeIndex() == Self.total)
        #expect(torn == 0)
        #expect(accepted > 0)
    }
}
