// The server's own history: one column of Doubles per metric, in a circular buffer as deep as
// the ring. Each record is decoded and derived once, when it arrives, and the ring pages behind
// it are released, so the server's memory is these columns and nothing else. Unavailable values
// are NaN, encoded as JSON null and left out of Prometheus: never zero.

/// A metric column: its API key and how it is produced.
public struct ColumnSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Stored per sample.
        case stored
        /// Stored per sample in 32-bit fixed point (value × scale, rounded): for bounded
        /// values (percentages, load averages, task counts) whose 7+ digits are all they have,
        /// at half the memory.
        case fixed(scale: Double)
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
    /// Column-major storage, raw so that reading a value retains nothing: a `.stored` column's
    /// value for a slot is `doubles[offsets[c] + slot]`, a `.fixed` one's `fixed[offsets[c] + slot]`.
    private let doubles: UnsafeMutablePointer<Double>
    private let fixed: UnsafeMutablePointer<Int32>
    /// Each column's start in its storage (-1: not stored).
    private let offsets: [Int]
    /// Each column's fixed-point scale (0: a Double column or not stored).
    private let scales: [Double]
    /// The fixed-point value of an unavailable sample.
    private static let fixedNaN = Int32.min
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
        var offsets: [Int] = [], scales: [Double] = [], wide = 0, narrow = 0
        for c in columns {
            switch c.kind {
            case .stored: offsets.append(wide * capacity); scales.append(0); wide += 1
            case .fixed(let scale): offsets.append(narrow * capacity); scales.append(scale); narrow += 1
            default: offsets.append(-1); scales.append(0)
            }
        }
        self.offsets = offsets
        self.scales = scales
        doubles = .allocate(capacity: max(1, wide * capacity))
        doubles.initialize(repeating: .nan, count: max(1, wide * capacity))
        fixed = .allocate(capacity: max(1, narrow * capacity))
        fixed.initialize(repeating: Self.fixedNaN, count: max(1, narrow * capacity))
        self.seqs = [UInt64](repeating: 0, count: capacity)
        for (i, c) in columns.enumerated() { columnIndex[c.key] = i }
        dtOffset = columnIndex["dt_ms"].flatMap { columns[$0].kind == .stored ? offsets[$0] : nil } ?? -1
    }

    deinit { doubles.deallocate(); fixed.deallocate() }

    public func column(_ key: String) -> Int? { columnIndex[key] }

    /// One sample's stored values, by column index, while it is appended.
    public struct Row {
        fileprivate let doubles: UnsafeMutablePointer<Double>
        fileprivate let fixed: UnsafeMutablePointer<Int32>
        fileprivate let offsets: UnsafePointer<Int>
        fileprivate let scales: UnsafePointer<Double>
        fileprivate let slot: Int
        @inline(__always) public func set(_ column: Int, _ value: Double) {
            let scale = scales[column]
            if scale == 0 {
                doubles[offsets[column] + slot] = value
            } else {
                let x = (value * scale).rounded()
                fixed[offsets[column] + slot] = x.magnitude < 2_147_483_647 ? Int32(x) : SampleStore.fixedNaN  // NaN fails the test too
            }
        }
    }

    /// Appends one sample; `fill` sets each stored column's value for it.
    @inline(__always)
    public func append(seq: UInt64, _ fill: (Row) -> Void) {
        let slot = Int(count % UInt64(capacity))
        seqs[slot] = seq
        offsets.withUnsafeBufferPointer { o in
            scales.withUnsafeBufferPointer { sc in
                fill(Row(doubles: doubles, fixed: fixed, offsets: o.baseAddress!, scales: sc.baseAddress!, slot: slot))
            }
        }
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
            return doubles[offsets[c] + slot]
        case .fixed(let scale):
            let x = fixed[offsets[c] + slot]
            return x == Self.fixedNaN ? .nan : Double(x) / scale
        case .rate(let source):
            guard dtOffset >= 0 else { return .nan }
            let dt = doubles[dtOffset + slot]
            return dt > 0 ? doubles[offsets[source] + slot] * 1000 / dt : .nan
        case .ratio(let numerator, let denominator, let scale):
            let b = doubles[offsets[denominator] + slot]
            return b > 0 ? scale * doubles[offsets[numerator] + slot] / b : .nan
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
