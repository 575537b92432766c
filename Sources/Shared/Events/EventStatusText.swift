// Why an event does not count, in words a user can act on: shared by the collector's startup
// table, the server's /api/health and /api/events, and so the page's banner.

/// The sentence a user reads next to an event that does not count.
public func explainStatus(_ status: EventStatus, errno: Int32, isHardware: Bool) -> String {
    let e = Errno(rawValue: errno)
    switch status {
    case .counting:
        return "counting"
    case .unsupported:
        return isHardware
            ? "unsupported here (\(e)): this machine exposes no hardware PMU for it (virtual machine?)"
            : "unsupported by this kernel (\(e))"
    case .notPermitted:
        return "not permitted (\(e)): run as root, grant CAP_PERFMON, or lower kernel.perf_event_paranoid (now \(paranoidLevel().map(String.init) ?? "unknown"))"
    case .failed:
        return "failed to open (\(e))"
    case .notCounted:
        return "not counted: opened, but never scheduled on the PMU so far (its group needs more counters than are free, e.g. one held by the NMI watchdog; or, for one core type of a hybrid CPU, the task has not run there); perf shows <not counted>"
    }
}

/// What an event's flags add to its status, or nil: user-space-only counting after the
/// privilege fallback, and which core PMU a hybrid part counts on.
public func explainFlags(_ flags: EventFlags, name: String) -> String? {
    var parts: [String] = []
    if flags.contains(.userOnly) {
        parts.append("user space only (paranoid \(flags.paranoid))")
    }
    if flags.contains(.pmuPart), let slash = name.firstIndex(of: "/") {
        parts.append("core PMU \(name[..<slash]) only; the event is the sum of its PMUs")
    }
    return parts.isEmpty ? nil : parts.joined(separator: "; ")
}

public func paranoidLevel() -> Int? {
    guard let s = try? Sys.readFile("/proc/sys/kernel/perf_event_paranoid") else { return nil }
    return Int(s.split(separator: "\n").first.map(String.init) ?? "")
}

