// Follows the ring file: opens it when it appears, turns each new record into a sample (once),
// notices lost records, a stalled or stopped collector, a restarted one (new file or
// generation) and a damaged file, and keeps the samples it already has through all of it.
import Shared

/// The collector as the server sees it.
public enum CollectorState: String, Sendable {
    /// Heartbeat fresh.
    case running
    /// No heartbeat for three intervals, but its process still exists.
    case stalled
    /// Stopped cleanly (the ring's stop flag).
    case stopped
    /// No ring, or its collector is gone without a clean stop.
    case absent
}

public final class RingFollower {
    /// The ring being followed, or waited for: while no ring has been opened, the first of
    /// `candidates` whose collector is running, else the first that exists; and while the
    /// followed ring's collector is not running, another candidate whose collector is.
    public private(set) var path: String
    /// Where to look, in order (`--ring`, or the default locations).
    public let candidates: [String]
    /// The current collector run's samples, read from its mapping (kept when the file at the
    /// path goes away: the mapping stays valid).
    public private(set) var samples: RingSamples?
    public var reader: RingReader? { samples?.reader }
    /// What is wrong with the file at `path` right now, if anything (shown in /api/health).
    public private(set) var ringError: String?
    /// Records phases and alerts never saw: overwritten before they were read, or torn.
    public private(set) var recordsLost: UInt64 = 0
    /// Monotonic time (ns) of the newest sample's record.
    public private(set) var newestTimeNs: UInt64?
    /// Last-known event flags (the collector updates never-scheduled live).
    public private(set) var eventFlags: [EventFlags] = []
    /// The ring's event table with the flags as they are now.
    public var events: [EventEntry] {
        guard var events = reader?.header.events else { return [] }
        for i in events.indices where i < eventFlags.count { events[i].flags = eventFlags[i] }
        return events
    }
    /// Last-known stop flag and heartbeat of the current ring.
    public private(set) var stopped = false
    public private(set) var heartbeatNs: UInt64 = 0
    /// Incremented whenever a new collector run is followed, for stream cursors and caches.
    public private(set) var epoch = 0
    /// Incremented whenever anything served may have changed (new samples, a new run, a fault):
    /// the key of what is rendered once and shared (the newest sample, /metrics).
    public private(set) var version = 0
    /// Records of a ring found already written that phases and alerts go back over: about a
    /// day at 100 ms, and a bound on a header that claims billions.
    static let maxBacklog: UInt64 = 1 << 20
    /// The next record phases and alerts will see (they consume each sample once).
    private var ingested: UInt64 = 0
    private let buffer = SampleBuffer()
    /// The write index the last poll saw in this ring.
    private var lastWriteIndex: UInt64 = 0
    private var faulted = false

    /// Phases of the current collector run (replaced with it) and the alert rules.
    public private(set) var phases: PhaseTracker?
    public let alerts: AlertEvaluator
    public let minPhaseNs: UInt64

    private var lastPathCheck: UInt64 = 0
    /// When the other candidates were last looked at (while the followed ring's collector is
    /// not running): a few times a second, not on every poll.
    private var lastCandidateScan: UInt64 = 0
    static let candidateScanPeriodNs: UInt64 = 100_000_000
    /// The last condition logged, so that each change is logged once, not on every poll.
    private var reported: String?

    public init(path: String, fallbacks: [String] = [], minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs, alertRules: [AlertRule] = []) {
        self.path = path
        candidates = [path] + fallbacks.filter { $0 != path }
        self.minPhaseNs = minPhaseNs
        alerts = AlertEvaluator(rules: alertRules)
    }

    public var generation: UInt64? { reader?.header.generation }

    /// One poll: (re)open when needed, see how far the ring has grown, and let phases and alerts
    /// consume at most `ingestBudget` new records (a large backlog, such as a full ring at
    /// start, is spread over several polls so no poll holds up the server). Returns how many
    /// samples arrived.
    @discardableResult
    public func poll(ingestBudget: Int = 2048) -> Int {
        // New records are read on every poll; whether the file at the path is still ours costs
        // a stat(), so under a request load that is checked at most once a millisecond.
        let now = Sys.monotonicNanos()
        let checkPath = now &- lastPathCheck > 1_000_000
        if checkPath { lastPathCheck = now }
        // The verdict on the path changes only when the path is checked, so every reply between
        // two checks reports the same ring_error (it does not flap under load).
        if candidates.count > 1, reader != nil, now &- lastCandidateScan > Self.candidateScanPeriodNs, state(now: now) != .running {
            lastCandidateScan = now
            // Without --ring: the ring followed has no live collector (stopped, gone, stalled);
            // another candidate whose collector writes now is the one to show.
            if let live = candidates.first(where: { $0 != path && Self.isLive($0, now: now) }) {
                report("ring \(path): collector \(state(now: now).rawValue); switching to \(live), whose collector is running")
                path = live
                reopenIfChanged()
            }
        }
        if reader == nil || faulted {
            reopenIfChanged()
        } else if checkPath {
            if reader?.isCurrent() == true {
                clearError()  // the file at the path is the one being read (it was moved away and back)
            } else {
                reopenIfChanged()
            }
        }
        guard let samples, !faulted else { return 0 }
        let reader = samples.reader
        guard reader.headerIntact() else {
            markFault("the ring header changed in place (not written by this collector run)"); return 0
        }
        if checkPath && !reader.sizeIntact() {
            markFault(ringError ?? RingError.fault.description); return 0  // the reopen attempt said why
        }
        guard let w = reader.writeIndex(), let hb = reader.heartbeat(), let st = reader.stopped() else {
            markFault(RingError.fault.description); return 0
        }
        if let why = impossible(writeIndex: w, after: lastWriteIndex) {
            markFault(why); return 0
        }
        lastWriteIndex = w
        heartbeatNs = hb
        stopped = st
        for i in eventFlags.indices { if let f = reader.eventFlags(i) { eventFlags[i] = f } }
        var arrived = 0
        if w > samples.end {
            arrived = Int(w - samples.end)
            samples.end = w
            version &+= 1
            if samples.read(w - 1, into: buffer) { newestTimeNs = buffer.record.timeNs }
        }
        ingest(budget: ingestBudget)
        return arrived
    }

    /// Records that phases and alerts have not seen yet.
    public var backlog: UInt64 {
        guard let samples, !faulted, samples.end > ingested else { return 0 }
        return samples.end - ingested
    }

    /// Feeds phases and alerts up to `records` of their backlog, stopping early once `ns`
    /// nanoseconds have passed (looked at every 64 records); true when some remains. A full
    /// ring at start is consumed this way between requests, never in one long turn.
    @discardableResult
    public func ingestBacklog(records: Int, forNs ns: UInt64 = .max) -> Bool {
        let start = Sys.monotonicNanos()
        var left = records
        while left > 0 && backlog > 0 {
            let n = min(left, 64)
            ingest(budget: n)
            left -= n
            if Sys.monotonicNanos() &- start >= ns { break }
        }
        return backlog > 0
    }

    /// Feeds phases and alerts the records they have not seen, up to `budget` of them.
    private func ingest(budget: Int) {
        guard let samples, ingested < samples.end, budget > 0 else { return }
        let oldest = samples.oldest
        if ingested < oldest {
            recordsLost &+= oldest - ingested
            ingested = oldest
        }
        let stop = min(samples.end, ingested + UInt64(budget))
        var previous: UInt64? = ingested > 0 ? ingested - 1 : nil
        while ingested < stop {
            let i = ingested
            ingested += 1
            guard samples.read(i, into: buffer) else {
                if !samples.reader.sizeIntact() {
                    markFault(RingError.fault.description)
                    return
                }
                recordsLost &+= 1  // overwritten between the index load and the copy
                continue
            }
            let value = { [samples, buffer] (c: Int) in samples.value(c, in: buffer, previous: previous) }
            alerts.observe(seq: i, value: value)
            phases?.observe(samples, at: i, value: value)
            previous = i
        }
        samples.reader.finished(through: ingested - 1)
        version &+= 1
    }

    /// Why a write index cannot be believed, if it cannot. The seqlock word of record i is 2i+2:
    /// past 2^62 (146 million years at 1 ms) it could wrap to the 0 of a never-written slot.
    /// And a collector run's index never goes back.
    private func impossible(writeIndex w: UInt64, after previous: UInt64) -> String? {
        if w > RingLayout.maxWriteIndex { return "impossible write index \(w) (beyond 2^62)" }
        if w < previous { return "impossible write index \(w) (went back from \(previous))" }
        return nil
    }

    /// Stops reading a ring that went bad under us; the samples already read stay served, and
    /// the next poll reopens whatever is at the path (reporting precisely what is wrong with it).
    private func markFault(_ reason: String) {
        faulted = true
        ringError = reason
        version &+= 1
        // What the mapping still holds stays served; a file truncated or overwritten under it
        // holds nothing any more, and saying so is the honest answer.
        if let samples, samples.count > 0, !samples.read(samples.end - 1, into: buffer) { samples.readable = false }
        report("ring \(path): \(reason); serving the samples already read", warning: true)
    }

    /// The path holds the ring being read again: whatever was wrong with it is over.
    private func clearError() {
        guard ringError != nil else { return }
        report("ring \(path): the ring being read is back at the path")
        ringError = nil
    }

    /// Opens the file at `path` if it is a different (or the first) valid ring. A bad file is
    /// reported and the previous data kept.
    private func reopenIfChanged() {
        if reader == nil, candidates.count > 1 {
            // The first whose collector is running, else the first that exists.
            let now = Sys.monotonicNanos()
            path = candidates.first { Self.isLive($0, now: now) } ?? candidates.first { (try? Sys.lstat($0)) != nil } ?? candidates[0]
        }
        let fresh: RingReader
        do { fresh = try RingReader(path: path) } catch {
            if case .missing = error, reader == nil {
                report("waiting for the ring at \(candidates.joined(separator: " or "))")
                ringError = nil
            } else {
                report("ring \(path): \(error.description)", warning: true)
                ringError = error.description
            }
            return
        }
        let sameRun = reader?.header.generation == fresh.header.generation
        if let why = impossible(writeIndex: fresh.writeIndex() ?? 0, after: sameRun ? lastWriteIndex : 0) {
            report("ring \(path): \(why)", warning: true)
            ringError = why  // the samples already read stay served
            return
        }
        if sameRun, !faulted {
            clearError()
            return  // same ring under a new name or a racing stat: nothing changed
        }
        let header = fresh.header
        let run = RingSamples(reader: fresh)
        // Every name the ring gives becomes a JSON key, a CSV column and a Prometheus metric:
        // two that would collide there (with each other or a built-in metric) are refused.
        if let clash = PrometheusExposition.collision(in: run.columns) {
            let message = "event names collide: two metrics would be named \(clash)"
            report("ring \(path): \(message)", warning: true)
            ringError = message
            return
        }
        report("following ring \(path): generation \(String(header.generation, radix: 16)), \(header.mode.name) \(Log.printable(header.target)), \(header.capacity) records")
        samples = run
        faulted = false
        ringError = nil
        lastWriteIndex = 0
        phases = PhaseTracker(samples: run, minPhaseNs: minPhaseNs)
        alerts.bind(columns: run.columns)
        eventFlags = header.events.map(\.flags)
        epoch += 1
        version &+= 1
        newestTimeNs = nil
        stopped = false
        // Phases and alerts start from the oldest record held (at most the newest
        // `maxBacklog`); the backlog is consumed over the next polls, in bounded batches.
        let w = fresh.writeIndex() ?? 0
        ingested = max(fresh.oldestIndex(writeIndex: w), w > Self.maxBacklog ? w - Self.maxBacklog : 0)
        run.end = fresh.oldestIndex(writeIndex: w)
    }

    /// Logs a condition once: polls that find it unchanged stay quiet.
    private func report(_ line: String, warning: Bool = false) {
        guard line != reported else { return }
        reported = line
        if warning { Log.warning(line) } else { Log.info(line) }
    }

    /// The newest sample's available values by API key: all /metrics reads from the history.
    public func newestValues() -> [(key: String, value: Double)] {
        let newest = SampleBuffer()
        guard let samples, samples.count > 0, samples.read(samples.end - 1, into: newest) else { return [] }
        return samples.columns.indices.compactMap { c in
            let v = samples.value(c, in: newest, previous: nil)
            return v.isFinite ? (samples.columns[c].key, v) : nil
        }
    }

    /// The newest sample's figures of each CPU (`--per-cpu` rings; empty otherwise), the
    /// available ones of `keys` by key: what /metrics exports with a `cpu` label.
    public func newestPerCPU(_ keys: [String]) -> [[String: Double]] {
        guard let samples, samples.header.perCpuCount > 0, samples.count > 0 else { return [] }
        let newest = SampleBuffer(recordOf: samples.header)
        guard samples.readWhole(samples.end - 1, into: newest) else { return [] }
        let metrics = samples.perCPU
        let wanted = keys.compactMap { k in metrics.index(k).map { (k, $0) } }
        return (0..<metrics.cpuCount).map { cpu in
            var values: [String: Double] = [:]
            for (key, k) in wanted {
                let v = metrics.value(k, newest.record, cpu: cpu)
                if v.isFinite { values[key] = v }
            }
            return values
        }
    }

    /// The collector's state at monotonic time `now`.
    public func state(now: UInt64) -> CollectorState {
        guard let reader else { return .absent }
        if stopped { return .stopped }
        if !Self.heartbeatFresh(heartbeatNs, intervalNs: reader.header.intervalNs, now: now) {
            return Sys.processExists(reader.header.collectorPid) ? .stalled : .absent
        }
        return faulted ? .absent : .running
    }

    /// A heartbeat at most three intervals (and at least 300 ms) old.
    static func heartbeatFresh(_ heartbeatNs: UInt64, intervalNs: UInt64, now: UInt64) -> Bool {
        // Saturating: the interval comes from the file, and any value must give an answer.
        let (three, overflow) = intervalNs.multipliedReportingOverflow(by: 3)
        let limit = overflow ? UInt64.max : max(three, 300_000_000)
        return !(now > heartbeatNs && now - heartbeatNs > limit)
    }

    /// Whether `path` holds a valid ring whose collector is writing it now (not stopped, its
    /// heartbeat fresh): the ring to follow among the default places.
    static func isLive(_ path: String, now: UInt64) -> Bool {
        guard let r = try? RingReader(path: path), r.stopped() == false, let hb = r.heartbeat() else { return false }
        return heartbeatFresh(hb, intervalNs: r.header.intervalNs, now: now)
    }
}
