// `--recordings DIR`: the runs the compare page picks from, served as GET /api/recordings and
// compared by GET /api/compare?a=NAME&b=NAME. Only plain files directly in DIR are offered or
// opened, by a name checked on its own (no slash, not hidden, no control characters) and then
// with lstat (no link, no directory, no device), so no request reaches outside DIR.
import Glibc
import Shared

public struct RecordingsDirectory: Sendable {
    public let path: String

    /// A name that can only mean an entry directly in DIR: no slash, not hidden (so neither
    /// `.` nor `..`), no control characters, at most 255 bytes.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && !name.hasPrefix(".")
            && !name.utf8.contains { $0 == UInt8(ascii: "/") || $0 < 0x20 || $0 == 0x7f }
    }

    /// The plain files directly in DIR with valid names, sorted, and their sizes.
    public func list() throws(Errno) -> [(name: String, bytes: Int)] {
        try Sys.listDirectory(path).filter(Self.isValidName).sorted().compactMap { name in
            guard let st = try? Sys.lstat(path + "/" + name), st.st_mode & S_IFMT == S_IFREG else { return nil }
            return (name, Int(st.st_size))
        }
    }

    /// The path of recording `name`, if it is one: a valid name of a plain file (not a link).
    public func file(_ name: String) -> String? {
        guard Self.isValidName(name) else { return nil }
        let p = path + "/" + name
        guard let st = try? Sys.lstat(p), st.st_mode & S_IFMT == S_IFREG else { return nil }
        return p
    }
}

extension PerfringAPI {
    private var noRecordings: HTTPResponse { .error(.notFound, "no recordings directory (start the server with --recordings DIR)") }

    /// GET /api/recordings: `{"recordings": [{"name", "bytes"}]}`.
    func recordingList() -> HTTPResponse {
        guard let recordings else { return noRecordings }
        let files: [(name: String, bytes: Int)]
        do { files = try recordings.list() } catch { return .error(.serviceUnavailable, "recordings directory: \(error)") }
        var w = JSONWriter(reserve: 64 + 64 * files.count)
        w.beginObject()
        w.key("recordings"); w.beginArray()
        for f in files {
            w.beginObject()
            w.key("name"); w.string(f.name)
            w.key("bytes"); w.int(f.bytes)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return json(w)
    }

    /// GET /api/compare?a=NAME&b=NAME: what `compare A B --json` prints for two recordings.
    func compare(_ query: [HTTPQueryItem]) -> HTTPResponse {
        guard let recordings else { return noRecordings }
        var names: [String: String] = [:]
        for item in query {
            guard item.name == "a" || item.name == "b" else { return .error(.badRequest, "unknown parameter '\(item.name)' (a, b)") }
            names[item.name] = item.value
        }
        var sides: [(name: String, table: MetricTable, source: String)] = []
        for key in ["a", "b"] {
            guard let name = names[key] else { return .error(.badRequest, "\(key): which recording? (see /api/recordings)") }
            guard RecordingsDirectory.isValidName(name) else {
                return .error(.badRequest, "\(key): '\(name)' is not a recording name (a file directly in the recordings directory)")
            }
            guard let file = recordings.file(name) else { return .error(.notFound, "\(key): no recording named '\(name)'") }
            do {
                let (table, source) = try MetricTable.load(file)
                sides.append((name, table, source))
            } catch {
                // Name the recording, not where the server keeps it.
                let m = error.message
                return .error(.badRequest, "\(key): \(name)" + (m.hasPrefix(file) ? String(m.dropFirst(file.count)) : ": " + m))
            }
        }
        let comparison = Comparison(a: sides[0], b: sides[1], minPhaseNs: follower.minPhaseNs)
        var w = JSONWriter(reserve: 1024 + 256 * comparison.rows.count)
        comparison.write(into: &w)
        return json(w)
    }
}
