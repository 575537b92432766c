// The server core through real sockets: a server on 127.0.0.1:0 runs on its own pthread, and
// blocking clients talk to it. Waits are generous deadlines for a condition, never timings.
import Glibc
import Shared
import Testing
@testable import Server

// MARK: harness

/// Runs a closure on a new pthread (no Foundation in this target).
final class TestThread: Sendable {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
    let id: pthread_t

    init(_ run: @escaping @Sendable () -> Void) {
        var tid = pthread_t()
        let box = Unmanaged.passRetained(Body(run)).toOpaque()
        let r = pthread_create(&tid, nil, { arg in
            Unmanaged<Body>.fromOpaque(arg!).takeRetainedValue().run()
            return nil
        }, box)
        precondition(r == 0, "pthread_create failed")
        id = tid
    }
    func join() { pthread_join(id, nil) }
}

/// A value shared between the test and the server thread. A pthread mutex, not
/// Synchronization.Mutex: that one waits on a futex directly, which ThreadSanitizer cannot see,
/// so it reported every access through it as a race.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private var state: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init(_ value: Value) {
        state = value
        pthread_mutex_init(mutex, nil)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&state)
    }
    var value: Value { withLock { $0 } }
}

/// Polls `condition` until it holds or 5 s pass.
func eventually(seconds: UInt64 = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Sys.monotonicNanos() + seconds * 1_000_000_000
    while Sys.monotonicNanos() < deadline {
        if condition() { return true }
        Sys.sleep(nanos: 2_000_000)
    }
    return condition()
}

/// What the test and the handler (on the server thread) tell each other.
final class Mailbox: Sendable {
    struct State {
        var pushes: [String] = []
        var finishAll = false
        var opened = 0
        var closed = 0
        var bodies: [[UInt8]] = []
    }
    let state = Locked(State())
    func push(_ s: String) { state.withLock { $0.pushes.append(s) } }
    var opened: Int { state.withLock { $0.opened } }
    var closed: Int { state.withLock { $0.closed } }
}

/// Echoes `METHOD target` as text; `/events` opens a stream, `/big` is 2 MiB, `/inject` tries
/// to set framing and malformed headers. Pushes and finishes what the test posts, on its tick.
final class TestHandler: HTTPHandler {
    weak var server: HTTPServer?
    let mailbox: Mailbox
    private var streams: [StreamToken] = []
    init(_ mailbox: Mailbox) { self.mailbox = mailbox }

    func handle(_ request: HTTPRequest) -> HTTPHandlerResult {
        switch request.path {
        case "/events":
            let token = StreamToken()
            streams.append(token)
            mailbox.state.withLock { $0.opened += 1 }
            return .stream(HTTPResponse(headers: [HTTPField("Content-Type", "text/event-stream")], body: Array(": hi\n\n".utf8)),
                           token)
        case "/big":
            return .response(HTTPResponse(body: Array(repeating: UInt8(ascii: "x"), count: 2 << 20)))
        case "/inject":
            return .response(HTTPResponse(headers: [
                HTTPField("X-Bad", "a\r\nSet-Cookie: x=1"), HTTPField("Content-Length", "999"), HTTPField("Bad Name", "v"),
                HTTPField("X-Good", "ok"),
            ], body: Array("ok".utf8)))
        case "/empty":
            return .response(HTTPResponse(status: .noContent, body: Array("dropped".utf8)))
        default:
            mailbox.state.withLock { $0.bodies.append(request.body) }
            return .response(HTTPResponse(headers: [HTTPField("Content-Type", "text/plain")],
                                          body: Array("\(request.method) \(request.target)".utf8)))
        }
    }

    func tick(now: UInt64) {
        guard let server else { return }
        let (pushes, finish) = mailbox.state.withLock { s in
            defer {
                s.pushes = []
                s.finishAll = false
            }
            return (s.pushes, s.finishAll)
        }
        for p in pushes { server.broadcast(Array(p.utf8)) }
        if finish { for token in streams { server.finish(token) } }
    }

    func streamClosed(_ stream: StreamToken) {
        streams.removeAll { $0 == stream }
        mailbox.state.withLock { $0.closed += 1 }
    }
}

/// An HTTPServer on 127.0.0.1:0 on its own thread, the one harness every server test uses.
/// `makeHandler` runs on that thread and returns the handler and what to tell it once the
/// server exists (handlers hold their server weakly).
final class ServerThread: Sendable {
    let port: UInt16
    let stopHandle: HTTPServer.StopHandle
    let thread: TestThread
    private let finished = Locked(false)

    init(_ configure: (inout HTTPServerConfig) -> Void = { _ in },
         handler makeHandler: @escaping @Sendable () -> (handler: HTTPHandler, attach: (HTTPServer) -> Void)) {
        var config = HTTPServerConfig(listen: [ListenAddress("127.0.0.1:0")!])
        config.tickInterval = .milliseconds(10)
        configure(&config)
        let ready = Locked<(UInt16, HTTPServer.StopHandle)?>(nil)
        let finished = self.finished
        let frozen = config
        thread = TestThread {
            let (handler, attach) = makeHandler()
            let server = try! HTTPServer(config: frozen, handler: handler)
            attach(server)
            ready.withLock { $0 = (server.addresses[0].port, server.stopHandle) }
            try! server.run()
            finished.withLock { $0 = true }
        }
        var started: (UInt16, HTTPServer.StopHandle)?
        _ = eventually { started = ready.value; return started != nil }
        (port, stopHandle) = started!
    }

    var hasFinished: Bool { finished.value }

    /// Stops the server and waits for `run` to return.
    func stop() -> Bool {
        stopHandle.stop()
        let returned = eventually { hasFinished }
        if returned { thread.join() }
        return returned
    }
    /// A server that does not stop is a failure of the test that made it, not a hang of the run.
    deinit {
        guard !hasFinished else { return }
        stopHandle.stop()
        if eventually(seconds: 30, { hasFinished }) { thread.join() } else { Issue.record("the server thread did not stop within 30 s") }
    }
}

/// A server with the test handler, started with a test configuration.
final class RunningServer: Sendable {
    let base: ServerThread
    let mailbox = Mailbox()
    var port: UInt16 { base.port }
    var stopHandle: HTTPServer.StopHandle { base.stopHandle }
    var thread: TestThread { base.thread }
    var hasFinished: Bool { base.hasFinished }

    init(_ configure: (inout HTTPServerConfig) -> Void = { _ in }) {
        let mailbox = self.mailbox
        base = ServerThread(configure) {
            let handler = TestHandler(mailbox)
            return (handler, { handler.server = $0 })
        }
    }

    func stop() -> Bool { base.stop() }
}

struct TestResponse {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking client socket with a receive buffer; every read waits at most 5 s (`waitMs`), a
/// send at most 10 s.
final class TestClient {
    private(set) var fd: Int32
    private(set) var buffer: [UInt8] = []
    private(set) var sawEOF = false

    init(port: UInt16) throws {
        fd = try Sys.socket(AF_INET, Int32(SOCK_STREAM.rawValue))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        try withUnsafeBytes(of: &sa) { p in try Sys.connect(fd, p.baseAddress!, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        // A send the server never drains gives up after 10 s instead of blocking the test forever.
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
    deinit { close() }
    func close() {
        if fd >= 0 { Sys.close(fd) }
        fd = -1
    }

    func send(_ text: String) { send(Array(text.utf8)) }
    func send(_ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { (try? Sys.send(fd, $0)) ?? -1 }
            guard n > 0 else { return }
            done += n
        }
    }
    func shutdownWrite() { Sys.shutdownWrite(fd) }

    /// How long `fill` waits for bytes (an upload's analysis on a loaded machine takes longer).
    var waitMs: Int32 = 5000

    /// Receives more bytes; false at end of stream, on error or after `waitMs`.
    @discardableResult
    func fill() -> Bool {
        guard !sawEOF else { return false }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, waitMs) == 1 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { b in (try? Sys.recv(fd, b)).flatMap { $0 } ?? -1 }
        if n <= 0 {
            sawEOF = true
            return false
        }
        buffer += chunk[0..<n]
        return true
    }

    /// Reads one response: its body by Content-Length, none for HEAD or when told.
    func readResponse(bodyless: Bool = false) -> TestResponse? {
        while true {
            if let end = headEnd() {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
                let statusLine = lines.removeFirst().split(separator: " ")
                guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else { return nil }
                let headers = lines.filter { !$0.isEmpty }.map { line -> (String, String) in
                    let colon = line.firstIndex(of: ":")!
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingPrefix(" ").description)
                }
                if !bodyless, headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1 == "chunked" }) {
                    buffer.removeFirst(end + 4)
                    guard let body = readChunkedBody() else { return nil }
                    return TestResponse(status: status, headers: headers, body: body)
                }
                let length = bodyless ? 0 : headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
                while buffer.count < end + 4 + length { guard fill() else { return nil } }
                let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                buffer.removeFirst(end + 4 + length)
                return TestResponse(status: status, headers: headers, body: body)
            }
            guard fill() else { return nil }
        }
    }

    /// The body of a chunked reply whose head has been (or is being) received.
    func chunkedBodyAfterHead() -> [UInt8]? {
        while headEnd() == nil { guard fill() else { return nil } }
        buffer.removeFirst(headEnd()! + 4)
        return readChunkedBody()
    }

    /// Decodes a chunked body (RFC 9112 §7.1) from the start of the buffer; nil when it is
    /// malformed or the connection ends first.
    private func readChunkedBody() -> [UInt8]? {
        var body: [UInt8] = []
        var at = 0  // parsed up to here; consumed from the buffer once the body is complete
        func line() -> String? {
            while true {
                if let i = buffer[at...].firstIndex(of: 10), i > at, buffer[i - 1] == 13 {
                    let text = String(decoding: buffer[at..<(i - 1)], as: UTF8.self)
                    at = i + 1
                    return text
                }
                guard fill() else { return nil }
            }
        }
        while true {
            guard let sizeLine = line(), let size = Int(sizeLine, radix: 16), size >= 0 else { return nil }
            if size == 0 {
                guard line() == "" else { return nil }
                buffer.removeFirst(at)
                return body
            }
            while buffer.count < at + size + 2 { guard fill() else { return nil } }
            body += buffer[at..<(at + size)]
            guard buffer[at + size] == 13, buffer[at + size + 1] == 10 else { return nil }
            at += size + 2
        }
    }

    /// Reads until `text` has arrived, 20 s at most (a stream that never sends it may keep
    /// sending other bytes); returns everything buffered so far.
    func read(until text: String) -> String? {
        let deadline = Sys.monotonicNanos() + 20_000_000_000
        while !String(decoding: buffer, as: UTF8.self).contains(text) {
            guard Sys.monotonicNanos() < deadline, fill() else { return nil }
        }
        return String(decoding: buffer, as: UTF8.self)
    }

    /// True when the server closes the connection within 10 s (a stream still sending after
    /// that was not closed); what was unread is discarded.
    func closesConnection() -> Bool {
        let deadline = Sys.monotonicNanos() + 10_000_000_000
        while Sys.monotonicNanos() < deadline && fill() {}
        return sawEOF
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}

let get = "GET /a?b=1 HTTP/1.1\r\nHost: t\r\n\r\n"

/// Decides IMF-fixdate shape without a date library: `Sun, 06 Nov 1994 08:49:37 GMT`.
func looksLikeIMFFixdate(_ s: String) -> Bool {
    let parts = s.split(separator: " ")
    return s.utf8.count == 29 && parts.count == 6 && parts[0].hasSuffix(",") && parts[5] == "GMT"
        && parts[4].split(separator: ":").count == 3 && Int(parts[3]) != nil
}

// MARK: tests

@Suite struct HTTPServerTests {
    @Test func keepAliveServesSeveralRequestsWithStandardHeaders() throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        for path in ["/a", "/b?x=1", "/c"] {
            c.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
            let r = try #require(c.readResponse())
            #expect(r.status == 200)
            #expect(r.text == "GET \(path)")
            #expect(r.header("Content-Length") == "\(r.body.count)")
            #expect(r.header("X-Content-Type-Options") == "nosniff")
            #expect(r.header("Content-Type") == "text/plain")
            #expect(looksLikeIMFFixdate(r.header("Date") ?? ""), "\(r.header("Date") ?? "no Date")")
            #expect(r.header("Connection") == nil)
        }
        #expect(server.stop())
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        c.send((1...20).map { "GET /\($0) HTTP/1.1\r\nHost: t\r\n\r\n" }.joined())
        for k in 1...20 {
            let r = try #require(c.readResponse())
            #expect(r.text == "GET /\(k)")
        }
    }

    @Test func headGetsGETHeadersWithoutTheBody() throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        c.send("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try #require(c.readResponse(bodyless: true))
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == "\("HEAD /x".utf8.count)")
        let body = try #require(c.readResponse())
        #expect(body.text == "GET /x")  // no stray body bytes came between them
    }

    @Test func serverOwnsFramingAndDropsUnsafeHeaders() throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        c.send("GET /inject HTTP/1.1\r\nHost: t\r\n\r\nGET /empty HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try #require(c.readResponse())
        #expect(r.text == "ok")
        #expect(r.header("Content-Length") == "2")
        #expect(r.header("X-Good") == "ok")
        #expect(r.header("X-Bad") == nil && r.header("Set-Cookie") == nil && r.header("Bad Name") == nil)
        let empty = try #require(c.readResponse())
        #expect(empty.status == 204)
        #expect(empty.header("Content-Length") == nil)
        #expect(try #require(c.readResponse()).text == "GET /after")
    }

    @Test func requestBodiesReachTheHandler() throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        c.send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /q HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try #require(c.readResponse()).text == "POST /p")
        #expect(try #require(c.readResponse()).text == "GET /q")
        #expect(server.mailbox.state.withLock { $0.bodies } == [Array("hello".utf8), []])
    }

    @Test(arguments: [
        InvalidCase("garbage", "garbage\r\n\r\n", 400),
        InvalidCase("bare LF", "GET / HTTP/1.1\nHost: t\n\n", 400),
        InvalidCase("HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        InvalidCase("long request line", "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        InvalidCase("large header", "GET / HTTP/1.1\r\nHost: t\r\nX: " + String(repeating: "v", count: 17000) + "\r\n\r\n", 431),
        InvalidCase("too many fields", "GET / HTTP/1.1\r\nHost: t\r\n" + String(repeating: "X: y\r\n", count: 100) + "\r\n", 431),
        InvalidCase("large content", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413),
        InvalidCase("gzip coding", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        InvalidCase("chunked", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        InvalidCase("smuggling", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nx", 400),
    ])
    func badRequestsGetAJSONErrorAndAClose(_ bad: InvalidCase) throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        c.send(Array(get.utf8) + bad.raw + Array(get.utf8))  // one good request first: errors follow what was answered
        #expect(try #require(c.readResponse()).status == 200)
        let r = try #require(c.readResponse())
        #expect(r.status == bad.code)
        #expect(r.header("Connection") == "close")
        #expect(r.header("Content-Type") == "application/json")
        #expect(r.text.hasPrefix("{\"error\":\""))
        #expect(c.closesConnection())
        #expect(c.buffer.isEmpty)  // the request after the bad one was not answered
    }

    @Test func requestsArrivingByteByByteAreAssembled() throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        for b in "POST /slow?q HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc".utf8 { c.send([b]) }
        #expect(try #require(c.readResponse()).text == "POST /slow?q")
        #expect(server.mailbox.state.withLock { $0.bodies } == [Array("abc".utf8)])
    }

    @Test func incompleteRequestTimesOutWith408() throws {
        let server = RunningServer { $0.headerTimeout = .milliseconds(200) }
        let c = try TestClient(port: server.port)
        c.send("GET / HTTP/1.1\r\nHost:")
        let r = try #require(c.readResponse())
        #expect(r.status == 408)
        #expect(r.header("Connection") == "close")
        #expect(c.closesConnection())
    }

    @Test func idleKeepAliveConnectionIsClosedSilently() throws {
        let server = RunningServer { $0.idleTimeout = .milliseconds(200) }
        let c = try TestClient(port: server.port)
        c.send(get)
        #expect(try #require(c.readResponse()).status == 200)
        #expect(c.closesConnection())
        #expect(c.buffer.isEmpty)
    }

    @Test func connectionsOverTheLimitGet503() throws {
        let server = RunningServer {
            $0.maxConnections = 2
            $0.evictionAge = .seconds(3600)  // neither served connection may make room
        }
        let a = try TestClient(port: server.port)
        let b = try TestClient(port: server.port)
        for c in [a, b] {
            c.send(get)
            #expect(try #require(c.readResponse()).status == 200)
        }
        let over = try TestClient(port: server.port)
        over.send(get)
        let r = try #require(over.readResponse())
        #expect(r.status == 503)
        #expect(r.text.contains("error"))
        #expect(over.closesConnection())
        a.send(get)
        #expect(try #require(a.readResponse()).status == 200)
    }

    @Test func http10ClosesUnlessAskedToKeepAlive() throws {
        let server = RunningServer()
        let plain = try TestClient(port: server.port)
        plain.send("GET /x HTTP/1.0\r\n\r\n")
        let r = try #require(plain.readResponse())
        #expect(r.header("Connection") == "close")
        #expect(plain.closesConnection())

        let kept = try TestClient(port: server.port)
        kept.send("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(try #require(kept.readResponse()).header("Connection") == "keep-alive")
        kept.send("GET /2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let last = try #require(kept.readResponse())
        #expect(last.text == "GET /2")
        #expect(last.header("Connection") == "close")
        #expect(kept.closesConnection())
    }

    @Test func halfClosedClientGetsItsRepliesThenClose() throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        c.send(get + get)
        c.shutdownWrite()
        #expect(try #require(c.readResponse()).status == 200)
        #expect(try #require(c.readResponse()).status == 200)
        #expect(c.closesConnection())
    }

    @Test func streamsCarryPushedEventsAndReportTheirEnd() throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        c.send("GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        let first = try #require(c.read(until: ": hi\n\n"))
        #expect(first.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(first.contains("Content-Type: text/event-stream\r\n"))
        #expect(!first.contains("Content-Length"))
        #expect(eventually { server.mailbox.opened == 1 })
        server.mailbox.push("data: one\n\n")
        server.mailbox.push("data: two\n\n")
        #expect(c.read(until: "data: two\n\n")?.contains("data: one\n\ndata: two\n\n") == true)
        c.close()  // the client goes away...
        #expect(eventually { server.mailbox.closed == 1 })  // ...and the app hears of it
    }

    @Test func finishEndsAStreamAfterItsQueuedEvents() throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        c.send("GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(c.read(until: ": hi\n\n") != nil)
        #expect(eventually { server.mailbox.opened == 1 })
        server.mailbox.state.withLock {
            $0.pushes.append("data: last\n\n")
            $0.finishAll = true
        }
        #expect(c.read(until: "data: last\n\n") != nil)
        #expect(c.closesConnection())
        #expect(eventually { server.mailbox.closed == 1 })
    }

    @Test func aStreamThatFallsTooFarBehindIsDropped() throws {
        let server = RunningServer { $0.maxBufferedOutput = 64 << 10 }
        let c = try TestClient(port: server.port)
        c.send("GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(c.read(until: ": hi\n\n") != nil)
        #expect(eventually { server.mailbox.opened == 1 })
        let event = "data: " + String(repeating: "x", count: 64 << 10) + "\n\n"
        for _ in 0..<400 { server.mailbox.push(event) }  // 25 MiB the client never reads
        #expect(eventually { server.mailbox.closed == 1 })
        let other = try TestClient(port: server.port)
        other.send(get)
        #expect(try #require(other.readResponse()).status == 200)
    }

    @Test func aStalledReaderDoesNotBlockOthers() throws {
        let server = RunningServer()
        let stalled = try TestClient(port: server.port)
        stalled.send(String(repeating: "GET /big HTTP/1.1\r\nHost: t\r\n\r\n", count: 16))  // 32 MiB never read
        let other = try TestClient(port: server.port)
        for _ in 0..<5 {
            other.send(get)
            #expect(try #require(other.readResponse()).status == 200)
        }
        // The stalled client still gets its replies, in order, once it reads.
        for _ in 0..<16 {
            #expect(try #require(stalled.readResponse()).body.count == 2 << 20)
        }
    }

    @Test func stopFlushesAndReturns() throws {
        let server = RunningServer()
        let idle = try TestClient(port: server.port)
        idle.send(get)
        #expect(try #require(idle.readResponse()).status == 200)
        let stream = try TestClient(port: server.port)
        stream.send("GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(stream.read(until: ": hi\n\n") != nil)
        #expect(eventually { server.mailbox.opened == 1 })
        #expect(server.stop())
        #expect(idle.closesConnection())
        #expect(stream.closesConnection())
        #expect(server.mailbox.closed == 1)
        #expect((try? TestClient(port: server.port)) == nil)  // no longer listening
    }

    @Test func aStopSignalStopsTheServer() throws {
        let server = RunningServer { $0.stopSignals = [SIGUSR2] }
        let c = try TestClient(port: server.port)
        c.send(get)
        // Answered, so `run` has blocked SIGUSR2 on its thread: the signal cannot kill us.
        #expect(try #require(c.readResponse()).status == 200)
        pthread_kill(server.thread.id, SIGUSR2)
        #expect(eventually { server.hasFinished })
        server.thread.join()
    }

    @Test func stopBeforeRunReturnsAtOnce() throws {
        let server = try HTTPServer(config: HTTPServerConfig(listen: [ListenAddress("127.0.0.1:0")!]), handler: TestHandler(Mailbox()))
        #expect(server.addresses[0].port != 0)
        server.stopHandle.stop()
        try server.run()
    }

    @Test(arguments: [
        ("127.0.0.1:8080", false, 8080, "127.0.0.1:8080"), ("0.0.0.0:0", false, 0, "0.0.0.0:0"),
        ("[::1]:8080", true, 8080, "[::1]:8080"), ("[::]:65535", true, 65535, "[::]:65535"),
        ("8080", false, 8080, "127.0.0.1:8080"), ("localhost:80", false, 80, "127.0.0.1:80"),
    ])
    func parsesListenAddresses(_ text: String, _ v6: Bool, _ port: Int, _ rendered: String) throws {
        let a = try #require(ListenAddress(text))
        #expect(a.isIPv6 == v6)
        #expect(Int(a.port) == port)
        #expect(a.description == rendered)
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:8o", "localhost", "example.com:80", "[localhost]:80",
                      "::1:80", "[::1]", "[127.0.0.1]:80", "1.2.3:80", "[::1]:80x", ":80", "127.0.0.1: 80"])
    func rejectsBadListenAddresses(_ text: String) {
        #expect(ListenAddress(text) == nil)
    }

    @Test func bindsEphemeralPortsOnBothFamilies() throws {
        let v4 = try Listener.open(ListenAddress("127.0.0.1:0")!)
        #expect(v4.address.port != 0)
        Sys.close(v4.fd)
        let v6: Result<Listener, Errno> = Result { () throws(Errno) in try Listener.open(ListenAddress("[::1]:0")!) }
        switch v6 {
        case .success(let l):
            #expect(l.address.port != 0)
            #expect(l.address.description == "[::1]:\(l.address.port)")
            Sys.close(l.fd)
        case .failure(let e):
            #expect(e.rawValue == EADDRNOTAVAIL || e.rawValue == EAFNOSUPPORT, "no IPv6 loopback here is fine; \(e) is not")
        }
    }
}
