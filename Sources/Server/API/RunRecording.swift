// POST /api/recordings?name=NAME&generation=G&from=SEQ&to=SEQ: the page's record/stop control
// keeps samples from..to (inclusive) of collector run G (hex, as /api/data reports it) as
// NAME.csv in --recordings DIR: the CSV /api/export.csv writes, so `analyze`, `compare`,
// /compare.html and `--replay` read it. 201 {"name","samples"}; 400 bad parameters or name;
// 403 no --recordings, not writable, or asked by another site's page (Origin); 409 the name exists; 410 the samples are no longer in
// the ring; 413 the directory's quota; 503 the worker's queue is full.
//
// The request carries no body and the loop only checks the query: the CSV is read from the
// ring (a mapping of its own, RingSnapshot) and written on the AnalysisWorker a chunk at a
// time, through RecordingsDirectory.create (exclusive temporary file, linked under its name).
import Glibc
import Shared

extension PerfringAPI {
    /// What a save asks for, checked on the loop.
    struct RunSelection: Sendable {
        var name: String
        var generation: UInt64
        var from: UInt64
        var to: UInt64
    }

    static func runSelection(_ query: [HTTPQueryItem]) throws(UploadError) -> RunSelection {
        var values: [String: String] = [:]
        for item in query {
            guard ["name", "generation", "from", "to"].contains(item.name) else {
                throw UploadError(.badRequest, "unknown parameter '\(item.name)' (name, generation, from, to)")
            }
            guard values[item.name] == nil else { throw UploadError(.badRequest, "\(item.name) given twice") }
            values[item.name] = item.value
        }
        func value(_ key: String) throws(UploadError) -> String {
            guard let v = values[key] else { throw UploadError(.badRequest, "\(key): missing (name, generation, from, to)") }
            return v
        }
        let raw = try value("name")
        guard let name = RecordingsDirectory.clientName(raw) else {
            throw UploadError(.badRequest, "name: '\(raw.prefix(80))' is not a recording name (1 to 64 of A-Z a-z 0-9 . _ -, not starting with a dot)")
        }
        let g = try value("generation")
        guard g.utf8.count <= 16, let generation = UInt64(g, radix: 16) else {
            throw UploadError(.badRequest, "generation: '\(g.prefix(40))' is not a run's generation (hex, as /api/data reports it)")
        }
        func seq(_ key: String) throws(UploadError) -> UInt64 {
            let v = try value(key)
            guard v.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = UInt64(v), n < UInt64(1) << 62 else {
                throw UploadError(.badRequest, "\(key): '\(v.prefix(40))' is not a sample's seq")
            }
            return n
        }
        let from = try seq("from"), to = try seq("to")
        guard from <= to else { throw UploadError(.badRequest, "from (\(from)) is after to (\(to))") }
        return RunSelection(name: name, generation: generation, from: from, to: to)
    }

    /// POST /api/recordings; GET lists them (Recordings.swift).
    func saveRecording(_ request: HTTPRequest) -> HTTPHandlerResult {
        do throws(UploadError) {
            guard let recordings else {
                throw UploadError(.forbidden, "this server keeps no recordings (start it with --recordings DIR)")
            }
            guard Sys.access(recordings.path, W_OK | X_OK) else {
                throw UploadError(.forbidden, "the recordings directory is not writable by the server")
            }
            // A page of another site may not make a visitor's browser save here (no preflight
            // guards a bodyless POST): its Origin names another host than the one asked.
            if let origin = request.header("Origin") {
                let host = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init)
                guard let host, host.lowercased() == request.header("Host")?.lowercased() else {
                    throw UploadError(.forbidden, "a save must come from this server's own page (Origin '\(origin.prefix(80))' is another site)")
                }
            }
            guard request.body.isEmpty else { throw UploadError(.contentTooLarge, "a save takes no body: the samples come from the ring") }
            guard let query = request.queryItems() else { throw UploadError(.badRequest, "invalid percent-encoding in the query") }
            let selection = try Self.runSelection(query)
            let ring = follower.path
            return worker.submit {
                UploadService.answer { () throws(UploadError) -> HTTPResponse in
                    let samples = try Self.save(selection, from: ring, into: recordings)
                    var w = JSONWriter(reserve: 128)
                    w.beginObject()
                    w.key("name"); w.string(selection.name)
                    w.key("samples"); w.int(samples)
                    w.endObject()
                    return HTTPResponse(status: .created, headers: Self.jsonHeaders, body: w.bytes)
                }
            }
        } catch {
            return .response(error.response)
        }
    }

    /// Writes the selected samples of the ring at `ring` as a recording; returns how many.
    /// On the worker: the ring is mapped anew here (nothing of the loop's is touched).
    static func save(_ s: RunSelection, from ring: String, into dir: RecordingsDirectory) throws(UploadError) -> Int {
        let gone = "run \(hex(s.generation)) samples \(s.from) to \(s.to)"
        let snapshot: RingSnapshot
        do { snapshot = try RingSnapshot.read(ring) } catch {
            throw UploadError(.gone, "\(gone): the ring cannot be read (\(error))")
        }
        guard snapshot.header.generation == s.generation else {
            throw UploadError(.gone, "\(gone): no longer held (the ring now holds run \(hex(snapshot.header.generation)))")
        }
        let held = snapshot.indices
        guard s.to < held.upperBound else {
            throw UploadError(.badRequest, "to: sample \(s.to) is not written yet (newest: \(held.isEmpty ? "none" : String(held.upperBound - 1)))")
        }
        guard s.from >= held.lowerBound else {
            throw UploadError(.gone, "\(gone): no longer held (overwritten in the ring; the oldest kept is \(held.lowerBound))")
        }
        let wanted = Int(s.to - s.from + 1)
        return try dir.create(s.name) { (sink: inout RecordingsDirectory.Sink) throws(UploadError) -> Int in
            let written = try snapshot.writeCSV(s.from..<(s.to + 1)) { b throws(UploadError) in try sink.write(b) }
            // A record the collector overwrote while it was being saved is left out: no file then.
            guard written == wanted else {
                throw UploadError(.gone, "\(gone): \(wanted - written) of them were overwritten in the ring while being saved")
            }
            return written
        }
    }
}
