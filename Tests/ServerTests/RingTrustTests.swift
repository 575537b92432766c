// The ring file as hostile input to the server: every name in it (events, host, target, energy
// domains) is refused or escaped wherever it is written (JSON, CSV, Prometheus); an impossible
// write index never serves a never-written slot; what is wrong with the file at the path is
// reported in every reply, not some; and a server started as root reads the ring only with the
// privileges it serves with.
import Foundation
import Glibc
import Shared
import Testing
@testable import Server

/// Whether every line of a /metrics reply is a comment or a sample of the text format 0.0.4,
/// with [a-z0-9_] metric names: a name from the ring cannot have added or broken a line.
func exposition(_ text: String) -> [String] {
    var bad: [String] = []
    let name = "perfring_[a-z0-9_]+"
    let label = "[a-z_]+=\"([^\"\\\\\\n]|\\\\[\\\\\"n])*\""
    let patterns = [
        "^# HELP \(name) [^\\n]*$", "^# TYPE \(name) (gauge|counter)$",
        "^\(name)(\\{\(label)(,\(label))*\\})? [-+0-9.eE]+$",
    ].map { try! NSRegularExpression(pattern: $0) }
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
        let s = String(line)
        let range = NSRange(s.startIndex..., in: s)
        if !patterns.contains(where: { $0.firstMatch(in: s, range: range) != nil }) { bad.append(s) }
    }
    if !text.hasSuffix("\n") { bad.append("(no final newline)") }
    return bad
}

@Suite(.serialized) struct RingTrustTests {
    /// Event names that would break a JSON key, a CSV header or a Prometheus line are refused
    /// with a clear ring_error; the reply formats stay well-formed.
    @Test(arguments: ["evil\nperfring_up 0", "ev\"il", "a;b", "a b", "<b>x</b>", "x{y=\"1\"}", "caf\u{E9}", "back\\slash"])
    func aHostileEventNameIsRefused(_ name: String) throws {
        let dir = APITempDir()
        var events = Slot.events
        events[Slot.refCycles].name = name
        let c = try FakeCollector(path: dir.ring, events: events)
        c.write(2)
        let server = APIServer(ring: dir.ring)
        let health = try server.object("/api/health")
        let error = try #require(health["ring_error"] as? String, "\(health)")
        #expect(error.contains("event 7 has an invalid name"), "\(error)")
        #expect(!error.contains("\n"))
        #expect(try server.get("/api/latest").status == 503)
        #expect(try server.get("/api/export.csv").status == 503)
        let metrics = try server.get("/metrics")
        #expect(metrics.status == 200)
        #expect(exposition(metrics.text).isEmpty, "\(exposition(metrics.text))")
    }

    /// Names that are each fine but would be one metric (or a built-in one) are refused too.
    @Test(arguments: [("cache-misses", "cache_misses", "perfring_cache_misses"), ("up", "task-clock", "perfring_up"),
                      ("dTLB-load-misses", "dtlb-load-misses", "perfring_dtlb_load_misses"), ("seq", "task-clock", "perfring_seq")])
    func eventNamesThatWouldCollideAreRefused(_ a: String, _ b: String, _ metric: String) throws {
        let dir = APITempDir()
        var events = Slot.events
        events[Slot.refCycles].name = a
        events[Slot.taskClock].name = b
        let c = try FakeCollector(path: dir.ring, events: events)
        c.write(2)
        let server = APIServer(ring: dir.ring)
        let error = try #require(try server.object("/api/health")["ring_error"] as? String)
        #expect(error == "event names collide: two metrics would be named \(metric)" || error.contains("appears twice"), "\(error)")
        #expect(try server.get("/api/latest").status == 503)
    }

    /// Host name and target are free text (a command line may hold anything): they are served,
    /// escaped, in JSON and in Prometheus labels, and never add a line.
    @Test func hostAndTargetWithNewlinesAndQuotesAreEscaped() throws {
        let dir = APITempDir()
        let host = "h\"o\\st\nperfring_up 0\r"
        let target = "sh -c 'echo \"}\"\nperfring_info{} 1' \u{7}"
        let c = try FakeCollector(path: dir.ring, hostname: host, target: target)
        c.write(2)
        let server = APIServer(ring: dir.ring)
        let events = try server.object("/api/events")
        #expect((events["host"] as? [String: Any])?["hostname"] as? String == host)
        #expect(events["target"] as? String == target)
        let metrics = try server.get("/metrics").text
        #expect(exposition(metrics).isEmpty, "\(exposition(metrics))")
        let info = try #require(metrics.split(separator: "\n").first { $0.hasPrefix("perfring_info{") })
        #expect(info.contains("host=\"h\\\"o\\\\st\\nperfring_up 0\""), "\(info)")
        #expect(info.contains("target=\"sh -c 'echo \\\"}\\\"\\nperfring_info{} 1' \""), "\(info)")
        let csv = try server.get("/api/export.csv")
        #expect(csv.status == 200)
        let header = try #require(csv.text.split(separator: "\n").first)
        #expect(header.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "," }, "\(header)")
    }

    /// A write index at 2^63 (the seqlock word of its last record wraps to the 0 of a
    /// never-written slot) or one that goes back is a fault: the samples already read stay,
    /// nothing else is served.
    @Test(arguments: [UInt64(1) << 63, RingLayout.maxWriteIndex + 1, UInt64.max, 1])
    func anImpossibleWriteIndexServesNothingNew(_ index: UInt64) throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring, capacity: 8)
        c.write(3)
        let server = APIServer(ring: dir.ring)
        #expect(seqs(try server.object("/api/data")) == [0, 1, 2])
        apiPatch(dir.ring, at: RingLayout.hWriteIndex, apiLE64(index))
        let health = server.eventuallyObject("/api/health") { ($0["ring_error"] as? String)?.contains("impossible write index") == true }
        #expect(health != nil, "the index is reported")
        #expect(seqs(try server.object("/api/data")) == [0, 1, 2], "only the samples read before")
        #expect(health.flatMap { number($0["records_lost"]) } == 0)
    }

    /// A file at the path that fails validation is named in every reply, however fast they
    /// come (the verdict changes only when the path is checked, not between checks).
    @Test func ringErrorIsTheSameInEveryReplyUnderLoad() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(3)
        let server = APIServer(ring: dir.ring)
        let bad = dir.path + "/bad"
        _ = FileManager.default.createFile(atPath: bad, contents: Data(repeating: 0x41, count: 8192))
        try #require(rename(bad, dir.ring) == 0)
        #expect(server.eventuallyObject("/api/health") { $0["ring_error"] is String } != nil)
        let client = try TestClient(port: server.port)
        var errors: [String: Int] = [:]
        for _ in 0..<400 {
            client.send("GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n")
            let r = try #require(client.readResponse())
            let e = (try jsonObject(r.body))["ring_error"] as? String ?? "null"
            errors[e, default: 0] += 1
        }
        #expect(errors.count == 1 && errors.keys.first?.contains("magic") == true, "\(errors)")
    }

    /// Started as root, the server binds, drops to nobody, and only then opens the ring: a
    /// 0600 root ring, or a link to a root-only ring, is refused as it would be for nobody.
    @Test(.enabled(if: geteuid() == 0, "needs root: the server drops privileges only from root"),
          arguments: ["0600 ring", "link to a root-only ring"])
    func aRootStartedServerReadsTheRingOnlyAsItsUser(_ setup: String) throws {
        let dir = RingDir()
        let secret = RingDir()
        chmod(secret.path, 0o700)
        let ring = setup == "0600 ring" ? dir.ring : secret.ring
        let c = try FakeCollector(path: ring)
        c.write(2)
        chmod(ring, 0o600)
        if setup != "0600 ring" { try #require(symlink(ring, dir.ring) == 0) }
        let site = try HostileSite()
        let server = try ServerProcess(["--ring", dir.ring] + site.serverArgs.dropFirst(2))
        let (ok, last) = server.eventuallyHealth { healthString($0, "ring_error")?.contains("Permission denied") == true }
        #expect(ok, "\(String(describing: last))\n\(server.log)")
        #expect(try server.get("/api/latest").status == 503)
        #expect(try server.get("/api/data").status == 503)
        let log = server.log
        let dropped = try #require(log.range(of: "running as nobody"), "\(log)")
        let opened = log.range(of: "ring \(dir.ring)")
        #expect(opened.map { $0.lowerBound > dropped.lowerBound } ?? true, "the ring was touched before the drop:\n\(log)")
        #expect(server.stop() == 0)
    }
}
