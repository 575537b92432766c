// Fields the collector reads only every slow period (meminfo, diskstats, pressure...) are
// repeated by the collector in the records between readings (CollectorRunTests checks that),
// so the server needs no history: each record's values stand on their own. The header's
// slow-field mask only tells /api/fields which figures are read slowly.
import Glibc
import Testing
@testable import Server
@testable import Shared

@Suite struct SlowFieldTests {
    @Test func fieldsSaySoWhenTheyAreReadSlowly() throws {
        let dir = APITempDir()
        let fake = try FakeCollector(path: dir.ring, publish: false)
        fake.writer.setSlowFields(OSField.memAvailable.bit | OSField.memTotal.bit, periodNs: 1_000_000_000)
        try fake.writer.publish()
        let header = try RingReader(path: dir.ring).header
        #expect(header.slowFieldMask == OSField.memAvailable.bit | OSField.memTotal.bit && header.slowPeriodNs == 1_000_000_000)
        let columns = MetricDeriver(header: header).columns
        #expect(columns.first { $0.key == "mem_used_pct" }?.help.contains("read every 1s") == true)
        #expect(columns.first { $0.key == "disk_read_bps" }?.help.contains("read every") == false)
    }
}
