// Alert rules: the grammar (and the column of each error), rules files, the command line, and
// evaluation over a store: firing after the duration, resolving, unavailable values.
import Foundation
import Shared
import Testing
@testable import Server

@Suite struct AlertRuleParsingTests {
    @Test(arguments: [
        ("cpi > 2 for 5s", "cpi", AlertRule.Op.greater, 2.0, UInt64(5_000_000_000)),
        ("cpu_util>=90 for 30s", "cpu_util", .greaterOrEqual, 90, 30_000_000_000),
        ("  psi_io_some < 0.5  ", "psi_io_some", .less, 0.5, 0),
        ("ctxt_per_s != 0 for 250ms", "ctxt_per_s", .notEqual, 0, 250_000_000),
        ("ipc <= -1e-3 for 2m", "ipc", .lessOrEqual, -0.001, 120_000_000_000),
        ("gap == 1", "gap", .equal, 1, 0),
    ])
    func parses(text: String, metric: String, op: AlertRule.Op, threshold: Double, forNs: UInt64) throws {
        let r = try AlertRule.parse(text)
        #expect(r.metric == metric && r.op == op && r.threshold == threshold && r.forNs == forNs)
        #expect(r.text == text.trimmingCharacters(in: .whitespaces))
    }

    @Test(arguments: [
        ("", 1, "metric"),
        ("> 2", 1, "metric"),
        ("cpi", 4, "comparison"),
        ("cpi => 2", 5, "comparison"),
        ("cpi >> 2", 6, "number"),
        ("cpi > two", 7, "number"),
        ("cpi > 2 fr 5s", 9, "for"),
        ("cpi > 2 for", 12, "duration"),
        ("cpi > 2 for 5", 13, "duration"),
        ("cpi > 2 for 5s later", 16, "after the duration"),
    ])
    func refusesWithTheColumnOfTheError(text: String, column: Int, message: String) {
        #expect {
            _ = try AlertRule.parse(text)
        } throws: { e in
            guard let e = e as? AlertRule.ParseError else { return false }
            return e.column == column && e.message.contains(message)
        }
    }

    @Test func filesSkipCommentsAndNameTheLine() throws {
        let rules = try AlertRule.parseFile("# heavy stalls\ncpi > 2 for 5s\n\n  cpu_util > 90 for 30s # busy\r\n", name: "rules")
        #expect(rules.map(\.metric) == ["cpi", "cpu_util"])
        #expect {
            _ = try AlertRule.parseFile("cpi > 2\ncpi >> 3\n", name: "rules")
        } throws: { e in
            (e as? UsageError)?.message == "rules:2: column 6: expected a number"
        }
    }

    /// A metric no ring can have is an error at start, naming the metric and the nearest names;
    /// every derived metric, every catalog event (and its rate) and raw events are accepted.
    @Test(arguments: [("cip > 2", "cip", ["cpi"]), ("cpu_utl > 90 for 30s", "cpu_utl", ["cpu_util"]),
                      ("cycels_per_s > 1e9", "cycels_per_s", ["cycles_per_s"]), ("bogus > 1", "bogus", [])])
    func misspelledMetricsAreRefusedWithSuggestions(rule: String, metric: String, near: [String]) throws {
        let known = MetricNames.known(ring: nil)
        #expect {
            try MetricNames.check([try AlertRule.parse(rule)], known: known)
        } throws: { e in
            guard let m = (e as? UsageError)?.message else { return false }
            return m.contains("no metric '\(metric)'") && near.allSatisfy { m.contains($0) } && (near.isEmpty == !m.contains("did you mean"))
                && (metric != "cip" || !m.contains("gap"))
        }
    }

    @Test(arguments: ["cpi > 2", "cpu_util > 90", "task_clock_per_s > 1e9", "LLC_load_misses > 0", "proc_rss_bytes > 1e9",
                      "dTLB_load_misses_per_s > 1", "r1a2b > 0", "r00c0_per_s > 5", "psi_io_some > 10", "gap == 1"])
    func knownMetricsAreAccepted(rule: String) throws {
        try MetricNames.check([try AlertRule.parse(rule)], known: MetricNames.known(ring: nil))
    }

    @Test func theServerExitsWithStatusTwoOnAMisspelledMetric() throws {
        #expect(serverMain(["--listen", "127.0.0.1:0", "--ring", "/nonexistent-perfring/ring", "--alert", "cip > 2 for 5s"]) == 2)
    }

    @Test func theEditDistanceCountsEdits() {
        #expect(MetricNames.editDistance("cip", "cpi") == 1 && MetricNames.editDistance("", "ipc") == 3 && MetricNames.editDistance("cip", "gap") == 2)
        #expect(MetricNames.editDistance("cpu_util", "cpu_util") == 0 && MetricNames.editDistance("cpu_utl", "cpu_util") == 1)
    }

    @Test func theCommandLineRefusesMalformedRules() throws {
        #expect(throws: UsageError("--alert 'cpi >> 2': column 6: expected a number")) {
            _ = try ServerOptions.parse(["--alert", "cpi >> 2"])
        }
        guard case .run(let o) = try ServerOptions.parse(["--alert", "cpi > 2 for 5s", "--alert=ipc < 1", "--min-phase", "2s", "--alerts-file", "/x"]) else {
            Issue.record("not a run"); return
        }
        #expect(o.alertRules.map(\.metric) == ["cpi", "ipc"] && o.minPhaseNs == 2_000_000_000 && o.alertsFile == "/x")
        #expect(throws: UsageError.self) { _ = try ServerOptions.parse(["--min-phase", "0s"]) }
        #expect(ServerOptions.help.contains("--alert RULE") && ServerOptions.help.contains("/api/phases") && ServerOptions.help.contains("analyze FILE"))
    }
}

@Suite struct AlertEvaluationTests {
    /// 100 ms samples with a `cpi` column; `values` arrive in order.
    func run(_ rules: [String], _ values: [Double]) throws -> AlertEvaluator {
        let columns = ["seq", "time_ms", "dt_ms", "cpi"].map { ColumnSpec(key: $0, kind: .derived, help: "", unit: "") }
        let alerts = AlertEvaluator(rules: try rules.map(AlertRule.parse))
        alerts.bind(columns: columns)
        for (i, v) in values.enumerated() {
            let row = [Double(i), 1_000_000 + 100 * Double(i), 100, v]
            alerts.observe(seq: UInt64(i)) { row[$0] }
        }
        return alerts
    }

    @Test func firesOnceTheConditionHeldForTheDurationThenResolves() throws {
        // Above 2 from sample 5 to 24: held for 1 s at sample 14 (interval 5 started at 1000400 ms).
        let values = (0..<40).map { $0 >= 5 && $0 < 25 ? 3.0 + Double($0 % 3) : 1.0 }
        let a = try run(["cpi > 2 for 1s"], values)
        #expect(a.alerts.count == 1)
        let alert = try #require(a.alerts.first)
        #expect(alert.sinceMs == 1_000_400 && alert.firedSeq == 14 && alert.firedMs == 1_001_400)
        #expect(alert.firedValue == values[14] && alert.worstValue == 5)
        #expect(alert.resolvedSeq == 25 && alert.resolvedValue == 1 && !alert.firing)
        #expect(a.state(0) == "inactive")
    }

    @Test func aShortExcursionDoesNotFire() throws {
        let a = try run(["cpi > 2 for 1s"], (0..<40).map { $0 >= 5 && $0 < 12 ? 3.0 : 1.0 })
        #expect(a.alerts.isEmpty)
    }

    @Test func unavailableValuesNeverSatisfyARule() throws {
        let a = try run(["cpi < 5", "cpi != 1"], [Double](repeating: .nan, count: 20))
        #expect(a.alerts.isEmpty)
    }

    @Test func firingAlertsAreListedWithTheirValues() throws {
        let a = try run(["cpi >= 2", "nosuch > 1"], [1, 2, 2.5, 3])
        #expect(a.state(0) == "firing" && a.state(1) == "unknown-metric")
        var w = JSONWriter()
        a.write(into: &w)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        let rules = try #require(json["rules"] as? [[String: Any]])
        #expect(rules.map { $0["state"] as? String } == ["firing", "unknown-metric"])
        let alerts = try #require(json["alerts"] as? [[String: Any]])
        #expect(alerts.count == 1)
        #expect(alerts[0]["state"] as? String == "firing" && alerts[0]["fired_value"] as? Double == 2)
        #expect(alerts[0]["last_value"] as? Double == 3 && alerts[0]["resolved_ms"] is NSNull)
    }
}
