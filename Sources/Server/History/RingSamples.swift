// The samples of one collector run, read from the ring's mapping when they are served: the ring
// is the history. Nothing per sample is kept in the server, so its memory does not grow with the
// ring and it serves at once whatever the ring's size. A sample's sequence number is its ring
// index, so a cursor is an index and needs no search.
import Shared

public final class RingSamples {
    public let reader: RingReader
    public let deriver: MetricDeriver
    public var header: RingHeader { reader.header }
    public var columns: [ColumnSpec] { deriver.columns }
    /// Each column's `"key":`, rendered once rather than per request.
    public let renderedKeys: [[UInt8]]
    /// One past the newest index the follower has seen (it advances this as the ring grows).
    public internal(set) var end: UInt64 = 0
    /// Bytes of a record that derivation reads: the fixed part and the counters of slots 16 and
    /// up (never the per-CPU section).
    let copyBytes: Int

    init(reader: RingReader) {
        self.reader = reader
        deriver = MetricDeriver(header: reader.header)
        renderedKeys = deriver.columns.map { JSONWriter.render(key: $0.key) }
        copyBytes = min(reader.header.recordSize, reader.header.perCpuOffset)
    }

    /// False once the file was truncated or overwritten under the mapping: nothing is held.
    public internal(set) var readable = true

    /// The oldest index that may still be in the ring (it may be mid-overwrite: reads say so).
    public var oldest: UInt64 { readable ? reader.oldestIndex(writeIndex: end) : end }
    /// Indices of the samples held: oldest..<end.
    public var indices: Range<UInt64> { oldest..<end }
    public var count: Int { Int(end - oldest) }

    public func column(_ key: String) -> Int? { deriver.column(key) }

    /// Each CPU's figures (`--per-cpu` rings), made when first asked for.
    public private(set) lazy var perCPU = PerCPUMetrics(header: reader.header)

    /// Copies the whole of record `index`, its per-CPU section included, into `buffer` (one
    /// made with `SampleBuffer(recordOf:)`).
    @inline(__always)
    public func readWhole(_ index: UInt64, into buffer: SampleBuffer) -> Bool {
        reader.read(index, into: buffer.bytes) == .ok
    }

    /// Copies record `index` into `buffer` (a `SampleBuffer`); false when it is not (or no
    /// longer) there, or the mapping faulted.
    @inline(__always)
    public func read(_ index: UInt64, into buffer: SampleBuffer) -> Bool {
        reader.read(index, into: buffer.bytes, byteCount: copyBytes) == .ok
    }

    /// Copies only the words `offsets` of record `index` (see `MetricDeriver.reads`), enough
    /// for the columns they were taken from.
    @inline(__always)
    public func gather(_ index: UInt64, into buffer: SampleBuffer, offsets: UnsafeBufferPointer<UInt32>) -> Bool {
        reader.gather(index, into: buffer.bytes, offsets: offsets) == .ok
    }

    /// `gather` for records `first..<first + count` (at most `block.capacity`) into `block`, with
    /// one fault guard for them all.
    public func gather(_ first: UInt64, count: Int, into block: RecordBlock, offsets: UnsafeBufferPointer<UInt32>) {
        let stride = block.stride
        if !reader.gather(first, count: count, into: block.bytes, stride: stride, offsets: offsets, ok: block.ok) {
            // A fault (the file shrank under the mapping): learn record by record which are gone.
            for i in 0..<count {
                block.ok[i] = reader.gather(first + UInt64(i), into: block.bytes + i * stride, offsets: offsets) == .ok ? 1 : 0
            }
        }
    }

    /// Copies records `first..<first + count` (at most `block.capacity`) whole into `block`
    /// (the per-CPU section too when the block's stride holds it); ok[i] says which were there.
    public func read(_ first: UInt64, count: Int, into block: RecordBlock) {
        for i in 0..<count {
            block.ok[i] = reader.read(first + UInt64(i), into: block.bytes + i * block.stride, byteCount: block.recordBytes) == .ok ? 1 : 0
        }
    }

    /// Column `c` of the record in `buffer`.
    @inline(__always)
    public func value(_ c: Int, in buffer: SampleBuffer, previous: UInt64?) -> Double {
        deriver.value(c, RecordView(UnsafeRawPointer(buffer.bytes)), previous: previous)
    }
}

/// A private copy of one record (seqlock-checked), owned by whoever reads: a reply, the follower.
public final class SampleBuffer {
    let bytes: UnsafeMutableRawPointer
    /// Room for any ring's record up to its per-CPU section (128 events' counters).
    public init() { bytes = .allocate(byteCount: RingLayout.perCpuOffset(eventCount: RingLayout.maxEventsExtended), alignment: 64) }
    /// Room for a whole record of `header`'s ring (per-CPU section included).
    public init(recordOf header: RingHeader) { bytes = .allocate(byteCount: max(header.recordSize, RingLayout.perCpuOffset(eventCount: RingLayout.maxEventsExtended)), alignment: 64) }
    deinit { bytes.deallocate() }
    public var record: RecordView { RecordView(UnsafeRawPointer(bytes)) }
}

/// Private copies of a run of records (seqlock-checked): a columns reply gathers the words a
/// column needs for a block of records per fault guard; a reply of objects or rows reads a
/// block whole and derives it column by column.
public final class RecordBlock {
    public let capacity: Int
    /// Bytes of a record a whole read copies: its derived part, or all of it.
    let recordBytes: Int
    /// Bytes from one record's copy to the next.
    let stride: Int
    let bytes: UnsafeMutableRawPointer
    /// 1 where the record was read.
    let ok: UnsafeMutablePointer<UInt8>
    /// Room for the derived part of each record (`whole`: the whole record, per-CPU section
    /// included).
    public init(capacity: Int, for samples: RingSamples, whole: Bool = false) {
        self.capacity = capacity
        recordBytes = whole ? samples.header.recordSize : samples.copyBytes
        stride = (recordBytes + 63) / 64 * 64
        bytes = .allocate(byteCount: capacity * stride, alignment: 64)
        ok = .allocate(capacity: capacity)
    }
    deinit {
        bytes.deallocate()
        ok.deallocate()
    }
    @inline(__always) func record(_ i: Int) -> RecordView { RecordView(UnsafeRawPointer(bytes + i * stride)) }
}
