// Encodes samples read from the ring as JSON objects, column arrays or CSV rows. Keys are
// rendered once per reply and numbers written straight into the reply's bytes.

public struct SampleEncoder {
    public let samples: RingSamples
    /// Column indices to emit, in order.
    public let columns: [Int]
    /// How each emitted column is computed, in the same order.
    let plans: ContiguousArray<ColumnPlan>
    /// The emitted columns' `"key":` texts back to back; key k is keyBytes[keyStarts[k]..<keyStarts[k + 1]].
    private let keyBytes: [UInt8]
    private let keyStarts: [Int]

    public init(samples: RingSamples, columns: [Int]) {
        self.samples = samples
        self.columns = columns
        plans = ContiguousArray(columns.map { samples.deriver.plans[$0] })
        var bytes: [UInt8] = [], starts = [0]
        for c in columns {
            bytes += samples.renderedKeys[c]
            starts.append(bytes.count)
        }
        keyBytes = bytes
        keyStarts = starts
    }

    /// Every column, in the order /api/fields lists them.
    public init(allColumnsOf samples: RingSamples) { self.init(samples: samples, columns: Array(samples.columns.indices)) }

    /// Resolves `fields=a,b` to columns (seq and time_ms always first).
    public static func columns(for fields: [String]?, in samples: RingSamples) throws(UnknownField) -> [Int] {
        guard let fields else { return Array(samples.columns.indices) }
        var out: [Int] = []
        for key in ["seq", "time_ms"] + fields {
            guard let c = samples.column(key) else { throw UnknownField(key: key) }
            if !out.contains(c) { out.append(c) }
        }
        return out
    }
    public struct UnknownField: Error { public let key: String }

    /// The sample in `buffer` as an object; `previous` is the index of the sample before it in
    /// this reply (for `gap`); `extra` adds fields after the columns (the phase).
    public func object(_ buffer: SampleBuffer, previous: UInt64?, into w: inout JSONWriter, extra: (inout JSONWriter) -> Void = { _ in }) {
        w.beginObject()
        let r = buffer.record
        keyBytes.withUnsafeBytes { keys in
            plans.withUnsafeBufferPointer { plans in
                for k in plans.indices {
                    w.key(rendered: UnsafeRawBufferPointer(rebasing: keys[keyStarts[k]..<keyStarts[k + 1]]))
                    w.number(plans[k].value(r, previous: previous))
                }
            }
        }
        extra(&w)
        w.endObject()
    }

    /// The `"key":` of the k-th emitted column.
    public func key(_ k: Int, into w: inout JSONWriter) {
        keyBytes.withUnsafeBytes { w.key(rendered: UnsafeRawBufferPointer(rebasing: $0[keyStarts[k]..<keyStarts[k + 1]])) }
    }

    /// The CSV header row.
    public func csvHeader(into w: inout JSONWriter) {
        w.literal(columns.map { samples.columns[$0].key }.joined(separator: ",") + "\n")
    }

    /// One CSV row; unavailable values are empty cells.
    public func csvRow(_ buffer: SampleBuffer, previous: UInt64?, into w: inout JSONWriter) {
        let r = buffer.record
        plans.withUnsafeBufferPointer { plans in
            for k in plans.indices {
                if k > 0 { w.byte(UInt8(ascii: ",")) }
                let v = plans[k].value(r, previous: previous)
                if v.isFinite { w.number(v) }
            }
        }
        w.byte(UInt8(ascii: "\n"))
    }
}
