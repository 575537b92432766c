// Each CPU's figures from a record's per-CPU section (`perfring-collector --per-cpu`;
// RING-FORMAT.md "Per-CPU slot"): the CPU time split, every counting event's scaled count and
// rate, and the ratios, by the same rules as the machine-wide columns (MetricDeriver) applied
// to one CPU's slot. Like the columns, nothing is stored: values are derived when served.
import Shared

public final class PerCPUMetrics {
    enum Kind {
        /// Percent of the CPU's time spent in `parts` (indices into its 8 time deltas).
        case share([Int])
        /// A scaled count: the sum of the slots' estimates that have data (one slot, or the
        /// core PMUs' parts of a hybrid event).
        case count([(slot: Int, flags: EventFlags)])
        /// Key `of` (a count) per second of the record's dt.
        case rate(of: Int)
        /// scale × key over key; null unless the denominator is positive.
        case ratio(of: Int, over: Int, scale: Double)
        /// An event that does not count here: always null.
        case unavailable
    }

    public let header: RingHeader
    /// CPUs in the section (0: the ring has none).
    public var cpuCount: Int { header.perCpuCount }
    /// Every key, in the order replies list them.
    public private(set) var keys: [String] = []
    /// Keys a reply lists when `per_cpu_fields` does not say: all but the events that do not count.
    public private(set) var defaultKeys: [Int] = []
    private var kinds: [Kind] = []

    /// Machine-wide shares, as MetricDeriver's cpuShare: busy is all but idle and iowait.
    static let shares: [(key: String, parts: [Int])] = [
        ("cpu_util", [0, 1, 2, 5, 6, 7]), ("cpu_user", [0, 1]), ("cpu_system", [2, 5, 6]), ("cpu_iowait", [4]), ("cpu_steal", [7]),
    ]
    static let ratios: [(key: String, num: String, den: String, scale: Double)] = [
        ("ipc", "instructions", "cycles", 1), ("cpi", "cycles", "instructions", 1),
        ("cache_miss_rate", "cache_misses", "cache_references", 100), ("branch_miss_rate", "branch_misses", "branches", 100),
        ("cache_mpki", "cache_misses", "instructions", 1000), ("branch_mpki", "branch_misses", "instructions", 1000),
    ]

    public init(header: RingHeader) {
        self.header = header
        for s in Self.shares { add(s.key, .share(s.parts)) }
        var hybrid: [(key: String, parts: [(slot: Int, flags: EventFlags)])] = []
        for (slot, e) in header.events.enumerated() {
            let key = MetricDeriver.key(forEvent: e.name)
            if e.flags.contains(.pmuPart), let (_, event) = MetricDeriver.pmuPart(e.name) {
                let total = MetricDeriver.key(forEvent: event)
                if !hybrid.contains(where: { $0.key == total }) { hybrid.append((total, [])) }
                if e.status == .counting, let i = hybrid.firstIndex(where: { $0.key == total }) { hybrid[i].parts.append((slot, e.flags)) }
            }
            guard e.status == .counting else {
                add(key, .unavailable, listed: false)
                add(key + "_per_s", .unavailable, listed: false)
                continue
            }
            add(key, .count([(slot, e.flags)]))
            add(key + "_per_s", .rate(of: keys.count - 1))
        }
        // A hybrid event is the sum of its parts (on one CPU, the part of that CPU's core type).
        for h in hybrid where !keys.contains(h.key) {
            if h.parts.isEmpty {
                add(h.key, .unavailable, listed: false)
                add(h.key + "_per_s", .unavailable, listed: false)
            } else {
                add(h.key, .count(h.parts))
                add(h.key + "_per_s", .rate(of: keys.count - 1))
            }
        }
        for r in Self.ratios {
            if let n = index(r.num), let d = index(r.den), case .count = kinds[n], case .count = kinds[d] {
                add(r.key, .ratio(of: n, over: d, scale: r.scale))
            } else {
                add(r.key, .unavailable)
            }
        }
    }

    private func add(_ key: String, _ kind: Kind, listed: Bool = true) {
        if listed { defaultKeys.append(keys.count) }
        keys.append(key)
        kinds.append(kind)
    }

    public func index(_ key: String) -> Int? { keys.firstIndex(of: key) }

    /// Resolves `per_cpu_fields=a,b` (nil: the default keys).
    public func keys(for fields: [String]?) throws(SampleEncoder.UnknownField) -> [Int] {
        guard let fields else { return defaultKeys }
        var out: [Int] = []
        for f in fields {
            guard let k = index(f) else { throw SampleEncoder.UnknownField(key: f) }
            if !out.contains(k) { out.append(k) }
        }
        return out
    }

    /// Key `k` of CPU `cpu` in record `r` (a copy holding the words `reads(k, cpu:)` names).
    public func value(_ k: Int, _ r: RecordView, cpu: Int) -> Double {
        switch kinds[k] {
        case .share(let parts):
            var total: UInt64 = 0, part: UInt64 = 0
            for i in 0..<8 { total &+= r.cpuTime(cpu: cpu, i, header: header) }
            guard total > 0 else { return .nan }  // all eight zero: not sampled (--no-os)
            for i in parts { part &+= r.cpuTime(cpu: cpu, i, header: header) }
            return 100 * Double(part) / Double(total)
        case .count(let parts):
            var sum = 0.0, any = false
            for p in parts {
                let v = counterEstimate(r.cpuCounter(cpu: cpu, p.slot, header: header), flags: p.flags, record: r.flags)
                if v.isFinite { sum += v; any = true }
            }
            return any ? sum : .nan
        case .rate(let count):
            return r.dtNs > 0 ? value(count, r, cpu: cpu) * 1e9 / Double(r.dtNs) : .nan
        case .ratio(let n, let d, let scale):
            let b = value(d, r, cpu: cpu)
            return b > 0 ? scale * value(n, r, cpu: cpu) / b : .nan
        case .unavailable:
            return .nan
        }
    }

    /// The record words (byte offsets, sorted) key `k` of CPU `cpu` is derived from, for a
    /// reply that copies only those.
    public func reads(_ k: Int, cpu: Int) -> [UInt32] {
        let slotBase = header.perCpuOffset + cpu * header.perCpuStride
        var words = [RingLayout.rSeq]
        func collect(_ k: Int) {
            switch kinds[k] {
            case .share:
                words += (0..<8).map { slotBase + RingLayout.cpuTimes + $0 * 8 }
            case .count(let parts):
                words.append(RingLayout.rMissed)  // the word holding the record's flags
                for p in parts {
                    let o = slotBase + RingLayout.cpuCounters + p.slot * RingLayout.counterSize
                    words += [o, o + 8, o + 16]
                }
            case .rate(let count):
                words.append(RingLayout.rDtNs)
                collect(count)
            case .ratio(let n, let d, _):
                collect(n)
                collect(d)
            case .unavailable:
                break
            }
        }
        collect(k)
        return Set(words).sorted().map(UInt32.init)
    }
}
