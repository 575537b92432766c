// /metrics as a pure function of its input (header, totals, newest values, state, alerts):
// which series exist in each collector state, counters in base units, gauges as 0..1 ratios,
// events available by kind, alerts, and hostile names. Every rendering is checked by the
// strict parser in APITests (and by promtool when it is installed).
import Foundation
import Glibc
import Shared
import Testing
@testable import Server

@Suite struct PrometheusExpositionTests {
    /// A ring header as a collector writes it: the fake events, two RAPL domains, and one
    /// more event whose name is hostile (quote, backslash, newline, slash).
    static func header(events: [EventEntry] = Slot.events) throws -> RingHeader {
        let dir = APITempDir()
        var config = RingConfig(path: dir.ring, capacity: 4, eventCount: events.count)
        config.hostname = "h\"ost\\"
        config.target = "make -j2\nx"
        config.energyDomains = ["package-0", "dram"]
        let w = try RingWriter(config: config)
        for (i, e) in events.enumerated() { w.setEvent(i, e) }
        try w.publish()
        return try RingReader(path: dir.ring).header
    }

    static func totals(_ header: RingHeader, os: [(OSField, UInt64)] = [], records: UInt64 = 7) -> RingTotals {
        var t = RingTotals(events: header.events.indices.map { UInt64(1000 * ($0 + 1)) }, osMask: 0,
                           os: [UInt64](repeating: 0, count: OSField.allCases.count), records: records)
        for (f, v) in os { t.osMask |= f.bit; t.os[f.rawValue] = v }
        return t
    }

    static func render(_ state: CollectorState, header: RingHeader?, totals: RingTotals? = nil,
                       newest: [(key: String, value: Double)] = [], age: Double? = 0.25,
                       alerts: [(rule: String, firing: Bool)] = []) throws -> (text: String, samples: [ExpositionSample]) {
        let input = ExpositionInput(state: state, header: header, totals: totals ?? header.map { Self.totals($0) }, newest: newest,
                                    sampleAgeSeconds: age, recordsLost: 3, alerts: alerts)
        let text = String(decoding: PrometheusExposition.render(input), as: UTF8.self)
        return (text, try parseExposition(text))
    }

    /// The series that say what the host and the collector are: present in every state.
    static let always: Set<String> = ["perfring_build_info", "perfring_up", "perfring_collector_state", "perfring_sample_age_seconds",
                                      "perfring_records_lost_total", "perfring_info", "perfring_interval_seconds",
                                      "perfring_event_available", "perfring_events_available"]

    @Test(arguments: [CollectorState.running, .stalled, .stopped, .absent])
    func valueSeriesOnlyWhileTheCollectorRuns(_ state: CollectorState) throws {
        let h = try Self.header()
        let (text, samples) = try Self.render(state, header: h, totals: Self.totals(h, os: [(.cpuUser, 5), (.load1, 9)]),
                                              newest: [("ipc", 1.5), ("load1", 2)], alerts: [("ipc > 1", true)])
        let names = Set(samples.map(\.name))
        #expect(Self.always.isSubset(of: names), "\(Self.always.subtracting(names))")
        #expect(samples.first { $0.name == "perfring_up" }?.value == (state == .running ? 1 : 0))
        #expect(samples.first { $0.name == "perfring_collector_state" && $0.labels == "state=\"\(state.rawValue)\"" }?.value == 1)
        #expect(samples.first { $0.name == "perfring_sample_age_seconds" }?.value == 0.25)
        if state == .running {
            for name in ["perfring_samples_total", "perfring_cycles_total", "perfring_cpu_seconds_total", "perfring_ipc", "perfring_load1", "perfring_alert_firing"] {
                #expect(names.contains(name), "\(name)")
            }
        } else {
            #expect(names == Self.always, "only what says the collector is not running: \(names.subtracting(Self.always))")
        }
        if let promtool = promtoolPath {
            let (status, output) = try runWithInput(promtool, ["check", "metrics"], input: Array(text.utf8))
            #expect(status == 0, "promtool check metrics: \(output)")
        }
    }

    @Test func noRingNoSampleOnlyTheCollectorState() throws {
        let (_, samples) = try Self.render(.absent, header: nil, age: nil)
        #expect(Set(samples.map(\.name)) == ["perfring_build_info", "perfring_up", "perfring_collector_state", "perfring_records_lost_total"])
    }

    struct CounterCase: Sendable, CustomTestStringConvertible {
        let field: OSField, raw: UInt64, name: String, labels: String, value: Double
        var testDescription: String { "\(field) -> \(name){\(labels)}" }
    }

    /// Each OS total becomes its counter in base units (ns and µs as seconds, µJ as joules);
    /// a level never is one, whatever the mask says.
    @Test(arguments: [
        CounterCase(field: .cpuUser, raw: 4_270_000_000, name: "perfring_cpu_seconds_total", labels: "mode=\"user\"", value: 4.27),
        CounterCase(field: .cpuSteal, raw: 1, name: "perfring_cpu_seconds_total", labels: "mode=\"steal\"", value: 1e-9),
        CounterCase(field: .diskWriteBytes, raw: 573_440, name: "perfring_disk_written_bytes_total", labels: "", value: 573_440),
        CounterCase(field: .netTxBytes, raw: 1 << 40, name: "perfring_network_transmit_bytes_total", labels: "", value: Double(1 << 40)),
        CounterCase(field: .psiMemFull, raw: 39_149, name: "perfring_pressure_stall_seconds_total", labels: "resource=\"memory\",kind=\"full\"", value: 0.039149),
        CounterCase(field: .interrupts, raw: 1889, name: "perfring_system_interrupts_total", labels: "", value: 1889),
        CounterCase(field: .pageFaults, raw: 75_646, name: "perfring_system_page_faults_total", labels: "", value: 75_646),
        CounterCase(field: .energy1, raw: 2_500_000, name: "perfring_energy_joules_total", labels: "domain=\"dram\"", value: 2.5),
        CounterCase(field: .procStime, raw: 30_000_000, name: "perfring_target_cpu_seconds_total", labels: "mode=\"system\"", value: 0.03),
        CounterCase(field: .procWriteBytes, raw: 4096, name: "perfring_target_written_bytes_total", labels: "", value: 4096),
    ])
    func osTotalsAreCountersInBaseUnits(_ c: CounterCase) throws {
        let h = try Self.header()
        let (text, samples) = try Self.render(.running, header: h, totals: Self.totals(h, os: [(c.field, c.raw), (.memTotal, 5), (.load1, 5)]))
        let family = samples.filter { $0.name == c.name }
        #expect(family.count == 1, "only the field with a total: \(family)")
        #expect(family.first?.labels == c.labels)
        #expect(family.first?.value == c.value)
        #expect(text.contains("# TYPE \(c.name) counter\n"))
        #expect(!text.contains("memory_total") && !text.contains("perfring_load1"), "levels are not counters")
    }

    @Test func eventTotalsAreCountersAndClocksAreSeconds() throws {
        let events = Slot.events + [EventEntry(name: "cpu-clock", type: 1, config: 0, status: .counting),
                                    EventEntry(name: "cpu_core.cycles.", type: 8, config: 0, status: .counting),
                                    EventEntry(name: "cpu_core-cycles-", type: 8, config: 0, status: .counting)]  // the same metric name
        let h = try Self.header(events: events)
        let (text, samples) = try Self.render(.running, header: h)
        func value(_ name: String) -> Double? { samples.first { $0.name == name }?.value }
        #expect(value("perfring_cycles_total") == 1000)
        #expect(value("perfring_branches_total") == 5000, "branch-instructions is branches, as in the API")
        #expect(value("perfring_task_clock_seconds_total") == 7000 / 1e9)
        #expect(value("perfring_cpu_clock_seconds_total") == 9000 / 1e9)
        #expect(value("perfring_ref_cycles_total") == nil, "does not count here: no counter, not 0")
        #expect(samples.filter { $0.name == "perfring_cpu_core_cycles__total" }.map(\.value) == [10_000], "a second event of the same name is not repeated")
        #expect(value("perfring_samples_total") == 7)
        if let promtool = promtoolPath {
            let (status, output) = try runWithInput(promtool, ["check", "metrics"], input: Array(text.utf8))
            #expect(status == 0, "promtool check metrics: \(output)")
        }
    }

    /// Percentages become 0..1 ratios; per-interval counts and rates are not exported.
    @Test(arguments: [("cache_miss_rate", 12.5, "perfring_cache_miss_ratio", 0.125), ("branch_miss_rate", 2, "perfring_branch_miss_ratio", 0.02),
                      ("cpu_util", 35, "perfring_cpu_busy_ratio", 0.35), ("mem_used_pct", 75, "perfring_memory_used_ratio", 0.75),
                      ("proc_cpu_pct", 150, "perfring_target_cpus_utilized", 1.5), ("ipc", 1.5, "perfring_ipc", 1.5),
                      ("load15", 0.25, "perfring_load15", 0.25), ("mem_used_bytes", 6_442_450_944, "perfring_memory_used_bytes", 6_442_450_944),
                      ("cycles_per_s", 4e6, "", 0), ("cycles", 2e6, "", 0), ("psi_io_some", 5, "", 0), ("disk_read_bps", 1e6, "", 0)])
    func gaugesAreLevelsAndRatiosInBaseUnits(_ key: String, _ apiValue: Double, _ name: String, _ value: Double) throws {
        let (_, samples) = try Self.render(.running, header: try Self.header(), newest: [(key, apiValue), ("load1", .nan)])
        let gauges = samples.filter { !$0.name.hasSuffix("_total") && !Self.always.contains($0.name) }
        #expect(gauges.map(\.name) == (name.isEmpty ? [] : [name]), "\(key)")
        #expect(name.isEmpty || gauges.first?.value == value)
    }

    @Test(arguments: [
        ([EventEntry(name: "cycles", type: 0, config: 0, status: .unsupported), EventEntry(name: "task-clock", type: 1, config: 1, status: .counting)], 0.0, 1.0),
        ([EventEntry(name: "cycles", type: 0, config: 0, status: .counting), EventEntry(name: "L1-dcache-loads", type: 3, config: 0, status: .counting),
          EventEntry(name: "r003c", type: 4, config: 0x3c, status: .counting), EventEntry(name: "task-clock", type: 1, config: 1, status: .notPermitted)], 3.0, 0.0),
        ([EventEntry(name: "duration_time", type: UInt32.max, config: 0, status: .counting)], 0.0, 0.0),
    ])
    func eventsAvailableCountsEachKind(_ events: [EventEntry], _ hardware: Double, _ software: Double) throws {
        for state in [CollectorState.running, .stopped] {
            let (_, samples) = try Self.render(state, header: try Self.header(events: events))
            let byKind = Dictionary(samples.filter { $0.name == "perfring_events_available" }.map { ($0.labels, $0.value) }, uniquingKeysWith: +)
            #expect(byKind["kind=\"hardware\""] == hardware && byKind["kind=\"software\""] == software, "\(state)")
            #expect(byKind["kind=\"other\""] == (events.first?.type == UInt32.max ? 1 : nil))
        }
    }

    @Test func alertsAreOneWhileFiringAndTheRuleTextIsEscaped() throws {
        let rules = [("cpi > 2 for 5s", true), ("load1 >= 4", false), ("x \"q\" \\ \n", true)]
        let (text, samples) = try Self.render(.running, header: try Self.header(), alerts: rules.map { (rule: $0.0, firing: $0.1) })
        let alerts = samples.filter { $0.name == "perfring_alert_firing" }
        #expect(alerts.map(\.labels) == ["rule=\"cpi > 2 for 5s\"", "rule=\"load1 >= 4\"", "rule=\"x \\\"q\\\" \\\\ \\n\""])
        #expect(alerts.map(\.value) == [1, 0, 1])
        #expect(text.contains("host=\"h\\\"ost\\\\\"") && text.contains("target=\"make -j2\\nx\""))
        let (_, none) = try Self.render(.running, header: try Self.header())
        #expect(!none.contains { $0.name == "perfring_alert_firing" }, "no rules: no family")
    }
}
