// Hostile clients: a battery of malformed and hostile requests against the real perfring-server
// binary, each answered with its status or closed, while a control client keeps getting 200s;
// slow clients and idle sockets against the server core with short timeouts; 10,000 SSE
// streams opened and dropped; every flag of the server with a bad value.
import Foundation
import Glibc
import Testing
@testable import Server
@testable import Shared

// MARK: the battery

/// One hostile exchange: the bytes sent, the statuses expected back in order, and whether the
/// server then closes: it does after every request it cannot parse; a request it parsed but
/// refuses (404, 405, 413 for a body, 400 for a bad query) keeps the connection. `halfClose`
/// shuts the client's write side after sending. A status of 0 accepts 400 or 404.
struct Hostile: CustomTestStringConvertible, Sendable {
    let name: String
    let bytes: [UInt8]
    let statuses: [Int]
    var closes = true
    var halfClose = false
    var testDescription: String { name }

    init(_ name: String, _ text: String, _ statuses: [Int], closes: Bool = true, halfClose: Bool = false) {
        self.init(name, Array(text.utf8), statuses, closes: closes, halfClose: halfClose)
    }
    init(_ name: String, _ bytes: [UInt8], _ statuses: [Int], closes: Bool = true, halfClose: Bool = false) {
        self.name = name
        self.bytes = bytes
        self.statuses = statuses
        self.closes = closes
        self.halfClose = halfClose
    }
}

private func req(_ target: String, _ headers: String = "Host: t\r\n", method: String = "GET", version: String = "HTTP/1.1") -> String {
    "\(method) \(target) \(version)\r\n\(headers)\r\n"
}
private let ok = req("/api/health")
private let smuggled = req("/api/latest", "Host: x\r\n")

/// Every target here tries to reach /secret.txt beside the web root.
let traversals = [
    "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt", "/%2e./secret.txt", "/..%2fsecret.txt",
    "/..%2Fsecret.txt", "/%2e%2e%2fsecret.txt", "/..%5csecret.txt", "/..\\secret.txt", "/%252e%252e/secret.txt",
    "/%25%32%65%25%32%65/secret.txt", "/%c0%ae%c0%ae/secret.txt", "/%e0%80%ae%e0%80%ae/secret.txt", "/%c0%af../secret.txt",
    "//../secret.txt", "/./../secret.txt", "/static/../../secret.txt", "/index.html/../../secret.txt", "/vendor/../../secret.txt",
    "/..;/secret.txt", "/%2e%2e;/secret.txt", "/..%00/secret.txt", "/%00../secret.txt", "/..%0d%0a/secret.txt",
    "/api/../../secret.txt", "/api/%2e%2e/%2e%2e/secret.txt", "/../../../../../../../../../../etc/passwd",
    "http://t/../secret.txt", "http://t/%2e%2e/secret.txt", "/.../secret.txt", "/..../secret.txt",
]

let battery: [Hostile] = [
    // request lines
    Hostile("method only", "GET\r\n\r\n", [400]),
    Hostile("HTTP/0.9", "GET /\r\n\r\n", [400]),
    Hostile("trailing word", "GET / HTTP/1.1 x\r\nHost: t\r\n\r\n", [400]),
    Hostile("leading space", " GET / HTTP/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("two spaces", "GET  / HTTP/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("tab separator", "GET\t/ HTTP/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("bad method byte", "G@T / HTTP/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("lower-case version", "GET / http/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("HTTP/9.9", "GET / HTTP/9.9\r\nHost: t\r\n\r\n", [505]),
    Hostile("HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", [505]),
    Hostile("HTTP/1.10", "GET / HTTP/1.10\r\nHost: t\r\n\r\n", [400]),
    Hostile("PRI preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", [505]),
    Hostile("bare CR", "GET / HTTP/1.1\rHost: t\r\n\r\n", [400]),
    Hostile("bare LF", "GET / HTTP/1.1\nHost: t\n\n", [400]),
    Hostile("bare LF in headers", "GET / HTTP/1.1\r\nHost: t\n\r\n", [400]),
    Hostile("NUL in target", "GET /\0 HTTP/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("DEL in target", "GET /\u{7f} HTTP/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("UTF-8 in target", "GET /é HTTP/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("fragment in target", "GET /#x HTTP/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("relative target", "GET secret.txt HTTP/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("asterisk for GET", "GET * HTTP/1.1\r\nHost: t\r\n\r\n", [400]),
    Hostile("TLS client hello", [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03] + Array(repeating: 0xab, count: 64), [400]),
    Hostile("binary garbage", (0..<256).map { UInt8(($0 * 73 + 11) & 0xff) }, [400]),
    Hostile("control bytes", "\u{1}\u{2}\u{3}\u{1b}[2J\r\n\r\n", [400]),
    Hostile("too many empty lines", String(repeating: "\r\n", count: 10) + ok, [400]),
    Hostile("long method", String(repeating: "A", count: 9000) + " / HTTP/1.1\r\nHost: t\r\n\r\n", [414]),
    Hostile("long target", req("/" + String(repeating: "a", count: 9000)), [414]),
    Hostile("overlong query", req("/api/data?fields=" + String(repeating: "x", count: 9000)), [414]),
    Hostile("long line, never ends", "GET /" + String(repeating: "b", count: 9000), [414]),
    // header fields
    Hostile("missing Host", "GET / HTTP/1.1\r\n\r\n", [400]),
    Hostile("two Hosts", req("/", "Host: a\r\nHost: b\r\n"), [400]),
    Hostile("space before colon", req("/", "Host : t\r\n"), [400]),
    Hostile("no colon", req("/", "Host: t\r\nJunk\r\n"), [400]),
    Hostile("empty name", req("/", "Host: t\r\n: v\r\n"), [400]),
    Hostile("NUL in name", req("/", "Host: t\r\nX\0Y: v\r\n"), [400]),
    Hostile("NUL in value", req("/", "Host: t\r\nX: a\0b\r\n"), [400]),
    Hostile("control byte in value", req("/", "Host: t\r\nX: a\u{1}b\r\n"), [400]),
    Hostile("DEL in value", req("/", "Host: t\r\nX: a\u{7f}\r\n"), [400]),
    Hostile("obs-fold", req("/", "Host: t\r\nX: a\r\n b\r\n"), [400]),
    Hostile("header injection in value", req("/", "Host: t\r\nX: a\rSet-Cookie: x\r\n"), [400]),
    Hostile("huge header", req("/", "Host: t\r\nX: " + String(repeating: "v", count: 17000) + "\r\n"), [431]),
    Hostile("many headers", req("/", "Host: t\r\n" + String(repeating: "X-A: b\r\n", count: 120)), [431]),
    Hostile("huge header, never ends", "GET / HTTP/1.1\r\nHost: t\r\nX: " + String(repeating: "v", count: 17000), [431]),
    // percent-encoding
    Hostile("bad escape in query", req("/api/data?since=%zz"), [400], closes: false),
    Hostile("truncated escape in query", req("/api/data?since=%"), [400], closes: false),
    Hostile("invalid UTF-8 in query", req("/api/data?fields=%C3%28"), [400], closes: false),
    Hostile("bad escape in path", req("/api/health%"), [404], closes: false),
    Hostile("NUL escape in path", req("/api/health%00"), [404], closes: false),
    Hostile("newline escape in path", req("/api/health%0d%0aX:%20y"), [404], closes: false),
    Hostile("UTF-8 escape in path", req("/%C3%A9"), [404], closes: false),
    Hostile("escaped letters are fine", req("/api/%68ealth"), [200], closes: false),
    // framing and smuggling
    Hostile("CL and TE", req("/", "Host: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n", [400]),
    Hostile("TE and CL", req("/", "Host: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n") + "0\r\n\r\n", [400]),
    Hostile("chunked", req("/", "Host: t\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n", [411]),
    Hostile("xchunked", req("/", "Host: t\r\nTransfer-Encoding: xchunked\r\n"), [501]),
    Hostile("chunked, identity", req("/", "Host: t\r\nTransfer-Encoding: chunked, identity\r\n"), [501]),
    Hostile("two TE fields", req("/", "Host: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), [501]),
    Hostile("TE in HTTP/1.0", req("/", "Transfer-Encoding: chunked\r\n", version: "HTTP/1.0"), [400]),
    Hostile("TE with space before colon", req("/", "Host: t\r\nTransfer-Encoding : chunked\r\n"), [400]),
    Hostile("conflicting CL", req("/", "Host: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n") + "ab", [400]),
    Hostile("CL list", req("/", "Host: t\r\nContent-Length: 1, 1\r\n") + "a", [400]),
    Hostile("CL with sign", req("/", "Host: t\r\nContent-Length: +1\r\n") + "a", [400]),
    Hostile("negative CL", req("/", "Host: t\r\nContent-Length: -1\r\n"), [400]),
    Hostile("hex CL", req("/", "Host: t\r\nContent-Length: 0x1\r\n") + "a", [400]),
    Hostile("overflowing CL", req("/", "Host: t\r\nContent-Length: 99999999999999999999999\r\n"), [400]),
    Hostile("CL over the limit", req("/", "Host: t\r\nContent-Length: 2000000\r\n"), [413]),
    Hostile("body on GET", req("/api/health", "Host: t\r\nContent-Length: 5\r\n") + "hello" + ok, [413, 200], closes: false),
    Hostile("request in a body is a body", req("/api/health", "Host: t\r\nContent-Length: \(smuggled.utf8.count)\r\n") + smuggled + ok,
            [413, 200], closes: false),
    // methods and forms
    Hostile("POST", req("/api/health", method: "POST"), [405], closes: false),
    Hostile("DELETE", req("/api/data", method: "DELETE"), [405], closes: false),
    Hostile("TRACE", req("/", method: "TRACE"), [405], closes: false),
    Hostile("CONNECT", "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n", [404], closes: false),
    Hostile("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", [404], closes: false),
    Hostile("absolute form", req("http://other/api/health"), [200], closes: false),
    Hostile("absolute form without host", req("http:///api/health"), [400]),
    // pipelining and half-closed sockets
    Hostile("pipelined garbage after a valid request", ok + "\u{0}\u{1}garbage\r\n\r\n" + ok, [200, 400]),
    Hostile("pipelined bad after valid", ok + ok + "GET / HTTP/1.1\nHost: t\n\n" + ok, [200, 200, 400]),
    Hostile("a hundred pipelined", String(repeating: ok, count: 100), Array(repeating: 200, count: 100), closes: false),
    Hostile("request then half-close", ok + ok, [200, 200], halfClose: true),
    Hostile("partial request then half-close", "GET /api/health HTTP/1.1\r\nHo", [], halfClose: true),
    Hostile("valid then partial then half-close", ok + "GET /api/hea", [200], halfClose: true),
    Hostile("connection close", req("/api/health", "Host: t\r\nConnection: close\r\n") + ok, [200]),
] + traversals.map { Hostile("traversal \($0)", req($0), [0], closes: false) }

// MARK: helpers

/// A web root with a file beside it that must never be served, and a ring with a few samples.
final class HostileSite {
    let dir = RingDir()
    let collector: FakeCollector
    static let secret = "TOP-SECRET-perfring"
    init() throws {
        mkdir(dir.path + "/web", 0o755)
        FileManager.default.createFile(atPath: dir.path + "/web/index.html", contents: Data("<title>perfring</title>".utf8))
        FileManager.default.createFile(atPath: dir.path + "/secret.txt", contents: Data(Self.secret.utf8))
        collector = try FakeCollector(path: dir.ring)
        collector.write(3)
    }
    var serverArgs: [String] { ["--ring", dir.ring, "--web", dir.path + "/web", "--chartjs", dir.path + "/web/index.html"] }
}

/// Server-side sockets of a listening port that are established or that the client closed but
/// the server did not (a leak): from /proc/net/tcp, so other tests' sockets do not count.
func serverSockets(port: UInt16) -> Int {
    let hex = String(format: ":%04X", port)
    var n = 0
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ")
            guard f.count > 3, f[1].hasSuffix(hex) else { continue }
            if f[3] == "01" || f[3] == "08" { n += 1 }  // ESTABLISHED, CLOSE_WAIT (the peer left, we did not)
        }
    }
    return n
}

/// Descriptors a process holds.
func descriptors(_ pid: Int32) -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }

/// Raises the soft descriptor limit (CI often starts at 1024) for tests with many sockets.
func raiseDescriptorLimit(to wanted: rlim_t) {
    var rl = Sys.getrlimitNofile()
    if rl.rlim_cur < wanted {
        rl.rlim_cur = min(wanted, rl.rlim_max)
        try? Sys.setrlimitNofile(rl)
    }
}

// MARK: tests

@Suite(.serialized) struct HostileHTTPTests {
    @Test func theBatteryIsAnsweredAndAControlClientIsServedThroughout() throws {
        let site = try HostileSite()
        let server = try ServerProcess(site.serverArgs)
        let control = try TestClient(port: server.port)
        func controlIsServed() -> Bool {
            control.send(ok)
            return control.readResponse()?.status == 200
        }
        #expect(controlIsServed())
        let baseline = descriptors(server.pid)
        var requests = 0
        for h in battery {
            let c = try TestClient(port: server.port)
            c.send(h.bytes)
            if h.halfClose { c.shutdownWrite() }
            requests += max(1, h.statuses.count)
            for want in h.statuses {
                guard let r = c.readResponse() else {
                    Issue.record("\(h.name): no reply, expected \(want)")
                    break
                }
                if want == 0 {
                    #expect(r.status == 400 || r.status == 404, "\(h.name): \(r.status)")
                } else {
                    #expect(r.status == want, "\(h.name): \(r.status) \(r.text)")
                }
                #expect(!r.text.contains(HostileSite.secret), "\(h.name) served the secret")
                if r.status >= 400 {
                    #expect((r.header("Connection") == "close") == h.closes, "\(h.name): Connection: \(r.header("Connection") ?? "-")")
                }
            }
            if h.closes {
                #expect(c.closesConnection(), "\(h.name): the server did not close")
                #expect(c.buffer.isEmpty, "\(h.name): unexpected bytes after the last reply: \(String(decoding: c.buffer, as: UTF8.self).prefix(200))")
            }
            #expect(controlIsServed(), "control client after \(h.name)")
        }
        // Many hostile connections at once.
        let crowd = try (0..<200).map { k -> TestClient in
            let c = try TestClient(port: server.port)
            c.send(battery[k % battery.count].bytes)
            return c
        }
        #expect(controlIsServed(), "control client with 200 hostile connections open")
        for c in crowd { c.close() }
        requests += crowd.count
        #expect(server.isRunning)
        #expect(eventually(seconds: 20) { descriptors(server.pid) <= baseline }, "descriptors \(descriptors(server.pid)) vs \(baseline) before")
        #expect(controlIsServed())
        print("hostile battery: \(requests) requests in \(battery.count) cases + 200 concurrent; server descriptors back to \(descriptors(server.pid))")
        #expect(server.stop() == 0)
        #expect(!server.log.contains("Fatal error"), "\(server.log)")
    }

    /// 500 connections that send a request one byte a second and 100 that send nothing: the
    /// header timeout answers the first 408 and closes them, and closes the silent ones (no reply),
    /// and a control client is served all along.
    @Test func slowClientsAreTimedOutWithoutStarvingOthers() throws {
        raiseDescriptorLimit(to: 4096)
        let server = RunningServer {
            $0.headerTimeout = .seconds(3)
            $0.idleTimeout = .seconds(2)
            $0.tickInterval = .milliseconds(50)
        }
        let request = Array("GET /slow HTTP/1.1\r\nHost: t\r\nX-Padding: aaaaaaaaaaaaaaaa\r\n\r\n".utf8)
        let slow = try (0..<500).map { _ in try TestClient(port: server.port) }
        let idle = try (0..<100).map { _ in try TestClient(port: server.port) }
        let control = try TestClient(port: server.port)
        var served = 0, asked = 0
        let start = Sys.monotonicNanos()
        var sent = 0
        // One byte a second each, for five seconds: past the header timeout, never a whole request.
        while Sys.monotonicNanos() - start < 5_000_000_000 {
            let second = Int((Sys.monotonicNanos() - start) / 1_000_000_000)
            if second >= sent {
                for c in slow { c.send([request[sent]]) }
                sent += 1
            }
            control.send(get)
            asked += 1
            if control.readResponse()?.status == 200 { served += 1 }
            Sys.sleep(nanos: 50_000_000)
        }
        #expect(served == asked && served > 0, "the control client was served \(served) of \(asked) times")
        var timedOut = 0
        for c in slow {
            if let r = c.readResponse(), r.status == 408 { timedOut += 1 }
            #expect(c.closesConnection())
        }
        #expect(timedOut == slow.count, "\(timedOut) of \(slow.count) slow clients got 408")
        #expect(idle.allSatisfy { $0.closesConnection() && $0.buffer.isEmpty }, "idle connections are closed silently")
        for c in slow + idle + [control] { c.close() }
        #expect(eventually(seconds: 20) { serverSockets(port: server.port) == 0 }, "\(serverSockets(port: server.port)) server sockets left")
        let after = try TestClient(port: server.port)
        after.send(get)
        #expect(after.readResponse()?.status == 200)
    }

    /// 10,000 SSE streams opened and dropped: each is closed, the application hears of each
    /// end once, and no socket or stream is left behind.
    @Test func tenThousandStreamCyclesLeaveNothingBehind() throws {
        let dir = RingDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(3)
        let server = StreamCountingServer(ring: dir.ring)
        let cycles = 10_000
        for k in 0..<cycles {
            let client = try TestClient(port: server.port)
            client.send("GET /api/stream HTTP/1.1\r\nHost: t\r\n\r\n")
            guard client.read(until: "\r\n\r\n")?.hasPrefix("HTTP/1.1 200 ") == true else {
                Issue.record("stream \(k) was not opened")
                break
            }
            client.close()
        }
        let settled = eventually(seconds: 20) {
            let s = server.counts.value
            return s.closed == cycles && s.open == 0 && serverSockets(port: server.port) == 0
        }
        let s = server.counts.value
        #expect(settled, "opened \(s.opened), ended \(s.closed), still open \(s.open), sockets \(serverSockets(port: server.port))")
        #expect(s.opened == cycles)
        print("SSE: \(s.opened) streams opened, \(s.closed) ended, \(s.open) open, \(serverSockets(port: server.port)) server sockets left")
    }

    // Flags and privileges of the binary.

    static let badFlags: [([String], String)] = [
        (["--ring", ""], "--ring"), (["--ring"], "needs a value"),
        (["--listen", "example.com:80"], "--listen"), (["--listen", "127.0.0.1"], "--listen"), (["--listen", "[::1]:99999"], "--listen"),
        (["--listen", ""], "--listen"), (["--listen", "1.2.3.4.5:80"], "--listen"),
        (["--web", "/nonexistent-perfring-web"], "--web"), (["--web"], "needs a value"), (["--chartjs"], "needs a value"),
        (["--max-connections", "0"], "--max-connections"), (["--max-connections", "many"], "--max-connections"),
        (["--max-connections", "-5"], "--max-connections"), (["--max-connections", "1000001"], "--max-connections"),
        (["--user", ""], "--user"), (["--poll", "0ms"], "--poll"), (["--poll", "5"], "--poll"), (["--poll", "11s"], "--poll"),
        (["--alert", "bogus"], "--alert"), (["--alert", ""], "--alert"), (["--alerts-file", "/nonexistent-perfring-alerts"], "--alerts-file"),
        (["--min-phase", "0s"], "--min-phase"), (["--min-phase", "soon"], "--min-phase"),
        (["--verbose=1"], "--verbose takes no value"), (["--quiet=no"], "--quiet takes no value"),
        (["--recordings", ""], "--recordings"), (["--recordings"], "needs a value"),
        (["--upload=1"], "--upload takes no value"), (["--no-upload=yes"], "--no-upload takes no value"),
        (["--upload-limit", "12Q"], "--upload-limit"), (["--upload-limit", "0"], "--upload-limit"),
        (["--upload-timeout", "0s"], "--upload-timeout"), (["--analysis-queue", "0"], "--analysis-queue"),
        (["--bogus"], "unknown flag"), (["stray"], "unexpected argument"),
        // subcommands (run without the base arguments)
        (["analyze"], "which FILE"), (["analyze", "--json=1", "/dev/null"], "--json takes no value"), (["analyze", "--min-phase", "0s", "/dev/null"], "--min-phase"),
        (["export", "--csv", "--json"], "give one of --csv and --json"), (["export", "--csv", "--out", ""], "--out"),
        (["export", "--csv=yes"], "--csv takes no value"), (["export", "--frobnicate"], "unknown flag"),
    ]

    @Test func everyFlagWithABadValueExitsWithStatusTwoAndOneLine() throws {
        let site = try HostileSite()
        // A valid base (loopback, a web root, Chart.js) so that only the flag under test is wrong.
        let base = ["--listen", "127.0.0.1:0", "--ring", site.dir.path + "/none"] + site.serverArgs.dropFirst(2)
        for (args, mention) in Self.badFlags {
            let r = try runServer((["analyze", "export"].contains(args.first) ? [] : base) + args)
            #expect(r.status == 2, "\(args): exit \(r.status) \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(mention), "\(args): \(r.stderr)")
        }
        let help = try runServer(["--help"]).stdout
        let named = Set(help.split(whereSeparator: { !$0.isLetter && $0 != "-" }).filter { $0.hasPrefix("--") && $0.count > 2 }.map(String.init))
        let tried = Set(Self.badFlags.flatMap { $0.0 }.map { String($0.split(separator: "=").first ?? "") })
        #expect(named.subtracting(tried).subtracting(["--help", "--version", "--json"]).isEmpty, "flags in --help without a bad-value case: \(named.subtracting(tried))")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: the server drops privileges only from root"))
    func aFailedPrivilegeDropRefusesToServe() throws {
        let site = try HostileSite()
        let r = try runServer(["--listen", "127.0.0.1:0", "--user", "no-such-user"] + site.serverArgs)
        #expect(r.status == 1)
        let errors = r.stderr.split(separator: "\n").filter { $0.contains(": error: ") }
        #expect(errors.count == 1 && errors[0].contains("no user named 'no-such-user'; refusing to serve as root"), "\(r.stderr)")
    }
}

/// Runs the server binary to completion (a flag error ends it at once; 10 s at most).
func runServer(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int32, stdout: String, stderr: String) {
    let r = try runProgram(serverBinary, args, seconds: 10, sourceLocation: sourceLocation)
    return (r.status, r.out, r.stderr)
}

/// PerfringAPI behind an HTTPServer on its own thread, with the stream bookkeeping visible:
/// streams the application opened and heard end, and the server's own count of open streams.
final class StreamCountingServer: Sendable {
    struct Counts: Sendable { var opened = 0, closed = 0, open = 0 }
    let counts = Locked(Counts())
    private let base: ServerThread
    var port: UInt16 { base.port }

    private final class Handler: HTTPHandler {
        let api: PerfringAPI
        let counts: Locked<Counts>
        weak var server: HTTPServer?
        init(_ api: PerfringAPI, _ counts: Locked<Counts>) { self.api = api; self.counts = counts }
        func handle(_ request: HTTPRequest) -> HTTPHandlerResult {
            let result = api.handle(request)
            if case .stream = result { counts.withLock { $0.opened += 1 } }
            return result
        }
        func refuseContent(_ head: HTTPRequest) -> HTTPResponse? { api.refuseContent(head) }
        func tick(now: UInt64) {
            api.tick(now: now)
            let open = server?.streamCount ?? 0
            counts.withLock { $0.open = open }
        }
        func idle(now: UInt64) -> Bool { api.idle(now: now) }
        func streamClosed(_ stream: StreamToken) {
            api.streamClosed(stream)
            counts.withLock { $0.closed += 1 }
        }
    }

    init(ring: String) {
        let counts = self.counts
        base = ServerThread { () -> (handler: HTTPHandler, attach: (HTTPServer) -> Void) in
            let api = PerfringAPI(ringPath: ring, files: nil)
            let handler = Handler(api, counts)
            return (handler, { api.server = $0; handler.server = $0 })
        }
    }
}
