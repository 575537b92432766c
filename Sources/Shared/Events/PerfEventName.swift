// perf's several spellings of one event reduced to the one perfring records (`cpu-cycles:u`,
// `cpu/cycles/` -> `cycles`): shared by the collector's --events and the perf stat reader, so a
// recording made with perf lines up with perfring's own event names.

public enum PerfEventName {
    /// perf's aliases for the same events.
    public static let aliases: [String: String] = [
        "cpu-cycles": "cycles", "branches": "branch-instructions", "faults": "page-faults",
        "cs": "context-switches", "migrations": "cpu-migrations", "CPU-migrations": "cpu-migrations",
    ]

    /// The event a spelling names: the PMU prefix (`cpu/cycles/u`, `cycles [cpu_core]`) and the
    /// modifiers (`:u`, `:k`, `:ppp`) dropped, then the alias resolved. An event given by PMU
    /// terms keeps its PMU and terms (`cha/event=0x34,umask=0x1fe001/`), or takes its `name=`.
    public static func canonical(_ spelled: Substring) -> String {
        var name = spelled
        if let space = name.firstIndex(of: " ") { name = name[..<space] }
        if let slash = name.firstIndex(of: "/") {
            let rest = name[name.index(after: slash)...]
            let inner = rest.split(separator: "/", omittingEmptySubsequences: false).first ?? rest
            if inner.contains("=") {
                let terms = inner.split(separator: ",")
                if let n = terms.first(where: { $0.hasPrefix("name=") }) { return String(n.dropFirst(5)) }
                return String(name[..<slash]) + "/" + inner + "/"
            }
            name = inner
        }
        if let colon = name.firstIndex(of: ":") { name = name[..<colon] }
        let s = String(name)
        return aliases[s] ?? s
    }

    /// What tells two spellings of one event apart: the PMU (`cpu_atom`, `cpu_core`; empty for
    /// the default) and the privilege levels counted (`u`, `k`, `h`; all three when none is
    /// given). Spellings that differ in PMU or count disjoint levels count disjoint parts.
    public static func partKey(_ spelled: Substring) -> (pmu: Substring, privilege: Set<Character>) {
        var pmu: Substring = ""
        var modifiers: Substring = ""
        if let open = spelled.firstIndex(of: "["), spelled.hasSuffix("]") {
            pmu = spelled[spelled.index(after: open)..<spelled.index(before: spelled.endIndex)]
        }
        var body = spelled
        if let space = body.firstIndex(of: " ") { body = body[..<space] }
        if let slash = body.firstIndex(of: "/") {
            pmu = body[..<slash]
            let parts = body[body.index(after: slash)...].split(separator: "/", omittingEmptySubsequences: false)
            // `cpu_core/cycles:u/` or `cpu/cycles/u`
            if let inner = parts.first, let colon = inner.firstIndex(of: ":") { modifiers = inner[inner.index(after: colon)...] }
            if parts.count > 1 { modifiers += parts[1].drop { $0 == ":" } }
        } else if let colon = body.firstIndex(of: ":") {
            modifiers = body[body.index(after: colon)...]
        }
        let privilege = Set(modifiers.filter { "ukh".contains($0) })
        // `cpu/` is the default core PMU of a machine that has one: the same counter as none.
        return (pmu == "cpu" ? "" : pmu, privilege.isEmpty ? ["u", "k", "h"] : privilege)
    }
}
