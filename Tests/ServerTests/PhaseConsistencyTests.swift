// One code path for phases, end to end: a recording replayed into a ring by the real
// perfring-collector (--replay, as fast as possible) and served live (/api/phases), `analyze`
// on the recording and on the replayed ring, and `compare` of the two, all find the same
// phases: the same classes over the same numbers of samples.
import Foundation
import Testing
@testable import Server

@Suite struct PhaseConsistencyTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let recordings = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/recordings").path

    /// Full /api/export.csv of real collector runs (process scope: a command running
    /// stress-ng, an alternation and dd; system scope: the machine with stress-ng beside other
    /// tenants), and a real perf stat recording made elsewhere.
    static let files = [fixtures + "/phases-process-export.csv", fixtures + "/phases-system-export.csv",
                        recordings + "/rlsched_interval_csv_instr_50ms.csv"]

    typealias Phases = [String]

    static func summary(_ reports: [PhaseReport]) -> Phases { reports.map { "\($0.samples) \($0.classification.phaseClass.rawValue)" } }

    @Test(arguments: files)
    func liveReplayAnalyzeAndCompareAgree(file: String) throws {
        let dir = RingDir()
        let replay = try runProgram(collectorBinary, ["-q", "--ring", dir.ring, "--replay", file, "--speed", "0"])
        try #require(replay.status == 0, "\(replay.stderr)")

        let (table, _) = try MetricTable.load(file)
        let offline = Self.summary(table.track().reports())
        #expect(offline.count >= 1)
        let (ringTable, source) = try MetricTable.load(dir.ring)
        #expect(source == "ring" && ringTable.scope == table.scope, "the replayed ring is read in the recording's scope")
        #expect(Self.summary(ringTable.track().reports()) == offline, "analyze on the file and on its replay")

        let server = APIServer(ring: dir.ring)
        let body = try #require(server.eventuallyObject("/api/phases") { o in
            ((o["phases"] as? [[String: Any]]) ?? []).reduce(0) { $0 + Int(number($1["samples"]) ?? 0) } == table.rows.count
        }, "the live server reads every replayed sample")
        let live = ((body["phases"] as? [[String: Any]]) ?? []).map { "\(Int(number($0["samples"]) ?? 0)) \($0["class"] as? String ?? "")" }
        #expect(live == offline, "live /api/phases after --replay and analyze on the file")
        #expect(body["scope"] as? String == table.scope.rawValue)

        let c = Comparison(a: ("file", table, "csv"), b: ("ring", ringTable, "ring"))
        #expect(c.a.phases.map(\.phaseClass) == c.b.phases.map(\.phaseClass))
        #expect(zip(c.a.phases, c.b.phases).allSatisfy { abs($0.seconds - $1.seconds) < 1e-6 }, "compare: the same phase time per class")
    }
}
