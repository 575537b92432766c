// Serves the dashboard: files under one web root plus the system's Chart.js, with validators
// (ETag, Last-Modified) and `no-cache`, so browsers revalidate cheaply and an upgraded dashboard
// is picked up on the next load.
//
// Containment is decided on canonical paths: the request path is decoded by
// `RequestTarget.normalizePath` (which refuses `..`, encoded dots, slashes, backslashes, NUL),
// then the file is resolved with realpath and must lie under realpath(webRoot), so a symlink is
// followed only while it stays inside the tree. Hidden names and non-regular files are refused.
//
// nil versus 404: for GET and HEAD this type always answers (200, 304 or 404) and every refusal
// (missing, unsafe path, hidden, outside the root, directory, unreadable) is the same
// `{"error":"not found"}`, so a client cannot probe which names exist. nil is returned only for
// other methods, which the router answers itself.
import Glibc
import Shared

/// Not Sendable: like every handler it is used only on the event loop's thread.
public final class StaticFiles {
    /// What a cached copy is checked against on each request; also the source of the ETag.
    struct Identity: Equatable {
        let inode: UInt64
        let size: Int
        let mtimeNanos: UInt64
        let mtimeSeconds: Int

        init(_ st: stat) {
            inode = UInt64(st.st_ino)
            size = Int(st.st_size)
            mtimeSeconds = Int(st.st_mtim.tv_sec)
            mtimeNanos = UInt64(bitPattern: Int64(st.st_mtim.tv_sec)) &* 1_000_000_000 &+ UInt64(st.st_mtim.tv_nsec)
        }

        /// Strong: any change to the inode, size or nanosecond mtime yields a new tag.
        var etag: String {
            "\"\(String(inode, radix: 16))-\(String(size, radix: 16))-\(String(mtimeNanos, radix: 16))\""
        }
    }

    /// A file's bytes; `identity` is nil when the file changed while it was read, in which case
    /// the bytes are served once without validators and never cached.
    struct Loaded {
        let identity: Identity?
        let bytes: [UInt8]
    }

    static let contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        + "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

    private let webRoot: String
    private let chartJS: String
    private let cacheLimit: Int
    private let fileCacheLimit: Int
    private var cache: [String: (identity: Identity, bytes: [UInt8])] = [:]
    /// Bytes held by `cache`, never above `cacheLimit`.
    private(set) var cachedBytes = 0

    /// `webRoot`: the dashboard folder (web/). `chartJS`: the path of chart.min.js (Debian's
    /// libjs-chart.js installs /usr/share/javascript/chart.js/chart.min.js). Files are cached in
    /// memory up to `cacheLimit` bytes in all; one larger than `fileCacheLimit` is read each time.
    public init(webRoot: String, chartJS: String, cacheLimit: Int = 8 << 20, fileCacheLimit: Int = 4 << 20) {
        self.webRoot = webRoot
        self.chartJS = chartJS
        self.cacheLimit = cacheLimit
        self.fileCacheLimit = min(fileCacheLimit, cacheLimit)
    }

    /// The response to a GET or HEAD (the server drops HEAD's body); nil for any other method.
    public func response(for request: HTTPRequest) -> HTTPResponse? {
        guard request.method == "GET" || request.method == "HEAD" else { return nil }
        guard let path = request.normalizedPath() else { return Self.notFound }
        switch path {
        case "/vendor/chart.min.js", "/vendor/chart.js":
            guard let real = try? Sys.realpath(chartJS), let file = load(real) else {
                return .error(.notFound, "Chart.js not found at \(chartJS): install it with `apt-get install libjs-chart.js` "
                    + "or start the server with --chartjs PATH")
            }
            return reply(file, contentType: "text/javascript; charset=utf-8", to: request)
        case "/":
            return serveFromRoot("index.html", to: request)
        default:
            return serveFromRoot(String(path.dropFirst()), to: request)
        }
    }

    /// Finds the dashboard folder: next to the installed binary, then in the source tree the
    /// binary was built in (so `swift run` works), then the system locations.
    public static func defaultWebRoot() -> String? {
        webRoot(forExecutable: Sys.readlink("/proc/self/exe") ?? "",
                systemDirectories: ["/usr/local/share/perfring/web", "/usr/share/perfring/web"])
    }

    /// The first of `<exe dir>/../share/perfring/web`, `<exe dir>/web`, the nearest ancestor's
    /// `web/` that sits next to a `Package.swift`, then `systemDirectories`, holding an
    /// index.html; canonicalised.
    static func webRoot(forExecutable executable: String, systemDirectories: [String]) -> String? {
        var candidates: [String] = []
        if executable.hasPrefix("/"), let slash = executable.lastIndex(of: "/") {
            var dir = String(executable[..<slash])
            candidates += [dir + "/../share/perfring/web", dir + "/web"]
            while true {
                if isRegularFile(dir + "/Package.swift") && isRegularFile(dir + "/web/index.html") {
                    candidates.append(dir + "/web")
                    break
                }
                guard let up = dir.lastIndex(of: "/") else { break }
                dir = String(dir[..<up])
            }
        }
        candidates += systemDirectories
        guard let found = candidates.first(where: { isRegularFile($0 + "/index.html") }) else { return nil }
        return (try? Sys.realpath(found)) ?? found
    }

    // MARK: serving

    private static var notFound: HTTPResponse { .error(.notFound, "not found") }

    /// Serves `relative` (decoded, normalised, without a leading `/`) from the web root.
    private func serveFromRoot(_ relative: String, to request: HTTPRequest) -> HTTPResponse {
        guard !relative.hasSuffix("/"), !Self.hasHiddenSegment(relative),
            let root = try? Sys.realpath(webRoot)
        else { return Self.notFound }
        guard let real = try? Sys.realpath(root + "/" + relative) else {
            // Gone: drop its copy (cached under this name unless it was reached through a link).
            forget(root + "/" + relative)
            return Self.notFound
        }
        let prefix = root == "/" ? "/" : root + "/"
        // realpath followed every symlink, so this also refuses links that leave the tree or
        // land on a hidden name inside it.
        guard real.hasPrefix(prefix), !Self.hasHiddenSegment(String(real.dropFirst(prefix.count))),
            let file = load(real)
        else { return Self.notFound }
        return reply(file, contentType: Self.contentType(of: real), to: request)
    }

    private func reply(_ file: Loaded, contentType: String, to request: HTTPRequest) -> HTTPResponse {
        var headers = [
            HTTPField("Cache-Control", "no-cache"),
            HTTPField("Content-Security-Policy", Self.contentSecurityPolicy),
            HTTPField("Referrer-Policy", "no-referrer"),
        ]
        if let id = file.identity {
            headers.append(HTTPField("ETag", id.etag))
            headers.append(HTTPField("Last-Modified", HTTPDate.imfFixdate(secondsSinceEpoch: id.mtimeSeconds)))
            if Self.isNotModified(request, id) { return HTTPResponse(status: .notModified, headers: headers) }
        }
        headers.append(HTTPField("Content-Type", contentType))
        return HTTPResponse(status: .ok, headers: headers, body: file.bytes)
    }

    /// RFC 9110 §13.2.2: If-None-Match (weak comparison) decides when present; otherwise
    /// If-Modified-Since at or after the mtime's second does. An unparsable date is ignored.
    static func isNotModified(_ request: HTTPRequest, _ id: Identity) -> Bool {
        let lists = request.headers.filter { $0.name.lowercased() == "if-none-match" }
        if !lists.isEmpty {
            return lists.contains { field in
                field.value.split(separator: ",").contains { item in
                    var tag = item.trimmingOWS
                    if tag == "*" { return true }
                    if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
                    return tag == id.etag
                }
            }
        }
        guard let since = request.header("If-Modified-Since").flatMap(parseIMFFixdate) else { return false }
        return since >= id.mtimeSeconds
    }

    // MARK: files and cache

    /// The bytes of the regular file at canonical path `path`, from the cache when a stat shows it
    /// unchanged; nil when it is missing, not a regular file or unreadable.
    private func load(_ path: String) -> Loaded? {
        guard let st = try? Sys.stat(path), Self.isRegular(st) else {
            forget(path)
            return nil
        }
        if let hit = cache[path], hit.identity == Identity(st) { return Loaded(identity: hit.identity, bytes: hit.bytes) }
        guard let file = Self.read(path) else {
            forget(path)
            return nil
        }
        if let id = file.identity { remember(path, id, file.bytes) }
        return file
    }

    /// Opens without following a final symlink and without blocking (a FIFO swapped in after
    /// the stat), checks the descriptor is a regular file, and re-checks its identity after
    /// reading so a file rewritten meanwhile is not tagged with the wrong validators.
    private static func read(_ path: String) -> Loaded? {
        guard let fd = try? Sys.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return nil }
        defer { Sys.close(fd) }
        guard let before = try? Sys.fstat(fd), isRegular(before) else { return nil }
        let size = Int(before.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var got = 0
        while got < size {
            let n = bytes.withUnsafeMutableBytes { b in try? Sys.read(fd, UnsafeMutableRawBufferPointer(rebasing: b[got...])) }
            guard let n else { return nil }
            if n == 0 { break }
            got += n
        }
        bytes.removeLast(size - got)
        guard let after = try? Sys.fstat(fd) else { return nil }
        let id = Identity(after)
        return Loaded(identity: id == Identity(before) && got == size ? id : nil, bytes: bytes)
    }

    private func remember(_ path: String, _ id: Identity, _ bytes: [UInt8]) {
        forget(path)
        guard bytes.count <= fileCacheLimit else { return }
        // Eviction order is arbitrary: the dashboard is far below the limit, which only guards
        // against a web root that is not.
        while cachedBytes + bytes.count > cacheLimit, let victim = cache.first {
            forget(victim.key)
        }
        cache[path] = (id, bytes)
        cachedBytes += bytes.count
    }

    private func forget(_ path: String) {
        if let old = cache.removeValue(forKey: path) { cachedBytes -= old.bytes.count }
    }

    // MARK: helpers

    private static func isRegular(_ st: stat) -> Bool { st.st_mode & S_IFMT == S_IFREG }

    private static func isRegularFile(_ path: String) -> Bool {
        guard let st = try? Sys.stat(path) else { return false }
        return isRegular(st)
    }

    private static func hasHiddenSegment(_ relative: String) -> Bool {
        relative.split(separator: "/").contains { $0.hasPrefix(".") }
    }

    static func contentType(of path: String) -> String {
        let name = path.split(separator: "/").last ?? ""
        guard let dot = name.lastIndex(of: ".") else { return "application/octet-stream" }
        switch name[name.index(after: dot)...].lowercased() {
        case "html", "htm": return "text/html; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "json", "map": return "application/json"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "ico": return "image/x-icon"
        case "txt": return "text/plain; charset=utf-8"
        default: return "application/octet-stream"
        }
    }

    /// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form
    /// browsers echo from Last-Modified; nil for anything else, including the obsolete forms.
    static func parseIMFFixdate(_ text: String) -> Int? {
        let b = Array(text.utf8)
        guard b.count == 29, b[3] == UInt8(ascii: ","), b[4] == 0x20, b[7] == 0x20, b[11] == 0x20, b[16] == 0x20,
            b[19] == UInt8(ascii: ":"), b[22] == UInt8(ascii: ":"), b[25...].elementsEqual(" GMT".utf8)
        else { return nil }
        func number(_ r: Range<Int>) -> Int? {
            var n = 0
            for c in b[r] {
                guard c &- UInt8(ascii: "0") < 10 else { return nil }
                n = n * 10 + Int(c - UInt8(ascii: "0"))
            }
            return n
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let day = number(5..<7), let year = number(12..<16), let hour = number(17..<19),
            let minute = number(20..<22), let second = number(23..<25),
            let month = months.firstIndex(where: { b[8..<11].elementsEqual($0.utf8) }).map({ $0 + 1 }),
            (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        // Days from 1970-01-01 to the civil date (H. Hinnant's days_from_civil), no libc needed.
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let days = era * 146_097 + yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear - 719_468
        return days * 86_400 + hour * 3_600 + minute * 60 + second
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    fileprivate var trimmingOWS: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
