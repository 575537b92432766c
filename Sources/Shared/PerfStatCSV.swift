// Reads `perf stat -I MS -x, -e EVENTS` output, so a recording made with perf on any machine can
// be replayed into a ring (the collector), analysed and compared (the server). One reader for
// all three: what counts as a count, a gap or an error is decided once.
//
// Each line is `time,value,unit,event,run_time_ns,pct_running,metric,metric_unit` (the last
// four may be missing or empty), or with `-a -A` the same with a `CPUn,` column after the time,
// whose lines are summed per event. Values are printed already scaled for multiplexing;
// `<not counted>` (the counter never ran in the interval) and `<not supported>` (no such event
// on that machine) are statuses, never zeros.

public enum PerfStatCSV {
    public enum Status: Sendable, Equatable { case counted, notCounted, notSupported }

    /// One event's figure for one interval.
    public struct Reading: Sendable, Equatable {
        /// perf's count (already scaled by perf), clocks in ns; NaN unless `status` is counted.
        public var count: Double
        /// The percentage of the interval the counter ran (below 100: multiplexed).
        public var runningPct: Double
        public var status: Status
        public init(count: Double, runningPct: Double, status: Status) {
            self.count = count; self.runningPct = runningPct; self.status = status
        }
    }

    public struct Event: Sendable, Equatable {
        /// The name perfring uses (`cycles`, `branch-instructions`, `page-faults`).
        public var name: String
        /// As perf printed it (`cpu-cycles:u`).
        public var spelled: String
        /// The unit of its counts: `ns` for perf's `msec` clocks, else perf's (usually empty).
        public var unit: String
    }

    public struct Interval: Sendable, Equatable {
        /// perf's time stamp: seconds since it started counting, at the end of the interval.
        public var time: Double
        /// By event index; nil when perf printed no line for the event at this time.
        public var readings: [Reading?]
    }

    public struct Recording: Sendable, Equatable {
        /// In the order perf first printed them.
        public var events: [Event]
        public var intervals: [Interval]
        /// CPUs of a per-CPU (`-A`) recording, summed into each reading; 0 for the plain layout.
        public var cpus: Int
    }

    public struct ParseError: Error, Equatable, CustomStringConvertible, Sendable {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Whether `text` looks like perf stat interval output rather than a CSV with a header row:
    /// its first line that is not blank or a comment starts with a time stamp.
    public static func isPerfStat(_ text: String) -> Bool {
        for line in text.split(whereSeparator: \.isNewline) {
            let l = line.trimmingSpaces
            if l.isEmpty || l.hasPrefix("#") { continue }
            let first = l.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingSpaces
            return Double(first) != nil
        }
        return false
    }

    /// Nanoseconds per unit of perf's time units; other units are kept as printed.
    static let timeUnits: [Substring: Double] = ["msec": 1e6, "ms": 1e6, "usec": 1e3, "us": 1e3, "nsec": 1, "ns": 1, "sec": 1e9, "s": 1e9]

    public static func parse(_ text: String) throws(ParseError) -> Recording {
        var events: [Event] = []
        var index: [String: Int] = [:]          // spelled name -> event index
        var owner: [String: String] = [:]       // canonical name -> the spelling that claimed it
        var intervals: [Interval] = []
        var perCPU: Bool?
        var cpusSeen = Set<Int>()
        // Per-CPU aggregation within the current interval: CPUs already summed per event, and
        // the running percentages of the counted ones (their mean is the aggregate's).
        var summed: [Int: Set<Int>] = [:]
        var pcts: [Int: [Double]] = [:]

        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            func fail(_ message: String) -> ParseError { ParseError(line: lineNumber, message: message) }
            var f = line.split(separator: ",", omittingEmptySubsequences: false).map(\.trimmingSpaces)
            guard let time = Double(f[0]), time.isFinite, time >= 0 else {
                throw fail("'\(f[0])' is not a time stamp: expected `perf stat -I MS -x,` output (time,value,unit,event,...)")
            }
            var cpu: Int?
            if f.count > 1, f[1].hasPrefix("CPU"), let n = Int(f[1].dropFirst(3)), n >= 0 {
                cpu = n
                f.remove(at: 1)
            }
            if let p = perCPU, p != (cpu != nil) { throw fail("mixes per-CPU and aggregated lines") }
            perCPU = cpu != nil
            guard f.count >= 4 else { throw fail("\(f.count) fields: not perf stat -I MS -x, output (time,value,unit,event[,run time,percent,...])") }
            let value = f[1], unit = f[2], spelled = f[3]
            let status: Status
            var count = Double.nan
            switch value {
            case "<not counted>": status = .notCounted
            case "<not supported>": status = .notSupported
            default:
                guard let v = Double(value), v.isFinite, v >= 0 else {
                    throw fail("'\(value)' is not a count (nor <not counted> or <not supported>); only the plain and per-CPU (-A) layouts are read")
                }
                status = .counted
                count = v * (timeUnits[unit] ?? 1)
            }
            guard !spelled.isEmpty, Double(spelled) == nil else { throw fail("'\(spelled)' is not an event name") }
            var pct = 100.0
            if f.count > 5, !f[5].isEmpty {
                guard let p = Double(f[5]), p >= 0, p <= 100 else { throw fail("'\(f[5])' is not a running percentage (0 to 100)") }
                pct = p
            }

            let name = String(spelled)
            let e: Int
            if let known = index[name] {
                e = known
            } else {
                let canonical = PerfEventName.canonical(spelled)
                if let other = owner[canonical] {
                    throw fail("'\(name)' and '\(other)' both count \(canonical); record them in separate runs")
                }
                e = events.count
                index[name] = e
                owner[canonical] = name
                events.append(Event(name: canonical, spelled: name, unit: timeUnits[unit] != nil ? "ns" : String(unit)))
            }

            if let last = intervals.last?.time, time < last {
                throw fail("time stamp \(f[0]) goes back (the previous line's was \(last))")
            }
            if intervals.last?.time != time {
                intervals.append(Interval(time: time, readings: []))
                summed = [:]
                pcts = [:]
            }
            let k = intervals.count - 1
            if intervals[k].readings.count < events.count {
                intervals[k].readings += [Reading?](repeating: nil, count: events.count - intervals[k].readings.count)
            }
            let reading = Reading(count: count, runningPct: status == .counted ? pct : 0, status: status)
            guard let cpu else {
                guard intervals[k].readings[e] == nil else { throw fail("\(name) printed twice at time \(f[0])") }
                intervals[k].readings[e] = reading
                continue
            }
            cpusSeen.insert(cpu)
            guard summed[e, default: []].insert(cpu).inserted else { throw fail("\(name) printed twice for CPU\(cpu) at time \(f[0])") }
            guard let sofar = intervals[k].readings[e] else {
                intervals[k].readings[e] = reading
                if status == .counted { pcts[e] = [pct] }
                continue
            }
            intervals[k].readings[e] = merge(sofar, reading, pcts: &pcts[e, default: []])
        }
        guard !intervals.isEmpty else { throw ParseError(line: lineNumber, message: "no perf stat intervals in the input") }
        for k in intervals.indices where intervals[k].readings.count < events.count {
            intervals[k].readings += [Reading?](repeating: nil, count: events.count - intervals[k].readings.count)
        }
        return Recording(events: events, intervals: intervals, cpus: cpusSeen.count)
    }

    /// Adds one CPU's reading to the sum so far: counts add, the running percentage is the
    /// mean over the CPUs that counted (each was enabled for the whole interval), and the sum
    /// is counted when any CPU counted, else not supported only when none was even counted.
    private static func merge(_ a: Reading, _ b: Reading, pcts: inout [Double]) -> Reading {
        switch (a.status, b.status) {
        case (.counted, .counted):
            pcts.append(b.runningPct)
            return Reading(count: a.count + b.count, runningPct: pcts.reduce(0, +) / Double(pcts.count), status: .counted)
        case (.counted, _): return a
        case (_, .counted):
            pcts = [b.runningPct]
            return b
        case (.notCounted, _), (_, .notCounted): return a.status == .notCounted ? a : b
        default: return a
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces, tabs and carriage returns.
    public var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return s
    }
}
