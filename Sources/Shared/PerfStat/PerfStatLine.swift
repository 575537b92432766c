// One line of perf stat output, in either layout, split into what perf put there. Which columns
// a line has depends on the options perf ran with, so positions are found by what the columns
// hold, as stat-display.c prints them (perf 3.x to 6.x):
//
//   [time] [aggregation unit [CPUs in it]] value [unit] event [cgroup] [variance%] run pct [metric value, metric unit]
//
// time: `-I` (seconds since the start, nine decimals); the unit: `CPU3` (-A), `S0-D0-C1` or
// `S0-C1` (--per-core), `S0-D0` (--per-die), `S0` (--per-socket), `N0` (--per-node),
// `S0-D0-L2-ID4` (--per-cache), `S0-D0-CLS1` (--per-cluster), followed by the number of CPUs
// aggregated (all but -A); the cgroup: `-G`; the variance: `-r N`. An event name may contain the
// separator (`cha/event=0x34,umask=0x1fe001/` with `-x,`): the name is whatever lies between
// the unit and the run-time column found from the right, less a cgroup column when the file
// has one.

/// What a value column held.
enum PerfStatValue: Equatable {
    case count(Double)
    /// `<not counted>`: the counter did not run in the interval.
    case notCounted
    /// `<not supported>`: no such event on that machine.
    case notSupported
}

/// An aggregation unit: what a line's counts are summed over.
struct PerfStatUnit: Hashable {
    enum Kind: String { case cpu = "per-CPU (-A)", core = "--per-core", die = "--per-die", socket = "--per-socket",
                         node = "--per-node", cache = "--per-cache", cluster = "--per-cluster" }
    var kind: Kind
    var id: String
    /// CPUs the unit covers: 1 for a CPU, perf's count column for the others.
    var cpus: Int

    /// The unit a column names, or nil.
    static func kind(of field: Substring) -> Kind? {
        func number(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy(\.isASCIIDigit) }
        if field.hasPrefix("CPU") { return number(field.dropFirst(3)) ? .cpu : nil }
        if field.hasPrefix("N") { return number(field.dropFirst()) ? .node : nil }
        guard field.hasPrefix("S") else { return nil }
        let parts = field.split(separator: "-", omittingEmptySubsequences: false)
        guard number(parts[0].dropFirst()) else { return nil }
        func tagged(_ p: Substring, _ tag: String) -> Bool { p.hasPrefix(tag) && number(p.dropFirst(tag.count)) }
        switch parts.count {
        case 1: return .socket
        case 2: return tagged(parts[1], "D") ? .die : tagged(parts[1], "C") ? .core : nil
        case 3:
            guard tagged(parts[1], "D") else { return nil }
            return tagged(parts[2], "C") ? .core : tagged(parts[2], "CLS") ? .cluster : nil
        case 4: return tagged(parts[1], "D") && tagged(parts[2], "L") && tagged(parts[3], "ID") ? .cache : nil
        default: return nil
        }
    }
}

struct PerfStatLine {
    var time: Double?
    var unit: PerfStatUnit?
    var value: PerfStatValue
    /// perf's unit of the value (`msec`, `ns`, `Joules`, or empty).
    var valueUnit: Substring
    var event: String
    var cgroup: Substring?
    /// `-r`: the relative standard deviation over the runs, percent.
    var variancePct: Double?
    /// The percentage of the enabled time the counter ran; nil when perf did not print one (the
    /// human layout prints it only below 100 %).
    var runningPct: Double?
    /// perf's own derived figure, kept for cross-checking (NaN: none).
    var metric: Double = .nan
    var metricUnit: Substring = ""
}

/// A line that is not what the layout needs: the 1-based column and what was expected there.
struct PerfStatLineError: Error {
    var column: Int
    var message: String
}

/// Reads data lines of one layout.
struct PerfStatLineReader {
    let layout: PerfStatCSV.Layout
    let interval: Bool
    /// `-G`: the column after the event name is the cgroup.
    var cgroups: Bool
    var locale = PerfStatLocale()

    static let notCounted = "<not counted>", notSupported = "<not supported>"

    /// A time stamp as `-I` prints it (`%lu.%09lu`; fewer decimals from hand-made files).
    static func timeStamp(_ s: Substring) -> Double? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy(\.isASCIIDigit), !parts[1].isEmpty,
              parts[1].allSatisfy(\.isASCIIDigit) else { return nil }
        return Double(s)
    }

    /// nil for a line that is no reading (a metric-only continuation line).
    mutating func read(_ line: Substring) throws(PerfStatLineError) -> PerfStatLine? {
        switch layout {
        case .csv(let sep): return try readCSV(line, separator: sep)
        case .human: return try readHuman(line)
        case .json: return try readJSON(line)
        }
    }

    // MARK: -j

    /// A JSON value of perf's flat objects: a string or a number, kept as its text.
    enum JSONScalar: Equatable {
        case string(String)
        case number(String)
        var text: String {
            switch self {
            case .string(let s), .number(let s): s
            }
        }
    }

    /// One -j line: `{"interval" : 1.0, "cpu" : "3", "counter-value" : "123.000000", "unit" : "",
    /// "event" : "cycles", "event-runtime" : 99, "pcnt-running" : 100.00, "metric-value" : ...}`.
    /// The aggregation unit is a key of its own (`cpu`, `core`, `die`, `socket`, `node`, `cache`,
    /// `cluster`) with `aggregate-number` CPUs; `-G` adds `cgroup`, `-r` `variance`. A line
    /// without `event` (a metric of the line before, newer perf) is no reading, nor is one
    /// without `interval` in an -I recording (--summary); keys perfring does not use are skipped.
    private func readJSON(_ line: Substring) throws(PerfStatLineError) -> PerfStatLine? {
        let fields = try jsonFields(line)
        func fail(_ message: String) -> PerfStatLineError { PerfStatLineError(column: 1, message: message) }
        func number(_ key: String) throws(PerfStatLineError) -> Double? {
            guard let v = fields[key] else { return nil }
            guard let d = Double(v.text), d.isFinite else { throw fail("expected a number for \"\(key)\", found '\(v.text)'") }
            return d
        }
        guard let event = fields["event"] else { return nil }
        if fields["thread"] != nil { throw fail("per-thread output (--per-thread) is not read") }
        var time: Double?
        if interval {
            // A reading without one is --summary's totals after the intervals, which hold them.
            guard fields["interval"] != nil else { return nil }
            guard let t = try number("interval"), t >= 0 else { throw fail("expected \"interval\" (seconds since the start) as a number") }
            time = t
        }
        guard let counter = fields["counter-value"] else { throw fail("expected \"counter-value\" beside \"event\"") }
        let value: PerfStatValue
        switch counter.text {
        case Self.notCounted: value = .notCounted
        case Self.notSupported: value = .notSupported
        case let t:
            guard let v = Double(t), v.isFinite, v >= 0 else { throw fail("expected a count (a number, <not counted> or <not supported>), found '\(t)'") }
            value = .count(v)
        }
        var unit: PerfStatUnit?
        for (key, kind) in Self.jsonUnits {
            guard let id = fields[key]?.text else { continue }
            if kind == .cpu {
                guard !id.isEmpty, id.allSatisfy(\.isASCIIDigit) else { throw fail("expected a CPU number for \"cpu\", found '\(id)'") }
                unit = PerfStatUnit(kind: .cpu, id: "CPU" + id, cpus: 1)
            } else {
                guard PerfStatUnit.kind(of: id[...]) == kind else { throw fail("expected a \(kind.rawValue) unit for \"\(key)\", found '\(id)'") }
                guard let n = try number("aggregate-number"), n >= 1, n < 1_048_576, n == n.rounded() else {
                    throw fail("expected \"aggregate-number\" (the CPUs in \(id)) beside \"\(key)\"")
                }
                unit = PerfStatUnit(kind: kind, id: id, cpus: Int(n))
            }
            break
        }
        let name = event.text
        guard Self.isEventName(name) else { throw fail("expected an event name, found '\(name)'") }
        var l = PerfStatLine(time: time, unit: unit, value: value, valueUnit: (fields["unit"]?.text ?? "")[...], event: name)
        l.cgroup = fields["cgroup"].map { $0.text[...] }
        l.variancePct = try number("variance")
        l.runningPct = try number("pcnt-running")
        // perf writes `"metric-value" : 0.000000, "metric-unit" : ""` where -x leaves both
        // cells empty: no metric.
        l.metricUnit = (fields["metric-unit"]?.text ?? "")[...]
        if case .count = value, !l.metricUnit.isEmpty { l.metric = fields["metric-value"].flatMap { Double($0.text) } ?? .nan }
        return l
    }

    /// -j keys that name an aggregation unit.
    static let jsonUnits: [(String, PerfStatUnit.Kind)] = [("cpu", .cpu), ("core", .core), ("die", .die), ("socket", .socket),
                                                           ("node", .node), ("cache", .cache), ("cluster", .cluster)]

    /// The keys and values of a flat JSON object on one line (perf's -j lines nest nothing).
    func jsonFields(_ line: Substring) throws(PerfStatLineError) -> [String: JSONScalar] {
        let bytes = Array(line.utf8)
        var i = 0
        func fail(_ message: String) -> PerfStatLineError { PerfStatLineError(column: i + 1, message: message) }
        func blanks() { while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0D { i += 1 } }
        func expect(_ b: UInt8, _ what: String) throws(PerfStatLineError) {
            blanks()
            guard i < bytes.count, bytes[i] == b else { throw fail("expected \(what) (perf stat -j output)") }
            i += 1
        }
        func string() throws(PerfStatLineError) -> String {
            try expect(UInt8(ascii: "\""), "a quoted string")
            var out: [UInt8] = []
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                if bytes[i] == UInt8(ascii: "\\") {
                    i += 1
                    guard i < bytes.count else { break }
                    switch bytes[i] {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        // \u00XX (perf escapes control bytes so); others are not in its output.
                        guard i + 4 < bytes.count, let v = UInt8(String(decoding: bytes[(i + 1)...(i + 4)], as: UTF8.self), radix: 16) else { throw fail("expected four hex digits after \\u") }
                        out.append(v)
                        i += 4
                    default: out.append(bytes[i])
                    }
                } else {
                    out.append(bytes[i])
                }
                i += 1
            }
            guard i < bytes.count else { throw fail("a string is not closed before the end of the line") }
            i += 1
            return String(decoding: out, as: UTF8.self)
        }
        func object() throws(PerfStatLineError) -> [String: JSONScalar] {
            var fields: [String: JSONScalar] = [:]
            try expect(UInt8(ascii: "{"), "'{'")
            blanks()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
                return fields
            }
            while true {
                let key = try string()
                try expect(UInt8(ascii: ":"), "':' after \"\(key)\"")
                blanks()
                if i < bytes.count, bytes[i] == UInt8(ascii: "\"") {
                    fields[key] = .string(try string())
                } else {
                    let start = i
                    while i < bytes.count, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: ".")
                        || bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") || (bytes[i] >= 0x30 && bytes[i] <= 0x39) { i += 1 }
                    guard i > start else { throw fail("expected a string or a number for \"\(key)\"") }
                    fields[key] = .number(String(decoding: bytes[start..<i], as: UTF8.self))
                }
                blanks()
                guard i < bytes.count else { throw fail("the object is not closed before the end of the line") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    blanks()
                    // `"pcnt-running" : 100.00, }`: some perf versions leave a comma before the end.
                    if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return fields }
                    continue
                }
                try expect(UInt8(ascii: "}"), "',' or '}'")
                return fields
            }
        }
        let fields = try object()
        // Some perf versions print an event's further metrics as objects on the same line
        // (`{... "event" : ...} {"metric-value" : ...}`): those are no readings.
        blanks()
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "{") else { throw fail("unexpected text after the object") }
            let column = i
            if try object()["event"] != nil { i = column; throw fail("two readings on one line") }
            blanks()
        }
        return fields
    }

    // MARK: -x SEP

    private mutating func readCSV(_ line: Substring, separator: String) throws(PerfStatLineError) -> PerfStatLine? {
        var f = line.split(separator: separator, omittingEmptySubsequences: false).map(\.trimmingSpaces)
        let count = f.count
        var k = 0
        // Columns count from 1 in messages, as an editor shows them.
        func fail(_ message: String) -> PerfStatLineError { PerfStatLineError(column: k + 1, message: message) }
        var time: Double?
        if f[0] == "summary" {
            // --summary: the totals after the intervals, which hold them already.
            if interval { return nil }
            k = 1
        } else if interval {
            guard let t = Self.timeStamp(f[0]) else { throw fail("expected a time stamp (seconds with nine decimals, as perf stat -I prints), found '\(f[0])'") }
            time = t
            k = 1
        }
        guard f.count > k else { throw fail("expected a value after the time stamp: the line ends") }
        var unit: PerfStatUnit?
        if let kind = PerfStatUnit.kind(of: f[k]) {
            var cpus = 1
            if kind != .cpu {
                guard f.count > k + 1, let n = Int(f[k + 1]), n > 0 else {
                    k += 1
                    throw fail("expected the number of CPUs in \(f[k - 1]) (\(kind.rawValue) output), found '\(f.count > k ? String(f[k]) : "the end of the line")'")
                }
                cpus = n
            }
            unit = PerfStatUnit(kind: kind, id: String(f[k]), cpus: cpus)
            k += kind == .cpu ? 1 : 2
        }
        // A metric-only line: perf's second metric of the previous event, under empty columns.
        if f[k...].prefix(3).allSatisfy(\.isEmpty) { return nil }
        guard f.count >= k + 3 else {
            throw fail("expected value\(separator)unit\(separator)event: the line has \(count) columns, too few for perf stat -x '\(separator)' output (is the separator '\(separator)' on every line?)")
        }
        let value = try csvValue(f[k], column: k + 1)
        let valueUnit = f[k + 1]
        if locale.parsePlain(valueUnit) != nil || valueUnit.contains(where: \.isWhitespace) {
            k += 1
            throw fail("expected the value's unit (msec, ns, Joules... or empty), found '\(valueUnit)'")
        }
        let nameStart = k + 2
        // The run-time column, from the right: an integer followed by a percentage; what follows
        // is perf's metric (its unit may contain the separator when that is a space).
        var run: Int?
        var p = f.count - 2
        while p > nameStart {
            if f[p].allSatisfy(\.isASCIIDigit), !f[p].isEmpty, let pct = locale.parsePlain(f[p + 1]), pct >= 0, pct <= 100 { run = p }
            p -= 1
        }
        var nameEnd = f.count          // exclusive
        var line = PerfStatLine(time: time, unit: unit, value: value, valueUnit: valueUnit, event: "")
        if let run {
            nameEnd = run
            line.runningPct = locale.parsePlain(f[run + 1])
            if run + 2 < f.count {
                line.metric = locale.parsePlain(f[run + 2]) ?? .nan
                line.metricUnit = line.metric.isNaN && f[run + 2].isEmpty ? "" : f[(run + 3)...].joined(separator: separator)[...]
            }
            if nameEnd - 1 > nameStart, f[nameEnd - 1].hasSuffix("%"), let v = locale.parsePlain(f[nameEnd - 1].dropLast()) {
                line.variancePct = v
                nameEnd -= 1
            }
        }
        if cgroups {
            guard nameEnd - 1 > nameStart else {
                k = nameEnd
                throw fail("expected a cgroup column after the event name (the file's other lines have one)")
            }
            nameEnd -= 1
            line.cgroup = f[nameEnd]
        }
        f = Array(f[nameStart..<nameEnd])
        let name = f.joined(separator: separator)
        k = nameStart
        // One the separator splits is PMU syntax (`cha/event=0x34,umask=1/`): its first and last
        // pieces hold a slash (`cycles,/web` is an event and a -G cgroup).
        guard Self.isEventName(name) else { throw fail("expected an event name, found '\(name)'") }
        if f.count > 1, !(f[0].contains("/") && f[f.count - 1].contains("/") && f.allSatisfy({ !$0.isEmpty && locale.parsePlain($0) == nil })) {
            k = nameStart + 1
            throw fail("expected the counter's run time (ns) and running percentage (0 to 100) after the event name \(f[0]), found '\(f[1])'")
        }
        line.event = name
        return line
    }

    /// perf's names start with a letter and have no blanks, but for `cycles [cpu_core]` (an
    /// event of several PMUs), and never a control character.
    static func isEventName(_ name: String) -> Bool {
        guard let first = name.first, first.isLetter, name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else { return false }
        guard let blank = name.firstIndex(where: \.isWhitespace) else { return true }
        return name.hasSuffix("]") && name[blank...].trimmingSpaces.hasPrefix("[")
    }

    private func csvValue(_ s: Substring, column: Int) throws(PerfStatLineError) -> PerfStatValue {
        if s == Self.notCounted { return .notCounted }
        if s == Self.notSupported { return .notSupported }
        guard let v = locale.parsePlain(s), v >= 0 else {
            let thread = s.contains("-") && s.last?.isASCIIDigit == true && s.first?.isLetter == true ? " (per-thread output, --per-thread, is not read)" : ""
            throw PerfStatLineError(column: column, message: "expected a count (a number, <not counted> or <not supported>), found '\(s)'\(thread)")
        }
        return .count(v)
    }

    // MARK: human

    /// Units perf prints between a value and its event name.
    static let units: Set<Substring> = ["msec", "ns", "usec", "us", "sec", "s", "Joules", "J", "MiB", "KiB", "GiB", "B", "bytes",
                                        "W", "Watts", "mW", "mJ", "C", "Kelvin", "MHz", "GHz", "%", "cycles", "counts"]

    private mutating func readHuman(_ line: Substring) throws(PerfStatLineError) -> PerfStatLine? {
        var rest = line
        var column = 1
        /// The next whitespace-separated token, consumed.
        func token() -> Substring? {
            let skipped = rest.prefix { $0.isWhitespace }
            column += skipped.count
            rest = rest.dropFirst(skipped.count)
            guard !rest.isEmpty else { return nil }
            let t = rest.prefix { !$0.isWhitespace }
            return t
        }
        func consume(_ t: Substring) { rest = rest.dropFirst(t.count); column += t.count }
        func fail(_ message: String) -> PerfStatLineError { PerfStatLineError(column: column, message: message) }

        var time: Double?
        if interval {
            guard let t = token(), let v = Self.timeStamp(t) else {
                throw fail("expected a time stamp (seconds with nine decimals, as perf stat -I prints), found '\(token() ?? "the end of the line")'")
            }
            time = v
            consume(t)
        }
        guard let first = token() else { throw fail("expected a value after the time stamp: the line ends") }
        if first.hasPrefix("#") { return nil }
        var unit: PerfStatUnit?
        if let kind = PerfStatUnit.kind(of: first) {
            consume(first)
            var cpus = 1
            if kind != .cpu {
                guard let n = token(), let c = Int(n), c > 0 else { throw fail("expected the number of CPUs in \(first) (\(kind.rawValue) output)") }
                consume(n)
                cpus = c
            }
            unit = PerfStatUnit(kind: kind, id: String(first), cpus: cpus)
        }
        guard let v = token() else { throw fail("expected a value: the line ends") }
        if v.hasPrefix("#") { return nil }
        let valueColumn = column
        let value: PerfStatValue
        if rest.hasPrefix(Self.notCounted) {
            value = .notCounted
            consume(rest.prefix(Self.notCounted.count))
        } else if rest.hasPrefix(Self.notSupported) {
            value = .notSupported
            consume(rest.prefix(Self.notSupported.count))
        } else {
            // Digits with single grouping characters between them (a space among them).
            var end = rest.startIndex
            while end < rest.endIndex {
                let c = rest[end]
                if c.isASCIIDigit { end = rest.index(after: end); continue }
                let next = rest.index(after: end)
                if PerfStatLocale.groupMarks.contains(c), next < rest.endIndex, rest[next].isASCIIDigit, end > rest.startIndex { end = next; continue }
                break
            }
            let digits = rest[..<end]
            guard !digits.isEmpty else {
                // A title such as `TopdownL1 (cpu_core)` before its metrics.
                if line.contains("#") { return nil }
                throw fail("expected a count (digits, grouped as the locale prints them), <not counted> or <not supported>, found '\(v)'")
            }
            switch locale.parseGrouped(digits) {
            case .success(let n): value = .count(n)
            case .failure(.locale(let mark)):
                throw fail("'\(digits)' does not read in this file's locale (its decimal mark is '\(mark)'): lines from differently set up perf runs are mixed")
            case .failure:
                throw fail("'\(digits)' is not a count as perf prints one (digit groups of three, or two in Indian grouping, the last of three)")
            }
            consume(digits)
        }
        _ = valueColumn
        // The rest: [unit] event [cgroup] [# metric] [( +- variance% )] [(pct%)]
        var tail = rest.trimmingSpaces
        var pct: Double?
        var variance: Double?
        while tail.hasSuffix(")"), let open = tail.lastIndex(of: "(") {
            let inner = tail[tail.index(after: open)..<tail.index(before: tail.endIndex)].trimmingSpaces
            guard inner.hasSuffix("%") else { break }
            if inner.hasPrefix("+-") {
                guard let v = locale.parsePlain(inner.dropFirst(2).dropLast().trimmingSpaces) else { break }
                variance = v
            } else {
                guard let v = locale.parsePlain(inner.dropLast().trimmingSpaces), v >= 0, v <= 100 else {
                    throw fail("expected the running percentage in '(\(inner))' (0 to 100 %)")
                }
                pct = v
            }
            tail = tail[..<open].trimmingSpaces
        }
        var metric = Double.nan
        var metricUnit: Substring = ""
        if let hash = tail.firstIndex(of: "#") {
            let m = tail[tail.index(after: hash)...].trimmingSpaces
            let mv = m.prefix { !$0.isWhitespace && $0 != "%" }
            metric = locale.parsePlain(mv) ?? .nan
            metricUnit = m.dropFirst(mv.count).trimmingSpaces
            tail = tail[..<hash].trimmingSpaces
        }
        var words = tail.split(whereSeparator: \.isWhitespace)
        // `cycles [cpu_core]`: perf's name for an event of one of several PMUs.
        if words.count >= 2, words[1].hasPrefix("["), words[1].hasSuffix("]") {
            words[0] = (words[0] + " " + words[1])[...]
            words.remove(at: 1)
        }
        var valueUnit: Substring = ""
        if words.count >= 2, Self.units.contains(words[0]) { valueUnit = words.removeFirst() }
        // perf 4.x: `task-clock (msec)`, the unit after the name.
        if words.count >= 2, words[1].hasPrefix("("), words[1].hasSuffix(")"), Self.units.contains(words[1].dropFirst().dropLast()) {
            valueUnit = words.remove(at: 1).dropFirst().dropLast()
        }
        // Older perf printed task-clock in msec without the unit.
        if valueUnit.isEmpty, let w = words.first, w.hasPrefix("task-clock") || w.hasPrefix("cpu-clock") { valueUnit = "msec" }
        guard let name = words.first else {
            throw fail("expected an event name after the value, found '\(tail)'")
        }
        var out = PerfStatLine(time: time, unit: unit, value: value, valueUnit: valueUnit, event: String(name))
        if words.count == 2 {
            guard cgroups else { throw fail("expected '# metric' or '(percent)' after the event name \(name), found '\(words[1])' (is this a -G cgroup column?)") }
            out.cgroup = words[1]
        } else if words.count > 2 {
            throw fail("expected [unit] event [cgroup] after the value, found '\(tail)'")
        }
        out.variancePct = variance
        out.runningPct = pct
        out.metric = metric
        out.metricUnit = metricUnit
        return out
    }
}
