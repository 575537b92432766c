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
    public let path: String
    public private(set) var reader: RingReader?
    public private(set) var deriver: MetricDeriver?
    public private(set) var store: SampleStore?
    /// What is wrong with the file at `path` right now, if anything (shown in /api/health).
    public private(set) var ringError: String?
    /// Records the server never saw: overwritten before it read them, or torn repeatedly.
    public private(set) var recordsLost: UInt64 = 0
    /// Monotonic time (ns) of the newest sample's record.
    public private(set) var newestTimeNs: UInt64?
    /// Last-known stop flag and heartbeat of the current ring.
    public private(set) var stopped = false
    public private(set) var heartbeatNs: UInt64 = 0
    /// Incremented whenever the store is replaced (a new generation), for stream cursors.
    public private(set) var epoch = 0
    private var nextIndex: UInt64 = 0
    private var buffer: UnsafeMutableRawPointer?
    private var bufferSize = 0
    private var faulted = false

    /// Phases of the current collector run (replaced with the store) and the alert rules; both
    /// see each sample as it is ingested.
    public private(set) var phases: PhaseTracker?
    public let alerts: AlertEvaluator
    public let minPhaseNs: UInt64

    private var lastPathCheck: UInt64 = 0

    public init(path: String, minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs, alertRules: [AlertRule] = []) {
        self.path = path
        self.minPhaseNs = minPhaseNs
        alerts = AlertEvaluator(rules: alertRules)
    }
    deinit { buffer?.deallocate() }

    public var generation: UInt64? { reader?.header.generation }

    /// One poll: (re)open when needed, then ingest new records. Returns how many samples arrived.
    @discardableResult
    public func poll() -> Int {
        // New records are read on every poll; whether the file at the path is still ours costs
        // a stat(), so under a request load that is checked at most once a millisecond.
        let now = Sys.monotonicNanos()
        let checkPath = now &- lastPathCheck > 1_000_000
        if checkPath { lastPathCheck = now }
        if reader == nil || faulted || (checkPath && !(reader?.isCurrent() ?? false)) {
            reopenIfChanged()
        } else {
            clearError()  // the file at the path is the one being read (it was moved away and back)
        }
        guard let reader, !faulted, let deriver, let store else { return 0 }
        guard reader.headerIntact() else {
            markFault("the ring header changed in place (not written by this collector run)"); return 0
        }
        guard let w = reader.writeIndex(), let hb = reader.heartbeat(), let st = reader.stopped() else {
            markFault(RingError.fault.description); return 0
        }
        heartbeatNs = hb
        stopped = st
        if w <= nextIndex { return 0 }
        let oldest = reader.oldestIndex(writeIndex: w)
        if nextIndex < oldest {
            recordsLost &+= oldest - nextIndex
            nextIndex = oldest
        }
        var n = 0
        while nextIndex < w {
            switch reader.read(nextIndex, into: buffer!) {
            case .ok:
                let view = RecordView(UnsafeRawPointer(buffer!))
                deriver.ingest(view, into: store)
                alerts.observe(store, at: store.count - 1)
                phases?.observe(store, at: store.count - 1)
                newestTimeNs = view.timeNs
                n += 1
            case .unavailable:
                // Overwritten between our index load and the copy: the writer lapped us.
                recordsLost &+= 1
            case .fault:
                markFault(RingError.fault.description)
                return n
            }
            nextIndex += 1
        }
        reader.finished(through: nextIndex - 1)
        return n
    }

    /// Stops reading a ring that went bad under us; the samples already read stay served, and
    /// the next poll reopens whatever is at the path (reporting precisely what is wrong with it).
    private func markFault(_ reason: String) {
        faulted = true
        ringError = reason
        Log.warning("ring \(path): \(reason); serving the samples already read")
    }

    /// The path holds the ring being read again: whatever was wrong with it is over.
    private func clearError() {
        guard ringError != nil else { return }
        Log.info("ring \(path): the ring being read is back at the path")
        ringError = nil
    }

    /// Opens the file at `path` if it is a different (or the first) valid ring. A bad file is
    /// reported and the previous data kept.
    private func reopenIfChanged() {
        let fresh: RingReader
        do { fresh = try RingReader(path: path) } catch {
            let message = error.description
            if message != ringError {
                if case .missing = error, reader == nil { Log.info("waiting for the ring at \(path)") } else { Log.warning("ring \(path): \(message)") }
            }
            if case .missing = error, reader == nil { ringError = nil } else { ringError = message }
            return
        }
        if let old = reader, old.header.generation == fresh.header.generation, !faulted {
            clearError()
            return  // same ring under a new name or a racing stat: nothing changed
        }
        let header = fresh.header
        Log.info("following ring \(path): generation \(String(header.generation, radix: 16)), \(header.mode.name) \(header.target), \(header.capacity) records")
        reader = fresh
        faulted = false
        ringError = nil
        deriver = MetricDeriver(header: header)
        store = SampleStore(columns: deriver!.columns, capacity: header.capacity)
        phases = PhaseTracker(store: store!, header: header, minPhaseNs: minPhaseNs)
        alerts.bind(store!)
        epoch += 1
        newestTimeNs = nil
        stopped = false
        if bufferSize < header.recordSize {
            buffer?.deallocate()
            buffer = .allocate(byteCount: header.recordSize, alignment: 64)
            bufferSize = header.recordSize
        }
        nextIndex = fresh.writeIndex().map(fresh.oldestIndex(writeIndex:)) ?? 0
    }

    /// The newest sample's available values by API key: all /metrics reads from the history.
    public func newestValues() -> [(key: String, value: Double)] {
        guard let store, store.count > store.oldest else { return [] }
        let newest = store.count - 1
        return store.columns.indices.compactMap { c in
            let v = store.value(c, at: newest)
            return v.isFinite ? (store.columns[c].key, v) : nil
        }
    }

    /// The collector's state at monotonic time `now`.
    public func state(now: UInt64) -> CollectorState {
        guard let reader else { return .absent }
        if stopped { return .stopped }
        // Saturating: the interval comes from the file, and any value must give an answer.
        let (three, overflow) = reader.header.intervalNs.multipliedReportingOverflow(by: 3)
        let limit = overflow ? UInt64.max : max(three, 300_000_000)
        if now > heartbeatNs, now - heartbeatNs > limit {
            return Sys.processExists(reader.header.collectorPid) ? .stalled : .absent
        }
        return faulted ? .absent : .running
    }
}
