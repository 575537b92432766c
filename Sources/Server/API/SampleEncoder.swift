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
        withValues(of: buffer, previous: previous) { object(values: $0, stride: 1, into: &w, extra: extra) }
    }

    /// One CSV row of the sample in `buffer`; unavailable values are empty cells.
    public func csvRow(_ buffer: SampleBuffer, previous: UInt64?, into w: inout JSONWriter) {
        withValues(of: buffer, previous: previous) { csvRow(values: $0, stride: 1, into: &w) }
    }

    /// Every emitted column's value for the records of `block` that were read (`ok`), computed
    /// column by column: one plan per inner loop, so no closure context is retained per value
    /// and its branches stay predictable. Column k of record i goes to
    /// `values[k * block.capacity + i]`; `previous[i]` is the sample before record i (for `gap`).
    func derive(_ block: RecordBlock, count: Int, previous: UnsafePointer<UInt64?>, into values: UnsafeMutablePointer<Double>) {
        plans.withUnsafeBufferPointer { plans in
            for k in plans.indices {
                let plan = plans[k]
                let row = values + k * block.capacity
                for i in 0..<count where block.ok[i] != 0 {
                    row[i] = plan.value(block.record(i), previous: previous[i])
                }
            }
        }
    }

    /// The sample whose column k is `values[k * stride]`, as an object.
    func object(values: UnsafePointer<Double>, stride: Int, into w: inout JSONWriter, extra: (inout JSONWriter) -> Void = { _ in }) {
        w.beginObject()
        keyBytes.withUnsafeBytes { keys in
            keyStarts.withUnsafeBufferPointer { starts in w.members(keys: keys, starts: starts, values: values, stride: stride) }
        }
        extra(&w)
        w.endObject()
    }

    /// The sample whose column k is `values[k * stride]`, as a CSV row.
    func csvRow(values: UnsafePointer<Double>, stride: Int, into w: inout JSONWriter) {
        for k in 0..<plans.count {
            if k > 0 { w.byte(UInt8(ascii: ",")) }
            let v = values[k * stride]
            if v.isFinite { w.number(v) }
        }
        w.byte(UInt8(ascii: "\n"))
    }

    /// The emitted columns' values for the one record in `buffer`.
    private func withValues(of buffer: SampleBuffer, previous: UInt64?, _ body: (UnsafePointer<Double>) -> Void) {
        let r = buffer.record
        withUnsafeTemporaryAllocation(of: Double.self, capacity: plans.count) { values in
            plans.withUnsafeBufferPointer { plans in
                for k in plans.indices { values[k] = plans[k].value(r, previous: previous) }
            }
            body(UnsafePointer(values.baseAddress!))
        }
    }

    /// The `"key":` of the k-th emitted column.
    public func key(_ k: Int, into w: inout JSONWriter) {
        keyBytes.withUnsafeBytes { w.key(rendered: UnsafeRawBufferPointer(rebasing: $0[keyStarts[k]..<keyStarts[k + 1]])) }
    }

    /// The CSV header row.
    public func csvHeader(into w: inout JSONWriter) {
        w.literal(columns.map { samples.columns[$0].key }.joined(separator: ",") + "\n")
    }
}
