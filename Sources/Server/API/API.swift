// perfring-server's application: routes requests to the JSON API, Prometheus metrics and the
// static dashboard, polls the ring on the server's tick and pushes new samples to SSE clients.
// What every client asks for alike (the newest sample, each sample's SSE event, /metrics) is
// rendered once and shared; history replies are streamed from the ring (SampleReply).
import Shared

public final class PerfringAPI: HTTPHandler {
    public let follower: RingFollower
    let files: StaticFiles?
    /// `--recordings DIR`: the runs /api/recordings lists and /api/compare compares.
    let recordings: RecordingsDirectory?
    /// POST /api/analyze and /api/compare; nil: uploads are off (UploadAnalysis.swift).
    public var uploads: UploadService?
    /// Runs uploads' analyses and recordings' saves off the loop; made on first use, after
    /// `uploads` is set (whose --analysis-queue is its depth).
    lazy var worker = AnalysisWorker(depth: uploads?.settings.queueDepth ?? UploadSettings().queueDepth)
    let startedNs = Sys.monotonicNanos()
    /// Set once the server exists (the server owns this handler; this reference is weak).
    public weak var server: HTTPServer?
    private var streams: [StreamToken: StreamCursor] = [:]
    private var lastState: CollectorState?
    private var hostFacts: (hostname: String, cpuModel: String, kernel: String, onlineCPUs: Int?)
    /// Ticks so far: /metrics carries clocks (ages, state), so it is re-rendered at most once a tick.
    private var ticks = 0
    /// Rendered once and shared, each with the follower version (and tick) it was made at.
    private var latestBody: (version: Int, body: [UInt8])?
    private var metricsBody: (version: Int, tick: Int, body: [UInt8])?
    /// Every column of the current run (its keys rendered once).
    private var allColumns: (epoch: Int, encoder: SampleEncoder)?
    /// The SSE events of recent samples, by index modulo the size: live events are rendered
    /// once for every stream, and streams resuming near each other share their catch-up.
    private var eventCache: [(epoch: Int, index: UInt64, bytes: [UInt8])?] = Array(repeating: nil, count: 1024)
    private let eventBuffer = SampleBuffer()

    /// Events sent to one stream per tick, and events rendered for all streams' catch-up per
    /// tick (cached live events cost nothing): a resumed stream costs bounded work per turn.
    static let streamEventsPerTick = 256
    static let renderedEventsPerTick = 1024
    /// A stream's backlog is sent only while less than this is queued for it.
    static let streamQueueLimit = 256 << 10

    struct StreamCursor {
        var epoch: Int
        var position: UInt64
    }

    public init(ringPath: String, ringFallbacks: [String] = [], files: StaticFiles?, minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs, alertRules: [AlertRule] = [],
                recordingsDir: String? = nil) {
        recordings = recordingsDir.map(RecordingsDirectory.init(path:))
        follower = RingFollower(path: ringPath, fallbacks: ringFallbacks, minPhaseNs: minPhaseNs, alertRules: alertRules)
        self.files = files
        hostFacts = (Sys.hostname(), HostFacts.cpuModelName() ?? "unknown", HostFacts.kernelRelease(), HostFacts.onlineCPUs()?.count)
        // The ring is first opened by the first poll (a tick or a request), not here: a server
        // started as root builds this, binds, drops privileges, and only then reads the ring.
    }

    // MARK: tick

    public func tick(now: UInt64) {
        follower.poll(ingestBudget: 0)  // the backlog for phases: `idle`, which follows each tick
        ticks &+= 1
        deliverAnalyses()
        // Every stream behind the ring catches up: samples that arrived on this poll, a request's
        // poll, a new generation, or the backlog of a stream resumed with Last-Event-ID.
        pushToStreams()
        let state = follower.state(now: now)
        if state != lastState {
            if let lastState { Log.info("collector \(lastState.rawValue) -> \(state.rawValue)") }
            lastState = state
        }
    }

    /// Phases and alerts consume a backlog (a full ring at start, records arrived since the
    /// last tick) a slice at a time: at most this many records or this long per slice, after
    /// each tick and between the loop's turns while some remains.
    static let backlogSlice = 2048
    static let backlogSliceNs: UInt64 = 2_000_000

    public func idle(now: UInt64) -> Bool {
        follower.ingestBacklog(records: Self.backlogSlice, forNs: Self.backlogSliceNs)
    }

    private func encoder(for samples: RingSamples) -> SampleEncoder {
        if let e = allColumns, e.epoch == follower.epoch, e.encoder.samples === samples { return e.encoder }
        let e = SampleEncoder(allColumnsOf: samples)
        allColumns = (follower.epoch, e)
        return e
    }

    /// Sample `index`'s SSE event, from the cache or rendered (nil when it cannot be read).
    private func event(_ index: UInt64, _ samples: RingSamples, budget: inout Int) -> [UInt8]? {
        let slot = Int(index % UInt64(eventCache.count))
        if let e = eventCache[slot], e.epoch == follower.epoch, e.index == index { return e.bytes }
        guard budget > 0, samples.read(index, into: eventBuffer) else { return nil }
        budget -= 1
        var w = JSONWriter(reserve: 2048)
        w.literal("id: \(hex(samples.header.generation)):\(index)\nevent: sample\ndata: ")
        // In the ring, records are consecutive: a sample follows the one before it.
        encoder(for: samples).object(eventBuffer, previous: index > 0 ? index - 1 : nil, into: &w)
        w.literal("\n\n")
        let bytes = w.bytes
        eventCache[slot] = (follower.epoch, index, bytes)
        return bytes
    }

    /// `event: gap`: the client's Last-Event-ID names no sample the ring still holds (bogus,
    /// from before the oldest, or not written yet); the stream goes on live from here.
    private func gapEvent(lastEventID: String, samples: RingSamples) -> [UInt8] {
        var w = JSONWriter(reserve: 256)
        w.literal("event: gap\ndata: ")
        w.beginObject()
        w.key("last_event_id"); w.string(lastEventID)
        w.key("generation"); w.string(hex(samples.header.generation))
        w.key("oldest_seq"); if samples.count > 0 { w.uint(samples.oldest) } else { w.null() }
        w.key("next_seq"); w.uint(samples.end)
        w.endObject()
        w.literal("\n\n")
        return w.bytes
    }

    private func pushToStreams() {
        guard let server, let samples = follower.samples, !streams.isEmpty else { return }
        let end = samples.end
        var budget = Self.renderedEventsPerTick
        for (token, cursor) in streams {
            var position = cursor.position
            if cursor.epoch != follower.epoch { position = samples.oldest }  // a new run: from its start
            position = max(position, samples.oldest)  // overwritten while the client lagged
            guard position < end, (server.queuedBytes(token) ?? 0) < Self.streamQueueLimit else {
                streams[token] = StreamCursor(epoch: follower.epoch, position: position)
                continue
            }
            var out: [UInt8] = []
            let stop = min(end, position + UInt64(Self.streamEventsPerTick))
            while position < stop {
                if let e = event(position, samples, budget: &budget) {
                    out += e
                } else if budget == 0 {
                    break  // this tick's rendering is spent: the rest next tick
                }
                position += 1
            }
            if out.isEmpty || server.send(out, to: token) {
                streams[token] = StreamCursor(epoch: follower.epoch, position: position)
            }
        }
    }

    public func streamClosed(_ stream: StreamToken) { streams[stream] = nil }

    // MARK: routing

    /// Where a recording is posted: POST /api/analyze and /api/compare, and GET /api/analyze
    /// (what the server accepts).
    static func isUploadRoute(_ path: String, method: String) -> Bool {
        path == "/api/analyze" || (path == "/api/compare" && method == "POST")
    }

    /// Every method but GET and HEAD is refused (405), and so is any request content (413),
    /// except on the upload routes.
    private func refusal(_ request: HTTPRequest, hasContent: Bool) -> HTTPResponse? {
        let method = request.method
        // The upload routes read content (with --upload) and answer other methods themselves.
        if let path = request.normalizedPath(), Self.isUploadRoute(path, method: method) {
            return method == "POST" && uploads == nil ? .error(.forbidden, Self.uploadsOff) : nil
        }
        if method == "POST", request.normalizedPath() == "/api/recordings" {
            return hasContent ? .error(.contentTooLarge, "a save takes no body: the samples come from the ring") : nil
        }
        if method != "GET" && method != "HEAD" {
            var r = HTTPResponse.error(.methodNotAllowed, "method \(method) not allowed; use GET or HEAD")
            r.headers.append(HTTPField("Allow", "GET, HEAD"))
            return r
        }
        return hasContent ? .error(.contentTooLarge, "request bodies are not accepted") : nil
    }

    /// `Expect: 100-continue`: this API reads no content, so the final status goes out at once.
    public func refuseContent(_ head: HTTPRequest) -> HTTPResponse? { refusal(head, hasContent: true) }

    public func handle(_ request: HTTPRequest) -> HTTPHandlerResult {
        guard let path = request.normalizedPath() else { return .response(.error(.notFound, "not found")) }
        let isAPI = path.hasPrefix("/api/") || path == "/metrics"
        if Self.isUploadRoute(path, method: request.method) { return upload(request, path: path) }
        if path == "/api/recordings" && request.method == "POST" { return saveRecording(request) }
        if let r = refusal(request, hasContent: !request.body.isEmpty) { return .response(r) }
        guard isAPI else {
            return .response(files?.response(for: request) ?? .error(.notFound, "not found"))
        }
        guard let query = request.queryItems() else { return .response(.error(.badRequest, "invalid percent-encoding in the query")) }
        // Answer with the freshest data, not the last tick's, with the phases of the records
        // that just arrived; a larger backlog is left to the slices between requests.
        follower.poll(ingestBudget: 0)
        if follower.backlog <= 256 { follower.ingestBacklog(records: 256) }
        switch path {
        case "/api/latest": return .response(latest())
        case "/api/data": return data(query)
        case "/api/export.csv": return exportCSV(query)
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
        HTTPResponse(status: status, headers: Self.jsonHeaders, body: w.bytes)
    }

    private var noData: HTTPResponse {
        let why = follower.ringError ?? (follower.reader == nil ? "no ring at \(follower.path) (is the collector running?)" : "no data yet")
        var r = HTTPResponse.error(.serviceUnavailable, why)
        r.headers.append(HTTPField("Retry-After", "1"))
        return r
    }

    // MARK: endpoints

    private func latest() -> HTTPResponse {
        if let cached = latestBody, cached.version == follower.version {
            return HTTPResponse(status: .ok, headers: Self.jsonHeaders, body: cached.body)
        }
        guard let samples = follower.samples, samples.count > 0, samples.read(samples.end - 1, into: eventBuffer) else { return noData }
        let newest = samples.end - 1
        var w = JSONWriter(reserve: 2048)
        encoder(for: samples).object(eventBuffer, previous: newest > 0 ? newest - 1 : nil, into: &w) { [self] w in
            w.key("generation"); w.string(hex(samples.header.generation))
            PhaseJSON.sampleField(follower.phases?.current(), into: &w)
        }
        let body = w.bytes
        latestBody = (follower.version, body)
        return HTTPResponse(status: .ok, headers: Self.jsonHeaders, body: body)
    }

    static let jsonHeaders = [HTTPField("Content-Type", "application/json"), HTTPField("Cache-Control", "no-store")]

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
        /// The sample before the range that the client's cursor names (for each sample's `gap`).
        var before: UInt64?
    }

    /// Cursor semantics: `since=S` asks for the samples after seq S of this run (the reply's
    /// `generation`). Older than the oldest held: what is held, with `gap`. Beyond the newest:
    /// nothing yet, `next` stays S (not a reset: a young ring simply has not got there). A
    /// `generation` that is not this run's: `reset`, and this run's samples from its start.
    /// Without `since`, the newest `limit` samples (all when no limit: the reply is streamed,
    /// so its size costs the server no memory).
    /// `also`: the endpoint's own parameters besides these (read elsewhere).
    private func select(_ query: [HTTPQueryItem], samples: RingSamples, also: [String] = []) -> Result<Selection, HTTPError> {
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
            case _ where also.contains(item.name):
                break
            default:
                return .failure(HTTPError("unknown parameter '\(item.name)' (" + (["since", "limit", "fields", "format", "generation"] + also).joined(separator: ", ") + ")"))
            }
        }
        let columns: [Int]
        do { columns = try SampleEncoder.columns(for: fields, in: samples) } catch {
            return .failure(HTTPError("fields: unknown field '\(error.key)' (see /api/fields)"))
        }
        let oldest = samples.oldest, end = samples.end
        var start = oldest
        var gap = false, reset = false
        var before: UInt64?
        if let since {
            if let generation, generation != hex(samples.header.generation) {
                reset = true  // the cursor names another collector run
            } else if since >= end {
                start = end  // nothing after it yet
            } else {
                start = max(oldest, since + 1)
                gap = since + 1 < oldest
                before = since
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
        let next: UInt64
        if stop > start {
            next = stop - 1
        } else if let since, !reset {
            next = since
        } else {
            next = end > oldest ? end - 1 : 0
        }
        return .success(Selection(range: start..<stop, columns: columns, gap: gap, reset: reset, next: next, before: before))
    }

    private func data(_ query: [HTTPQueryItem]) -> HTTPHandlerResult {
        guard let samples = follower.samples else { return .response(noData) }
        let sel: Selection
        switch select(query, samples: samples, also: Self.perCPUParameters) {
        case .success(let s): sel = s
        case .failure(let e): return .response(.error(.badRequest, e.message))
        }
        let perCPU: PerCPURequest
        switch perCPURequest(query, samples: samples) {
        case .success(let p): perCPU = p
        case .failure(let e): return .response(.error(.badRequest, e.message))
        }
        let columnar = query.contains { $0.name == "format" && $0.value == "columns" }
        if let f = query.first(where: { $0.name == "format" }), f.value != "columns", f.value != "objects" {
            return .response(.error(.badRequest, "format: '\(f.value)' is not objects or columns"))
        }
        var w = JSONWriter(reserve: 256)
        w.beginObject()
        w.key("generation"); w.string(hex(samples.header.generation))
        w.key("next"); w.uint(sel.next)
        w.key("gap"); w.bool(sel.gap)
        w.key("reset"); w.bool(sel.reset)
        var selection: PerCPUSelection?
        switch perCPU {
        case .off: break
        case .none(let reason):
            w.key("cpu_count"); w.int(0)
            w.key("per_cpu"); w.null()
            w.key("per_cpu_reason"); w.string(reason)
        case .on(let s):
            w.key("cpu_count"); w.int(s.metrics.cpuCount)
            selection = s
        }
        w.key(columnar ? "columns" : "samples")
        let reply = SampleReply(encoder: SampleEncoder(samples: samples, columns: sel.columns), range: sel.range,
                                shape: columnar ? .columns : .objects, labels: follower.phases?.labels(), opening: w.bytes, before: sel.before,
                                perCPU: selection)
        return .produced(HTTPResponse(status: .ok, headers: Self.jsonHeaders), reply)
    }

    static let perCPUParameters = ["per_cpu", "per_cpu_fields"]

    enum PerCPURequest {
        case off
        /// Asked for, but the ring has no per-CPU section: why.
        case none(String)
        case on(PerCPUSelection)
    }

    /// `per_cpu=1` and `per_cpu_fields=a,b` of /api/data (README: "Per-CPU data").
    private func perCPURequest(_ query: [HTTPQueryItem], samples: RingSamples) -> Result<PerCPURequest, HTTPError> {
        var on = false
        var fields: [String]?
        for item in query {
            switch item.name {
            case "per_cpu":
                switch item.value {
                case "1", "true": on = true
                case "0", "false": on = false
                default: return .failure(HTTPError("per_cpu: '\(item.value)' is not 1 or 0"))
                }
            case "per_cpu_fields":
                fields = item.value.split(separator: ",").map(String.init)
            default:
                break
            }
        }
        guard on else {
            return fields == nil ? .success(.off) : .failure(HTTPError("per_cpu_fields needs per_cpu=1"))
        }
        let metrics = samples.perCPU
        let keys: [Int]
        do { keys = try metrics.keys(for: fields) } catch {
            return .failure(HTTPError("per_cpu_fields: unknown per-CPU field '\(error.key)' (\(metrics.defaultKeys.map { metrics.keys[$0] }.joined(separator: ", ")))"))
        }
        guard metrics.cpuCount > 0 else {
            return .success(.none(samples.header.mode == .replay ? "a replayed recording has no per-CPU section" : "the collector was started without --per-cpu"))
        }
        return .success(.on(PerCPUSelection(metrics: metrics, keys: keys)))
    }

    private func exportCSV(_ query: [HTTPQueryItem]) -> HTTPHandlerResult {
        guard let samples = follower.samples else { return .response(noData) }
        switch select(query.filter { $0.name != "format" }, samples: samples) {
        case .failure(let e): return .response(.error(.badRequest, e.message))
        case .success(let sel):
            let reply = SampleReply(encoder: SampleEncoder(samples: samples, columns: sel.columns), range: sel.range,
                                    shape: .csv, labels: nil, opening: [], before: sel.before)
            return .produced(HTTPResponse(status: .ok, headers: [HTTPField("Content-Type", "text/csv; charset=utf-8"),
                                                                 HTTPField("Content-Disposition", "attachment; filename=\"perfring.csv\"")]), reply)
        }
    }

    /// The event table as /api/events (and `export --json`) shows it; only the events that
    /// do not count, with why, for /api/health. A replay's events that do not count are ones
    /// the recording has no figures for, whatever this machine could count.
    static func eventList(_ events: [EventEntry], replay: Bool, into w: inout JSONWriter, unavailableOnly: Bool) {
        for e in events {
            let status = e.effectiveStatus
            guard !unavailableOnly || status != .counting else { continue }
            w.beginObject()
            w.key("name"); w.string(e.name)
            if !unavailableOnly {
                w.key("key"); w.string(MetricDeriver.key(forEvent: e.name))
                w.key("status"); w.string(status.name)
                w.key("hardware"); w.bool(e.type != 1)
                w.key("group"); w.int(Int(e.group))
                w.key("opened"); w.int(Int(e.opened))
                w.key("user_space_only"); w.bool(e.flags.contains(.userOnly))
                if e.flags.contains(.userOnly) { w.key("paranoid"); w.int(e.flags.paranoid) }
                if e.flags.contains(.pmuPart), let (pmu, event) = MetricDeriver.pmuPart(e.name) {
                    w.key("pmu"); w.string(pmu)
                    w.key("part_of"); w.string(MetricDeriver.key(forEvent: event))
                }
            }
            var reason = replay && status != .counting ? "not in this recording" : explainStatus(status, errno: e.errno, isHardware: e.type != 1)
            if !replay, status == .counting || status == .notCounted, let more = explainFlags(e.flags, name: e.name) {
                reason = status == .counting ? more : reason + "; " + more
            }
            w.key("reason"); w.string(reason)
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
        // `cpus` is what the ring counts (1 for a process); the page names the machine's own.
        w.key("online_cpus"); if let n = hostFacts.onlineCPUs { w.int(n) } else { w.null() }
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
        w.key("events"); w.beginArray(); Self.eventList(follower.events, replay: header.mode == .replay, into: &w, unavailableOnly: false); w.endArray()
        w.endObject()
        return json(w)
    }

    private func health() -> HTTPResponse {
        let now = Sys.monotonicNanos()
        let state = follower.state(now: now)
        let samples = follower.samples?.count ?? 0
        // A damaged ring is degraded even when nothing is left to serve from it.
        let status = follower.ringError != nil && follower.reader != nil ? "degraded" : samples == 0 ? "no-data" : (state == .running ? "ok" : "degraded")
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
        w.key("unavailable_events"); w.beginArray(); Self.eventList(follower.events, replay: follower.reader?.header.mode == .replay, into: &w, unavailableOnly: true); w.endArray()
        w.endObject()
        return json(w)
    }

    private func fields() -> HTTPResponse {
        guard let samples = follower.samples else { return noData }
        var w = JSONWriter(reserve: 4096)
        w.beginArray()
        for c in samples.columns {
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
        guard let samples = follower.samples else { return .response(noData) }
        let token = StreamToken()
        // Resume after Last-Event-ID ("generation:seq") when it names a sample this run holds;
        // an id from another run starts from this run's oldest sample; anything else (bogus,
        // overwritten, not written yet) gets a `gap` event and the stream goes on live. The
        // backlog is sent on the ticks, a bounded amount at a time.
        var position = samples.end
        var body = Array("retry: 1000\n\n".utf8)
        if let last = request.lastEventID {
            let parts = last.split(separator: ":", omittingEmptySubsequences: false)
            let current = hex(samples.header.generation)
            if parts.count == 2, parts[0] == current, let seq = UInt64(parts[1]), seq < samples.end, seq + 1 >= samples.oldest {
                position = seq + 1
            } else if parts.count == 2, parts[0].utf8.count == 16, UInt64(parts[0], radix: 16) != nil, parts[0] != current, UInt64(parts[1]) != nil {
                position = samples.oldest
            } else {
                body += gapEvent(lastEventID: last, samples: samples)
            }
        }
        streams[token] = StreamCursor(epoch: follower.epoch, position: position)
        let head = HTTPResponse(status: .ok, headers: [HTTPField("Content-Type", "text/event-stream"), HTTPField("Cache-Control", "no-store")],
                                body: body)
        return .stream(head, token)
    }

    private func metrics() -> HTTPResponse {
        let body: [UInt8]
        if let cached = metricsBody, cached.version == follower.version, cached.tick == ticks {
            body = cached.body
        } else {
            body = PrometheusExposition.render(ExpositionInput(follower: follower, now: Sys.monotonicNanos()))
            metricsBody = (follower.version, ticks, body)
        }
        return HTTPResponse(status: .ok, headers: Self.metricsHeaders, body: body)
    }

    static let metricsHeaders = [HTTPField("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]
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
