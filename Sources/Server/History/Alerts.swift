// Threshold alerts over any metric column: `METRIC OP NUMBER [for DURATION]`, e.g.
// `cpi > 2 for 5s`. Rules are parsed at start (a malformed one is refused with the column of
// the error) and evaluated on every sample as it is ingested. An alert fires once its
// condition has held for the duration, and resolves on the first sample where it does not;
// unavailable values (NaN) never satisfy a condition. Fired and resolved alerts are kept in
// a bounded history for GET /api/alerts.
import Shared

public struct AlertRule: Equatable, Sendable {
    public enum Op: String, Sendable, CaseIterable {
        case greaterOrEqual = ">=", lessOrEqual = "<=", equal = "==", notEqual = "!=", greater = ">", less = "<"

        func holds(_ v: Double, _ t: Double) -> Bool {
            switch self {
            case .greater: v > t
            case .greaterOrEqual: v >= t
            case .less: v < t
            case .lessOrEqual: v <= t
            case .equal: v == t
            case .notEqual: v != t
            }
        }
    }

    public let text: String
    public let metric: String
    public let op: Op
    public let threshold: Double
    public let forNs: UInt64

    /// A rule that does not parse: what was expected at which 1-based column.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let column: Int
        public let message: String
        public var description: String { "column \(column): \(message)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> AlertRule {
        let s = Array(text.unicodeScalars)
        var i = 0
        func skipSpaces() { while i < s.count, s[i] == " " || s[i] == "\t" { i += 1 } }
        func fail(_ m: String) -> ParseError { ParseError(column: i + 1, message: m) }
        func word(_ ok: (Unicode.Scalar) -> Bool) -> String {
            let from = i
            while i < s.count, ok(s[i]) { i += 1 }
            return String(String.UnicodeScalarView(s[from..<i]))
        }
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
        func isName(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || ("0"..."9").contains(c) }
        func isNumber(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) || c == "." || c == "-" || c == "+" || c == "e" || c == "E" }

        skipSpaces()
        guard i < s.count, isNameStart(s[i]) else { throw fail("expected a metric name (see /api/fields)") }
        let metric = word(isName)
        skipSpaces()
        guard let op = Op.allCases.first(where: { o in
            let p = Array(o.rawValue.unicodeScalars)
            return i + p.count <= s.count && Array(s[i..<(i + p.count)]) == p
        }) else { throw fail("expected a comparison: >, >=, <, <=, == or !=") }
        i += op.rawValue.unicodeScalars.count
        skipSpaces()
        let numberAt = i
        guard let threshold = Double(word(isNumber)), threshold.isFinite else {
            i = numberAt
            throw fail("expected a number")
        }
        skipSpaces()
        var forNs: UInt64 = 0
        if i < s.count {
            let forAt = i
            guard word(isName) == "for" else { i = forAt; throw fail("expected 'for DURATION' or the end of the rule") }
            skipSpaces()
            let durationAt = i
            let d = word { $0 != " " && $0 != "\t" }
            guard let ns = parseDuration(d) else { i = durationAt; throw fail("expected a duration with a unit (500ms, 5s, 2m)") }
            forNs = ns
            skipSpaces()
            guard i == s.count else { throw fail("unexpected text after the duration") }
        }
        return AlertRule(text: String(Substring(text).trimmingSpaces), metric: metric, op: op, threshold: threshold, forNs: forNs)
    }

    /// A rules file: one rule per line; blank lines and `#` comments are skipped. Errors name
    /// the line and column.
    public static func parseFile(_ contents: String, name: String) throws(UsageError) -> [AlertRule] {
        var rules: [AlertRule] = []
        for (n, line) in contents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let body = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard body.contains(where: { $0 != " " && $0 != "\t" && $0 != "\r" }) else { continue }
            do { rules.append(try parse(String(body.trimmingSpaces))) } catch {
                throw UsageError("\(name):\(n + 1): \(error)")
            }
        }
        return rules
    }
}

/// Metric names: which ones a rule may use, and the nearest names to a misspelled one.
public enum MetricNames {
    /// Every name a ring from perfring's collector can have (each catalog event, raw `rHEX`
    /// events, every derived metric), plus the columns of `ring` when one exists (a replayed
    /// recording may hold events the catalog does not name).
    public static func known(ring: RingHeader?) -> Set<String> {
        var names = Set(MetricDeriver(header: EventCatalog.headerListingEvery(mode: .command)).columns.map(\.key))
        if let ring { names.formUnion(MetricDeriver(header: ring).columns.map(\.key)) }
        return names
    }

    /// A raw hardware event's key (`r1a2b`, `r1a2b_per_s`): any hex number is a valid event.
    static func isRawEvent(_ name: String) -> Bool {
        let base = name.hasSuffix("_per_s") ? name.dropLast(6) : Substring(name)
        return base.count > 1 && base.first == "r" && base.dropFirst().allSatisfy(\.isHexDigit)
    }

    /// Up to three known names closest to `name`: one edit away (two for names longer than
    /// four characters), or starting with it.
    public static func suggestions(for name: String, in known: Set<String>) -> [String] {
        let limit = name.count > 4 ? 2 : 1
        return known.compactMap { k -> (Int, String)? in
            let d = editDistance(name, k)
            return d <= limit || (name.count >= 3 && k.hasPrefix(name)) ? (d, k) : nil
        }.sorted { $0 < $1 }.prefix(3).map(\.1)
    }

    /// Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in a.indices {
            for j in b.indices {
                d[i + 1][j + 1] = min(d[i][j] + (a[i] == b[j] ? 0 : 1), d[i][j + 1] + 1, d[i + 1][j] + 1)
                if i > 0, j > 0, a[i] == b[j - 1], a[i - 1] == b[j] { d[i + 1][j + 1] = min(d[i + 1][j + 1], d[i - 1][j - 1] + 1) }
            }
        }
        return d[a.count][b.count]
    }

    /// Refuses rules over metrics no ring can have, naming the metric and its nearest names.
    public static func check(_ rules: [AlertRule], known: Set<String>) throws(UsageError) {
        for r in rules where !known.contains(r.metric) && !isRawEvent(r.metric) {
            let near = suggestions(for: r.metric, in: known)
            throw UsageError("alert '\(r.text)': no metric '\(r.metric)'" + (near.isEmpty ? "" : " (did you mean \(near.joined(separator: ", "))?)") + "; GET /api/fields lists them")
        }
    }
}

/// Evaluates rules against each new sample of a collector run, as it arrives.
public final class AlertEvaluator {
    public struct Alert: Sendable {
        public let id: Int
        public let rule: Int
        /// When the condition started holding (start of that sample's interval), and when and
        /// at what value it fired.
        public let sinceMs: Double
        public let firedMs: Double, firedSeq: UInt64, firedValue: Double
        public var lastValue: Double
        public var lastMs: Double
        /// The value furthest past the threshold while firing.
        public var worstValue: Double
        public var resolvedMs: Double?, resolvedSeq: UInt64?, resolvedValue: Double?
        public var firing: Bool { resolvedMs == nil }
    }

    enum RuleState { case inactive, pending(sinceMs: Double), firing(alert: Int) }

    public let rules: [AlertRule]
    /// Resolved alerts kept (firing ones are always kept).
    public static let historyLimit = 500
    public private(set) var alerts: [Alert] = []
    private var states: [RuleState]
    private var columns: [Int?]
    private var timeColumn: Int?, dtColumn: Int?
    private var nextID = 1

    public init(rules: [AlertRule]) {
        self.rules = rules
        states = Array(repeating: .inactive, count: rules.count)
        columns = Array(repeating: nil, count: rules.count)
    }

    /// Follows a new collector run with these sample columns: resolves what was firing in the
    /// old one and finds each rule's column; a metric this ring does not have is reported, not
    /// fatal.
    public func bind(columns specs: [ColumnSpec]) {
        func column(_ key: String) -> Int? { specs.firstIndex { $0.key == key } }
        for k in rules.indices {
            if case .firing(let a) = states[k] { alerts[a].resolvedMs = alerts[a].lastMs }
            states[k] = .inactive
        }
        columns = rules.map { column($0.metric) }
        timeColumn = column("time_ms")
        dtColumn = column("dt_ms")
        for (k, r) in rules.enumerated() where columns[k] == nil {
            Log.warning("alert '\(r.text)': this ring has no metric '\(r.metric)' (see /api/fields)")
        }
    }

    public func state(_ k: Int) -> String {
        guard columns[k] != nil else { return "unknown-metric" }
        switch states[k] {
        case .inactive: return "inactive"
        case .pending: return "pending"
        case .firing: return "firing"
        }
    }

    /// Whether rule `k` is firing now.
    public func isFiring(_ k: Int) -> Bool {
        if case .firing = states[k] { return true }
        return false
    }

    /// Evaluates every rule on one sample: its sequence number and its columns' values.
    public func observe(seq: UInt64, value: (Int) -> Double) {
        guard let tc = timeColumn, !rules.isEmpty else { return }
        let t = value(tc)
        let dt = dtColumn.map(value) ?? 0
        for (k, rule) in rules.enumerated() {
            guard let c = columns[k] else { continue }
            let v = value(c)
            let holds = v.isFinite && rule.op.holds(v, rule.threshold)
            switch (states[k], holds) {
            case (.inactive, true):
                states[k] = .pending(sinceMs: t - (dt.isFinite ? dt : 0))
                fallthrough
            case (.pending, true):
                guard case .pending(let since) = states[k], t - since >= Double(rule.forNs) / 1e6 else { break }
                alerts.append(Alert(id: nextID, rule: k, sinceMs: since, firedMs: t, firedSeq: seq, firedValue: v, lastValue: v, lastMs: t, worstValue: v))
                nextID += 1
                states[k] = .firing(alert: alerts.count - 1)
            case (.firing(let a), true):
                alerts[a].lastValue = v
                alerts[a].lastMs = t
                let further = rule.op == .less || rule.op == .lessOrEqual ? v < alerts[a].worstValue : v > alerts[a].worstValue
                if further { alerts[a].worstValue = v }
            case (.firing(let a), false):
                alerts[a].resolvedMs = t
                alerts[a].resolvedSeq = seq
                alerts[a].resolvedValue = v
                states[k] = .inactive
                trim()
            case (_, false):
                states[k] = .inactive
            }
        }
    }

    /// Drops the oldest resolved alerts beyond the history limit (indices of firing ones move).
    private func trim() {
        let resolved = alerts.lazy.filter { !$0.firing }.count
        guard resolved > Self.historyLimit else { return }
        var drop = resolved - Self.historyLimit
        alerts.removeAll { a in
            guard drop > 0, !a.firing else { return false }
            drop -= 1
            return true
        }
        for k in states.indices {
            if case .firing = states[k], let i = alerts.firstIndex(where: { $0.rule == k && $0.firing }) { states[k] = .firing(alert: i) }
        }
    }

    /// GET /api/alerts: the rules with their state, then alerts newest first.
    public func write(into w: inout JSONWriter) {
        w.beginObject()
        w.key("rules"); w.beginArray()
        for (k, r) in rules.enumerated() {
            w.beginObject()
            w.key("rule"); w.string(r.text)
            w.key("metric"); w.string(r.metric)
            w.key("op"); w.string(r.op.rawValue)
            w.key("threshold"); w.number(r.threshold)
            w.key("for_s"); w.number(Double(r.forNs) / 1e9)
            w.key("state"); w.string(state(k))
            w.endObject()
        }
        w.endArray()
        w.key("alerts"); w.beginArray()
        for a in alerts.reversed() {
            w.beginObject()
            w.key("id"); w.int(a.id)
            w.key("rule"); w.string(rules[a.rule].text)
            w.key("metric"); w.string(rules[a.rule].metric)
            w.key("state"); w.string(a.firing ? "firing" : "resolved")
            w.key("since_ms"); w.number(a.sinceMs)
            w.key("fired_ms"); w.number(a.firedMs)
            w.key("fired_seq"); w.uint(a.firedSeq)
            w.key("fired_value"); w.number(a.firedValue)
            w.key("last_value"); w.number(a.lastValue)
            w.key("worst_value"); w.number(a.worstValue)
            w.key("resolved_ms"); if let r = a.resolvedMs { w.number(r) } else { w.null() }
            w.key("resolved_seq"); if let r = a.resolvedSeq { w.uint(r) } else { w.null() }
            w.key("resolved_value"); if let r = a.resolvedValue { w.number(r) } else { w.null() }
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }
}
