// Reads `perf stat` output as perf writes it, across versions (3.x to 6.x), so a recording
// made with perf on any machine can be replayed into a ring (the collector), analysed and
// compared (the server). One reader for all three: what counts as a count, a gap or an error
// is decided once.
//
// Layouts: `-x SEP` with any separator (comma, tab, space, semicolon, several characters),
// `-j` (JSON lines) and the human layout without `-x`, in any locale's digit grouping; interval (`-I`) or totals;
// aggregated, per CPU (`-A`) or per core/die/socket/node/cache/cluster, whose lines are summed
// per event; `-G` cgroup and `-r` variance columns; header and comment lines (`# started on`,
// `perf version`, a command line, the human layout's title and footer). Column positions are
// found by what the columns hold (PerfStatLine).
//
// Events: one per counted thing, named as perfring names it (PerfEventName.canonical). Spellings
// of it that count disjoint parts (`cpu_atom/cycles/` and `cpu_core/cycles/` on a hybrid CPU,
// `cycles:u` and `cycles:k`, one event in several cgroups) are that event's parts, summed,
// as the collector counts a hybrid CPU's event live; spellings that overlap (`cycles` and
// `cpu-cycles`) are refused.
//
// Values are printed already scaled for multiplexing. `<not supported>` (no such event there)
// has no value. `<not counted>` of a counter that was enabled for none of the interval (perf
// prints 100 % or no percentage: run = enabled = 0; a task that did not run) is a count of 0;
// one that was enabled but never scheduled (0 %) has no value.

public enum PerfStatCSV {
    public enum Status: Sendable, Equatable { case counted, notCounted, notSupported }

    /// One event's figure for one interval.
    public struct Reading: Sendable, Equatable {
        /// perf's count (already scaled by perf), clocks in ns; NaN when there is no value
        /// (not supported, or not counted while enabled), 0 for a task that did not run.
        public var count: Double
        /// The percentage of the interval the counter ran (below 100: multiplexed).
        public var runningPct: Double
        public var status: Status
        /// Each part's count, in the order of the event's `parts` (NaN: that part has no value
        /// or no line).
        public var parts: [Double] = []
        /// perf's own derived figure on this line (`insn per cycle`, `of all branches`), for
        /// cross-checking; NaN when it printed none or the reading sums several lines.
        public var metric: Double = .nan
        public var metricUnit: String = ""
        public init(count: Double, runningPct: Double, status: Status) {
            self.count = count; self.runningPct = runningPct; self.status = status
        }
    }

    public struct Event: Sendable, Equatable {
        /// The name perfring uses (`cycles`, `branch-instructions`, `page-faults`).
        public var name: String
        /// As perf printed it (`cpu-cycles:u`); the first part's spelling when it has parts.
        public var spelled: String
        /// The unit of its counts: `ns` for perf's time units, else perf's (usually empty).
        public var unit: String
        /// The spellings summed into it, with ` @cgroup` after a -G cgroup's; one for most.
        public var parts: [String]
    }

    public struct Interval: Sendable, Equatable {
        /// perf's time stamp: seconds since it started counting, at the end of the interval.
        /// Totals: the elapsed time (NaN when the file does not say).
        public var time: Double
        /// By event index; nil when perf printed no line for the event at this time.
        public var readings: [Reading?]
    }

    public enum Layout: Sendable, Equatable {
        case csv(separator: String)
        case human
        /// `-j` (`--json`, perf 5.19 and later): one JSON object per line.
        case json
        public var description: String {
            switch self {
            case .csv(let s): "-x '\(s.map { $0 == "\t" ? "\\t" : String($0) }.joined())'"
            case .human: "human-readable"
            case .json: "-j (JSON)"
            }
        }
    }

    public struct Recording: Sendable, Equatable {
        /// In the order perf first printed them.
        public var events: [Event]
        public var intervals: [Interval]
        /// CPUs summed into each reading: distinct CPUs of a per-CPU (`-A`) recording, the sum
        /// of perf's CPU counts of a per-core/die/socket/node one; 0 for aggregated output.
        public var cpus: Int
        public var layout: Layout
        /// `-I` output; otherwise one interval of totals.
        public var isInterval: Bool
        /// `-A`, `--per-core`, ...: how lines were split (nil: aggregated).
        public var aggregation: String?
        /// `perf version ...`, the command line, perf's title (`'system wide'`), when present.
        public var perfVersion: String?
        public var commandLine: String?
        public var title: String?
        /// `-G` cgroups seen, `-r` variance seen.
        public var cgroups: [String] = []
        public var hasVariance = false
        /// Whether perf counted system-wide (`-a`, `-C`) rather than a process, and from what
        /// the file shows it; nil when nothing in the file says.
        public var systemWide: Bool?
        public var scopeEvidence: String
    }

    public struct ParseError: Error, Equatable, CustomStringConvertible, Sendable {
        public let line: Int
        /// 1-based; 0 when the whole line (or file) is meant.
        public let column: Int
        public let message: String
        public init(line: Int, column: Int = 0, message: String) { self.line = line; self.column = column; self.message = message }
        public var description: String { column > 0 ? "line \(line), column \(column): \(message)" : "line \(line): \(message)" }
    }

    /// Whether `text` looks like perf stat output rather than a CSV with a header row: its
    /// first line that is not blank, a comment or perf's prose starts with a time stamp, a
    /// count, a CPU/aggregation column, or is a -j object.
    public static func isPerfStat(_ text: String) -> Bool {
        for line in text.split(whereSeparator: \.isNewline) {
            let l = line.trimmingSpaces
            if l.isEmpty || l.hasPrefix("#") || prose(l) != nil { continue }
            // A header row starts with a column name; perf's lines with a time stamp, a count,
            // <not counted>, or a CPU or aggregation unit.
            let first = l.prefix { $0.isLetter || $0.isASCIIDigit || $0 == "-" }
            return (l.first?.isASCIIDigit ?? false) || l.hasPrefix("<") || PerfStatUnit.kind(of: first) != nil || first == "summary" || l.hasPrefix("{")
                || isMetricOnlyHeader(l)
        }
        return false
    }

    /// `--metric-only -x SEP`'s header: `time` and separators (its metric names, when there
    /// are any, follow; without a PMU there are none).
    static func isMetricOnlyHeader(_ l: Substring) -> Bool {
        l.hasPrefix("time") && l.dropFirst(4).allSatisfy { !$0.isLetter && !$0.isNumber }
    }

    /// A line of --metric-only output with nothing but its time stamp (or header): no count.
    static func isMetricOnlyLine(_ l: Substring) -> Bool {
        if isMetricOnlyHeader(l) { return true }
        if l.hasPrefix("{") { return !l.contains("\"event\"") }
        let stamp = l.prefix { $0.isASCIIDigit || $0 == "." }
        return PerfStatLineReader.timeStamp(stamp) != nil && l.dropFirst(stamp.count).allSatisfy { !$0.isLetter && !$0.isNumber && $0 != "<" }
    }

    /// Nanoseconds per unit of perf's time units; other units are kept as printed.
    static let timeUnits: [Substring: Double] = ["msec": 1e6, "ms": 1e6, "usec": 1e3, "us": 1e3, "nsec": 1, "ns": 1, "sec": 1e9, "s": 1e9]

    // MARK: prose

    enum Prose { case version(String), commandLine(String), title(String), elapsed(Substring), other }

    /// Lines perf (or a wrapper such as lkp's) writes around the data.
    static func prose(_ l: Substring) -> Prose? {
        if l.hasPrefix("perf version ") { return .version(String(l.dropFirst(13))) }
        if l.hasPrefix("Performance counter stats for ") { return .title(String(l.dropFirst(30).trimmingSuffix(":"))) }
        let words = l.split(whereSeparator: \.isWhitespace)
        if let s = words.firstIndex(of: "stat"), s > 0, words[s - 1].hasSuffix("perf") { return .commandLine(String(l)) }
        // `-r`: `0.0025 +- 0.0001 seconds time elapsed  ( +-  0.40% )`
        if words.count >= 6, words[1] == "+-", words[3] == "seconds", words[4] == "time" { return .elapsed(words[0]) }
        if words.count >= 3, words[1] == "seconds" {
            if words[2] == "time", words.count >= 4, words[3] == "elapsed" { return .elapsed(words[0]) }
            if words[2] == "user" || words[2] == "sys" { return .other }
        }
        let known = ["Some events weren't counted", "echo 0 > /proc/sys/kernel/nmi_watchdog", "echo 1 > /proc/sys/kernel/nmi_watchdog",
                     "The events in group usually have to be from the same PMU", "Using CPUID", "WARNING:", "Warning:", "Error:",
                     "Try disabling the NMI watchdog", "Failed to", "failed to"]
        return known.contains(where: { l.hasPrefix($0) }) ? .other : nil
    }

    // MARK: parsing

    public static func parse(_ text: String) throws(ParseError) -> Recording {
        var builder = RecordingBuilder()
        var data: [(number: Int, line: Substring)] = []
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let l = raw.trimmingSpaces
            if l.isEmpty { continue }
            if l.hasPrefix("#") {
                let c = l.dropFirst().trimmingSpaces
                if case .commandLine(let cmd)? = prose(c) { builder.commandLine = cmd }
                continue
            }
            switch prose(l) {
            case .version(let v)?: builder.perfVersion = v
            case .commandLine(let c)?: builder.commandLine = c
            case .title(let t)?: builder.title = t
            case .elapsed(let e)?: builder.elapsedText = (e, lineNumber)
            case .other?: break
            case nil: data.append((lineNumber, raw.last == "\r" ? raw.dropLast() : raw))
            }
        }
        guard let first = data.first else {
            throw ParseError(line: lineNumber, message: "no perf stat data in the input (only blank, comment or header lines)")
        }
        if data.allSatisfy({ isMetricOnlyLine($0.line.trimmingSpaces) }) {
            throw ParseError(line: first.number, message: "perf stat --metric-only output: it holds perf's metrics, not the counts perfring reads (record without --metric-only)")
        }
        var reader = try detect(data)
        for (number, raw) in data {
            let parsed: PerfStatLine?
            do { parsed = try reader.read(raw) } catch {
                throw ParseError(line: number, column: error.column, message: error.message + (number == first.number ? "" : " (read as \(reader.layout.description) output, as line \(first.number))"))
            }
            guard let parsed else { continue }
            try builder.add(parsed, line: number)
        }
        return try builder.finish(layout: reader.layout, interval: reader.interval, locale: reader.locale, lastLine: lineNumber)
    }

    /// The layout and options of a file, from its first data lines: the separator after the
    /// first column (a doubled one is an empty unit column between two), tried in turn until
    /// one reads the first lines.
    static func detect(_ data: [(number: Int, line: Substring)]) throws(ParseError) -> PerfStatLineReader {
        let (number, raw) = data[0]
        let line = raw.trimmingSpaces
        if line.hasPrefix("{") {
            // -j: the keys say what each line holds; `interval` is on every reading of an -I run
            // (the first reading decides: a metric-only line may come first).
            let reader = PerfStatLineReader(layout: .json, interval: false, cgroups: false)
            for (n, l) in data.prefix(12) {
                do {
                    let fields = try reader.jsonFields(l)
                    if fields["event"] != nil { return PerfStatLineReader(layout: .json, interval: fields["interval"] != nil, cgroups: false) }
                } catch {
                    throw ParseError(line: n, column: error.column, message: error.message)
                }
            }
            return reader
        }
        let leadingBlank = raw.first?.isWhitespace ?? false
        let firstField = line.prefix { !($0.isWhitespace || (!$0.isLetter && !$0.isASCIIDigit && $0 != "." && $0 != "<" && $0 != "-")) }
        var afterFirst = line.dropFirst(firstField.count)
        // A time stamp has nine decimals, or (a hand-made file) is followed by a count or a
        // CPU/aggregation column; a totals line starts with its value and then the unit or name.
        let next = afterFirst.drop { !$0.isLetter && !$0.isASCIIDigit && $0 != "<" }.prefix { $0.isLetter || $0.isASCIIDigit || $0 == "." || $0 == "-" }
        let interval = PerfStatLineReader.timeStamp(firstField) != nil
            && (firstField.split(separator: ".").last?.count == 9 || afterFirst.drop { !$0.isLetter && !$0.isASCIIDigit }.first.map { $0.isASCIIDigit } == true
                || afterFirst.contains("<") || PerfStatUnit.kind(of: next) != nil)
        if line.hasPrefix(PerfStatLineReader.notCounted) || line.hasPrefix(PerfStatLineReader.notSupported) {
            afterFirst = line.dropFirst(PerfStatLineReader.notCounted.count)
        }
        let run = afterFirst.prefix { !$0.isLetter && !$0.isASCIIDigit && $0 != "<" && $0 != "-" }
        var candidates: [PerfStatCSV.Layout] = []
        if !interval && leadingBlank {
            // Totals lines start with a blank only in the human layout (perf pads its values).
            candidates = [.human, .csv(separator: String(run.isEmpty ? " " : run))]
        } else if run.allSatisfy({ $0 == " " }) {
            // Spaces: perf's own padding (human) unless a single one after a time stamp or at
            // the start of an unpadded totals line.
            if run.count == 1 && (interval || !leadingBlank) { candidates = [.csv(separator: " "), .human] } else { candidates = [.human, .csv(separator: " ")] }
        } else if !run.isEmpty {
            let s = String(run)
            let half = s.count % 2 == 0 ? String(s.prefix(s.count / 2)) : nil
            if let half, half + half == s { candidates.append(.csv(separator: half)) }
            candidates.append(.csv(separator: s))
            candidates.append(.human)
        } else {
            throw ParseError(line: number, column: 1 + raw.count - afterFirst.count,
                             message: "expected a separator after '\(firstField)': not perf stat output (with or without -x)")
        }
        // -G: a column after the event name on every line; tried after the layout without one.
        var firstError: ParseError?
        for layout in candidates {
            for cgroups in [false, true] {
                var reader = PerfStatLineReader(layout: layout, interval: interval, cgroups: cgroups)
                var read = 0, failed = false
                for (n, l) in data.prefix(12) {
                    do {
                        if try reader.read(l) != nil { read += 1 }
                    } catch {
                        if firstError == nil { firstError = ParseError(line: n, column: error.column, message: error.message) }
                        failed = true
                        break
                    }
                }
                if !failed, read > 0 { return PerfStatLineReader(layout: layout, interval: interval, cgroups: cgroups) }
            }
        }
        throw firstError ?? ParseError(line: number, message: "no reading in the first lines")
    }
}

/// Interval by interval, event by event: lines summed over CPUs, aggregation units and parts.
struct RecordingBuilder {
    var perfVersion: String?
    var commandLine: String?
    var title: String?
    var elapsedText: (Substring, Int)?

    var events: [PerfStatCSV.Event] = []
    /// canonical name -> event index; spelling (+cgroup) -> (event, part)
    var eventIndex: [String: Int] = [:]
    var partIndex: [String: (event: Int, part: Int)] = [:]
    /// Per event, per part: (pmu, privilege modifiers) to tell disjoint parts from overlaps.
    var partKeys: [[(pmu: Substring, privilege: Set<Character>, cgroup: Substring?)]] = []
    var intervals: [PerfStatCSV.Interval] = []
    /// Per interval: the lines seen as (part key, unit id), and per event the part sums.
    var seen = Set<String>()
    var partReadings: [[PartSum]] = []
    var units: [String: Int] = [:]
    var aggregation: PerfStatUnit.Kind?
    var sawAggregated = false
    var cgroups: [String] = []
    var hasVariance = false
    var times: [Double] = []
    var lastTimeLine = 0

    /// A part's lines in the current interval, summed over CPUs / aggregation units.
    struct PartSum {
        var count = 0.0
        var counted = 0, lines = 0
        var pcts: [Double] = []
        var status: PerfStatCSV.Status = .notSupported
        var sawNotCounted = false
        var metric = Double.nan
        var metricUnit = ""
    }

    mutating func add(_ l: PerfStatLine, line: Int) throws(PerfStatCSV.ParseError) {
        func fail(_ m: String) -> PerfStatCSV.ParseError { .init(line: line, message: m) }
        if let u = l.unit {
            if sawAggregated { throw fail("mixes \(u.kind.rawValue) lines (\(u.id)) and aggregated lines") }
            if let a = aggregation, a != u.kind { throw fail("mixes \(a.rawValue) and \(u.kind.rawValue) lines") }
            aggregation = u.kind
            units[u.id] = u.cpus
        } else {
            if let a = aggregation { throw fail("mixes \(a.rawValue) lines and aggregated lines") }
            sawAggregated = true
        }
        if l.variancePct != nil { hasVariance = true }
        if let c = l.cgroup, !cgroups.contains(String(c)) { cgroups.append(String(c)) }

        // The interval.
        let time = l.time ?? .nan
        if intervals.isEmpty || (l.time != nil && intervals[intervals.count - 1].time != time) {
            if let last = intervals.last?.time, time < last {
                throw fail("time stamp \(time) goes back (line \(lastTimeLine)'s was \(last))")
            }
            closeInterval()
            intervals.append(.init(time: time, readings: []))
            partReadings = []
            seen = []
        }
        lastTimeLine = line

        // The event and part.
        let spelling = l.event + (l.cgroup.map { " @" + $0 } ?? "")
        let (e, p) = try part(spelling, l, line: line)
        guard seen.insert("\(p)/\(e)/\(l.unit?.id ?? "")").inserted else {
            let at = l.time.map { " at time \($0)" } ?? (intervals.count == 1 ? " in the totals (several runs in one file? split them)" : "")
            throw fail("\(spelling) printed twice\(l.unit.map { " for \($0.id)" } ?? "")\(at)")
        }
        while partReadings.count <= e { partReadings.append([]) }
        while partReadings[e].count <= p { partReadings[e].append(PartSum()) }
        var s = partReadings[e][p]
        s.lines += 1
        let scale = PerfStatCSV.timeUnits[l.valueUnit] ?? 1
        switch l.value {
        case .count(let v):
            s.count += v * scale
            s.counted += 1
            s.status = .counted
            s.pcts.append(l.runningPct ?? 100)
        case .notCounted:
            if s.status != .counted { s.status = .notCounted }
            // Enabled for none of the interval (100 % or no percentage printed): a task that
            // did not run counted 0. Enabled but never scheduled (below 100 %): no value.
            if (l.runningPct ?? 100) >= 100 { s.counted += 1; s.pcts.append(100) } else { s.sawNotCounted = true }
        case .notSupported:
            break
        }
        if s.lines == 1 { s.metric = l.metric; s.metricUnit = String(l.metricUnit) } else { s.metric = .nan; s.metricUnit = "" }
        partReadings[e][p] = s
    }

    /// The event and part a spelling counts, created on first sight.
    mutating func part(_ spelling: String, _ l: PerfStatLine, line: Int) throws(PerfStatCSV.ParseError) -> (Int, Int) {
        if let known = partIndex[spelling] { return known }
        let canonical = PerfEventName.canonical(l.event[...])
        let key = PerfEventName.partKey(l.event[...])
        // perf 6.x prints its clocks in ns with no unit in CSV.
        let clock = ["task-clock", "cpu-clock", "duration_time"].contains(canonical)
        let unit = PerfStatCSV.timeUnits[l.valueUnit] != nil || (clock && l.valueUnit.isEmpty) ? "ns" : String(l.valueUnit)
        if let e = eventIndex[canonical] {
            for (i, other) in partKeys[e].enumerated() {
                let disjoint = other.pmu != key.pmu || other.cgroup != l.cgroup || other.privilege.isDisjoint(with: key.privilege)
                guard disjoint else {
                    throw PerfStatCSV.ParseError(line: line, message: "'\(l.event)' and '\(events[e].parts[i])' both count \(canonical) (the same counter twice): record them in separate runs")
                }
            }
            guard events[e].unit == unit else {
                throw PerfStatCSV.ParseError(line: line, message: "'\(l.event)' is in \(l.valueUnit.isEmpty ? "no unit" : String(l.valueUnit)) where '\(events[e].parts[0])' was in \(events[e].unit.isEmpty ? "no unit" : events[e].unit)")
            }
            events[e].parts.append(spelling)
            partKeys[e].append((key.pmu, key.privilege, l.cgroup))
            partIndex[spelling] = (e, events[e].parts.count - 1)
            return (e, events[e].parts.count - 1)
        }
        let e = events.count
        events.append(.init(name: canonical, spelled: l.event, unit: unit, parts: [spelling]))
        partKeys.append([(key.pmu, key.privilege, l.cgroup)])
        eventIndex[canonical] = e
        partIndex[spelling] = (e, 0)
        return (e, 0)
    }

    /// The current interval's readings from its part sums: counts add; the running share is
    /// the mean over CPUs and modifier/cgroup parts, the sum over a hybrid CPU's PMUs (a task
    /// runs on one kind of core at a time), at most 100 %.
    mutating func closeInterval() {
        guard let k = intervals.indices.last else { return }
        var readings = [PerfStatCSV.Reading?](repeating: nil, count: events.count)
        for (e, parts) in partReadings.enumerated() where parts.contains(where: { $0.lines > 0 }) {
            var r = PerfStatCSV.Reading(count: .nan, runningPct: 0, status: .notSupported)
            var pcts: [Double] = []
            var pmuShare: [Substring: [Double]] = [:]
            for (p, s) in parts.enumerated() where s.lines > 0 {
                let value = s.counted > 0 ? s.count : .nan
                r.parts.append(value)
                if s.status == .counted || (s.status == .notCounted && r.status == .notSupported) { r.status = s.status }
                if value.isFinite {
                    r.count = r.count.isNaN ? value : r.count + value
                    let mean = s.pcts.reduce(0, +) / Double(s.pcts.count)
                    pcts.append(mean)
                    pmuShare[partKeys[e][p].pmu, default: []].append(mean)
                }
                if parts.count == 1 { r.metric = s.metric; r.metricUnit = s.metricUnit }
            }
            while r.parts.count < events[e].parts.count { r.parts.append(.nan) }
            if pmuShare.count > 1 {
                r.runningPct = min(100, pmuShare.values.map { $0.reduce(0, +) / Double($0.count) }.reduce(0, +))
            } else if !pcts.isEmpty {
                r.runningPct = pcts.reduce(0, +) / Double(pcts.count)
            }
            if !r.count.isFinite { r.runningPct = 0 }
            readings[e] = r
        }
        intervals[k].readings = readings
    }

    mutating func finish(layout: PerfStatCSV.Layout, interval: Bool, locale: PerfStatLocale, lastLine: Int) throws(PerfStatCSV.ParseError) -> PerfStatCSV.Recording {
        closeInterval()
        guard !intervals.isEmpty else { throw PerfStatCSV.ParseError(line: lastLine, message: "no perf stat readings in the input") }
        for k in intervals.indices where intervals[k].readings.count < events.count {
            intervals[k].readings += [PerfStatCSV.Reading?](repeating: nil, count: events.count - intervals[k].readings.count)
        }
        for k in intervals.indices {
            for e in events.indices {
                guard var r = intervals[k].readings[e], r.parts.count < events[e].parts.count else { continue }
                r.parts += [Double](repeating: .nan, count: events[e].parts.count - r.parts.count)
                intervals[k].readings[e] = r
            }
        }
        if !interval {
            // Totals: the elapsed time perf printed below them, else duration_time's count.
            var elapsed = Double.nan
            if let (text, line) = elapsedText {
                guard let v = locale.parsePlain(text), v >= 0 else {
                    throw PerfStatCSV.ParseError(line: line, column: 1, message: "expected the elapsed seconds, found '\(text)'")
                }
                elapsed = v
            } else if let d = events.firstIndex(where: { $0.name == "duration_time" }), let c = intervals[0].readings[d]?.count {
                elapsed = c / 1e9
            }
            intervals[0].time = elapsed
        }
        let cpus = aggregation == nil ? 0 : units.values.reduce(0, +)
        var r = PerfStatCSV.Recording(events: events, intervals: intervals, cpus: cpus, layout: layout, isInterval: interval,
                                      aggregation: aggregation?.rawValue, perfVersion: perfVersion, commandLine: commandLine, title: title,
                                      cgroups: cgroups, hasVariance: hasVariance, systemWide: nil, scopeEvidence: "")
        (r.systemWide, r.scopeEvidence) = PerfStatScope.detect(r)
        return r
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

    func trimmingSuffix(_ suffix: String) -> Substring { hasSuffix(suffix) ? dropLast(suffix.count) : self }
}
