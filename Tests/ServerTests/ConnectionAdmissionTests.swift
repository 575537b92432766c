// Who gets a connection slot, and for how long: connections that send nothing are closed after
// the header timeout; at the connection limit a silent or idle connection makes room for a new
// client; at the descriptor limit new clients are told 503 rather than left in the backlog (and
// the log says so once); `Expect: 100-continue` is answered at once, either way.
import Foundation
import Glibc
import Shared
import Testing
@testable import Server

@Suite(.serialized) struct ConnectionAdmissionTests {
    @Test func aConnectionThatSendsNothingIsClosedAfterTheHeaderTimeout() throws {
        let server = RunningServer {
            $0.headerTimeout = .milliseconds(200)
            $0.idleTimeout = .seconds(600)
        }
        let silent = try TestClient(port: server.port)
        #expect(silent.closesConnection(), "a silent connection is closed by the header timeout, not the idle one")
        #expect(silent.buffer.isEmpty, "closed without a reply: it asked for nothing")
        // A connection that was served is idle between requests: the idle timeout applies.
        let served = try TestClient(port: server.port)
        served.send(get)
        #expect(try #require(served.readResponse()).status == 200)
        Sys.sleep(nanos: 600_000_000)  // three header timeouts
        served.send(get)
        #expect(try #require(served.readResponse()).status == 200)
    }

    /// 1,024 connections that send nothing fill every slot; a new client is served at once
    /// (one of them makes room), not turned away until the timeouts.
    @Test func silentConnectionsAtTheLimitMakeRoomForNewClients() throws {
        raiseDescriptorLimit(to: 4096)
        let server = RunningServer {
            $0.maxConnections = 1024
            $0.headerTimeout = .seconds(600)
            $0.idleTimeout = .seconds(600)
            $0.evictionAge = .milliseconds(100)
        }
        let silent = try (0..<1024).map { _ in try TestClient(port: server.port) }
        Sys.sleep(nanos: 300_000_000)  // past the eviction age
        for k in 0..<20 {
            let c = try TestClient(port: server.port)
            c.send(get)
            let r = try #require(c.readResponse(), "client \(k) got no reply")
            #expect(r.status == 200, "client \(k): \(r.status) \(r.text)")
        }
        let evicted = silent.prefix(40).filter { $0.closesConnectionWithin(milliseconds: 1) }.count
        #expect(evicted > 0, "the longest-silent connections were the ones closed")
        for c in silent { c.close() }
    }

    /// Connections with a request in progress or a reply being written are never closed to make
    /// room, nor ones younger than the eviction age: then the new client gets 503.
    @Test func requestsInProgressAreNotEvicted() throws {
        let server = RunningServer {
            $0.maxConnections = 2
            $0.headerTimeout = .seconds(600)
            $0.evictionAge = .milliseconds(100)
        }
        let a = try TestClient(port: server.port)
        let b = try TestClient(port: server.port)
        a.send("GET /a HTTP/1.1\r\nHost:")
        b.send("GET /b HTTP/1.1\r\nHo")
        Sys.sleep(nanos: 300_000_000)
        let over = try TestClient(port: server.port)
        over.send(get)
        #expect(try #require(over.readResponse()).status == 503)
        a.send(" t\r\n\r\n")
        b.send("st: t\r\n\r\n")
        #expect(try #require(a.readResponse()).status == 200)
        #expect(try #require(b.readResponse()).status == 200)
    }

    @Test func expectContinueIsAnsweredBeforeTheContent() throws {
        let server = RunningServer()
        let c = try TestClient(port: server.port)
        c.send("POST /up HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        let interim = try #require(c.readResponse(), "no 100 Continue before the content was sent")
        #expect(interim.status == 100)
        c.send("hello")
        let final = try #require(c.readResponse())
        #expect(final.status == 200 && final.text == "POST /up")
        #expect(server.mailbox.state.withLock { $0.bodies.last } == Array("hello".utf8))
        // Content over the limit is refused at once, before it is sent.
        let big = try TestClient(port: server.port)
        big.send("POST /up HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: \(HTTPLimits().maxBody + 1)\r\n\r\n")
        let refused = try #require(big.readResponse())
        #expect(refused.status == 413 && refused.header("Connection") == "close")
    }

    /// perfring's API reads no content: an announced body gets its final status at once.
    @Test func thePerfringAPIRefusesAnnouncedContentAtOnce() throws {
        let dir = RingDir()
        let server = StreamCountingServer(ring: dir.ring)
        for (request, status) in [("POST /api/latest", 405), ("PUT /metrics", 405), ("GET /api/latest", 413)] {
            let c = try TestClient(port: server.port)
            c.send("\(request) HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n")
            let r = try #require(c.readResponse(), "\(request): no reply before the content")
            #expect(r.status == status, "\(request): \(r.status) \(r.text)")
            #expect(r.header("Connection") == "close")
            if status == 405 { #expect(r.header("Allow") == "GET, HEAD") }
        }
    }

    /// The real server with a 64-descriptor limit and 150 clients holding connections: those
    /// over the limit get 503 and a close at once (none waits in the backlog), the log says so
    /// once, and the server serves again when the clients leave.
    @Test func atTheDescriptorLimitNewClientsGet503AndItIsLoggedOnce() throws {
        raiseDescriptorLimit(to: 4096)
        let site = try HostileSite()
        // prlimit (util-linux) sets the limit and runs the server, as `ulimit -n 64` would.
        let server = try ServerProcess(site.serverArgs, launcher: ["/usr/bin/prlimit", "--nofile=64:64"])
        var held: [TestClient] = []
        var refused = 0
        for _ in 0..<150 {
            let c = try TestClient(port: server.port)
            held.append(c)
            // Over the limit the 503 arrives unasked; under it, nothing does (poll for 50 ms).
            if c.fillWithin(milliseconds: 50), let r = c.readResponse() {
                #expect(r.status == 503, "\(r.status) \(r.text)")
                #expect(r.text.contains("file descriptors"))
                #expect(c.closesConnection())
                refused += 1
            }
        }
        #expect(refused >= 50, "\(refused) of 150 clients were told 503")
        let lines = server.log.split(separator: "\n").filter { $0.contains("out of file descriptors") }
        #expect(lines.count == 1, "logged \(lines.count) times:\n\(server.log)")
        for c in held { c.close() }
        #expect(eventually(seconds: 20) { (try? server.get("/api/health"))?.status == 200 }, "served again once the clients left")
        #expect(server.isRunning)
        #expect(server.stop() == 0)
    }
}

extension TestClient {
    /// Whether bytes or the end of stream arrive within `milliseconds` (then they are buffered).
    func fillWithin(milliseconds: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, milliseconds) == 1 else { return false }
        return fill() || sawEOF
    }

    /// Whether the server has closed this connection (seen within `milliseconds`).
    func closesConnectionWithin(milliseconds: Int32) -> Bool {
        while fillWithin(milliseconds: milliseconds) { if sawEOF { return true } }
        return sawEOF
    }
}
