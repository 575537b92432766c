// The detector against the recorded traces' true phases, beside two baselines computed by the
// same code: no boundaries at all, and fixed thresholds applied sample by sample. Goals hold
// on the held-out traces (test-*); the tuning traces (tune-*) are reported, not asserted.
import Foundation
import Testing
@testable import Server

@Suite struct PhaseEvaluationTests {
    static func rows(_ traces: [LabelledTrace]) -> [EvaluationRow] {
        [EvaluationRow.evaluate("perfring", traces) { $0.detected() },
         EvaluationRow.evaluate("fixed-threshold", traces) { $0.fixedThreshold },
         EvaluationRow.evaluate("no-boundaries", traces) { $0.noBoundaries }]
    }

    @Test func heldOutTracesMeetTheGoals() throws {
        let all = try LabelledTrace.all()
        let heldOut = all.filter(\.heldOut), tuning = all.filter { !$0.heldOut }
        #expect(heldOut.contains { $0.stationary } && heldOut.contains { !$0.stationary })
        let rows = Self.rows(heldOut)
        print(evaluationTable("held-out", rows, traces: heldOut))
        print(evaluationTable("tuning", Self.rows(tuning), traces: tuning))
        let ours = rows[0]
        #expect(ours.f1 >= 0.9)
        #expect(ours.covering >= 0.85)
        #expect(ours.macroF1 >= 0.9)
        #expect(ours.medianDelay <= 5)
        #expect(ours.falsePerMinute <= 1)
    }

    /// Each trace is small enough to commit and states what it can show.
    @Test func tracesAreSmallAndLabelled() throws {
        for t in try LabelledTrace.all() {
            let size = try FileManager.default.attributesOfItem(atPath: "\(LabelledTrace.directory)/\(t.name).csv")[.size] as! Int
            #expect(size < 1 << 20, "\(t.name)")
            #expect(!t.phases.isEmpty && t.table.rows.count > 100, "\(t.name)")
            #expect(t.table.scope == .process, "recorded with the collector counting the workload")
        }
    }
}
