// The metric columns a ring's header gives: names and units as /api/fields reports them.
import Shared
import Testing
@testable import Server

@Suite struct MetricDeriverTests {
    /// task-clock and cpu-clock count nanoseconds of CPU time, so their rates are ns per
    /// second (1e9: one busy CPU), not events per second; the other events' rates are 1/s.
    @Test(arguments: [RingMode.systemWide, .command])
    func clockRatesAreNanosecondsPerSecond(mode: RingMode) {
        let columns = MetricDeriver(header: EventCatalog.headerListingEvery(mode: mode)).columns
        let unit = { (key: String) in columns.first { $0.key == key }?.unit }
        #expect(unit("task_clock") == "ns" && unit("task_clock_per_s") == "ns/s")
        #expect(unit("cpu_clock") == "ns" && unit("cpu_clock_per_s") == "ns/s")
        #expect(unit("context_switches_per_s") == "1/s" && unit("cycles_per_s") == "1/s")
        #expect(columns.first { $0.key == "task_clock_per_s" }?.help.contains("one CPU busy") == true)
    }

    @Test func anUnavailableClockKeepsItsUnit() {
        var header = EventCatalog.headerListingEvery(mode: .command)
        for i in header.events.indices where header.events[i].name == "task-clock" { header.events[i].status = .unsupported }
        let columns = MetricDeriver(header: header).columns
        #expect(columns.first { $0.key == "task_clock_per_s" }?.unit == "ns/s")
    }
}
