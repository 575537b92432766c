// POST /api/analyze and POST /api/compare: a recording sent to the server is analysed as
// `perfring-server analyze --json` analyses a file, by the same functions (MetricTable.parse,
// analysisJSON, Comparison.json), so the reply is byte for byte what the command prints.
//
// Safety, for a server a team can reach (see README "Analyze a recording"):
// - Off unless enabled: `--upload` turns it on, `--no-upload` off; by default it is on only when
//   every --listen address is loopback. Off, both endpoints answer 403.
// - The body is limited (`--upload-limit`, default 16 MiB: 413 beyond, before a byte of it is
//   read), arrives within the server's body timeout (408) and Content-Length framed (chunked:
//   411). Nothing of the body is read on the event loop (only the query and Content-Type): the
//   job goes to `AnalysisWorker`, whose queue has a fixed depth (503 with Retry-After beyond).
// - Nothing is written to disk unless the request asks (`?save=1`) and the server has
//   --recordings DIR: then the bytes are written to DIR under a name the server makes
//   (`upload-YYYYMMDD-HHMMSS-XXXXXXXX.csv|.txt`, created exclusively), never one from the client.
//
// Compare takes its two runs as a multipart/form-data body (parts named `a` and `b`, what
// `curl -F a=@before.csv -F b=@after.csv` sends), either of them replaced by a saved recording
// named in the query (`?b=NAME`, a file in --recordings DIR, as GET /api/compare names them).
// Stateless: the server keeps no upload between requests.
import Glibc
import Shared

/// `--upload`/`--no-upload`, `--upload-limit`, `--analysis-queue`.
public struct UploadSettings: Equatable, Sendable {
    /// Largest request body accepted (bytes).
    public var maxBytes = 16 << 20
    /// Analyses queued or running at once; more get 503.
    public var queueDepth = 4
    public init() {}
}

extension ListenAddress {
    /// 127.0.0.0/8 or ::1: reachable from this machine only.
    public var isLoopback: Bool {
        isIPv6 ? bytes == Array(repeating: 0, count: 15) + [1] : bytes.first == 127
    }
}

extension HTTPStatus {
    public static let unsupportedMediaType = HTTPStatus(415, "Unsupported Media Type")
    public static let unprocessableContent = HTTPStatus(422, "Unprocessable Content")
}

/// The uploads side of PerfringAPI (its jobs run on the API's AnalysisWorker).
public final class UploadService {
    let settings: UploadSettings
    let recordings: RecordingsDirectory?
    let defaultMinPhaseNs: UInt64

    /// The paths whose POSTs carry uploads (HTTPLimits.uploadPaths).
    public static let paths = ["/api/analyze", "/api/compare"]

    public init(settings: UploadSettings, recordingsDir: String?, minPhaseNs: UInt64) {
        self.settings = settings
        recordings = recordingsDir.map(RecordingsDirectory.init(path:))
        defaultMinPhaseNs = minPhaseNs
    }

    /// Options a request gives in its query.
    struct Options: Sendable {
        var minPhaseNs: UInt64
        var save = false
        /// `scope=system|process` (analyze only): what a perf stat recording counted, when the
        /// file does not show it (as `perfring-server analyze --scope`).
        var scope: FeatureScope?
        /// Saved recordings standing in for a side of a comparison.
        var named: [String: String] = [:]
    }

    func options(_ query: [HTTPQueryItem], compare: Bool) throws(UploadError) -> Options {
        var o = Options(minPhaseNs: defaultMinPhaseNs)
        for item in query {
            switch item.name {
            case "min_phase":
                guard let ns = parseDuration(item.value), ns >= 1_000_000, ns <= 3_600_000_000_000 else {
                    throw UploadError(.badRequest, "min_phase: '\(item.value)' is not a duration from 1ms to 1h (e.g. 500ms, 2s)")
                }
                o.minPhaseNs = ns
            case "save" where !compare:
                guard ["1", "true", "yes"].contains(item.value) else { throw UploadError(.badRequest, "save: '\(item.value)' (save=1 to keep the upload)") }
                o.save = true
            case "scope" where !compare:
                guard let sc = FeatureScope(rawValue: item.value) else {
                    throw UploadError(.badRequest, "scope: '\(item.value)' is neither system nor process")
                }
                o.scope = sc
            case "a" where compare, "b" where compare:
                guard RecordingsDirectory.isValidName(item.value) else {
                    throw UploadError(.badRequest, "\(item.name): '\(item.value)' is not a recording name (see /api/recordings)")
                }
                o.named[item.name] = item.value
            default:
                throw UploadError(.badRequest, "unknown parameter '\(item.name)' (" + (compare ? "min_phase, a, b" : "min_phase, save, scope") + ")")
            }
        }
        if o.save && recordings == nil {
            throw UploadError(.badRequest, "save: the server has no recordings directory (start it with --recordings DIR)")
        }
        return o
    }

    // MARK: requests

    /// Answers POST /api/analyze and /api/compare (and other methods but GET there with 405).
    func handle(_ request: HTTPRequest, path: String, worker: AnalysisWorker) -> HTTPHandlerResult {
        guard request.method == "POST" else {
            var r = HTTPResponse.error(.methodNotAllowed, "\(path) takes POST with the recording as the body")
            r.headers.append(HTTPField("Allow", "GET, HEAD, POST"))
            return .response(r)
        }
        do throws(UploadError) {
            guard let query = request.queryItems() else { throw UploadError(.badRequest, "invalid percent-encoding in the query") }
            let compare = path == "/api/compare"
            let options = try options(query, compare: compare)
            let job = compare ? try compareJob(request, options) : try analyzeJob(request, options)
            return worker.submit(job)
        } catch {
            return .response(error.response)
        }
    }

    /// The job for POST /api/analyze. Only the Content-Type is looked at here, on the loop;
    /// the body (form parts included) is read on the worker.
    private func analyzeJob(_ request: HTTPRequest, _ o: Options) throws(UploadError) -> AnalysisWorker.Job {
        let boundary = try Multipart.boundary(request.header("Content-Type"))
        let save = o.save ? recordings : nil
        let minPhaseNs = o.minPhaseNs, scope = o.scope, sent = request.body
        return {
            Self.answer { () throws(UploadError) -> HTTPResponse in
                var body = sent
                if let boundary {
                    let parts = try Multipart.parts(body, boundary: boundary)
                    guard parts.count == 1, let part = parts.first else {
                        throw UploadError(.badRequest, "a form for /api/analyze has one file part (got \(parts.count))")
                    }
                    body = part.content
                }
                try Self.checkRecording(body, what: "the body")
                var table = try Self.table(body)
                table.override(scope: scope)
                var response = HTTPResponse(status: .ok, headers: jsonHeaders, body: analysisJSON(table, minPhaseNs: minPhaseNs))
                if let save {
                    let name = try Self.save(body, into: save, perfStat: Self.isPerfStat(body))
                    response.headers.append(HTTPField("X-Saved-As", name))
                }
                return response
            }
        }
    }

    /// The job for POST /api/compare: each side a form part or a saved recording named in the query.
    private func compareJob(_ request: HTTPRequest, _ o: Options) throws(UploadError) -> AnalysisWorker.Job {
        let boundary = try Multipart.boundary(request.header("Content-Type"))
        if boundary == nil && !request.body.isEmpty {
            throw UploadError(.unsupportedMediaType, "send the two runs as multipart/form-data parts a and b (curl -F a=@before.csv -F b=@after.csv)")
        }
        let minPhaseNs = o.minPhaseNs, names = o.named, recordings = recordings, sent = request.body
        return {
            Self.answer { () throws(UploadError) -> HTTPResponse in
                var uploads: [String: (name: String, bytes: [UInt8])] = [:]
                if let boundary {
                    for part in try Multipart.parts(sent, boundary: boundary) {
                        guard part.name == "a" || part.name == "b" else {
                            throw UploadError(.badRequest, "form part '\(part.name)': the parts are named a and b")
                        }
                        guard uploads[part.name] == nil else { throw UploadError(.badRequest, "two form parts named '\(part.name)'") }
                        try Self.checkRecording(part.content, what: "part \(part.name)")
                        uploads[part.name] = (part.filename ?? part.name, part.content)
                    }
                }
                var sides: [(name: String, table: MetricTable, source: String)] = []
                for key in ["a", "b"] {
                    if let name = names[key] {
                        guard uploads[key] == nil else { throw UploadError(.badRequest, "\(key): both a form part and a recording name") }
                        guard let recordings else { throw UploadError(.notFound, "\(key): no recordings directory (start the server with --recordings DIR)") }
                        guard let file = recordings.file(name) else { throw UploadError(.notFound, "\(key): no recording named '\(name)'") }
                        do throws(MetricTable.LoadError) {
                            let (table, source) = try MetricTable.load(file)
                            sides.append((name, table, source))
                        } catch {
                            let m = error.message  // name the recording, not where the server keeps it
                            throw UploadError(.unprocessableContent, "\(key): \(name)" + (m.hasPrefix(file) ? String(m.dropFirst(file.count)) : ": " + m))
                        }
                    } else if let upload = uploads[key] {
                        sides.append((upload.name, try Self.table(upload.bytes, side: key), Self.isPerfStat(upload.bytes) ? "perf stat" : "csv"))
                    } else {
                        throw UploadError(.badRequest, "\(key): missing: a form part named \(key), or ?\(key)=NAME of a saved recording")
                    }
                }
                let comparison = Comparison(a: sides[0], b: sides[1], minPhaseNs: minPhaseNs)
                return HTTPResponse(status: .ok, headers: jsonHeaders, body: comparison.json())
            }
        }
    }

    /// A job's reply: its response, or its refusal as `{"error"}`.
    static func answer(_ body: () throws(UploadError) -> HTTPResponse) -> HTTPResponse {
        do { return try body() } catch { return error.response }
    }

    /// What MetricTable.load calls the source: perf stat output or a CSV.
    static func isPerfStat(_ bytes: [UInt8]) -> Bool { PerfStatCSV.isPerfStat(String(decoding: bytes, as: UTF8.self)) }

    // MARK: the recording

    /// What is refused before parsing: nothing sent, or a ring file (binary; upload its export
    /// instead).
    static func checkRecording(_ bytes: [UInt8], what: String) throws(UploadError) {
        guard !bytes.isEmpty else {
            throw UploadError(.badRequest, "\(what) is empty: send the recording itself (curl --data-binary @run.csv ...)")
        }
        if bytes.count >= 8, bytes.prefix(8).elementsEqual(withUnsafeBytes(of: RingLayout.magic.littleEndian) { Array($0) }) {
            throw UploadError(.unsupportedMediaType, "\(what) is a ring file: upload its CSV export (perfring-server export --csv --ring PATH) instead")
        }
    }

    /// The recording in `bytes`, read as `analyze` reads a file's text. Binary input is refused
    /// first, naming where (a parse error would quote the garbage back).
    static func table(_ bytes: [UInt8], side: String? = nil) throws(UploadError) -> MetricTable {
        let prefix = side.map { "\($0): " } ?? ""
        if let k = bytes.firstIndex(where: { $0 == 0 || ($0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D) }) {
            let line = 1 + bytes[..<k].lazy.filter { $0 == 0x0A }.count
            throw UploadError(.unsupportedMediaType, prefix + "line \(line): byte \(k) is a control character (0x\(String(bytes[k], radix: 16))): this is not a text recording (perf stat output or CSV)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw UploadError(.unsupportedMediaType, prefix + "the body is not UTF-8 text: this is not a text recording (perf stat output or CSV)")
        }
        do {
            return try MetricTable.parse(text)
        } catch {
            let m = error.message
            throw UploadError(.unprocessableContent, prefix + (m.count > 400 ? String(m.prefix(400)) + "…" : m))
        }
    }

    /// Writes an upload into the recordings directory under a generated name (as
    /// RecordingsDirectory.create writes any recording); returns the name.
    static func save(_ bytes: [UInt8], into dir: RecordingsDirectory, perfStat: Bool) throws(UploadError) -> String {
        let now = Int(Sys.realtimeNanos() / 1_000_000_000)
        let t = Sys.utcTime(secondsSinceEpoch: now)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let random = String(Sys.random64() & 0xFFFF_FFFF, radix: 16)
        let name = "upload-\(t.tm_year + 1900)\(two(t.tm_mon + 1))\(two(t.tm_mday))-\(two(t.tm_hour))\(two(t.tm_min))\(two(t.tm_sec))-"
            + String(repeating: "0", count: 8 - random.count) + random + (perfStat ? ".txt" : ".csv")
        try dir.create(name) { (sink: inout RecordingsDirectory.Sink) throws(UploadError) in
            let written: Result<Void, UploadError> = bytes.withUnsafeBytes { b in
                do throws(UploadError) { try sink.write(b) } catch { return .failure(error) }
                return .success(())
            }
            try written.get()
        }
        return name
    }
}

/// A refusal: its status and what to tell the client.
struct UploadError: Error {
    let status: HTTPStatus
    let message: String
    init(_ status: HTTPStatus, _ message: String) {
        self.status = status
        self.message = message
    }
    var response: HTTPResponse { .error(status, message) }
}

private let jsonHeaders = [HTTPField("Content-Type", "application/json"), HTTPField("Cache-Control", "no-store")]

/// multipart/form-data (RFC 7578) as browsers and curl -F send it: parts delimited by
/// CRLF--boundary, each with a Content-Disposition naming it (and its file).
enum Multipart {
    struct Part {
        var name: String
        var filename: String?
        var content: [UInt8]
    }

    /// The boundary of a multipart/form-data Content-Type; nil for any other type.
    static func boundary(_ contentType: String?) throws(UploadError) -> String? {
        guard let contentType else { return nil }
        let fields = contentType.split(separator: ";").map { $0.trimmingSpaces }
        guard let type = fields.first, type.lowercased() == "multipart/form-data" else { return nil }
        for field in fields.dropFirst() {
            guard let eq = field.firstIndex(of: "="), field[..<eq].trimmingSpaces.lowercased() == "boundary" else { continue }
            var value: String = field[field.index(after: eq)...].trimmingSpaces
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard (1...70).contains(value.utf8.count) else { throw UploadError(.badRequest, "multipart boundary must be 1 to 70 characters") }
            return value
        }
        throw UploadError(.badRequest, "multipart/form-data without a boundary")
    }

    /// The parts of `body`, at most 8; every malformation is a 400 naming it.
    static func parts(_ body: [UInt8], boundary: String) throws(UploadError) -> [Part] {
        let delimiter = Array("--\(boundary)".utf8)
        // The body starts with the first delimiter (a preamble is allowed before CRLF + it).
        guard var at = body.starts(with: delimiter) ? 0 : find(Array("\r\n".utf8) + delimiter, in: body, from: 0).map({ $0 + 2 })
        else { throw UploadError(.badRequest, "multipart body without its boundary") }
        var parts: [Part] = []
        while true {
            at += delimiter.count
            if body[at...].starts(with: Array("--".utf8)) { return parts }  // the close delimiter
            guard let lineEnd = find(Array("\r\n".utf8), in: body, from: at) else { throw UploadError(.badRequest, "multipart body truncated") }
            at = lineEnd + 2
            guard let headEnd = find(Array("\r\n\r\n".utf8), in: body, from: at - 2), headEnd - at < 8192 else {
                throw UploadError(.badRequest, "multipart part \(parts.count + 1): its headers do not end")
            }
            let head = String(decoding: body[(at - 2)..<headEnd], as: UTF8.self)
            guard let next = find(Array("\r\n".utf8) + delimiter, in: body, from: headEnd + 2) else {
                throw UploadError(.badRequest, "multipart part \(parts.count + 1) truncated: no closing boundary")
            }
            guard parts.count < 8 else { throw UploadError(.badRequest, "more than 8 multipart parts") }
            var name: String?, filename: String?
            for line in head.split(separator: "\r\n") {
                guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == "content-disposition" else { continue }
                for param in line[line.index(after: colon)...].split(separator: ";").dropFirst() {
                    guard let eq = param.firstIndex(of: "=") else { continue }
                    var v: String = param[param.index(after: eq)...].trimmingSpaces
                    if v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") { v = String(v.dropFirst().dropLast()) }
                    switch param[..<eq].trimmingSpaces.lowercased() {
                    case "name": name = v
                    case "filename": filename = displayName(v)
                    default: break
                    }
                }
            }
            guard let name else { throw UploadError(.badRequest, "multipart part \(parts.count + 1) has no name (Content-Disposition: form-data; name=...)") }
            parts.append(Part(name: name, filename: filename, content: next >= headEnd + 4 ? Array(body[(headEnd + 4)..<next]) : []))
            at = next + 2
        }
    }

    /// A client's file name as something safe to show: its last path component, printable
    /// ASCII only, at most 100 characters; never used as a path.
    static func displayName(_ raw: String) -> String? {
        let last = raw.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let clean = String(String.UnicodeScalarView(last.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F }).prefix(100))
        return clean.isEmpty ? nil : clean
    }

    /// The offset of `needle` in `haystack` at or after `from`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var i = max(from, 0)
        let last = haystack.count - needle.count
        while i <= last {
            guard let j = haystack[i...last].firstIndex(of: first) else { return nil }
            if haystack[j..<(j + needle.count)].elementsEqual(needle) { return j }
            i = j + 1
        }
        return nil
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}

extension PerfringAPI {
    /// POST /api/analyze, POST /api/compare (GET /api/compare compares saved recordings), and
    /// GET /api/analyze: what this server accepts, so a page can say so before anything is sent.
    static let uploadsOff = "uploads are off on this server (it listens beyond loopback, or was started with --no-upload; start it with --upload)"

    func upload(_ request: HTTPRequest, path: String) -> HTTPHandlerResult {
        if path == "/api/analyze" && (request.method == "GET" || request.method == "HEAD") {
            var w = JSONWriter(reserve: 256)
            w.beginObject()
            w.key("uploads"); w.bool(uploads != nil)
            w.key("max_bytes"); if let uploads { w.int(uploads.settings.maxBytes) } else { w.null() }
            w.key("recordings"); w.bool(recordings != nil)
            w.key("save"); w.bool(uploads?.recordings != nil)
            w.endObject()
            return .response(json(w))
        }
        guard let uploads else {
            return .response(.error(.forbidden, Self.uploadsOff))
        }
        return uploads.handle(request, path: path, worker: worker)
    }

    /// Sends the replies of analyses and saves that have finished (on the tick).
    func deliverAnalyses() {
        guard let server else { return }
        for (reply, response) in worker.drain() { server.complete(reply, with: response) }
    }
}
