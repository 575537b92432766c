// The OS fields a collector reads only every slow period (the header's slow-field mask:
// meminfo, diskstats, net/dev, loadavg, vmstat, pressure) are invalid in the records between
// two readings, and a delta among them covers the record's slow span, not its dt. This turns
// them back into a value for every record: the last reading's level, or its rate times the
// record's dt, so that charts, phases, alerts and /metrics see a steady series, not a break
// after every reading. A reading older than three slow periods is not repeated: the field is
// then null, as it would be without a source.
import Shared

final class SlowFieldHold {
    let mask: UInt64
    let periodNs: UInt64
    /// Per field: the last level, or the last delta per ns of its span; when it was read.
    private var value = [Double](repeating: 0, count: OSField.allCases.count)
    private var readAt = [UInt64?](repeating: nil, count: OSField.allCases.count)
    private static let fields = OSField.allCases

    init(header: RingHeader) {
        mask = header.slowPeriodNs == 0 ? 0 : header.slowFieldMask
        periodNs = header.slowPeriodNs
    }

    /// Takes the slow fields a record carries; call once per record, before `os`.
    func observe(_ r: RecordView) {
        guard mask != 0 else { return }
        let present = r.osValid & mask
        guard present != 0 else { return }
        let span = r.slowSpanNs
        for f in Self.fields where present & f.bit != 0 {
            guard let v = r.os(f) else { continue }
            switch f.kind {
            case .level: value[f.rawValue] = Double(v)
            case .delta:
                guard span > 0 else { continue }
                value[f.rawValue] = Double(v) / Double(span)
            }
            readAt[f.rawValue] = r.timeNs
        }
    }

    /// The field's value for record `r` in the record's own terms (a delta over its dt), or
    /// nil when unavailable.
    func os(_ r: RecordView, _ f: OSField) -> Double? {
        guard mask & f.bit != 0 else { return r.os(f).map { Double($0) } }
        guard let at = readAt[f.rawValue], r.timeNs >= at, r.timeNs - at <= periodNs &* 3 else { return nil }
        return f.kind == .level ? value[f.rawValue] : value[f.rawValue] * Double(r.dtNs)
    }
}
