// The server's own history: one column of Doubles per metric, in a circular buffer as deep as
// the ring. Each record is decoded and derived once, when it arrives, and the ring pages behind
// it are released, so the server's memory is these columns and nothing else. Unavailable values
// are NaN, encoded as JSON null and left out of Prometheus: never zero.

/// A metric column: its API key and how it is produced.
public struct ColumnSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Stored per sample.
        case stored
        /// A stored count divided by dt: per-second rate, computed when encoded.
        case rate(of: Int)
        /// scale × one stored column over another (IPC, miss rates, MPKI), computed when
        /// encoded; null unless the denominator is positive.
        case ratio(of: Int, over: Int, scale: Double)
        /// The sample's sequence number (kept once, as the store's index, not as a column).
        case sequence
        /// Its inputs do not exist on this machine (an event that does not count): always null,
        /// and no storage.
        case unavailable
    }
    public let key: String
    public let kind: Kind
    public let help: String
    public let unit: String
}

public final class SampleStore {
    public let columns: [ColumnSpec]
    /// Each column's `"key":`, rendered once rather than per request.
    public let renderedKeys: [[UInt8]]
    public let capacity: Int
    /// Column-major storage in one allocation: stored column c's value for a slot is at
    /// `values[offsets[c] + slot]`. Raw memory, so reading a value retains nothing.
    private let values: UnsafeMutablePointer<Double>
    /// Each column's start in `values` (-1: not stored).
    private let offsets: [Int]
    /// Sequence numbers (the ring's record indices) by slot.
    private var seqs: [UInt64]
    /// Samples stored so far (free-running); slot = n % capacity.
    public private(set) var count: UInt64 = 0
    private let dtOffset: Int
    private var columnIndex: [String: Int] = [:]

    public init(columns: [ColumnSpec], capacity: Int) {
        precondition(capacity > 0)
        self.columns = columns
        self.renderedKeys = columns.map { JSONWriter.render(key: $0.key) }
        self.capacity = capacity
        var offsets: [Int] = [], stored = 0
        for c in columns {
            if c.kind == .stored { offsets.append(stored * capacity); stored += 1 } else { offsets.append(-1) }
        }
        self.offsets = offsets
        values = .allocate(capacity: max(1, stored * capacity))
        values.initialize(repeating: .nan, count: max(1, stored * capacity))
        self.seqs = [UInt64](repeating: 0, count: capacity)
        for (i, c) in columns.enumerated() { columnIndex[c.key] = i }
        dtOffset = columnIndex["dt_ms"].map { offsets[$0] } ?? -1
    }

    deinit { values.deallocate() }

    public func column(_ key: String) -> Int? { columnIndex[key] }

    /// One sample's stored values, by column index, while it is appended.
    public struct Row {
        fileprivate let base: UnsafeMutablePointer<Double>
        fileprivate let offsets: UnsafeBufferPointer<Int>
        fileprivate let slot: Int
        @inline(__always) public subscript(column: Int) -> Double {
            get { base[offsets[column] + slot] }
            nonmutating set { base[offsets[column] + slot] = newValue }
        }
    }

    /// Appends one sample; `fill` sets each stored column's value for it.
    @inline(__always)
    public func append(seq: UInt64, _ fill: (Row) -> Void) {
        let slot = Int(count % UInt64(capacity))
        seqs[slot] = seq
        offsets.withUnsafeBufferPointer { fill(Row(base: values, offsets: $0, slot: slot)) }
        count &+= 1
    }

    /// Positions (free-running) of the samples kept: oldest..<count.
    public var oldest: UInt64 { count > UInt64(capacity) ? count - UInt64(capacity) : 0 }

    @inline(__always) public func seq(at position: UInt64) -> UInt64 { seqs[Int(position % UInt64(capacity))] }

    /// The value of column `c` for the sample at `position`, rates computed from counts.
    @inline(__always)
    public func value(_ c: Int, at position: UInt64) -> Double {
        let slot = Int(position % UInt64(capacity))
        switch columns[c].kind {
        case .stored:
            return values[offsets[c] + slot]
        case .rate(let source):
            guard dtOffset >= 0 else { return .nan }
            let dt = values[dtOffset + slot]
            return dt > 0 ? values[offsets[source] + slot] * 1000 / dt : .nan
        case .ratio(let numerator, let denominator, let scale):
            let b = values[offsets[denominator] + slot]
            return b > 0 ? scale * values[offsets[numerator] + slot] / b : .nan
        case .sequence:
            return Double(seqs[slot])
        case .unavailable:
            return .nan
        }
    }

    /// The first position whose seq is greater than `seq` (binary search: seqs only increase).
    public func position(after seq: UInt64) -> UInt64 {
        var lo = oldest, hi = count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if self.seq(at: mid) <= seq { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
