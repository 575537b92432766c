// `perfring-server export`: every sample a ring still holds, written out as /api/export.csv's
// CSV or /api/data's JSON (with the event table), straight from the file and without HTTP, so a
// run can be archived, compared or replayed after its collector and server are gone.
import Glibc
import Shared

/// A ring's samples from its oldest kept record to the newest written when it was opened, read
/// from the mapping as they are written out (never all in memory at once).
public struct RingSnapshot {
    public let samples: RingSamples
    public var header: RingHeader { samples.header }

    public static func read(_ path: String) throws(RingError) -> RingSnapshot {
        let reader = try RingReader(path: path)
        guard let w = reader.writeIndex() else { throw .fault }
        let samples = RingSamples(reader: reader)
        samples.end = w
        return RingSnapshot(samples: samples)
    }

    /// The indices held; a record overwritten meanwhile (a live collector lapped the reader) is
    /// skipped where it is read.
    public var indices: Range<UInt64> { samples.indices }

    /// The phases the live server would have found in these samples.
    public func phases(minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs) -> PhaseTracker {
        let tracker = PhaseTracker(samples: samples, minPhaseNs: minPhaseNs)
        forEachSample { i, value in tracker.observe(samples, at: i, value: value) }
        return tracker
    }

    /// Calls `body` with each readable sample's index and a reader of its columns, in order.
    public func forEachSample(_ body: (UInt64, (Int) -> Double) -> Void) {
        let buffer = SampleBuffer()
        var previous: UInt64?
        for i in indices where samples.read(i, into: buffer) {
            body(i) { [samples] c in samples.value(c, in: buffer, previous: previous) }
            previous = i
        }
    }

    /// Every column of every sample, as GET /api/export.csv writes them, in chunks to `fd`.
    public func writeCSV(to fd: Int32) throws(Errno) {
        try writeCSV(indices) { b throws(Errno) in try Sys.writeAll(fd, b) }
    }

    /// Every column of the samples in `range` as GET /api/export.csv writes them, a chunk at a
    /// time to `out`; returns the samples written (a record overwritten meanwhile is left out).
    @discardableResult
    func writeCSV<E: Error>(_ range: Range<UInt64>, _ out: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) -> Int {
        var lines = 0
        try write(SampleReply(encoder: SampleEncoder(allColumnsOf: samples), range: range, shape: .csv, labels: nil, opening: [], before: nil)) { b throws(E) in
            lines += b.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            try out(b)
        }
        return max(lines - 1, 0)  // less the header row
    }

    /// `{"generation", "events", "samples"}`: the event table of /api/events and the samples
    /// (with their phase) of /api/data, in chunks to `fd`.
    public func writeJSON(to fd: Int32) throws(Errno) {
        let labels = phases().labels()
        var w = JSONWriter(reserve: 4096)
        w.beginObject()
        w.key("generation"); w.string(hex(header.generation))
        w.key("events"); w.beginArray(); PerfringAPI.eventList(header.events, replay: header.mode == .replay, into: &w, unavailableOnly: false); w.endArray()
        w.key("samples")
        try write(SampleReply(encoder: SampleEncoder(allColumnsOf: samples), range: indices, shape: .objects, labels: labels, opening: w.bytes, before: nil)) { b throws(Errno) in
            try Sys.writeAll(fd, b)
        }
        try Sys.writeAll(fd, "\n")
    }

    private func write<E: Error>(_ reply: SampleReply, _ out: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
        var w = JSONWriter(reserve: 96 << 10)
        var done = false
        while !done {
            w.reset()
            done = reply.produce(into: &w, budget: 64 << 10)
            try w.withBytes { b throws(E) in try out(b) }
        }
    }
}

public let exportHelp = """
usage: perfring-server export [--ring PATH] [--csv | --json] [--out FILE]

Writes every sample the ring still holds, read straight from the file (no server needed):
  --ring PATH   ring file (default: the server's, /run/perfring/ring as root, else
                $XDG_RUNTIME_DIR/perfring/ring)
  --csv         the CSV of /api/export.csv (header row of metric keys; empty cell: no
                value); the default
  --json        {"generation", "events": [...], "samples": [...]} as /api/events and /api/data
  --out FILE    write to FILE instead of standard output
"""

/// Returns the exit status: 0 written, 1 the ring or FILE cannot be used, 2 usage error.
public func exportMain(_ args: [String]) -> Int32 {
    let candidates = RingPaths.serverCandidates()
    var ring = candidates.first { (try? Sys.lstat($0)) != nil } ?? candidates[0]
    var format: String?
    var out: String?
    var cursor = ArgCursor(args)
    do throws(UsageError) {
        while let (flag, inline) = cursor.next() {
            switch flag {
            case "-h", "--help":
                try? Sys.writeAll(1, exportHelp + "\n")
                return 0
            case "--ring":
                ring = try cursor.value(for: flag, inline: inline)
                guard !ring.isEmpty else { throw UsageError("--ring: empty path") }
            case "--csv", "--json":
                try cursor.noValue(for: flag, inline: inline)
                guard format == nil || format == flag else { throw UsageError("\(flag): give one of --csv and --json") }
                format = flag
            case "--out":
                out = try cursor.value(for: flag, inline: inline)
                guard !(out ?? "").isEmpty else { throw UsageError("--out: empty path") }
            default:
                throw UsageError(flag.hasPrefix("-") ? "unknown flag '\(flag)' (see export --help)" : "unexpected argument '\(flag)'")
            }
        }
    } catch {
        Log.error(error.message)
        return 2
    }
    let snapshot: RingSnapshot
    do { snapshot = try RingSnapshot.read(ring) } catch {
        Log.error("\(ring): \(error)")
        return 1
    }
    do {
        let fd = try out.map { try Sys.open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o644) } ?? 1
        defer { if out != nil { Sys.close(fd) } }
        if format == "--json" { try snapshot.writeJSON(to: fd) } else { try snapshot.writeCSV(to: fd) }
    } catch {
        Log.error("\(out ?? "standard output"): \(error)")
        return 1
    }
    return 0
}
