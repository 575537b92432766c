// perf's several spellings of one event reduced to the one perfring records (`cpu-cycles:u`,
// `cpu/cycles/` -> `cycles`): shared by the collector's --events and the perf stat reader, so a
// recording made with perf lines up with perfring's own event names.

public enum PerfEventName {
    /// perf's aliases for the same events.
    public static let aliases: [String: String] = [
        "cpu-cycles": "cycles", "branches": "branch-instructions", "faults": "page-faults",
        "cs": "context-switches", "migrations": "cpu-migrations",
    ]

    /// The event a spelling names: the PMU prefix (`cpu/cycles/u`) and the modifiers (`:u`,
    /// `:k`, `:ppp`) dropped, then the alias resolved.
    public static func canonical(_ spelled: Substring) -> String {
        var name = spelled
        if let slash = name.firstIndex(of: "/") {
            let rest = name[name.index(after: slash)...]
            name = rest.split(separator: "/").first ?? rest
        }
        if let colon = name.firstIndex(of: ":") { name = name[..<colon] }
        let s = String(name)
        return aliases[s] ?? s
    }
}
