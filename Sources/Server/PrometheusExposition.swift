// /metrics in the Prometheus text format 0.0.4: event totals as counters (cumulative since the
// collector started, from the ring header), the newest sample's derived values as gauges.
// Unavailable values are left out, never exported as 0; `perfring_event_available` says which.
// Names from the ring file are untrusted: label values are escaped, HELP text too, and metric
// names reduced to [a-z0-9_] (a ring whose names would then collide is refused by the follower).
import Shared

public enum PrometheusExposition {
    public static func render(follower: RingFollower, now: UInt64) -> [UInt8] {
        var out = ""
        out.reserveCapacity(8192)
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) \(type)\n"
        }
        func line(_ name: String, _ labels: String = "", _ value: Double) {
            out += name + (labels.isEmpty ? "" : "{\(labels)}") + " " + format(value) + "\n"
        }
        let state = follower.state(now: now)
        family("perfring_up", "gauge", "1 when the collector is running and writing samples")
        line("perfring_up", "", state == .running ? 1 : 0)
        family("perfring_collector_state", "gauge", "collector state (1 for the current one)")
        for s in [CollectorState.running, .stalled, .stopped, .absent] {
            line("perfring_collector_state", "state=\"\(s.rawValue)\"", s == state ? 1 : 0)
        }
        family("perfring_records_lost_total", "counter", "ring records the server never read (overwritten or torn)")
        line("perfring_records_lost_total", "", Double(follower.recordsLost))
        guard let header = follower.reader?.header else { return Array(out.utf8) }
        family("perfring_info", "gauge", "what is monitored (value always 1)")
        let generation = String(header.generation, radix: 16)  // 16 digits, as the JSON API shows it
        line("perfring_info", "mode=\"\(escape(header.mode.name))\",target=\"\(escape(header.target))\",host=\"\(escape(header.hostname))\",generation=\"\(String(repeating: "0", count: 16 - generation.count) + generation)\"", 1)
        family("perfring_interval_seconds", "gauge", "sampling interval")
        line("perfring_interval_seconds", "", Double(header.intervalNs) / 1e9)
        family("perfring_event_available", "gauge", "1 when the event counts on this machine, 0 when unsupported or not permitted")
        let events = follower.events
        for e in events {
            let status = e.effectiveStatus
            line("perfring_event_available", "event=\"\(escape(e.name))\",status=\"\(status.name)\"", status == .counting ? 1 : 0)
        }
        // Totals: one per slot; a hybrid event also as the sum of its core PMUs' parts.
        var hybridTotals: [(key: String, event: String, sum: UInt64)] = []
        for (slot, e) in events.enumerated() where e.effectiveStatus == .counting && slot < follower.totals.count {
            let name = metricName(MetricDeriver.key(forEvent: e.name)) + "_total"
            family(name, "counter", "\(e.name) since the collector started, scaled for multiplexing")
            line(name, "", Double(follower.totals[slot]))
            if e.flags.contains(.pmuPart), let (_, event) = MetricDeriver.pmuPart(e.name) {
                let key = MetricDeriver.key(forEvent: event)
                if let i = hybridTotals.firstIndex(where: { $0.key == key }) { hybridTotals[i].sum &+= follower.totals[slot] }
                else { hybridTotals.append((key, event, follower.totals[slot])) }
            }
        }
        // (A ring that also names the plain event keeps that one: one family per name.)
        let plain = Set(events.filter { !$0.flags.contains(.pmuPart) }.map { MetricDeriver.key(forEvent: $0.name) })
        for h in hybridTotals where !plain.contains(h.key) {
            let name = metricName(h.key) + "_total"
            family(name, "counter", "\(h.event) since the collector started, scaled for multiplexing, all core PMUs")
            line(name, "", Double(h.sum))
        }
        if let t = follower.newestTimeNs, now >= t {
            family("perfring_sample_age_seconds", "gauge", "age of the newest sample")
            line("perfring_sample_age_seconds", "", Double(now - t) / 1e9)
        }
        let newest = SampleBuffer()
        guard let samples = follower.samples, samples.count > 0, samples.read(samples.end - 1, into: newest) else { return Array(out.utf8) }
        for (c, spec) in samples.columns.enumerated() {
            guard spec.kind != .unavailable, !skipped.contains(spec.key) else { continue }
            let v = samples.value(c, in: newest, previous: nil)
            guard v.isFinite else { continue }
            let name = metricName(spec.key)
            family(name, "gauge", spec.help + (spec.unit.isEmpty ? "" : " (\(spec.unit))") + ", newest sample")
            line(name, "", v)
        }
        return Array(out.utf8)
    }

    /// The Prometheus name of an API key: snake_case (`dTLB_load_misses` -> `dtlb_load_misses`)
    /// and units spelled out (`cycles_per_s` -> `cycles_per_second`), as promtool's lint wants;
    /// any byte outside [a-z0-9_] becomes `_`, so no key can break the line it is written on.
    static func metricName(_ key: String) -> String {
        var name = "perfring_" + String(decoding: key.lowercased().utf8.map { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) ? b : UInt8(ascii: "_")
        }, as: UTF8.self)
        if name.hasSuffix("_per_s") { name = name.dropLast() + "second" }
        return name
    }

    /// The first metric name two columns would share (or a column would share with an event
    /// total), if any: such a ring cannot be exposed unambiguously.
    static func collision(in columns: [ColumnSpec]) -> String? {
        var seen: Set<String> = ["perfring_up", "perfring_collector_state", "perfring_records_lost_total", "perfring_info",
                                 "perfring_interval_seconds", "perfring_event_available", "perfring_sample_age_seconds"]
        for c in columns {
            let name = metricName(c.key)
            for n in [name, name + "_total"] where !seen.insert(n).inserted { return n }
        }
        return nil
    }

    /// Per-sample bookkeeping that is not a measurement.
    static let skipped: Set<String> = ["seq", "time_ms", "dt_ms", "missed", "gap"]

    /// HELP text: backslash and line feed escaped (the format's two), other controls dropped.
    static func escapeHelp(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where c.value < 0x20 || c.value == 0x7F: break
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A label value: backslash, double quote and line feed escaped, other controls dropped
    /// (a carriage return is legal there but breaks some scrapers' line handling).
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case _ where c.value < 0x20 || c.value == 0x7F: break
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func format(_ v: Double) -> String {
        var w = JSONWriter(reserve: 24)
        w.number(v)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
