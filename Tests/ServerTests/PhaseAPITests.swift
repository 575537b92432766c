// Phases and alerts through the server: a fake collector writes an idle stretch then a busy
// one, and /api/phases, /api/latest, /api/data and /api/alerts report them. Alert rules are
// checked on the follower the server uses (the rules come from the command line there).
import Foundation
import Shared
import Testing
@testable import Server

/// 100 ms of the machine at `busyMs` of 200 ms CPU time busy, counters at CPI 2/3, no pressure.
func machineRecord(busyMs: UInt64) -> FakeRecord {
    var r = FakeRecord.plain
    r.dtNs = 100_000_000
    let ms: UInt64 = 1_000_000
    for f in OSField.cpuTimes { r.os[f] = 0 }
    r.os[.cpuUser] = busyMs * ms
    r.os[.cpuIdle] = (200 - busyMs) * ms
    for f in [OSField.psiCpuSome, .psiIoSome, .psiMemSome, .diskReadBytes, .diskWriteBytes] { r.os[f] = 0 }
    return r
}

@Suite(.serialized) struct PhaseAPITests {
    @Test func phasesReachEveryEndpoint() throws {
        let dir = APITempDir()
        let fake = try FakeCollector(path: dir.ring, capacity: 256, interval: 100_000_000)
        for _ in 0..<40 { fake.write(machineRecord(busyMs: 2)) }
        for _ in 0..<40 { fake.write(machineRecord(busyMs: 190)) }
        let server = APIServer(ring: dir.ring)
        let body = try #require(server.eventuallyObject("/api/phases") { ($0["phases"] as? [Any])?.count == 2 })
        #expect(body["generation"] as? String == fake.generationHex && body["scope"] as? String == "system")
        let phases = try #require(body["phases"] as? [[String: Any]])
        #expect(phases.map { $0["class"] as? String } == ["idle", "compute-bound"])
        #expect(phases.map { $0["open"] as? Bool } == [false, true] && phases[0]["stable"] as? Bool == true)
        let start = try #require(phases[1]["start"] as? [String: Any])
        #expect(abs((number(start["seq"]) ?? 0) - 40) <= 1)
        #expect(phases[1]["note"] is NSNull, "the fake ring has hardware counters")
        #expect((phases[0]["recommendation"] as? [String: Any])?["no_bound"] as? String == "idle: nothing to speed up")

        let latest = try server.object("/api/latest")
        let phase = try #require(latest["phase"] as? [String: Any])
        #expect(number(phase["id"]) == 1 && phase["class"] as? String == "compute-bound")

        let data = try server.object("/api/data?limit=80")
        let samples = try #require(data["samples"] as? [[String: Any]])
        let ids = samples.map { number(($0["phase"] as? [String: Any])?["id"]) }
        #expect(ids.first == 0 && ids.last == 1 && ids.count == 80)
        let columns = try #require(try server.object("/api/data?limit=80&format=columns&fields=cpu_util")["columns"] as? [String: Any])
        let column = try #require(columns["phase"] as? [Any])
        #expect(column.count == 80 && number(column[0]) == 0 && number(column[79]) == 1)

        let alerts = try server.object("/api/alerts")
        #expect((alerts["rules"] as? [Any])?.isEmpty == true && (alerts["alerts"] as? [Any])?.isEmpty == true)
    }

    @Test func alertRulesSeeEverySampleAndRestartWithTheCollector() throws {
        let dir = APITempDir()
        let fake = try FakeCollector(path: dir.ring, capacity: 256, interval: 100_000_000)
        let follower = RingFollower(path: dir.ring, alertRules: [try AlertRule.parse("cpu_util > 50 for 1s"), try AlertRule.parse("bogus > 1")])
        for _ in 0..<12 { fake.write(machineRecord(busyMs: 2)) }
        for _ in 0..<15 { fake.write(machineRecord(busyMs: 190)) }
        follower.poll()
        #expect(follower.alerts.alerts.count == 1 && follower.alerts.alerts[0].firing)
        #expect(follower.alerts.state(0) == "firing" && follower.alerts.state(1) == "unknown-metric")
        #expect(follower.phases?.reports().count == 2)
        // A new collector run: what fired is resolved, the phases start over.
        let next = try FakeCollector(path: dir.ring, capacity: 256, interval: 100_000_000)
        next.write(machineRecord(busyMs: 2))
        follower.poll()
        #expect(follower.alerts.alerts.count == 1 && !follower.alerts.alerts[0].firing)
        #expect(follower.phases?.reports().count == 1)
    }
}
