// A CSV of numbers under a header row of names, as perfring's /api/export.csv writes it: read
// by the collector's --replay and the server's analyze and compare. An empty cell is a missing
// value (NaN), never zero; anything else that is not a number is an error naming its line.

public struct NumericCSV: Sendable {
    public var header: [String]
    /// One row per data line, one value per header name (NaN: empty cell).
    public var rows: [[Double]]
    /// The line of the text each row came from, for messages.
    public var lines: [Int]

    public struct ParseError: Error, Equatable, CustomStringConvertible, Sendable {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    public func column(_ name: String) -> Int? { header.firstIndex(of: name) }

    /// Blank lines and lines starting with `#` are skipped; the first other line is the header.
    public static func parse(_ text: String) throws(ParseError) -> NumericCSV {
        var table = NumericCSV(header: [], rows: [], lines: [])
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(\.trimmingSpaces)
            guard !table.header.isEmpty else {
                table.header = cells.map(String.init)
                if let blank = table.header.firstIndex(of: "") { throw ParseError(line: lineNumber, message: "header column \(blank + 1) has no name") }
                continue
            }
            guard cells.count == table.header.count else {
                throw ParseError(line: lineNumber, message: "\(cells.count) fields, the header has \(table.header.count)")
            }
            var row = [Double](repeating: .nan, count: cells.count)
            for (k, cell) in cells.enumerated() where !cell.isEmpty {
                guard let v = Double(cell) else { throw ParseError(line: lineNumber, message: "\(table.header[k]): '\(cell)' is not a number") }
                row[k] = v
            }
            table.rows.append(row)
            table.lines.append(lineNumber)
        }
        guard !table.header.isEmpty else { throw ParseError(line: lineNumber, message: "no data") }
        return table
    }
}
