// `perfring-server export`: every sample a ring still holds, written out as /api/export.csv's
// CSV or /api/data's JSON (with the event table), straight from the file and without HTTP, so a
// run can be archived, compared or replayed after its collector and server are gone.
import Glibc
import Shared

/// A ring read once from its oldest kept record to its newest, each record derived once.
public struct RingSnapshot {
    public let header: RingHeader
    public let store: SampleStore

    public static func read(_ path: String) throws(RingError) -> RingSnapshot {
        let reader = try RingReader(path: path)
        let header = reader.header
        guard let w = reader.writeIndex() else { throw .fault }
        let first = reader.oldestIndex(writeIndex: w)
        let deriver = MetricDeriver(header: header)
        let store = SampleStore(columns: deriver.columns, capacity: max(1, Int(w - first)))
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: header.recordSize, alignment: 64)
        defer { buffer.deallocate() }
        for i in first..<w {
            switch reader.read(i, into: buffer) {
            case .ok: deriver.ingest(RecordView(UnsafeRawPointer(buffer)), into: store)
            case .unavailable: continue  // overwritten while read: a live collector lapped us
            case .fault: throw .fault
            }
        }
        return RingSnapshot(header: header, store: store)
    }

    public var positions: Range<UInt64> { store.oldest..<store.count }

    /// The phases the live server would have found in these samples.
    public func phases(minPhaseNs: UInt64 = PhaseTracker.defaultMinPhaseNs) -> PhaseTracker {
        let tracker = PhaseTracker(store: store, header: header, minPhaseNs: minPhaseNs)
        for p in positions { tracker.observe(store, at: p) }
        return tracker
    }

    /// Every column of every sample, as GET /api/export.csv writes them.
    public func csv() -> [UInt8] {
        SampleEncoder(store: store, columns: Array(store.columns.indices)).csv(positions)
    }

    /// `{"generation", "events", "samples"}`: the event table of /api/events and the samples
    /// (with their phase) of /api/data.
    public func json() -> [UInt8] {
        let labels = phases().labels()
        var w = JSONWriter(reserve: 4096 + positions.count * store.columns.count * 10)
        w.beginObject()
        w.key("generation"); w.string(hex(header.generation))
        w.key("events"); w.beginArray(); PerfringAPI.eventList(header, into: &w, unavailableOnly: false); w.endArray()
        w.key("samples")
        SampleEncoder(store: store, columns: Array(store.columns.indices)).objects(positions, into: &w) { [store] p, w in
            PhaseJSON.sampleField(labels.phase(forSeq: store.seq(at: p)), into: &w)
        }
        w.endObject()
        w.literal("\n")
        return w.bytes
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
    var ring = ServerOptions.defaultRingPath()
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
    let bytes = format == "--json" ? snapshot.json() : snapshot.csv()
    do {
        let fd = try out.map { try Sys.open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o644) } ?? 1
        defer { if out != nil { Sys.close(fd) } }
        try Sys.writeAll(fd, String(decoding: bytes, as: UTF8.self))
    } catch {
        Log.error("\(out ?? "standard output"): \(error)")
        return 1
    }
    return 0
}
