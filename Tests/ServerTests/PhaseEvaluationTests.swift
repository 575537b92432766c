// The detector against the recorded traces' true phases, beside two baselines computed by the
// same code: no boundaries at all, and fixed thresholds applied sample by sample. Goals hold
// on the held-out traces of the programs set (programs/held-*, frozen by their SHA-256 in
// programs/HELD-OUT.sha256 before any tuning); tuning traces are reported, not asserted.
import Foundation
import Testing
@testable import Server

@Suite struct PhaseEvaluationTests {
    /// SHA-256 of Tests/Traces/programs/HELD-OUT.sha256 as committed before tuning: a changed
    /// list (a held-out file re-recorded, added or dropped after the detector was tuned) fails.
    static let heldOutListSHA256 = "ee1e55eb48ee66d4ce2f50d69336e62e36a62316d68a88642d410d698a392584"

    static func rows(_ traces: [LabelledTrace]) -> [EvaluationRow] {
        [EvaluationRow.evaluate("perfring", traces) { $0.detected() },
         EvaluationRow.evaluate("fixed-threshold", traces) { $0.fixedThreshold },
         EvaluationRow.evaluate("no-boundaries", traces) { $0.noBoundaries }]
    }

    static func sha256(_ path: String) throws -> String {
        String(try runProgram("/usr/bin/sha256sum", [path]).out.prefix(64))
    }

    @Test func heldOutFilesAreTheFrozenOnes() throws {
        let dir = LabelledTrace.directory + "/programs"
        #expect(try Self.sha256(dir + "/HELD-OUT.sha256") == Self.heldOutListSHA256, "the held-out list changed after it was frozen")
        let list = try String(contentsOfFile: dir + "/HELD-OUT.sha256", encoding: .utf8)
        var frozen: [String: String] = [:]
        for line in list.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            frozen[String(f[1])] = String(f[0])
        }
        let present = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("held-") }
        #expect(Set(present) == Set(frozen.keys), "every held-out file is in the list and every listed file is there")
        for (name, hash) in frozen.sorted(by: { $0.key < $1.key }) {
            #expect(try Self.sha256(dir + "/" + name) == hash, "\(name) changed after it was frozen")
        }
    }

    @Test func programsHeldOutMeetTheGoalsAndBeatTheBaselineOnEveryFile() throws {
        let heldOut = try LabelledTrace.all(programs: true).filter(\.heldOut)
        #expect(heldOut.contains { $0.stationary } && heldOut.contains { !$0.stationary })
        let rows = Self.rows(heldOut)
        print(evaluationTable("programs held-out", rows, traces: heldOut))
        print(perFileTable("programs held-out", heldOut, ours: { $0.detected() }, baseline: { $0.fixedThreshold }))
        let ours = rows[0]
        #expect(ours.f1 >= 0.9)
        #expect(ours.covering >= 0.85)
        #expect(ours.macroF1 >= 0.9)
        #expect(ours.medianDelay <= 5)
        #expect(ours.falsePerMinute <= 1)
        for t in heldOut {
            #expect(FileScore(t, t.detected()).atLeastAsGood(as: FileScore(t, t.fixedThreshold)), "\(t.name)")
        }
    }

    /// The tuning traces' figures, on their own (what tuning looked at).
    @Test func programsTuningSetIsReported() throws {
        let tuning = try LabelledTrace.all(programs: true).filter { !$0.heldOut }
        print(evaluationTable("programs tuning", Self.rows(tuning), traces: tuning))
        print(perFileTable("programs tuning", tuning, ours: { $0.detected() }, baseline: { $0.fixedThreshold }))
    }

    @Test func workloadSetIsReported() throws {
        let all = try LabelledTrace.all()
        let heldOut = all.filter(\.heldOut), tuning = all.filter { !$0.heldOut }
        print(evaluationTable("workload held-out", Self.rows(heldOut), traces: heldOut))
        print(evaluationTable("workload tuning", Self.rows(tuning), traces: tuning))
    }

    /// Each trace is small enough to commit and states what it can show.
    @Test func tracesAreSmallAndLabelled() throws {
        for t in try LabelledTrace.all() + LabelledTrace.all(programs: true) {
            let size = try FileManager.default.attributesOfItem(atPath: "\(LabelledTrace.directory)/\(t.name).csv")[.size] as! Int
            #expect(size < 1 << 20, "\(t.name)")
            #expect(!t.phases.isEmpty && t.table.rows.count > 100, "\(t.name)")
            #expect(t.table.scope == (t.name.contains("sys") ? .system : .process), "\(t.name): recorded in the scope its name says")
        }
    }
}
