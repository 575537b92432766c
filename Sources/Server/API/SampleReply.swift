// The body of /api/data (objects or columns) and /api/export.csv, produced a chunk at a time as
// the client drains it: each record is read from the ring and encoded when its chunk is made,
// so a reply of any length costs one chunk of memory, and HEAD never makes it at all. The
// reply's range is fixed when the request arrives; a record the collector overwrites before its
// chunk is made is left out (objects, CSV; the next sample then has `gap` 1) or null (columns,
// whose arrays must stay the same length). With `per_cpu=1` (PerCPUSelection) each object also
// holds its CPUs' figures, or the columns are followed by a `per_cpu` object of per-CPU arrays
// made the same way, a pass per key and CPU.
import Shared

final class SampleReply: HTTPBodyProducer {
    enum Shape { case objects, columns, csv }

    private let encoder: SampleEncoder
    private let samples: RingSamples
    private let range: Range<UInt64>
    private let shape: Shape
    private let labels: PhaseTracker.Labels?
    /// Written before the samples: the reply's opening fields up to `"samples":` or
    /// `"columns":` (JSON), or nothing (CSV, whose header row comes from the encoder).
    private let opening: [UInt8]
    /// The sample before the range, when the client's cursor names it (for `gap`).
    private let before: UInt64?
    /// `per_cpu=1` columns: one record's words for a key and CPU.
    private lazy var buffer = SampleBuffer(recordOf: samples.header)
    /// `per_cpu=1` on a ring with a per-CPU section; nil otherwise (the ordinary path).
    private let perCPU: PerCPUSelection?
    private var started = false
    /// The next record to encode and, for columns, the column being written (one past the
    /// metric columns: the phase ids).
    private var next: UInt64
    private var column = 0
    private var inColumn = false
    /// The record words the current column is derived from.
    private var reads: [UInt32] = []
    /// Columns: the records of the current pass, a block at a time.
    private lazy var block = RecordBlock(capacity: 64, for: samples)
    /// Columns: a group of them derived in one pass, when the range is short enough and the
    /// scratch budget has room (nil: a pass per column).
    private lazy var group: ColumnGroup? = ColumnGroup(records: Int(range.upperBound - range.lowerBound), columns: encoder.columns.count, budget: scratch)
    private let scratch: ScratchBudget
    /// Objects and CSV: a block of whole records and their values.
    private lazy var rowBlock = RowBlock(samples: samples, columns: encoder.plans.count, whole: perCPU != nil)
    private var previous: UInt64?
    private var wroteSample = false
    /// Columns: the per-CPU key and CPU being written once the metric columns are done.
    private var perCPUKey = 0
    private var cpu = 0
    /// Records before this one have had their pages released.
    private var released: UInt64

    init(encoder: SampleEncoder, range: Range<UInt64>, shape: Shape, labels: PhaseTracker.Labels?, opening: [UInt8], before: UInt64?,
         perCPU: PerCPUSelection? = nil, scratch: ScratchBudget = .shared) {
        self.encoder = encoder
        self.scratch = scratch
        self.perCPU = perCPU
        samples = encoder.samples
        self.range = range
        self.shape = shape
        self.labels = labels
        self.opening = opening
        self.before = before
        next = range.lowerBound
        previous = before
        released = range.lowerBound
    }

    deinit { samples.reader.release(released..<range.upperBound) }

    func produce(into w: inout JSONWriter, budget: Int) -> Bool {
        if !started {
            started = true
            w.literal(opening)
            switch shape {
            case .objects: w.byte(UInt8(ascii: "["))
            case .columns: w.byte(UInt8(ascii: "{"))
            case .csv: encoder.csvHeader(into: &w)
            }
        }
        switch shape {
        case .objects, .csv: return rows(into: &w, budget: budget)
        case .columns: return columns(into: &w, budget: budget)
        }
    }

    /// Objects and CSV rows: a block of records read whole, derived column by column, then
    /// written record by record.
    private func rows(into w: inout JSONWriter, budget: Int) -> Bool {
        let b = rowBlock
        let capacity = b.records.capacity
        while next < range.upperBound && w.count < budget {
            let first = next
            let n = Int(min(UInt64(capacity), range.upperBound - first))
            samples.read(first, count: n, into: b.records)
            var before = previous
            for i in 0..<n where b.records.ok[i] != 0 {
                b.previous[i] = before
                before = first + UInt64(i)
            }
            encoder.derive(b.records, count: n, previous: b.previous, into: b.values)
            for i in 0..<n where b.records.ok[i] != 0 {
                let index = first + UInt64(i)
                if shape == .csv {
                    encoder.csvRow(values: b.values + i, stride: capacity, into: &w)
                } else {
                    if wroteSample { w.byte(UInt8(ascii: ",")) }
                    encoder.object(values: b.values + i, stride: capacity, into: &w) { w in
                        PhaseJSON.sampleField(labels?.phase(forSeq: index), into: &w)
                        perCPU?.objects(b.records.record(i), into: &w)
                    }
                }
                wroteSample = true
                previous = index
            }
            next = first + UInt64(n)
        }
        // Streaming forward: the pages behind are not needed again. Released a megabyte of
        // records at a time, not per chunk: each release is a system call and a TLB flush.
        if (next - released) * UInt64(samples.header.recordSize) >= 1 << 20 || next == range.upperBound {
            samples.reader.release(released..<next)
            released = next
        }
        guard next == range.upperBound else { return false }
        if shape == .objects { w.literal(Array("]}".utf8)) }
        return true
    }

    /// Column by column (the format's order), a pass over the range for each that copies only
    /// the record words the column is derived from; the pages are released when the reply
    /// ends, not between passes.
    private func columns(into w: inout JSONWriter, budget: Int) -> Bool {
        let count = encoder.columns.count
        while w.count < budget {
            if column > count {
                guard let perCPU else {
                    w.literal(Array("}}".utf8))
                    return true
                }
                return perCPUColumns(perCPU, into: &w, budget: budget)
            }
            if !inColumn {
                inColumn = true
                if column > 0 { w.byte(UInt8(ascii: ",")) }
                if column < count {
                    encoder.key(column, into: &w)
                    if let group {
                        if !group.holds(column) { group.start(at: column, encoder: encoder) }
                    } else {
                        reads = samples.deriver.reads(encoder.columns[column])
                    }
                } else {
                    w.key("phase")
                }
                w.beginArray()
            }
            var i = next
            let upper = range.upperBound, lower = range.lowerBound
            if column < count, let group {
                guard group.fill(from: samples, encoder: encoder, block: block, range: range, before: before, work: budget - w.count) else { return false }
                i = group.write(column, from: i, range: range, into: &w, budget: budget)
            } else if column < count {
                let plan = encoder.plans[column]
                let block = block
                reads.withUnsafeBufferPointer { offsets in
                    withUnsafeTemporaryAllocation(of: Double.self, capacity: block.capacity) { values in
                        while i < upper && w.count < budget {
                            let n = Int(min(UInt64(block.capacity), upper - i))
                            samples.gather(i, count: n, into: block, offsets: offsets)
                            for k in 0..<n {
                                let index = i + UInt64(k)
                                values[k] = block.ok[k] != 0 ? plan.value(block.record(k), previous: index == lower ? before : index - 1) : .nan
                            }
                            w.numbers(values.baseAddress!, count: n, comma: i > lower)
                            i += UInt64(n)
                        }
                    }
                }
            } else {
                while i < upper && w.count < budget {
                    if i > lower { w.byte(UInt8(ascii: ",")) }
                    if let l = labels?.phase(forSeq: i) { w.int(l.id) } else { w.null() }
                    i += 1
                }
            }
            next = i
            if next == upper {
                w.endArray()
                inColumn = false
                column += 1
                next = lower
                // The scratch goes back to the budget before the phase and per-CPU columns.
                if column == count { group = nil }
            }
        }
        return false
    }

    /// After the metric columns: `"per_cpu":{"KEY":[[CPU 0's values],[CPU 1's],...],...}`, each
    /// CPU's array aligned with the columns, a pass over the range per key and CPU that copies
    /// only the words that key is derived from.
    private func perCPUColumns(_ p: PerCPUSelection, into w: inout JSONWriter, budget: Int) -> Bool {
        let lower = range.lowerBound, upper = range.upperBound
        while w.count < budget {
            if perCPUKey == p.keys.count {
                w.literal(p.keys.isEmpty ? Array("},\"per_cpu\":{}}".utf8) : Array("]}}".utf8))
                return true
            }
            if !inColumn {
                inColumn = true
                if cpu == 0 {
                    w.literal(Array((perCPUKey == 0 ? "},\"per_cpu\":{" : "],").utf8))
                    w.key(rendered: p.renderedKeys[perCPUKey])
                    w.byte(UInt8(ascii: "["))
                } else {
                    w.byte(UInt8(ascii: ","))
                }
                w.byte(UInt8(ascii: "["))
                reads = p.metrics.reads(p.keys[perCPUKey], cpu: cpu)
            }
            var i = next
            let k = p.keys[perCPUKey]
            reads.withUnsafeBufferPointer { offsets in
                while i < upper && w.count < budget {
                    if i > lower { w.byte(UInt8(ascii: ",")) }
                    if samples.gather(i, into: buffer, offsets: offsets) {
                        w.number(p.metrics.value(k, buffer.record, cpu: cpu))
                    } else {
                        w.null()
                    }
                    i += 1
                }
            }
            next = i
            if next == upper {
                w.byte(UInt8(ascii: "]"))
                inColumn = false
                next = lower
                cpu += 1
                if cpu == p.metrics.cpuCount {
                    cpu = 0
                    perCPUKey += 1
                }
            }
        }
        return false
    }
}

/// Columns of a reply whose range is short enough: a group of them derived in one pass over
/// the range into a scratch of numbers (column g of record i at `values[g * records + i]`, NaN
/// where the record was gone, which is written as null like any unavailable value), then
/// written from it. A pass per group, not per column: each pass touches every record's cache
/// lines, which costs more than deriving the values. The scratch is bounded per reply
/// (`ScratchBudget.perReply`) and taken from a budget all replies share, so a range too long for
/// even one column, or a reply that finds the budget spent, is served a pass per column instead.
private final class ColumnGroup {
    let records: Int
    let capacity: Int
    let values: UnsafeMutablePointer<Double>
    private let budget: ScratchBudget
    /// The group's columns (indices into the encoder's), and how many of its records are derived.
    private(set) var columns = 0..<0
    private var filled = 0
    private var reads: [UInt32] = []

    init?(records: Int, columns: Int, budget: ScratchBudget) {
        guard records > 0, columns > 0 else { return nil }
        capacity = min(columns, min(ScratchBudget.perReply, budget.limit) / MemoryLayout<Double>.stride / records)
        guard capacity > 0, budget.take(capacity * records * MemoryLayout<Double>.stride) else { return nil }
        self.records = records
        self.budget = budget
        values = .allocate(capacity: capacity * records)
    }
    deinit {
        values.deallocate()
        budget.give(capacity * records * MemoryLayout<Double>.stride)
    }

    func holds(_ column: Int) -> Bool { columns.contains(column) }

    /// Makes column `first` and those after it (as many as fit) the group to derive.
    func start(at first: Int, encoder: SampleEncoder) {
        columns = first..<min(encoder.columns.count, first + capacity)
        filled = 0
        var words = Set<UInt32>()
        for c in columns { words.formUnion(encoder.samples.deriver.reads(encoder.columns[c])) }
        reads = words.sorted()
    }

    /// Derives the group's values for more of the range, about `work` bytes' worth (a derived
    /// value counted as 8 bytes of output); true once all are derived.
    func fill(from samples: RingSamples, encoder: SampleEncoder, block: RecordBlock, range: Range<UInt64>, before: UInt64?, work: Int) -> Bool {
        let lower = range.lowerBound
        var done = 0
        encoder.plans.withUnsafeBufferPointer { plans in
            reads.withUnsafeBufferPointer { offsets in
                while filled < records && done < work {
                    let first = lower + UInt64(filled)
                    let n = min(block.capacity, records - filled)
                    samples.gather(first, count: n, into: block, offsets: offsets)
                    for c in columns {
                        let plan = plans[c]
                        let row = values + (c - columns.lowerBound) * records + filled
                        for k in 0..<n {
                            let index = first + UInt64(k)
                            row[k] = block.ok[k] != 0 ? plan.value(block.record(k), previous: index == lower ? before : index - 1) : .nan
                        }
                    }
                    filled += n
                    done += n * columns.count * 8
                }
            }
        }
        return filled == records
    }

    /// Writes column `c`'s values from index `from` of the range until the range ends or the
    /// chunk is full; returns the index it stopped at.
    func write(_ c: Int, from: UInt64, range: Range<UInt64>, into w: inout JSONWriter, budget: Int) -> UInt64 {
        let lower = range.lowerBound
        let row = values + (c - columns.lowerBound) * records
        var i = Int(from - lower)
        while i < records && w.count < budget {
            let n = min(records - i, 256)  // a chunk ends within a few kilobytes of its budget
            w.numbers(row + i, count: n, comma: i > 0)
            i += n
        }
        return lower + UInt64(i)
    }
}

/// Records read a block at a time for objects and CSV rows, with their derived values (column
/// by column: value k of record i at `values[k * capacity + i]`) and, for each, the sample
/// before it (for `gap`). Small enough that a block's rows stay near the chunk budget.
private final class RowBlock {
    let records: RecordBlock
    let values: UnsafeMutablePointer<Double>
    let previous: UnsafeMutablePointer<UInt64?>
    init(samples: RingSamples, columns: Int, whole: Bool) {
        records = RecordBlock(capacity: 16, for: samples, whole: whole)
        values = .allocate(capacity: max(1, columns) * records.capacity)
        previous = .allocate(capacity: records.capacity)
        previous.initialize(repeating: nil, count: records.capacity)
    }
    deinit {
        values.deallocate()
        previous.deinitialize(count: records.capacity)
        previous.deallocate()
    }
}

/// `per_cpu=1` on a ring with a per-CPU section: which of its CPUs' figures a reply holds.
struct PerCPUSelection {
    let metrics: PerCPUMetrics
    let keys: [Int]
    /// Each key's `"key":`, rendered once per reply.
    let renderedKeys: [[UInt8]]

    init(metrics: PerCPUMetrics, keys: [Int]) {
        self.metrics = metrics
        self.keys = keys
        renderedKeys = keys.map { JSONWriter.render(key: metrics.keys[$0]) }
    }

    /// A sample object's `"per_cpu":[{...},...]`, one object per CPU.
    func objects(_ r: RecordView, into w: inout JSONWriter) {
        w.key("per_cpu")
        w.beginArray()
        for cpu in 0..<metrics.cpuCount {
            w.beginObject()
            for (j, k) in keys.enumerated() {
                w.key(rendered: renderedKeys[j])
                w.number(metrics.value(k, r, cpu: cpu))
            }
            w.endObject()
        }
        w.endArray()
    }
}
