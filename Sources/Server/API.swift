// perfring-server's application: routes requests to the JSON API, Prometheus metrics and the
// static dashboard, polls the ring on the server's tick and pushes new samples to SSE clients.
import Shared

public final class PerfringAPI: HTTPHandler {
    public let follower: RingFollower
    let files: StaticFiles?
    /// `--recordings DIR`: the runs /api/recordings lists and /api/compare compares.
    let recordings: RecordingsDirectory?
    /// POST /api/analyze and /api/compare; nil: uploads are off (UploadAnalysis.swift).
    public var uploads: UploadService?
    let startedNs = Sys.monotonicNanos()
    /// Set once the server exists (the server owns this handler; this reference is weak).
    public weak var server: HTTPServer?
    private var streams: [StreamToken: StreamCursor] = [:]
    private var lastState: CollectorState?
    private var hostFacts: (hostname: String, cpuModel: String, kernel: String)

    struct StreamCursor {
        var epoch: Int
        var position: UInt64
    }

    public init(ringPath: String, files: StaticFiles?, minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs, alertRules: [AlertRule] = [],
                recordingsDir: String? = nil) {
        recordings = recordingsDir.map(RecordingsDirectory.init(path:))
        follower = RingFollower(path: ringPath, minPhaseNs: minPhaseNs, alertRules: alertRules)
        self.files = files
        hostFacts = (Sys.hostname(), HostFacts.cpuModelName() ?? "unknown", HostFacts.kernelRelease())
        follower.poll()
    }

    // MARK: tick

    public func tick(now: UInt64) {
        follower.poll()
        deliverAnalyses()
        // Every stream behind the store catches up: samples that arrived on this poll, a request's
        // poll, a new generation, or the backlog of a stream resumed with Last-Event-ID.
        pushToStreams()
        let state = follower.state(now: now)
        if state != lastState {
            if let lastState { Log.info("collector \(lastState.rawValue) -> \(state.rawValue)") }
            lastState = state
        }
    }

    private func pushToStreams() {
        guard let server, let store = follower.store, !streams.isEmpty else { return }
        var encoder: SampleEncoder?
        let generation = hex(follower.generation ?? 0)
        for (token, cursor) in streams {
            var start = cursor.position
            if cursor.epoch != follower.epoch { start = store.oldest }
            start = max(start, store.oldest)
            guard start < store.count else { continue }
            let enc = encoder ?? SampleEncoder(store: store, columns: Array(store.columns.indices))
            encoder = enc
            var w = JSONWriter(reserve: 1024 * Int(store.count - start))
            for p in start..<store.count {
                w.literal("id: \(generation):\(store.seq(at: p))\nevent: sample\ndata: ")
                enc.object(at: p, into: &w)
                w.literal("\n\n")
            }
            if server.send(w.bytes, to: token) {
                streams[token] = StreamCursor(epoch: follower.epoch, position: store.count)
            }
        }
    }

    public func streamClosed(_ stream: StreamToken) { streams[stream] = nil }

    // MARK: routing

    public func handle(_ request: HTTPRequest) -> HTTPHandlerResult {
        let method = request.method
        guard let path = request.normalizedPath() else { return .response(.error(.notFound, "not found")) }
        let isAPI = path.hasPrefix("/api/") || path == "/metrics"
        if path == "/api/analyze" || (path == "/api/compare" && method == "POST") { return upload(request, path: path) }
        if method != "GET" && method != "HEAD" {
            var r = HTTPResponse.error(.methodNotAllowed, "method \(method) not allowed; use GET or HEAD")
            r.headers.append(HTTPField("Allow", "GET, HEAD"))
            return .response(r)
        }
        if !request.body.isEmpty { return .response(.error(.contentTooLarge, "request bodies are not accepted")) }
        guard isAPI else {
            return .response(files?.response(for: request) ?? .error(.notFound, "not found"))
        }
        guard let query = request.queryItems() else { return .response(.error(.badRequest, "invalid percent-encoding in the query")) }
        follower.poll()  // answer with the freshest data, not the last tick's
        switch path {
        case "/api/latest": return .response(latest())
        case "/api/data": return .response(data(query))
        case "/api/export.csv": return .response(exportCSV(query))
        case "/api/events": return .response(events())
        case "/api/health": return .response(health())
        case "/api/fields": return .response(fields())
        case "/api/stream": return stream(request)
        case "/api/phases": return .response(phases())
        case "/api/alerts": return .response(alerts())
        case "/api/recordings": return .response(recordingList())
        case "/api/compare": return .response(compare(query))
        case "/metrics": return .response(metrics())
        default: return .response(.error(.notFound, "no such endpoint: \(path)"))
        }
    }

    func json(_ w: JSONWriter, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: [HTTPField("Content-Type", "application/json"), HTTPField("Cache-Control", "no-store")], body: w.bytes)
    }

    private var noData: HTTPResponse {
        let why = follower.ringError ?? (follower.reader == nil ? "no ring at \(follower.path) (is the collector running?)" : "no data yet")
        var r = HTTPResponse.error(.serviceUnavailable, why)
        r.headers.append(HTTPField("Retry-After", "1"))
        return r
    }

    // MARK: endpoints

    private func latest() -> HTTPResponse {
        guard let store = follower.store, store.count > store.oldest else { return noData }
        var w = JSONWriter(reserve: 2048)
        SampleEncoder(store: store, columns: Array(store.columns.indices)).object(at: store.count - 1, into: &w) { [self] _, w in
            w.key("generation"); w.string(hex(follower.generation ?? 0))
            PhaseJSON.sampleField(follower.phases?.current(), into: &w)
        }
        return json(w)
    }

    private func phases() -> HTTPResponse {
        guard let tracker = follower.phases else { return noData }
        var w = JSONWriter(reserve: 8192)
        PhaseJSON.write(tracker.reports(), tracker: tracker, into: &w) { [self] w in
            w.key("generation"); w.string(hex(follower.generation ?? 0))
        }
        return json(w)
    }

    private func alerts() -> HTTPResponse {
        var w = JSONWriter(reserve: 2048)
        follower.alerts.write(into: &w)
        return json(w)
    }

    /// Query parameters of /api/data and /api/export.csv.
    struct Selection {
        var range: Range<UInt64>
        var columns: [Int]
        var gap: Bool
        var reset: Bool
        var next: UInt64
    }

    private func select(_ query: [HTTPQueryItem], store: SampleStore) -> Result<Selection, HTTPError> {
        var since: UInt64?
        var limit: Int?
        var fields: [String]?
        var generation: String?
        for item in query {
            switch item.name {
            case "since":
                guard let v = UInt64(item.value) else { return .failure(HTTPError("since: '\(item.value)' is not a sequence number")) }
                since = v
            case "limit":
                guard let v = Int(item.value), v >= 0 else { return .failure(HTTPError("limit: '\(item.value)' is not a count")) }
                limit = v
            case "fields":
                fields = item.value.split(separator: ",").map(String.init)
            case "generation":
                generation = item.value
            case "format":
                break
            default:
                return .failure(HTTPError("unknown parameter '\(item.name)' (since, limit, fields, format, generation)"))
            }
        }
        let columns: [Int]
        do { columns = try SampleEncoder.columns(for: fields, in: store) } catch {
            return .failure(HTTPError("fields: unknown field '\(error.key)' (see /api/fields)"))
        }
        let oldest = store.oldest, end = store.count
        var start = oldest
        var gap = false, reset = false
        if let since {
            let newestSeq = end > oldest ? store.seq(at: end - 1) : nil
            if let generation, generation != hex(follower.generation ?? 0) {
                reset = true  // the cursor names another collector run
            } else if let newestSeq, since > newestSeq {
                reset = true  // beyond this run's newest sample: a cursor from an earlier run
            } else {
                start = store.position(after: since)
                if start == oldest, oldest < end, store.seq(at: oldest) > since &+ 1 { gap = true }
            }
        }
        var stop = end
        if let limit {
            if since != nil && !reset {
                stop = min(end, start + UInt64(limit))
            } else {
                start = max(start, end >= UInt64(limit) ? end - UInt64(limit) : 0)
            }
        }
        let next = stop > start ? store.seq(at: stop - 1) : (reset ? 0 : (since ?? (end > oldest ? store.seq(at: end - 1) : 0)))
        return .success(Selection(range: start..<stop, columns: columns, gap: gap, reset: reset, next: next))
    }

    private func data(_ query: [HTTPQueryItem]) -> HTTPResponse {
        guard let store = follower.store else { return noData }
        let sel: Selection
        switch select(query, store: store) {
        case .success(let s): sel = s
        case .failure(let e): return .error(.badRequest, e.message)
        }
        let columnar = query.contains { $0.name == "format" && $0.value == "columns" }
        if let f = query.first(where: { $0.name == "format" }), f.value != "columns", f.value != "objects" {
            return .error(.badRequest, "format: '\(f.value)' is not objects or columns")
        }
        var w = JSONWriter(reserve: 256 + sel.range.count * sel.columns.count * 10)
        w.beginObject()
        w.key("generation"); w.string(hex(follower.generation ?? 0))
        w.key("next"); w.uint(sel.next)
        w.key("gap"); w.bool(sel.gap)
        w.key("reset"); w.bool(sel.reset)
        let encoder = SampleEncoder(store: store, columns: sel.columns)
        let labels = follower.phases?.labels()
        if columnar {
            w.key("columns"); encoder.columnArrays(sel.range, into: &w) { w in
                w.key("phase"); w.beginArray()
                for p in sel.range { if let l = labels?.phase(forSeq: store.seq(at: p)) { w.int(l.id) } else { w.null() } }
                w.endArray()
            }
        } else {
            w.key("samples"); encoder.objects(sel.range, into: &w) { p, w in PhaseJSON.sampleField(labels?.phase(forSeq: store.seq(at: p)), into: &w) }
        }
        w.endObject()
        return json(w)
    }

    private func exportCSV(_ query: [HTTPQueryItem]) -> HTTPResponse {
        guard let store = follower.store else { return noData }
        switch select(query.filter { $0.name != "format" }, store: store) {
        case .failure(let e): return .error(.badRequest, e.message)
        case .success(let sel):
            return HTTPResponse(status: .ok, headers: [HTTPField("Content-Type", "text/csv; charset=utf-8"),
                                                       HTTPField("Content-Disposition", "attachment; filename=\"perfring.csv\"")],
                                body: SampleEncoder(store: store, columns: sel.columns).csv(sel.range))
        }
    }

    /// The event table as /api/events (and `export --json`) shows it; only the events that
    /// do not count, with why, for /api/health.
    static func eventList(_ events: [EventEntry], into w: inout JSONWriter, unavailableOnly: Bool) {
        for e in events where !unavailableOnly || e.status != .counting {
            w.beginObject()
            w.key("name"); w.string(e.name)
            if !unavailableOnly {
                w.key("key"); w.string(MetricDeriver.key(forEvent: e.name))
                w.key("status"); w.string(e.status.name)
                w.key("hardware"); w.bool(e.type != 1)
                w.key("group"); w.int(Int(e.group))
                w.key("opened"); w.int(Int(e.opened))
            }
            w.key("reason"); w.string(explainStatus(e.status, errno: e.errno, isHardware: e.type != 1))
            w.endObject()
        }
    }

    private func events() -> HTTPResponse {
        guard let header = follower.reader?.header else { return noData }
        var w = JSONWriter(reserve: 2048)
        w.beginObject()
        w.key("host"); w.beginObject()
        w.key("hostname"); w.string(header.hostname)
        w.key("cpu_model"); w.string(hostFacts.cpuModel)
        w.key("cpus"); w.int(header.cpuCount)
        w.key("kernel"); w.string(hostFacts.kernel)
        w.endObject()
        w.key("mode"); w.string(header.mode.name)
        w.key("target"); w.string(header.target)
        w.key("target_pid"); w.int(Int(header.targetPid))
        w.key("interval_ms"); w.number(Double(header.intervalNs) / 1e6)
        w.key("generation"); w.string(hex(header.generation))
        w.key("per_cpu"); w.int(header.perCpuCount)
        w.key("capacity"); w.int(header.capacity)
        w.key("energy_domains"); w.beginArray(); for d in header.energyDomains { w.string(d) }; w.endArray()
        w.key("events"); w.beginArray(); Self.eventList(header.events, into: &w, unavailableOnly: false); w.endArray()
        w.endObject()
        return json(w)
    }

    private func health() -> HTTPResponse {
        let now = Sys.monotonicNanos()
        let state = follower.state(now: now)
        let samples = follower.store.map { Int($0.count - $0.oldest) } ?? 0
        let status = samples == 0 ? "no-data" : (state == .running && follower.ringError == nil ? "ok" : "degraded")
        var w = JSONWriter(reserve: 1024)
        w.beginObject()
        w.key("status"); w.string(status)
        w.key("collector"); w.string(state.rawValue)
        w.key("generation"); if let g = follower.generation { w.string(hex(g)) } else { w.null() }
        w.key("newest_age_ms"); if let t = follower.newestTimeNs, now >= t { w.number(Double(now - t) / 1e6) } else { w.null() }
        w.key("records_lost"); w.uint(follower.recordsLost)
        w.key("ring"); w.string(follower.path)
        w.key("ring_error"); if let e = follower.ringError { w.string(e) } else { w.null() }
        w.key("samples"); w.int(samples)
        w.key("version"); w.string(perfringServerVersion)
        w.key("uptime_s"); w.number(Double(now - startedNs) / 1e9)
        w.key("unavailable_events"); w.beginArray(); Self.eventList(follower.reader?.header.events ?? [], into: &w, unavailableOnly: true); w.endArray()
        w.endObject()
        return json(w)
    }

    private func fields() -> HTTPResponse {
        guard let store = follower.store else { return noData }
        var w = JSONWriter(reserve: 4096)
        w.beginArray()
        for c in store.columns {
            w.beginObject()
            w.key("key"); w.string(c.key)
            w.key("help"); w.string(c.help)
            w.key("unit"); w.string(c.unit)
            w.key("available"); w.bool(c.kind != .unavailable)
            w.endObject()
        }
        w.endArray()
        return json(w)
    }

    private func stream(_ request: HTTPRequest) -> HTTPHandlerResult {
        guard let store = follower.store else { return .response(noData) }
        let token = StreamToken()
        // Resume after Last-Event-ID ("generation:seq") when it names this run; else start live.
        var position = store.count
        if let last = request.lastEventID {
            let parts = last.split(separator: ":")
            if parts.count == 2, parts[0] == hex(follower.generation ?? 0), let seq = UInt64(parts[1]) {
                position = store.position(after: seq)
            } else {
                position = store.oldest
            }
        }
        streams[token] = StreamCursor(epoch: follower.epoch, position: position)
        let head = HTTPResponse(status: .ok, headers: [HTTPField("Content-Type", "text/event-stream"), HTTPField("Cache-Control", "no-store")],
                                body: Array("retry: 1000\n\n".utf8))
        return .stream(head, token)
    }

    private func metrics() -> HTTPResponse {
        HTTPResponse(status: .ok, headers: [HTTPField("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                     body: PrometheusExposition.render(follower: follower, now: Sys.monotonicNanos()))
    }
}

/// A client error with its message (400).
struct HTTPError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// A generation as the API shows it: 16 hex digits.
func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - s.count)) + s
}

public let perfringServerVersion = "0.1.0"
