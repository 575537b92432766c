// Encodes samples from the store as JSON objects, column arrays or CSV. Keys are rendered once
// per request and numbers written straight into the reply's bytes.

public struct SampleEncoder {
    public let store: SampleStore
    /// Column indices to emit, in order.
    public let columns: [Int]
    /// The emitted columns' `"key":` texts back to back; key k is keyBytes[keyStarts[k]..<keyStarts[k + 1]].
    private let keyBytes: [UInt8]
    private let keyStarts: [Int]

    public init(store: SampleStore, columns: [Int]) {
        self.store = store
        self.columns = columns
        var bytes: [UInt8] = [], starts = [0]
        for c in columns {
            bytes += store.renderedKeys[c]
            starts.append(bytes.count)
        }
        keyBytes = bytes
        keyStarts = starts
    }

    /// Resolves `fields=a,b` to columns (seq and time_ms always first).
    public static func columns(for fields: [String]?, in store: SampleStore) throws(UnknownField) -> [Int] {
        guard let fields else { return Array(store.columns.indices) }
        var out: [Int] = []
        for key in ["seq", "time_ms"] + fields {
            guard let c = store.column(key) else { throw UnknownField(key: key) }
            if !out.contains(c) { out.append(c) }
        }
        return out
    }
    public struct UnknownField: Error { public let key: String }

    /// One sample as an object; `extra` adds fields after the columns (the phase).
    public func object(at position: UInt64, into w: inout JSONWriter, extra: ((UInt64, inout JSONWriter) -> Void)? = nil) {
        keyBytes.withUnsafeBytes { keys in object(at: position, keys: keys, into: &w, extra: extra) }
    }

    /// `extra` adds fields to each sample's object (its phase).
    public func objects(_ range: Range<UInt64>, into w: inout JSONWriter, extra: ((UInt64, inout JSONWriter) -> Void)? = nil) {
        w.beginArray()
        keyBytes.withUnsafeBytes { keys in
            for p in range { object(at: p, keys: keys, into: &w, extra: extra) }
        }
        w.endArray()
    }

    @inline(__always)
    private func object(at position: UInt64, keys: UnsafeRawBufferPointer, into w: inout JSONWriter, extra: ((UInt64, inout JSONWriter) -> Void)?) {
        w.beginObject()
        for (k, c) in columns.enumerated() {
            w.key(rendered: UnsafeRawBufferPointer(rebasing: keys[keyStarts[k]..<keyStarts[k + 1]]))
            w.number(store.value(c, at: position))
        }
        extra?(position, &w)
        w.endObject()
    }

    /// `extra` adds columns after the metric columns (the phase ids).
    public func columnArrays(_ range: Range<UInt64>, into w: inout JSONWriter, extra: ((inout JSONWriter) -> Void)? = nil) {
        w.beginObject()
        for (k, c) in columns.enumerated() {
            keyBytes.withUnsafeBytes { w.key(rendered: UnsafeRawBufferPointer(rebasing: $0[keyStarts[k]..<keyStarts[k + 1]])) }
            w.beginArray()
            for p in range { w.number(store.value(c, at: p)) }
            w.endArray()
        }
        extra?(&w)
        w.endObject()
    }

    /// CSV with a header row; unavailable values are empty cells.
    public func csv(_ range: Range<UInt64>) -> [UInt8] {
        var w = JSONWriter(reserve: 64 + range.count * columns.count * 8)
        w.literal(columns.map { store.columns[$0].key }.joined(separator: ",") + "\n")
        for p in range {
            for (k, c) in columns.enumerated() {
                if k > 0 { w.literal(",") }
                let v = store.value(c, at: p)
                if v.isFinite { w.number(v) }
            }
            w.literal("\n")
        }
        return w.bytes
    }
}
