// The CPU's own PMUs as sysfs lists them: the event catalog lays hybrid events out over them,
// the collector opens them.

/// A core PMU (the CPU's own counters) as sysfs lists it.
public struct CorePMU: Sendable, Equatable {
    public let name: String
    /// /sys/bus/event_source/devices/NAME/type: its perf_event_attr.type.
    public let type: UInt32
    /// The CPUs it counts on (its `cpus` file); nil when it has none (a single core PMU "cpu").
    public let cpus: [Int]?
    /// Legacy hardware ids (PERF_COUNT_HW_*) as this PMU's own raw config, from its sysfs event
    /// aliases: how a kernel without extended types is asked for `cpu_atom/cycles/`.
    public let rawConfigs: [UInt64: UInt64]
    public init(name: String, type: UInt32, cpus: [Int]?, rawConfigs: [UInt64: UInt64] = [:]) {
        self.name = name; self.type = type; self.cpus = cpus; self.rawConfigs = rawConfigs
    }

    /// The core PMUs under `root` (normally /sys/bus/event_source/devices), sorted by type.
    /// perf's rule (tools/perf/util/pmus.c, is_pmu_core): a PMU is a core PMU when it is named
    /// `cpu`, or when its directory has a `cpus` file (x86 hybrid cpu_core/cpu_atom, Arm's
    /// armv8_* PMUs on big.LITTLE). Uncore PMUs have a `cpumask` instead.
    public static func discover(root: String) -> [CorePMU] {
        guard let names = try? Sys.listDirectory(root) else { return [] }
        var out: [CorePMU] = []
        for name in names where !name.hasPrefix(".") {
            let dir = root + "/" + name
            guard let text = try? Sys.readFile(dir + "/type", limit: 64),
                  let type = UInt32(text.split(separator: "\n").first ?? "") else { continue }
            let cpus = (try? Sys.readFile(dir + "/cpus", limit: 4096)).flatMap { parseCPUList($0.trimmingNewline) }
            guard name == "cpu" || cpus != nil else { continue }
            out.append(CorePMU(name: name, type: type, cpus: cpus, rawConfigs: rawConfigs(dir)))
        }
        return out.sorted { $0.type < $1.type }
    }

    /// The sysfs aliases of the legacy hardware events, by PERF_COUNT_HW_* id: x86 names
    /// (`cpu-cycles`, ...), then the Arm PMUv3 events the kernel maps them to
    /// (drivers/perf/arm_pmuv3.c, armv8_pmuv3_perf_map).
    static let aliases: [UInt64: [String]] = [
        0: ["cpu-cycles", "cycles", "cpu_cycles"], 1: ["instructions", "inst_retired"],
        2: ["cache-references", "l1d_cache"], 3: ["cache-misses", "l1d_cache_refill"],
        4: ["branch-instructions", "branches", "pc_write_retired"], 5: ["branch-misses", "br_mis_pred"],
    ]

    /// Encodes each alias found under `dir/events` with the bit fields of `dir/format`, as perf
    /// parses `pmu/event/` terms (`event=0x3c,umask=0x00` with `event: config:0-7`, ...). An
    /// alias that uses anything but `config` bits is left out.
    static func rawConfigs(_ dir: String) -> [UInt64: UInt64] {
        var out: [UInt64: UInt64] = [:]
        for (id, names) in aliases {
            for name in names {
                guard let text = try? Sys.readFile(dir + "/events/" + name, limit: 4096),
                      let config = encode(text.trimmingNewline, formatDir: dir + "/format") else { continue }
                out[id] = config
                break
            }
        }
        return out
    }

    static func encode(_ terms: String, formatDir: String) -> UInt64? {
        var config: UInt64 = 0
        for term in terms.split(separator: ",") {
            let kv = term.split(separator: "=", maxSplits: 1)
            let key = String(kv[0])
            let text = kv.count > 1 ? String(kv[1]) : "1"
            guard let value = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text),
                  let format = try? Sys.readFile(formatDir + "/" + key, limit: 256) else { return nil }
            // `config:0-7` or `config:0-7,21`: the value's bits go to those positions in order.
            let spec = format.trimmingNewline.split(separator: ":", maxSplits: 1)
            guard spec.count == 2, spec[0] == "config" else { return nil }
            var bit = 0
            for range in spec[1].split(separator: ",") {
                let ends = range.split(separator: "-").compactMap { Int($0) }
                guard let lo = ends.first, let hi = ends.last, lo <= hi, hi < 64 else { return nil }
                for position in lo...hi {
                    if bit < 64, value >> UInt64(bit) & 1 == 1 { config |= 1 << UInt64(position) }
                    bit += 1
                }
            }
        }
        return config
    }
}
