// The dashboard's static files: content and types, containment against traversal in many
// encodings and through symlinks, hidden and non-regular files, validators and conditional
// requests, cache revalidation, the Chart.js route, and the default web-root search.
import Glibc
import Shared
import Testing
@testable import Server

/// A web root in a fresh temp dir (one per test, since tests run in parallel):
///
///     base/secret.txt                  outside the root
///     base/chart.min.js                the fake Chart.js
///     base/web/index.html, app.js, style.css, data.json, icon.svg, notes.txt, blob.bin
///     base/web/sub/page.html           a subfolder
///     base/web/.env, sub/.hidden/x.js  hidden
///     base/web/passwd-link -> /etc/passwd, secret-link -> ../secret.txt, etc-link -> /etc
///     base/web/alias.js -> app.js, subalias -> sub, env-link.txt -> .env
private final class WebFixture {
    let base: String
    var root: String { base + "/web" }
    var chart: String { base + "/chart.min.js" }

    init() {
        var template = Array("/tmp/perfring-static-XXXXXX".utf8CString)
        base = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
        write("secret.txt", "TOP-SECRET outside the root")
        write("chart.min.js", "/* fake chart.js */")
        mkdir(base + "/web", 0o755)
        mkdir(base + "/web/sub", 0o755)
        mkdir(base + "/web/sub/.hidden", 0o755)
        write("web/index.html", "<!doctype html><title>perfring</title>")
        write("web/app.js", "console.log('app')")
        write("web/style.css", "body{margin:0}")
        write("web/data.json", "{}")
        write("web/icon.svg", "<svg/>")
        write("web/notes.txt", "notes")
        write("web/blob.bin", "\u{1}\u{2}")
        write("web/sub/page.html", "<p>sub page</p>")
        write("web/.env", "SECRET=1")
        write("web/sub/.hidden/x.js", "hidden")
        symlink("/etc/passwd", base + "/web/passwd-link")
        symlink("../secret.txt", base + "/web/secret-link")
        symlink("/etc", base + "/web/etc-link")
        symlink("app.js", base + "/web/alias.js")
        symlink("sub", base + "/web/subalias")
        symlink(".env", base + "/web/env-link.txt")
    }

    deinit { _ = system("rm -rf '\(base)'") }

    func write(_ relative: String, _ text: String) {
        let fd = open(base + "/" + relative, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0)
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func files(chartJS: String? = nil, cacheLimit: Int = 8 << 20, fileCacheLimit: Int = 4 << 20) -> StaticFiles {
        StaticFiles(webRoot: root, chartJS: chartJS ?? chart, cacheLimit: cacheLimit, fileCacheLimit: fileCacheLimit)
    }
}

/// Parses a raw request, as the server would, for `target` with extra header lines.
private func makeRequest(_ target: String, method: String = "GET", headers: [String] = []) -> HTTPRequest {
    let raw = "\(method) \(target) HTTP/1.1\r\nHost: x\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n"
    let result = Array(raw.utf8).withUnsafeBytes { HTTPParser.parse($0) }
    guard case .complete(let request, _) = result else { preconditionFailure("unparsable test request: \(result)") }
    return request
}

extension HTTPResponse {
    fileprivate func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
    fileprivate var text: String { String(decoding: body, as: UTF8.self) }
}

private func mtime(_ path: String) -> Int { Int(try! Sys.stat(path).st_mtim.tv_sec) }

/// Sets a file's mtime to `seconds` (nanoseconds 0), as an editor saving in place would move it.
private func setMtime(_ path: String, _ seconds: Int) {
    var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
    precondition(utimensat(AT_FDCWD, path, &times, 0) == 0)
}

@Suite struct StaticFilesTests {
    struct Served: Sendable, CustomTestStringConvertible {
        let target: String
        let type: String
        let content: String
        var testDescription: String { target }
    }

    @Test(arguments: [
        Served(target: "/", type: "text/html; charset=utf-8", content: "<!doctype html><title>perfring</title>"),
        Served(target: "/index.html", type: "text/html; charset=utf-8", content: "<!doctype html><title>perfring</title>"),
        Served(target: "/app.js", type: "text/javascript; charset=utf-8", content: "console.log('app')"),
        Served(target: "/app.js?v=2", type: "text/javascript; charset=utf-8", content: "console.log('app')"),
        Served(target: "/style.css", type: "text/css; charset=utf-8", content: "body{margin:0}"),
        Served(target: "/data.json", type: "application/json", content: "{}"),
        Served(target: "/icon.svg", type: "image/svg+xml", content: "<svg/>"),
        Served(target: "/notes.txt", type: "text/plain; charset=utf-8", content: "notes"),
        Served(target: "/blob.bin", type: "application/octet-stream", content: "\u{1}\u{2}"),
        Served(target: "/sub/page.html", type: "text/html; charset=utf-8", content: "<p>sub page</p>"),
        Served(target: "/./sub//page.html", type: "text/html; charset=utf-8", content: "<p>sub page</p>"),
        Served(target: "/%61pp.js", type: "text/javascript; charset=utf-8", content: "console.log('app')"),
        Served(target: "/alias.js", type: "text/javascript; charset=utf-8", content: "console.log('app')"),
        Served(target: "/subalias/page.html", type: "text/html; charset=utf-8", content: "<p>sub page</p>"),
        Served(target: "http://x/app.js", type: "text/javascript; charset=utf-8", content: "console.log('app')"),
        Served(target: "/vendor/chart.min.js", type: "text/javascript; charset=utf-8", content: "/* fake chart.js */"),
        Served(target: "/vendor/chart.js", type: "text/javascript; charset=utf-8", content: "/* fake chart.js */"),
    ])
    func servesFilesWithTheirTypes(_ c: Served) throws {
        let web = WebFixture()
        let r = try #require(web.files().response(for: makeRequest(c.target)))
        #expect(r.status == .ok)
        #expect(r.text == c.content)
        #expect(r.header("Content-Type") == c.type)
        #expect(r.header("Cache-Control") == "no-cache")
        #expect(r.header("Content-Security-Policy") == StaticFiles.contentSecurityPolicy)
        #expect(r.header("Referrer-Policy") == "no-referrer")
        #expect(r.header("ETag")?.hasPrefix("\"") == true)
        #expect(r.header("Last-Modified") != nil)
    }

    /// Every refusal looks the same, and none leaks what it aimed at.
    @Test(arguments: [
        "/../etc/passwd", "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt",
        "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt", "/%2e%2e%5csecret.txt", "/..%5csecret.txt", "/a/../../secret.txt",
        "/sub/../../secret.txt", "/sub/../../../../etc/passwd", "//etc/passwd", "///../etc/passwd", "/%252e%252e/secret.txt",
        "/%c0%ae%c0%ae/secret.txt", "/app.js%00", "/app.js%00.html", "/%00", "/..\\secret.txt", "/sub\\..\\..\\secret.txt",
        "http://x/../secret.txt", "/passwd-link", "/secret-link", "/etc-link/passwd", "/etc-link/", "/sub", "/sub/",
        "/subalias", "/app.js/", "/.env", "/%2eenv", "/sub/.hidden/x.js", "/env-link.txt", "/missing.js",
        "/vendor/other.js", "/vendor/",
    ])
    func refusesWithAPlainNotFound(_ target: String) throws {
        let web = WebFixture()
        let r = try #require(web.files().response(for: makeRequest(target)))
        #expect(r.status == .notFound)
        #expect(r.text == "{\"error\":\"not found\"}")
        #expect(!r.text.contains("TOP-SECRET") && !r.text.contains("root:") && !r.text.contains("SECRET=1"))
    }

    @Test func headAnswersAsGETAndOtherMethodsAreTheRoutersBusiness() throws {
        let web = WebFixture()
        let files = web.files()
        let get = try #require(files.response(for: makeRequest("/app.js")))
        let head = try #require(files.response(for: makeRequest("/app.js", method: "HEAD")))
        #expect(head.status == .ok && head.headers == get.headers && head.body == get.body)
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
            #expect(files.response(for: makeRequest("/app.js", method: method)) == nil, "\(method)")
        }
    }

    struct Conditional: Sendable, CustomTestStringConvertible {
        let name: String
        /// Header lines; `ETAG` and `LASTMOD` stand for the file's current validators.
        let headers: [String]
        let notModified: Bool
        var testDescription: String { name }
    }

    @Test(arguments: [
        Conditional(name: "matching tag", headers: ["If-None-Match: ETAG"], notModified: true),
        Conditional(name: "weak form of the tag", headers: ["If-None-Match: W/ETAG"], notModified: true),
        Conditional(name: "tag in a list", headers: ["If-None-Match: \"nope\", ETAG"], notModified: true),
        Conditional(name: "tag in a second field", headers: ["If-None-Match: \"nope\"", "If-None-Match: ETAG"], notModified: true),
        Conditional(name: "star", headers: ["If-None-Match: *"], notModified: true),
        Conditional(name: "other tag", headers: ["If-None-Match: \"nope\""], notModified: false),
        Conditional(name: "unquoted tag", headers: ["If-None-Match: nope"], notModified: false),
        Conditional(name: "same date", headers: ["If-Modified-Since: LASTMOD"], notModified: true),
        Conditional(name: "later date", headers: ["If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT"], notModified: true),
        Conditional(name: "earlier date", headers: ["If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"], notModified: false),
        Conditional(name: "unparsable date", headers: ["If-Modified-Since: yesterday"], notModified: false),
        Conditional(name: "obsolete date form", headers: ["If-Modified-Since: Friday, 01-Jan-100 00:00:00 GMT"], notModified: false),
        Conditional(name: "tag decides over date", headers: ["If-None-Match: \"nope\"", "If-Modified-Since: LASTMOD"], notModified: false),
    ])
    func conditionalRequests(_ c: Conditional) throws {
        let web = WebFixture()
        let files = web.files()
        let first = try #require(files.response(for: makeRequest("/app.js")))
        let etag = try #require(first.header("ETag"))
        let lastModified = try #require(first.header("Last-Modified"))
        let headers = c.headers.map {
            $0.replacingOccurrences("ETAG", with: etag).replacingOccurrences("LASTMOD", with: lastModified)
        }
        let r = try #require(files.response(for: makeRequest("/app.js", headers: headers)))
        if c.notModified {
            #expect(r.status == .notModified)
            #expect(r.body.isEmpty)
            #expect(r.header("ETag") == etag)
            #expect(r.header("Cache-Control") == "no-cache")
            #expect(r.header("Content-Security-Policy") != nil)
        } else {
            #expect(r.status == .ok)
            #expect(r.text == "console.log('app')")
        }
    }

    @Test func validatorsFollowTheFile() throws {
        let web = WebFixture()
        let path = web.root + "/app.js"
        setMtime(path, 1_700_000_000)
        let r = try #require(web.files().response(for: makeRequest("/app.js")))
        #expect(r.header("Last-Modified") == "Tue, 14 Nov 2023 22:13:20 GMT")
        let st = try Sys.stat(path)
        let ns = UInt64(1_700_000_000) * 1_000_000_000
        #expect(r.header("ETag") == "\"\(String(st.st_ino, radix: 16))-12-\(String(ns, radix: 16))\"")
    }

    @Test func anEditedFileGetsNewContentAndANewTag() throws {
        let web = WebFixture()
        let files = web.files()
        let path = web.root + "/app.js"
        let old = try #require(files.response(for: makeRequest("/app.js")))
        let oldTag = try #require(old.header("ETag"))

        web.write("web/app.js", "console.log('app v2, longer')")
        let new = try #require(files.response(for: makeRequest("/app.js", headers: ["If-None-Match: \(oldTag)"])))
        #expect(new.status == .ok)
        #expect(new.text == "console.log('app v2, longer')")
        let newTag = try #require(new.header("ETag"))
        #expect(newTag != oldTag)

        // Same size, same inode: only the mtime tells, so it must be part of the key.
        let before = mtime(path)
        web.write("web/app.js", "console.log('app v3, longer')")
        setMtime(path, before + 10)
        let third = try #require(files.response(for: makeRequest("/app.js", headers: ["If-None-Match: \(newTag)"])))
        #expect(third.status == .ok)
        #expect(third.text == "console.log('app v3, longer')")
        #expect(third.header("ETag") != newTag)

        // Deleted: gone at once, and dropped from the cache.
        unlink(path)
        #expect(files.response(for: makeRequest("/app.js"))?.status == .notFound)
        #expect(files.cachedBytes == 0)
    }

    @Test func cacheStaysWithinItsLimitAndLargeFilesAreReadEachTime() throws {
        let web = WebFixture()
        let big = String(repeating: "x", count: 300)
        web.write("web/big.txt", big)
        let files = web.files(cacheLimit: 100, fileCacheLimit: 40)
        for target in ["/", "/app.js", "/style.css", "/sub/page.html", "/big.txt", "/notes.txt"] {
            #expect(files.response(for: makeRequest(target))?.status == .ok, "\(target)")
            #expect(files.cachedBytes <= 100)
        }
        web.write("web/big.txt", big + "y")
        #expect(files.response(for: makeRequest("/big.txt"))?.text == big + "y")
        #expect(files.cachedBytes > 0 && files.cachedBytes <= 100)
    }

    @Test(arguments: ["/vendor/chart.min.js", "/vendor/chart.js"])
    func missingChartJSSaysHowToInstallIt(_ target: String) throws {
        let web = WebFixture()
        let r = try #require(web.files(chartJS: web.base + "/absent/chart.min.js").response(for: makeRequest(target)))
        #expect(r.status == .notFound)
        #expect(r.header("Content-Type") == "application/json")
        #expect(r.text.contains("apt-get install libjs-chart.js"))
        #expect(r.text.contains("--chartjs PATH"))
        #expect(r.text.hasPrefix("{\"error\":"))
    }

    @Test(arguments: [
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Tue, 29 Feb 2000 12:00:00 GMT", 951_825_600),
        ("Sun, 06 Nov 1994 08:49:37 UTC", nil),
        ("Sun, 06 Foo 1994 08:49:37 GMT", nil),
        ("Sun, 6 Nov 1994 08:49:37 GMT", nil),
        ("Sunday, 06-Nov-94 08:49:37 GMT", nil),
        ("Sun Nov  6 08:49:37 1994", nil),
    ] as [(String, Int?)])
    func parsesIMFFixdate(_ text: String, _ seconds: Int?) {
        #expect(StaticFiles.parseIMFFixdate(text) == seconds)
        if let seconds { #expect(HTTPDate.imfFixdate(secondsSinceEpoch: seconds) == text) }
    }

    struct Layout: Sendable, CustomTestStringConvertible {
        let name: String
        /// Folders (ending in `/`) and files to create under the temp dir.
        let entries: [String]
        /// The executable, relative to the temp dir.
        let executable: String
        /// The expected web root relative to the temp dir, or nil.
        let expected: String?
        var testDescription: String { name }
    }

    @Test(arguments: [
        Layout(name: "installed prefix", entries: ["p/bin/", "p/share/perfring/web/index.html", "p/bin/web/index.html"],
               executable: "p/bin/perfring-server", expected: "p/share/perfring/web"),
        Layout(name: "next to the binary", entries: ["p/bin/web/index.html"],
               executable: "p/bin/perfring-server", expected: "p/bin/web"),
        Layout(name: "source tree, past a nested package", entries: ["src/Package.swift", "src/web/index.html",
               ".build/", "src/.build/Package.swift", "src/.build/debug/"],
               executable: "src/.build/debug/perfring-server", expected: "src/web"),
        Layout(name: "web without index.html is skipped", entries: ["p/bin/web/", "sys/index.html"],
               executable: "p/bin/perfring-server", expected: "sys"),
        Layout(name: "nothing", entries: ["p/bin/"], executable: "p/bin/perfring-server", expected: nil),
    ])
    func findsTheDefaultWebRoot(_ layout: Layout) throws {
        let web = WebFixture()
        let dir = web.base + "/layout"
        mkdir(dir, 0o755)
        for entry in layout.entries {
            let parts = entry.split(separator: "/")
            var path = dir
            for (k, part) in parts.enumerated() {
                path += "/" + part
                if k < parts.count - 1 || entry.hasSuffix("/") { mkdir(path, 0o755) } else { web.write(String(path.dropFirst(web.base.count + 1)), "x") }
            }
        }
        let found = StaticFiles.webRoot(forExecutable: dir + "/" + layout.executable, systemDirectories: [dir + "/sys"])
        let real = try Sys.realpath(dir)
        #expect(found == layout.expected.map { real + "/" + $0 })
        if let live = StaticFiles.defaultWebRoot() {
            #expect((try? Sys.stat(live + "/index.html")) != nil)
        }
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
