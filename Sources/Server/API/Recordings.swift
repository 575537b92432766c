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

    /// A name a client gives a run it saves (POST /api/recordings): `[A-Za-z0-9._-]{1,64}`, not
    /// hidden, `.csv` appended when missing. Nil: not such a name. Narrower than `isValidName`
    /// so that a saved name is safe in a URL, a shell and a file manager alike.
    public static func clientName(_ raw: String) -> String? {
        func allowed(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7a) || c == 0x2e || c == 0x5f || c == 0x2d
        }
        guard (1...64).contains(raw.utf8.count), !raw.hasPrefix("."), raw.utf8.allSatisfy(allowed) else { return nil }
        return raw.hasSuffix(".csv") ? raw : raw + ".csv"
    }

    /// What the directory may hold in all, so no client fills the disk by saving again and again.
    public static let quotaBytes = 1 << 30
    public static let quotaFiles = 1000

    /// Where a recording being created is written: counts the bytes against the room the
    /// directory's quota leaves, and refuses (413) a write beyond it.
    struct Sink {
        let fd: Int32
        let room: Int
        private(set) var written = 0

        mutating func write(_ bytes: UnsafeRawBufferPointer) throws(UploadError) {
            guard written + bytes.count <= room else {
                throw UploadError(.contentTooLarge, "the recordings directory would exceed its quota of \(RecordingsDirectory.quotaBytes >> 20) MiB: delete old recordings first")
            }
            do { try Sys.writeAll(fd, bytes) } catch { throw RecordingsDirectory.failure(error, "writing") }
            written += bytes.count
        }
    }

    /// Creates recording `name` holding what `fill` writes, whole or not at all: a hidden
    /// temporary file created exclusively and without following links (O_EXCL|O_NOFOLLOW,
    /// relative to the directory's descriptor), synced, then linked as `name` (linkat never
    /// replaces: 409 when `name` exists) and its temporary name removed. A failed `fill`
    /// leaves nothing behind. 403 when the directory cannot be written, 413 beyond the quota.
    func create<T>(_ name: String, _ fill: (inout Sink) throws(UploadError) -> T) throws(UploadError) -> T {
        precondition(Self.isValidName(name))
        let dir: Int32
        do { dir = try Sys.open(path, O_RDONLY | O_DIRECTORY) } catch { throw Self.failure(error, "opening the directory") }
        defer { Sys.close(dir) }
        if (try? Sys.lstatat(dir, name)) != nil { throw UploadError(.conflict, "a recording named '\(name)' exists") }
        let held: [(name: String, bytes: Int)]
        do { held = try list() } catch { throw Self.failure(error, "listing the directory") }
        let used = held.reduce(0) { $0 + $1.bytes }
        guard held.count < Self.quotaFiles else {
            throw UploadError(.contentTooLarge, "the recordings directory holds \(held.count) recordings, its limit: delete old ones first")
        }
        let temp = ".saving-" + String(Sys.random64(), radix: 16) + ".tmp"
        let fd: Int32
        do { fd = try Sys.openat(dir, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o640) } catch { throw Self.failure(error, "creating the file") }
        // Linked or not, the temporary name goes: the recording keeps its own.
        defer {
            Sys.close(fd)
            try? Sys.unlinkat(dir, temp)
        }
        var sink = Sink(fd: fd, room: max(Self.quotaBytes - used, 0))
        let result = try fill(&sink)
        do { try Sys.fsync(fd) } catch { throw Self.failure(error, "writing") }
        do { try Sys.linkat(dir, temp, name) } catch {
            if error.rawValue == EEXIST { throw UploadError(.conflict, "a recording named '\(name)' exists") }
            throw Self.failure(error, "naming the file")
        }
        return result
    }

    /// An errno from the directory as the client's status: 403 for a directory this server may
    /// not write, 413 for a full disk, else 500; the server's path is never named.
    static func failure(_ e: Errno, _ doing: String) -> UploadError {
        switch e.rawValue {
        case EACCES, EPERM, EROFS:
            return UploadError(.forbidden, "the recordings directory is not writable by the server (\(doing): \(e))")
        case ENOSPC, EDQUOT, EFBIG:
            return UploadError(.contentTooLarge, "no room in the recordings directory (\(doing): \(e))")
        default:
            return UploadError(.internalServerError, "recordings directory: \(doing): \(e)")
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
