// POST /api/recordings: a run's samples saved from the page as NAME.csv in --recordings DIR.
// Every status of the contract, hostile names and planted links, concurrent saves, and the
// saved file read back by `analyze` and `compare`.
import Foundation
import Glibc
import Shared
import Synchronization
import Testing
@testable import Server

/// A fake run (`records` samples in a ring of `capacity`) behind a server with `--recordings`.
final class SaveFixture: @unchecked Sendable {
    let dir = APITempDir()
    let collector: FakeCollector
    let server: UploadServer
    var rec: String { dir.path + "/rec" }

    init(records: Int = 12, capacity: Int = 64, recordings: Bool = true) throws {
        mkdir(dir.path + "/rec", 0o755)
        collector = try FakeCollector(path: dir.ring, capacity: capacity)
        collector.write(records)
        server = UploadServer(ring: dir.ring, recordings: recordings ? dir.path + "/rec" : nil, uploads: false)
    }

    var generation: String { collector.generationHex }

    func save(_ query: String) throws -> TestResponse {
        try server.post("/api/recordings?" + query, [])
    }

    /// The entries of the recordings directory, hidden ones included.
    var entries: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: rec)) ?? []).sorted() }
}

@Suite struct RecordingSaveTests {
    @Test func savesTheRangeAsTheExportCSV() throws {
        let fx = try SaveFixture()
        let r = try fx.save("name=before&generation=\(fx.generation)&from=2&to=9")
        #expect(r.status == 201, "\(r.text)")
        let o = try jsonObject(r.body)
        #expect(o["name"] as? String == "before.csv")
        #expect(number(o["samples"]) == 8)
        #expect(fx.entries == ["before.csv"], "no temporary file is left behind")
        let text = try String(contentsOfFile: fx.rec + "/before.csv", encoding: .utf8)
        let lines = text.split(separator: "\n")
        // The same rows /api/export.csv gives for that range.
        let export = try APIServer(ring: fx.dir.ring).get("/api/export.csv")
        let exported = export.text.split(separator: "\n")
        #expect(lines.first == exported.first, "the export's header row")
        #expect(Array(lines.dropFirst()) == Array(exported[3...10]), "samples 2 to 9 as the export writes them")
        let mode = try FileManager.default.attributesOfItem(atPath: fx.rec + "/before.csv")[.posixPermissions] as? Int
        #expect(mode == 0o640)
    }

    @Test func theSavedFileRoundTripsThroughAnalyzeAndCompare() throws {
        let fx = try SaveFixture()
        #expect(try fx.save("name=a.csv&generation=\(fx.generation)&from=0&to=5").status == 201)
        #expect(try fx.save("name=b&generation=\(fx.generation)&from=6&to=11").status == 201)
        let analyze = try runServerCommand(["analyze", "--json", "a.csv"], cwd: fx.rec)
        #expect(analyze.status == 0, "\(analyze.err)")
        let compare = try runServerCommand(["compare", "--json", "a.csv", "b.csv"], cwd: fx.rec)
        #expect(compare.status == 0, "\(compare.err)")
        let c = try jsonObject(compare.out)
        #expect(c["a"] != nil && c["b"] != nil)
        // And through the server's own compare, as the compare page asks for it.
        let api = PerfringAPI(ringPath: fx.dir.ring, files: nil, recordingsDir: fx.rec)
        #expect(api.compare([HTTPQueryItem("a", "a.csv"), HTTPQueryItem("b", "b.csv")]).status == .ok)
    }

    /// Every refusal of the contract, with a reason in `{"error"}`; nothing is written.
    @Test(arguments: [
        ("name=../x&generation=G&from=0&to=3", 400), ("name=a/b&generation=G&from=0&to=3", 400),
        ("name=.hidden&generation=G&from=0&to=3", 400), ("name=&generation=G&from=0&to=3", 400),
        ("name=a%00b&generation=G&from=0&to=3", 400), ("name=a%20b&generation=G&from=0&to=3", 400),
        ("name=\(String(repeating: "x", count: 65))&generation=G&from=0&to=3", 400),
        ("name=ok&generation=xyz&from=0&to=3", 400), ("name=ok&generation=G&from=-1&to=3", 400),
        ("name=ok&generation=G&from=4&to=3", 400), ("name=ok&generation=G&from=0&to=12", 400),
        ("name=ok&generation=G&from=0", 400), ("name=ok&generation=G&from=0&to=3&extra=1", 400),
        ("name=ok&name=ok2&generation=G&from=0&to=3", 400), ("name=ok&generation=G&from=0&to=3%", 400),
        ("name=ok&generation=1&from=0&to=3", 410),
    ])
    func refusesBadParameters(query: String, status: Int) throws {
        let fx = try SaveFixture()
        let r = try fx.save(query.replacingOccurrences(of: "=G&", with: "=\(fx.generation)&"))
        #expect(r.status == status, "\(query): \(r.status) \(r.text)")
        #expect((try? jsonObject(r.body))?["error"] is String)
        #expect(fx.entries.isEmpty, "nothing written for \(query)")
    }

    @Test func overwrittenSamplesAreGone() throws {
        let fx = try SaveFixture(records: 20, capacity: 8)
        let r = try fx.save("name=old&generation=\(fx.generation)&from=2&to=15")
        #expect(r.status == 410, "\(r.text)")
        #expect(try fx.save("name=new&generation=\(fx.generation)&from=12&to=19").status == 201, "the samples still held")
        #expect(fx.entries == ["new.csv"])
    }

    @Test func withoutARecordingsDirectoryIsForbidden() throws {
        let fx = try SaveFixture(recordings: false)
        let r = try fx.save("name=x&generation=\(fx.generation)&from=0&to=3")
        #expect(r.status == 403)
        #expect((try jsonObject(r.body))["error"] is String)
        // A directory that is gone (or that the server may not write) is refused as well.
        let gone = try SaveFixture()
        _ = system("rm -rf '\(gone.rec)'")
        #expect(try gone.save("name=x&generation=\(gone.generation)&from=0&to=3").status == 403)
    }

    @Test func anExistingNameOrAPlantedLinkIsNeverReplaced() throws {
        let fx = try SaveFixture()
        try "keep".write(toFile: fx.rec + "/taken.csv", atomically: false, encoding: .utf8)
        let victim = fx.dir.path + "/victim"
        try "untouched".write(toFile: victim, atomically: false, encoding: .utf8)
        symlink(victim, fx.rec + "/link.csv")
        symlink("/nonexistent/dangling", fx.rec + "/dangling.csv")
        mkdir(fx.rec + "/sub.csv", 0o755)
        for name in ["taken", "taken.csv", "link", "dangling.csv", "sub.csv"] {
            let r = try fx.save("name=\(name)&generation=\(fx.generation)&from=0&to=3")
            #expect(r.status == 409, "\(name): \(r.status) \(r.text)")
        }
        #expect(try String(contentsOfFile: fx.rec + "/taken.csv", encoding: .utf8) == "keep")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "untouched")
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent/dangling"))
        #expect(fx.entries == ["dangling.csv", "link.csv", "sub.csv", "taken.csv"], "no temporary file is left behind")
    }

    /// Another site's page cannot make a browser save (a bodyless POST has no preflight); the
    /// server's own page (same host in Origin) and clients without Origin (curl) can.
    @Test(arguments: [("http://evil.example", 403), ("null", 403), ("http://t", 201), ("https://t", 201), ("http://t:1", 403)])
    func otherSitesCannotSave(origin: String, status: Int) throws {
        let fx = try SaveFixture()
        let r = try fx.server.post("/api/recordings?name=o&generation=\(fx.generation)&from=0&to=3", [], headers: ["Origin: \(origin)"])
        #expect(r.status == status, "\(origin): \(r.text)")
        #expect(fx.entries == (status == 201 ? ["o.csv"] : []))
    }

    @Test func aBodyIsRefused() throws {
        let fx = try SaveFixture()
        let r = try fx.server.post("/api/recordings?name=x&generation=\(fx.generation)&from=0&to=3", Array("data".utf8))
        #expect(r.status == 413)
        #expect(fx.entries.isEmpty)
    }

    /// Saves at once: one name is created once (the others 409, or 503 when the worker's queue
    /// is full), different names each once; never a torn or temporary file.
    @Test func concurrentSaves() throws {
        let fx = try SaveFixture(records: 60, capacity: 64)
        let statuses = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let s = (try? fx.save("name=same&generation=\(fx.generation)&from=0&to=59").status) ?? 0
            statuses.withLock { $0.append(s) }
        }
        let same = statuses.withLock { $0 }
        #expect(same.filter { $0 == 201 }.count == 1, "\(same)")
        #expect(same.allSatisfy { [201, 409, 503].contains($0) }, "\(same)")
        statuses.withLock { $0.removeAll() }
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let s = (try? fx.save("name=run\(i)&generation=\(fx.generation)&from=0&to=59").status) ?? 0
            statuses.withLock { $0.append(s) }
        }
        let different = statuses.withLock { $0 }
        #expect(different.allSatisfy { [201, 503].contains($0) }, "\(different)")
        #expect(fx.entries.count == 1 + different.filter { $0 == 201 }.count)
        #expect(fx.entries.allSatisfy { !$0.hasPrefix(".") }, "\(fx.entries)")
        for name in fx.entries {
            let rows = try String(contentsOfFile: fx.rec + "/" + name, encoding: .utf8).split(separator: "\n").count
            #expect(rows == 61, "\(name): whole or not at all")
        }
        #expect(fx.server.stillServing)
    }

    @Test(arguments: [("run", "run.csv"), ("run.csv", "run.csv"), ("a-b_c.1", "a-b_c.1.csv"), ("x.txt", "x.txt.csv")])
    func namesGetCSV(raw: String, saved: String) {
        #expect(RecordingsDirectory.clientName(raw) == saved)
    }
}
