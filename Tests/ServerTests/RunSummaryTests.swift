// The end-of-run summary of `perfring-collector -- CMD`: the real collector on a short command,
// its stderr checked against the ring it leaves (the header's totals, exit status, phases).
import Foundation
import Glibc
import Shared
import Testing
@testable import Server

/// Runs perfring-collector with `args`; its status and stderr.
func runCollector(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int32, err: String) {
    let r = try runProgram(collectorBinary, args, sourceLocation: sourceLocation)
    return (r.status, r.stderr)
}

@Suite(.serialized) struct RunSummaryTests {
    static let command = ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 0.3; exit 3"]

    @Test func theSummaryMatchesTheRing() throws {
        let dir = APITempDir()
        let run = try runCollector(["--ring", dir.ring, "--interval", "100ms", "--"] + Self.command)
        #expect(run.status == 3, "the command's status: \(run.err)")
        let start = try #require(run.err.range(of: "Performance counter stats for 'sh -c "), "no summary in: \(run.err)")
        let summary = String(run.err[start.lowerBound...])
        let lines = summary.split(separator: "\n").map(String.init)
        let reader = try RingReader(path: dir.ring)
        let totals = try #require(reader.totals())
        for (slot, e) in reader.header.events.enumerated() {
            let line = try #require(lines.first { $0.contains(" \(e.name) ") }, "\(e.name) has a line")
            if e.effectiveStatus == .counting {
                let expected = e.name == "task-clock" || e.name == "cpu-clock"
                    ? RunSummary.fixed(Double(totals.events[slot]) / 1e6, 2) + " msec"
                    : RunSummary.grouped(totals.events[slot])
                #expect(line.contains(expected), "\(e.name): \(line) (ring total \(totals.events[slot]))")
                #expect(line.contains(" /s") || line.contains("CPUs utilized"), "\(line)")
            } else {
                #expect(line.contains("<not counted>") && !line.contains(" 0 "), "unavailable, never 0: \(line)")
            }
        }
        let counting = Set(reader.header.events.filter { $0.effectiveStatus == .counting }.map { MetricDeriver.key(forEvent: $0.name) })
        let ipc = try #require(lines.first { $0.contains("IPC") })
        #expect(ipc.contains("unavailable") == !(counting.contains("cycles") && counting.contains("instructions")), "\(ipc)")
        #expect(lines.contains { $0.hasSuffix(" 3 exit status of the command") }, "\(summary)")
        let elapsedLine = try #require(lines.first { $0.hasSuffix("seconds time elapsed") })
        let elapsed = try #require(Double(elapsedLine.split(separator: " ").first.map(String.init) ?? ""))
        #expect(elapsed >= 0.3 && elapsed < 60, "\(elapsedLine)")
        #expect(summary.contains("target: peak RSS"))
        // The phases are analyze's, by the same code.
        let analyze = try runServerCommand(["analyze", dir.ring], cwd: dir.path)
        #expect(analyze.status == 0)
        #expect(summary.hasSuffix(String(decoding: analyze.out, as: UTF8.self)), "the phase table is `analyze RING`'s")
    }

    @Test func quietPrintsNoSummary() throws {
        let dir = APITempDir()
        let run = try runCollector(["-q", "--ring", dir.ring, "--interval", "100ms", "--", "true"])
        #expect(run.status == 0)
        #expect(!run.err.contains("Performance counter stats"), "\(run.err)")
    }

    @Test func aMissingRingGivesAWarningNotACrash() throws {
        // The summary of a run whose ring is gone: a clear error from the reader.
        #expect(throws: RingError.self) { try RunSummary.read("/nonexistent/perfring-ring") }
    }
}
