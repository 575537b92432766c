// Fields the collector reads only every slow period (meminfo, diskstats, pressure...) are
// invalid in the records between readings, and their deltas cover the slow span. The server
// shows a steady series: a level repeated, a rate over the span, no break between readings,
// and null once readings stop for three periods.
import Glibc
import Testing
@testable import Server
@testable import Shared

@Suite struct SlowFieldTests {
    /// One reading per second at a 250 ms interval: a reading record, three without.
    @Test func slowFieldsAreSteadyBetweenReadings() throws {
        let dir = APITempDir()
        let fake = try FakeCollector(path: dir.ring, publish: false)
        let second: UInt64 = 1_000_000_000
        let mask = OSField.memAvailable.bit | OSField.memTotal.bit | OSField.diskReadBytes.bit | OSField.psiCpuSome.bit
        fake.writer.setSlowFields(mask, periodNs: second)
        try fake.writer.publish()
        let follower = RingFollower(path: dir.ring)
        let dt: UInt64 = 250_000_000
        func record(read: Bool, cpuUser: UInt64 = 100_000_000) -> FakeRecord {
            var r = FakeRecord()
            r.dtNs = dt
            r.os = [.cpuUser: cpuUser, .cpuIdle: 150_000_000]
            if read {
                r.os[.memTotal] = 8 << 30
                r.os[.memAvailable] = 6 << 30
                r.os[.diskReadBytes] = 4_000_000      // over the 1 s span: 4 MB/s
                r.os[.psiCpuSome] = 100_000           // 0.1 s stalled in 1 s: 10 %
                r.slowSpanNs = second
            } else {
                r.invalidOS = [.memAvailable: 1, .diskReadBytes: 999_999_999]  // stale bytes never show
            }
            return r
        }
        for i in 0..<8 {
            fake.write(record(read: i % 4 == 0))
            follower.poll()
        }
        let store = try #require(follower.store)
        let mem = try #require(store.column("mem_used_pct")), disk = try #require(store.column("disk_read_bps"))
        let psi = try #require(store.column("psi_cpu_some")), cpu = try #require(store.column("cpu_util"))
        #expect(store.count == 8)
        for pos in 0..<store.count {
            #expect(store.value(mem, at: pos) == 25, "sample \(pos)")
            #expect(abs(store.value(disk, at: pos) - 4_000_000) < 1e-3, "sample \(pos): \(store.value(disk, at: pos))")
            #expect(abs(store.value(psi, at: pos) - 10) < 1e-6, "sample \(pos)")
            #expect(abs(store.value(cpu, at: pos) - 40) < 1e-6, "fast fields are untouched")
        }
        // Readings stop (the source went away): repeated for three periods, then null.
        for _ in 0..<16 { fake.write(record(read: false)) }
        follower.poll()
        let last = store.count - 1
        #expect(store.value(mem, at: last).isNaN && store.value(disk, at: last).isNaN)
        #expect(store.value(mem, at: 16) == 25, "3 s after the last reading (record 4) it still holds")
        #expect(store.value(mem, at: 17).isNaN)
    }

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
