// perf-style event names and how they map to perf_event_attr (type, config), as `perf list`
// spells them. Group keys decide which events are read together: hardware events go in pairs
// whose ratio perfring derives (so numerator and denominator are counted over the same time
// even when the PMU multiplexes), which also fits any PMU's general-purpose counters;
// software events share one group. Shared: the collector opens these events, the server knows
// from it which metric names a ring can have (an alert on a misspelled metric is refused).

public struct EventSpec: Sendable, Equatable {
    public let name: String
    public let type: UInt32
    public let config: UInt64
    public let groupKey: String
    /// On a hybrid CPU: the core PMU this part counts on (nil: the legacy type as is).
    public var pmu: CorePMU? = nil
    /// On a hybrid CPU: the slot of the event's first part.
    public var partOf: Int? = nil
    public var isHardware: Bool { type != 1 /* PERF_TYPE_SOFTWARE */ }
    /// Software events the kernel counts only in kernel mode (include/linux/perf_event.h,
    /// perf_sw_event_sched passes the scheduler's own registers): with exclude_kernel they can
    /// only ever read 0.
    public var countsInKernelOnly: Bool { type == 1 && (config == 3 || config == 4) }  // context-switches, cpu-migrations
    /// Legacy hardware and hardware-cache events: the ones a hybrid CPU counts per core PMU.
    var isGeneric: Bool { type == 0 || type == 3 }
}

public enum EventCatalog {
    static let hw: UInt32 = 0, sw: UInt32 = 1, cache: UInt32 = 3, raw: UInt32 = 4

    /// Hardware cache event config: cache id | op << 8 | result << 16 (read op).
    static func cacheConfig(_ id: UInt64, miss: Bool) -> UInt64 { id | (0 << 8) | ((miss ? 1 : 0) << 16) }

    public static let all: [EventSpec] = [
        EventSpec(name: "cycles", type: hw, config: 0, groupKey: "cpi"),
        EventSpec(name: "instructions", type: hw, config: 1, groupKey: "cpi"),
        EventSpec(name: "cache-references", type: hw, config: 2, groupKey: "cache"),
        EventSpec(name: "cache-misses", type: hw, config: 3, groupKey: "cache"),
        EventSpec(name: "branch-instructions", type: hw, config: 4, groupKey: "branch"),
        EventSpec(name: "branch-misses", type: hw, config: 5, groupKey: "branch"),
        EventSpec(name: "bus-cycles", type: hw, config: 6, groupKey: "bus-cycles"),
        EventSpec(name: "stalled-cycles-frontend", type: hw, config: 7, groupKey: "stalled-cycles-frontend"),
        EventSpec(name: "stalled-cycles-backend", type: hw, config: 8, groupKey: "stalled-cycles-backend"),
        EventSpec(name: "ref-cycles", type: hw, config: 9, groupKey: "ref-cycles"),
        EventSpec(name: "L1-dcache-loads", type: cache, config: cacheConfig(0, miss: false), groupKey: "l1d"),
        EventSpec(name: "L1-dcache-load-misses", type: cache, config: cacheConfig(0, miss: true), groupKey: "l1d"),
        EventSpec(name: "LLC-loads", type: cache, config: cacheConfig(2, miss: false), groupKey: "llc"),
        EventSpec(name: "LLC-load-misses", type: cache, config: cacheConfig(2, miss: true), groupKey: "llc"),
        EventSpec(name: "dTLB-load-misses", type: cache, config: cacheConfig(3, miss: true), groupKey: "dtlb"),
        EventSpec(name: "iTLB-load-misses", type: cache, config: cacheConfig(4, miss: true), groupKey: "itlb"),
        EventSpec(name: "cpu-clock", type: sw, config: 0, groupKey: "sw"),
        EventSpec(name: "task-clock", type: sw, config: 1, groupKey: "sw"),
        EventSpec(name: "page-faults", type: sw, config: 2, groupKey: "sw"),
        EventSpec(name: "context-switches", type: sw, config: 3, groupKey: "sw"),
        EventSpec(name: "cpu-migrations", type: sw, config: 4, groupKey: "sw"),
        EventSpec(name: "minor-faults", type: sw, config: 5, groupKey: "sw"),
        EventSpec(name: "major-faults", type: sw, config: 6, groupKey: "sw"),
    ]

    /// The default set: the hardware six, then the software four.
    public static let defaultNames = ["cycles", "instructions", "cache-references", "cache-misses",
                                      "branch-instructions", "branch-misses",
                                      "task-clock", "context-switches", "cpu-migrations", "page-faults"]

    /// Looks up a name (or alias, or a raw `rNNNN` hex event); nil when unknown.
    public static func spec(named name: String) -> EventSpec? {
        let canonical = PerfEventName.aliases[name] ?? name
        if let s = all.first(where: { $0.name == canonical }) { return s }
        if canonical.count > 1, canonical.count <= 17, canonical.first == "r",
           let config = UInt64(canonical.dropFirst(), radix: 16) {
            return EventSpec(name: canonical, type: raw, config: config, groupKey: canonical)
        }
        return nil
    }

    /// The ring's slots for `specs`: on a hybrid CPU (two or more core PMUs) each generic
    /// hardware event becomes one part per core PMU, as perf opens it (`cpu_core/cycles/`,
    /// `cpu_atom/cycles/`), each part in its own PMU's group so ratios pair counts of one core
    /// type; software and raw events stay single. Fails when the parts do not fit the table.
    public static func layout(_ specs: [EventSpec], hybrid pmus: [CorePMU]) -> Result<[EventSpec], UsageError> {
        guard pmus.count > 1 else { return .success(specs) }
        var out: [EventSpec] = []
        for s in specs {
            guard s.isGeneric else { out.append(s); continue }
            let first = out.count
            for pmu in pmus {
                var name = "\(pmu.name)/\(s.name)/"
                if name.utf8.count >= RingLayout.eNameSize { name = "pmu\(pmu.type)/\(s.name)/" }
                out.append(EventSpec(name: name, type: s.type, config: s.config, groupKey: s.groupKey + "@" + pmu.name, pmu: pmu, partOf: first))
            }
        }
        guard out.count <= RingLayout.maxEvents else {
            return .failure(UsageError("--events: on this hybrid CPU (\(pmus.map(\.name).joined(separator: ", "))) each hardware event is counted once per core PMU: \(out.count) slots, at most \(RingLayout.maxEvents)"))
        }
        return .success(out)
    }

    /// Parses a comma-separated list; the error names the offending entry.
    public static func parseList(_ list: String) -> Result<[EventSpec], UsageError> {
        var out: [EventSpec] = []
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let name = String(part)
            guard let s = spec(named: name) else {
                return .failure(UsageError("--events: unknown event '\(name)' (known: \(all.map(\.name).joined(separator: ", ")), or rHEX)"))
            }
            guard !out.contains(where: { $0.name == s.name }) else { return .failure(UsageError("--events: '\(s.name)' listed twice")) }
            out.append(s)
        }
        guard !out.isEmpty else { return .failure(UsageError("--events: empty list")) }
        guard out.count <= RingLayout.maxEvents else {
            return .failure(UsageError("--events: \(out.count) events, at most \(RingLayout.maxEvents)"))
        }
        return .success(out)
    }
}

extension EventCatalog {
    /// The header of a ring that lists every catalog event (and no other field): what the server
    /// derives metric names from before any ring exists, to tell a misspelled metric from one
    /// this machine merely cannot count.
    public static func headerListingEvery(mode: RingMode) -> RingHeader {
        let events = all.map { EventEntry(name: $0.name, type: $0.type, config: $0.config, status: .counting) }
        return RingHeader(recordSize: 0, capacity: 0, generation: 0, collectorPid: 0, mode: mode, targetPid: 0, cpuCount: 0,
                          intervalNs: 0, createdRealtimeNs: 0, createdMonotonicNs: 0, eventCount: events.count, perCpuCount: 0,
                          perCpuOffset: 0, perCpuStride: 0, flags: [], hostname: "", target: "", energyDomains: [], events: events)
    }
}
