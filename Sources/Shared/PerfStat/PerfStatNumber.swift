// Numbers as perf stat prints them. With `-x` (CSV) a count is `%.0f` or `%.2f`, with the
// locale's decimal mark and no digit grouping; without `-x` (the human layout) it is `%'18.0f`
// or `%'18.2f`: grouped by the locale (`13,46,55,239`, `3.642.649.330`, `1 234 567`,
// `1'234'567`) with a two-digit fraction after the locale's decimal mark (`1.101,01`). Digit
// groups have three digits (the last) or two (Indian grouping), so a mark followed by other
// than three digits is the decimal mark, and three digits after a lone mark are a group unless
// the file already used that mark as its decimal mark; other group sizes are refused.

/// The decimal mark a file has shown so far: one per file, so a line that contradicts it is
/// reported rather than read a thousand times too large or small.
struct PerfStatLocale {
    /// `.` or `,` once a value showed which; nil until then.
    var decimalMark: Character?
    /// The grouping character once seen.
    var groupMark: Character?

    static let groupMarks: Set<Character> = [",", ".", " ", "'", "\u{a0}", "\u{202f}"]

    /// A value of the human layout (digits, groups, an optional fraction); nil with why not.
    mutating func parseGrouped(_ token: Substring) -> Result<Double, NumberError> {
        var groups: [Substring] = []
        var marks: [Character] = []
        var start = token.startIndex
        for i in token.indices where !token[i].isASCIIDigit {
            guard Self.groupMarks.contains(token[i]) else { return .failure(.notNumber) }
            groups.append(token[start..<i])
            marks.append(token[i])
            start = token.index(after: i)
        }
        groups.append(token[start...])
        guard groups.allSatisfy({ !$0.isEmpty }) else { return .failure(.notNumber) }
        var fraction: Substring = ""
        if let last = marks.last, last == "." || last == "," {
            let lastGroup = groups[groups.count - 1]
            // perf's fractions have two digits (six before perf 3.x printed msec with %.6f).
            let isDecimal = lastGroup.count == 2 || lastGroup.count == 6 || decimalMark == last || (marks.count > 1 && marks[marks.count - 2] != last)
                || (groupMark != nil && groupMark != last)
            if isDecimal {
                if let d = decimalMark, d != last { return .failure(.locale(expected: d)) }
                decimalMark = last
                fraction = lastGroup
                groups.removeLast()
                marks.removeLast()
            }
        }
        if let g = marks.first {
            guard marks.allSatisfy({ $0 == g }) else { return .failure(.notNumber) }
            if g == decimalMark { return .failure(.locale(expected: g)) }
            // Groups: the first of 1 to 3 digits, then 2 or 3 (Indian), the last always 3.
            guard groups[0].count <= 3, groups.dropFirst().allSatisfy({ $0.count == 2 || $0.count == 3 }),
                  groups[groups.count - 1].count == 3 else { return .failure(.grouping) }
            if let known = groupMark, known != g, !(known.isWhitespace && g.isWhitespace) { return .failure(.locale(expected: decimalMark ?? known)) }
            groupMark = g
            if decimalMark == nil, g == "." || g == "," { decimalMark = g == "." ? "," : "." }
        }
        let digits = groups.joined() + (fraction.isEmpty ? "" : "." + fraction)
        guard let v = Double(digits), v.isFinite else { return .failure(.notNumber) }
        return .success(v)
    }

    /// A number without grouping (CSV fields, percentages, metrics, time stamps of the human
    /// layout's footer): one decimal mark, `.` or `,` (the file's, once known).
    func parsePlain(_ token: Substring) -> Double? {
        guard let first = token.first, first.isASCIIDigit || first == "-" || first == "+" else { return nil }
        var s = String(token)
        if decimalMark == "," || (decimalMark == nil && !s.contains(".")) {
            guard s.filter({ $0 == "," }).count <= 1 else { return nil }
            s = s.replacingComma()
        }
        guard s.allSatisfy({ $0.isASCIIDigit || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" }), let v = Double(s), v.isFinite else { return nil }
        return v
    }

    enum NumberError: Error {
        case notNumber, grouping
        case locale(expected: Character)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension String {
    /// `,` as the decimal point.
    fileprivate func replacingComma() -> String { String(map { $0 == "," ? "." : $0 }) }
}
