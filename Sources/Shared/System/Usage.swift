// Command-line plumbing both daemons share: a usage error type (exit status 2), value parsers
// for durations and sizes, and leveled logging to stderr.
import Glibc

/// A bad flag or value: printed as one line, exit status 2.
public struct UsageError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Parses durations like `100ms`, `1.5s`, `250us`, `2m`, `1h`, `3d` into nanoseconds; nil when
/// malformed, negative or overflowing. A bare number is rejected: units are mandatory.
public func parseDuration(_ s: String) -> UInt64? {
    let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86400e9)]
    for (suffix, scale) in units where s.hasSuffix(suffix) {
        let number = s.dropLast(suffix.count)
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              let v = Double(number), v.isFinite, v >= 0 else { return nil }
        let ns = v * scale
        guard ns < 9.2e18 else { return nil }
        return UInt64(ns.rounded())
    }
    return nil
}

/// Formats nanoseconds compactly for messages (`100ms`, `1.5s`).
public func formatDuration(_ ns: UInt64) -> String {
    if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
    if ns % 1_000_000 == 0 { return "\(ns / 1_000_000)ms" }
    if ns % 1_000 == 0 { return "\(ns / 1_000)us" }
    return "\(ns)ns"
}

/// One line per event on stderr, with a level; quiet by default at steady state.
public enum Log {
    public enum Level: Int, Sendable { case debug = 0, info, warning, error }
    nonisolated(unsafe) public static var program = "perfring"
    nonisolated(unsafe) public static var minimum: Level = .info

    public static func debug(_ m: @autoclosure () -> String) { emit(.debug, m) }
    public static func info(_ m: @autoclosure () -> String) { emit(.info, m) }
    public static func warning(_ m: @autoclosure () -> String) { emit(.warning, m) }
    public static func error(_ m: @autoclosure () -> String) { emit(.error, m) }

    /// A name from outside (a ring file, a request) made safe for a one-line message: control
    /// characters are escaped, so it cannot forge log lines.
    public static func printable(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7F {
                out += "\\x" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    private static func emit(_ level: Level, _ m: () -> String) {
        guard level.rawValue >= minimum.rawValue else { return }
        let name = ["debug", "info", "warning", "error"][level.rawValue]
        try? Sys.writeAll(2, "\(program): \(name): \(m())\n")
    }
}

/// Walks argv: flags with values given as `--flag value` or `--flag=value`.
public struct ArgCursor {
    private var args: ArraySlice<String>
    public init(_ args: [String]) { self.args = args[...] }
    public var isEmpty: Bool { args.isEmpty }
    /// The next argument split into flag and inline value (`--a=b` -> ("--a", "b")).
    public mutating func next() -> (flag: String, inline: String?)? {
        guard let a = args.popFirst() else { return nil }
        if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") {
            return (String(a[..<eq]), String(a[a.index(after: eq)...]))
        }
        return (a, nil)
    }
    /// The value of `flag`: its inline value or the next argument.
    public mutating func value(for flag: String, inline: String?) throws(UsageError) -> String {
        if let inline { return inline }
        guard let v = args.popFirst() else { throw UsageError("\(flag) needs a value") }
        return v
    }
    /// Refuses a value given to a flag that takes none: `--per-cpu=no` must not mean yes.
    public func noValue(for flag: String, inline: String?) throws(UsageError) {
        if let inline { throw UsageError("\(flag) takes no value (got '\(inline)')") }
    }
    /// Everything left (after `--`).
    public mutating func rest() -> [String] {
        defer { args = [] }
        return Array(args)
    }
}
