// POST /api/analyze and /api/compare: every real recording posted is answered with the bytes
// `perfring-server analyze --json` prints for it; hostile bodies get a clear 4xx and leave the
// server serving; uploads are off beyond loopback unless asked for; nothing is written to disk
// unless asked; the analysis queue has a fixed depth.
import Foundation
import Glibc
import Shared
import Testing
@testable import Server

/// ../shared/recordings, relative to the repository root (the package directory).
let uploadCorpusDir: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.deletingLastPathComponent().appendingPathComponent("shared/recordings").path
}()

let uploadCorpus: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: uploadCorpusDir)) ?? [])
    .filter { !$0.hasSuffix(".md") && !$0.hasPrefix(".") }.sorted()

/// Runs perfring-server with `args` in `cwd`; its status, stdout bytes and stderr.
func runServerCommand(_ args: [String], cwd: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int32, out: [UInt8], err: String) {
    let r = try runProgram(serverBinary, args, cwd: cwd, sourceLocation: sourceLocation)
    return (r.status, r.stdout, r.stderr)
}

/// PerfringAPI with uploads on, behind an HTTPServer on its own thread.
final class UploadServer: Sendable {
    let base: ServerThread
    var port: UInt16 { base.port }

    init(ring: String = "/nonexistent/ring", recordings: String? = nil, uploads: Bool = true, maxBytes: Int = 16 << 20,
         queueDepth: Int = 4, _ configure: @escaping @Sendable (inout HTTPServerConfig) -> Void = { _ in }) {
        var settings = UploadSettings()
        settings.maxBytes = maxBytes
        settings.queueDepth = queueDepth
        let frozen = settings
        base = ServerThread({ config in
            if uploads {
                config.limits.uploadPaths = UploadService.paths
                config.limits.maxUploadBody = frozen.maxBytes
            }
            configure(&config)
        }) { () -> (handler: HTTPHandler, attach: (HTTPServer) -> Void) in
            let api = PerfringAPI(ringPath: ring, files: nil, recordingsDir: recordings)
            if uploads { api.uploads = UploadService(settings: frozen, recordingsDir: recordings, minPhaseNs: PhaseTracker.defaultMinPhaseNs) }
            return (api, { api.server = $0 })
        }
    }

    /// One POST on a fresh connection.
    func post(_ target: String, _ body: [UInt8], headers: [String] = []) throws -> TestResponse {
        let c = try TestClient(port: port)
        c.waitMs = 60_000  // the analysis runs on the worker: a 160-CPU recording on a busy machine
        c.send("POST \(target) HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n")
        c.send(body)
        return try #require(c.readResponse(), "no reply to POST \(target)")
    }

    /// A raw exchange: `bytes` sent, then (optionally) the write side shut; the reply.
    func raw(_ bytes: [UInt8], shut: Bool = true) throws -> TestResponse? {
        let c = try TestClient(port: port)
        c.send(bytes)
        if shut { c.shutdownWrite() }
        return c.readResponse()
    }

    /// The server still answers: GET /api/health replies (503 without a ring is an answer).
    var stillServing: Bool {
        guard let c = try? TestClient(port: port) else { return false }
        c.send("GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n")
        return c.readResponse() != nil
    }
}

/// A multipart/form-data body with file parts.
func multipart(_ parts: [(name: String, filename: String, bytes: [UInt8])], boundary: String = "xYzBoundary42") -> (body: [UInt8], header: String) {
    var body: [UInt8] = []
    for p in parts {
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(p.name)\"; filename=\"\(p.filename)\"\r\nContent-Type: text/plain\r\n\r\n".utf8)
        body += p.bytes + Array("\r\n".utf8)
    }
    body += Array("--\(boundary)--\r\n".utf8)
    return (body, "Content-Type: multipart/form-data; boundary=\(boundary)")
}

func corpusBytes(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: uploadCorpusDir + "/" + name)))
}

@Suite(.serialized) struct UploadTests {
    static let server = UploadServer()

    @Test func theCorpusIsThere() {
        #expect(uploadCorpus.count >= 13, "\(uploadCorpusDir): \(uploadCorpus)")
    }

    /// The reply is `analyze --json`'s stdout byte for byte, or, where analyze refuses the file,
    /// a 422 with its message (line and reason) without the path.
    @Test(arguments: uploadCorpus)
    func postedRecordingIsAnsweredAsAnalyzeJSON(_ name: String) throws {
        let cli = try runServerCommand(["analyze", "--json", name], cwd: uploadCorpusDir)
        let r = try Self.server.post("/api/analyze", try corpusBytes(name), headers: ["Content-Type: text/plain"])
        if cli.status == 0 {
            #expect(r.status == 200, "\(name): \(r.status) \(r.text)")
            #expect(r.header("Content-Type") == "application/json")
            #expect(r.body == cli.out, "\(name): the POST answer differs from analyze --json")
        } else {
            #expect(r.status == 422, "\(name): analyze exits \(cli.status) (\(cli.err)) but POST answers \(r.status)")
            let message = try #require(jsonObject(r.body)["error"] as? String)
            #expect(cli.err.contains(message), "\(name): '\(message)' is not analyze's '\(cli.err)'")
        }
    }

    @Test func minPhaseQueryIsAnalyzesMinPhase() throws {
        let name = "rlsched_interval_csv_cycles_50ms.csv"
        let cli = try runServerCommand(["analyze", "--json", "--min-phase", "250ms", name], cwd: uploadCorpusDir)
        let r = try Self.server.post("/api/analyze?min_phase=250ms", try corpusBytes(name))
        #expect(cli.status == 0 && r.status == 200 && r.body == cli.out)
    }

    /// `scope=` is analyze's `--scope`: the same bytes, for either scope, on a recording that
    /// does not show its scope and on one that does (system-wide `-a`).
    @Test(arguments: ["system", "process"], ["sortnetsat_human_cache_u.txt", "rlsched_interval_csv_cycles_50ms.csv"])
    func scopeQueryIsAnalyzesScope(_ scope: String, _ name: String) throws {
        let cli = try runServerCommand(["analyze", "--json", "--scope", scope, name], cwd: uploadCorpusDir)
        let r = try Self.server.post("/api/analyze?scope=\(scope)", try corpusBytes(name))
        #expect(cli.status == 0 && r.status == 200 && r.body == cli.out, "\(name) scope=\(scope): \(r.status) \(r.text)")
        #expect(try jsonObject(r.body)["scope"] as? String == scope)
    }

    @Test(arguments: ["/api/analyze?scope=machine", "/api/analyze?scope=", "/api/compare?scope=system"])
    func badScopeQueryIs400(_ target: String) throws {
        let r = try Self.server.post(target, try corpusBytes("sortnetsat_human_cache_u.txt"))
        #expect(r.status == 400, "\(target): \(r.status) \(r.text)")
    }

    @Test func comparedUploadsAreAnsweredAsCompareJSON() throws {
        let (a, b) = ("rlsched_interval_csv_cycles_50ms.csv", "lkp_oldperf_interval_csv_mux.csv")
        let cli = try runServerCommand(["compare", "--json", a, b], cwd: uploadCorpusDir)
        let form = multipart([("a", a, try corpusBytes(a)), ("b", b, try corpusBytes(b))])
        let r = try Self.server.post("/api/compare", form.body, headers: [form.header])
        #expect(cli.status == 0, "\(cli.err)")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.body == cli.out, "POST /api/compare differs from compare --json")
    }

    @Test func compareAgainstASavedRecordingByName() throws {
        let dir = APITempDir()
        let a = "rlsched_interval_csv_cycles_50ms.csv", b = "rlsched_interval_csv_instr_50ms.csv"
        try Data(try corpusBytes(b)).write(to: URL(fileURLWithPath: dir.path + "/" + b))
        let server = UploadServer(recordings: dir.path)
        let cli = try runServerCommand(["compare", "--json", a, dir.path + "/" + b], cwd: uploadCorpusDir)
        let form = multipart([("a", a, try corpusBytes(a))])
        let r = try server.post("/api/compare?b=" + b, form.body, headers: [form.header])
        #expect(r.status == 200, "\(r.text)")
        // The same comparison; the CLI names B by the path it was given, the server by its name.
        #expect(r.text == String(decoding: cli.out, as: UTF8.self).replacingOccurrences(of: dir.path + "/" + b, with: b))
        let missing = try server.post("/api/compare?b=nope.csv", form.body, headers: [form.header])
        #expect(missing.status == 404)
        let escape = try server.post("/api/compare?b=..%2Fetc%2Fpasswd", form.body, headers: [form.header])
        #expect(escape.status == 400)
    }

    // MARK: hostile bodies

    struct Hostile: CustomTestStringConvertible, Sendable {
        let label: String
        let request: [UInt8]
        let status: Int
        let says: String
        var testDescription: String { label }
        init(_ label: String, _ request: String, _ status: Int, _ says: String) {
            (self.label, self.request, self.status, self.says) = (label, Array(request.utf8), status, says)
        }
        init(_ label: String, head: String, body: [UInt8], _ status: Int, _ says: String) {
            (self.label, self.request, self.status, self.says) = (label, Array(head.utf8) + body, status, says)
        }
    }

    static let ringBytes: [UInt8] = withUnsafeBytes(of: RingLayout.magic.littleEndian) { Array($0) } + [UInt8](repeating: 0, count: 56)
    static let garbage: [UInt8] = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }

    static let hostile: [Hostile] = [
        Hostile("truncated body, then half-close", "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\ntime_ms,cycles\n1,2\n", 400, "before the request was complete"),
        Hostile("binary garbage", head: "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: \(garbage.count)\r\n\r\n", body: garbage, 415, "not a text recording"),
        Hostile("invalid UTF-8", head: "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 19\r\n\r\n", body: Array("time_ms,x\n1,".utf8) + [0xFF, 0xFE, 0x0A, 0x31, 0x2C, 0x32, 0x0A], 415, "not UTF-8"),
        Hostile("a ring file", head: "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 64\r\n\r\n", body: ringBytes, 415, "ring file"),
        Hostile("Content-Length not a number", "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 12x\r\n\r\ntime_ms,cycles\n", 400, "Content-Length"),
        Hostile("two different Content-Lengths", "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "Content-Length"),
        Hostile("chunked", "POST /api/analyze HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411, "Content-Length"),
        Hostile("2 GB claimed", "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 2147483648\r\n\r\ntime_ms", 413, "too large"),
        Hostile("Content-Length beyond Int", "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, "Content-Length"),
        Hostile("empty body", "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 400, "empty"),
        Hostile("a CSV with a bad cell", "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 26\r\n\r\ntime_ms,cycles\n1,2\n2,oops\n", 422, "line 3"),
        Hostile("no time column", "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 13\r\n\r\ncycles\n1\n2\n3\n", 422, "time column"),
        Hostile("unknown query parameter", "POST /api/analyze?path=/etc/passwd HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab", 400, "unknown parameter"),
        Hostile("bad min_phase", "POST /api/analyze?min_phase=-1s HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab", 400, "min_phase"),
        Hostile("save without a recordings directory", "POST /api/analyze?save=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab", 400, "recordings"),
        Hostile("a form with two parts to analyze", head: "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=xYzBoundary42\r\nContent-Length: \(multipart([("a", "a", [0x31]), ("b", "b", [0x32])]).body.count)\r\n\r\n",
                body: multipart([("a", "a", [0x31]), ("b", "b", [0x32])]).body, 400, "one file part"),
        Hostile("multipart without its closing boundary", "POST /api/compare HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=b0\r\nContent-Length: 52\r\n\r\n--b0\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n12", 400, "truncated"),
        Hostile("multipart without a boundary", "POST /api/compare HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data\r\nContent-Length: 2\r\n\r\nab", 400, "boundary"),
        Hostile("compare with a plain body", "POST /api/compare HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab", 415, "multipart"),
        Hostile("PUT /api/analyze", "PUT /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab", 405, "POST"),
    ]

    @Test(arguments: hostile)
    func hostileBodyGetsAClear4xxAndTheServerGoesOn(_ h: Hostile) throws {
        let r = try #require(try Self.server.raw(h.request), "\(h.label): no reply")
        #expect(r.status == h.status, "\(h.label): \(r.status) \(r.text)")
        #expect(r.text.contains(h.says), "\(h.label): \(r.text)")
        #expect(Self.server.stillServing, "\(h.label): the server stopped answering")
        let ok = try Self.server.post("/api/analyze", Array("time_ms,cycles\n100,2\n200,3\n".utf8))
        #expect(ok.status == 200, "\(h.label): the next upload got \(ok.status) \(ok.text)")
    }

    @Test func bodyOverTheLimitIs413BeforeItIsSent() throws {
        let server = UploadServer(maxBytes: 64 << 10)
        let c = try TestClient(port: server.port)
        c.send("POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: \(65 << 10)\r\n\r\n")
        let r = try #require(c.readResponse())
        #expect(r.status == 413)
        #expect(try server.post("/api/analyze", Array("time_ms,x\n1,2\n".utf8)).status == 200)
    }

    @Test func otherRequestsKeepTheSmallBodyLimit() throws {
        let server = UploadServer(maxBytes: 8 << 20)
        for target in ["/api/latest", "/api/analyze/../latest", "/api//analyze"] {
            let c = try TestClient(port: server.port)
            c.send("POST \(target) HTTP/1.1\r\nHost: t\r\nContent-Length: \(2 << 20)\r\n\r\n")
            let r = try #require(c.readResponse(), "\(target): no reply before the body")
            #expect(r.status == 413 && r.text.contains("\(1 << 20) bytes"), "\(target): \(r.status) \(r.text)")
        }
    }

    @Test func aHeadCutShortIsClosedWithoutAReply() throws {
        let c = try TestClient(port: Self.server.port)
        c.send("POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Le")
        c.shutdownWrite()
        #expect(c.closesConnection())
        #expect(c.buffer.isEmpty, "\(String(decoding: c.buffer, as: UTF8.self))")
    }

    @Test func contentArrivingTooSlowlyIs408() throws {
        let server = UploadServer { $0.bodyTimeout = .seconds(1) }
        let c = try TestClient(port: server.port)
        // More than any head can be: the content is known to be under way.
        c.send("POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "#\n", count: 20_000))
        let r = try #require(c.readResponse())
        #expect(r.status == 408)
        #expect(r.text.contains("content not received in time"))
    }

    @Test func largeRequestsAtOnceAreBounded() throws {
        let server = UploadServer { config in
            config.maxLargeRequests = 1
            config.largeRequestBytes = 32 << 10
        }
        let head = "POST /api/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
        let clients = try [TestClient(port: server.port), TestClient(port: server.port)]
        for c in clients { c.send(head + String(repeating: "#\n", count: 20_000)) }
        // Whichever crossed the threshold second is refused; the other is still being read.
        var fds = clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        #expect(poll(&fds, 2, 10_000) == 1, "exactly one connection is answered while both are incomplete")
        let (refused, admitted) = fds[0].revents != 0 ? (clients[0], clients[1]) : (clients[1], clients[0])
        let r = try #require(refused.readResponse())
        #expect(r.status == 503)
        #expect(r.text.contains("too many large requests"))
        admitted.send(String(repeating: "#\n", count: 30_000))  // completes it: comments only
        let done = try #require(admitted.readResponse())
        #expect(done.status == 422, "\(done.text)")  // read in full and answered
    }

    // MARK: switches and disk

    @Test func uploadsOffAnswer403() throws {
        let server = UploadServer(uploads: false)
        let r = try server.post("/api/analyze", Array("time_ms,x\n1,2\n".utf8))
        #expect(r.status == 403)
        #expect(r.text.contains("--upload"))
        let c = try TestClient(port: server.port)
        c.send("GET /api/analyze HTTP/1.1\r\nHost: t\r\n\r\n")
        let about = try jsonObject(try #require(c.readResponse()).body)
        #expect(about["uploads"] as? Bool == false && isNull(about["max_bytes"]))
    }

    @Test func getAnalyzeSaysWhatTheServerAccepts() throws {
        let dir = APITempDir()
        let server = UploadServer(recordings: dir.path, maxBytes: 4 << 20)
        let c = try TestClient(port: server.port)
        c.send("GET /api/analyze HTTP/1.1\r\nHost: t\r\n\r\n")
        let about = try jsonObject(try #require(c.readResponse()).body)
        #expect(about["uploads"] as? Bool == true && number(about["max_bytes"]) == Double(4 << 20))
        #expect(about["recordings"] as? Bool == true && about["save"] as? Bool == true)
    }

    @Test(arguments: [
        ([String](), true), (["--listen", "0.0.0.0:0"], false), (["--listen", "[::1]:0"], true),
        (["--listen", "127.0.0.1:0", "--listen", "[::]:0"], false), (["--listen", "0.0.0.0:0", "--upload"], true),
        (["--no-upload"], false), (["--upload", "--no-upload"], false),
    ])
    func uploadsAreOnlyOnLoopbackUnlessAsked(args: [String], on: Bool) throws {
        guard case .run(let o) = try ServerOptions.parse(args) else { Issue.record("not a run"); return }
        #expect(o.uploadsEnabled == on)
    }

    @Test(arguments: ["--upload-limit=0", "--upload-limit=12Q", "--upload-limit=2G", "--upload-timeout=0s", "--analysis-queue=0", "--upload=yes"])
    func badUploadFlagsAreUsageErrors(flag: String) {
        #expect(throws: UsageError.self) { try ServerOptions.parse([flag]) }
    }

    @Test func uploadFlagsSetTheirLimits() throws {
        guard case .run(let o) = try ServerOptions.parse(["--upload-limit", "4M", "--upload-timeout", "30s", "--analysis-queue", "2"]) else { return }
        #expect(o.uploadSettings.maxBytes == 4 << 20 && o.uploadTimeoutNs == 30_000_000_000 && o.uploadSettings.queueDepth == 2)
    }

    @Test func savedOnlyWhenAskedUnderAGeneratedName() throws {
        let dir = APITempDir()
        let server = UploadServer(recordings: dir.path)
        let bytes = try corpusBytes("rlsched_interval_csv_cycles_50ms.csv")
        #expect(try server.post("/api/analyze", bytes).status == 200)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "written without ?save=1")
        let r = try server.post("/api/analyze?save=1", bytes, headers: ["Content-Disposition: attachment; filename=\"../../etc/evil\""])
        #expect(r.status == 200)
        let name = try #require(r.header("X-Saved-As"))
        #expect(name.hasPrefix("upload-") && name.hasSuffix(".txt") && !name.contains("/"), "\(name)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [name])
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/" + name))) == bytes)
        // An upload that cannot be read is not kept.
        #expect(try server.post("/api/analyze?save=1", Array("time_ms,x\n1,oops\n".utf8)).status == 422)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).count == 1)
    }

    // MARK: the queue

    @Test func analysisQueueHasAFixedDepth() {
        let worker = AnalysisWorker(depth: 2)
        let gate = Sys.Semaphore()
        let held = { @Sendable () -> HTTPResponse in gate.wait(); return HTTPResponse(status: .ok) }
        let accepted = (0..<3).map { _ in worker.submit(DeferredReply(), held) }
        #expect(accepted == [true, true, false], "a third job was queued beyond depth 2")
        gate.post()
        gate.post()
        var done = 0
        #expect(eventually(seconds: 20) { done += worker.drain().count; return done == 2 })
        let quick = { @Sendable () -> HTTPResponse in HTTPResponse(status: .ok) }
        #expect(worker.submit(DeferredReply(), quick), "room again once the jobs finished")
    }
}
