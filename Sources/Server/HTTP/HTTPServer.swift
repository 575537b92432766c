// The HTTP/1.1 server core: accepted connections on one EventLoop, each with a read buffer its
// resumable parser scans once, a write buffer drained as the socket allows, and a small state
// machine (serving → streaming / closing → lingering → closed). Modelled on swift-nio's posix
// layer, without its generality: one thread, level-triggered epoll, synchronous handlers.
//
// Guarantees the application can rely on:
// - Requests on a connection are answered in order, one at a time; a pipelined request is
//   parsed only once the previous response is queued and the queue is under its cap, and a
//   connection over the cap is not read until it drains, so a slow reader costs only itself.
// - Large bodies are produced in chunks as the socket drains (`HTTPBodyProducer`): at most one
//   chunk per connection per loop turn, and only while the connection's queue is nearly empty,
//   so one large reply costs bounded memory and never holds up other clients.
// - Every reply gets Date, Content-Length (except 1xx/204/304, streams and produced bodies),
//   X-Content-Type-Options: nosniff, and Connection: close when the server will close.
// - Errors found before a response starts are answered `{"error":"..."}` with their status and
//   Connection: close; the server then closes after flushing (lingering to read what the client
//   still sends, so the reply is not destroyed by a reset).
// - No client holds a slot for free: a connection must send a complete request within the
//   header timeout of its first byte (408) and a connection that sends nothing at all is closed
//   the header timeout after it was accepted; at the connection limit the connection that has
//   waited longest without a request in progress makes room for the new one (as nginx reuses
//   keep-alive connections), and only when none has, the new one gets 503.
// - At the descriptor limit (EMFILE/ENFILE) a reserved descriptor is freed to accept the
//   connection, answer 503 and close it, so clients are told rather than left hanging in the
//   backlog; this is logged once a minute at most, with the count.
// - `Expect: 100-continue` is answered when the head is complete: 100 Continue if the handler
//   will read the content, else its final status at once (`HTTPHandler.refuseContent`).
// - A handler may answer later (`.deferred`, then `complete` from the loop's thread): the
//   connection reads nothing more until then, so work done on another thread (an upload's
//   analysis) never holds up the loop. Request content may be large (`limits.maxUploadBody` on upload paths), so a
//   request whose head is complete gets `bodyTimeout` rather than `headerTimeout`, at most
//   `maxLargeRequests` connections at a time may hold more than `largeRequestBytes` (503
//   beyond), and a client that half-closes after a head, before its content is complete, gets
//   a 400.
import CPerf
import Glibc
import Shared

public struct HTTPServerConfig: Sendable {
    public var listen: [ListenAddress]
    public var limits = HTTPLimits()
    /// Connections served at once. At the limit, a new connection replaces the one that has
    /// waited longest (at least `evictionAge`) with no request in progress; when none has, the
    /// new one is answered 503 and closed.
    public var maxConnections = 1024
    /// How long a connection must have been waiting (for its first byte, or for its next
    /// request) before a new connection may replace it at the limit.
    public var evictionAge: Duration = .seconds(1)
    /// Period of `HTTPHandler.tick` and of the timeout sweep (so also the timeouts' resolution).
    public var tickInterval: Duration = .milliseconds(250)
    /// A request must be complete this long after its first byte, or 408; a connection that
    /// sends nothing is closed this long after it was accepted.
    public var headerTimeout: Duration = .seconds(10)
    /// The same for a request whose head is complete and whose content is still arriving
    /// (known once more bytes are buffered than the largest head the limits allow).
    public var bodyTimeout: Duration = .seconds(60)
    /// Connections that may buffer more than `largeRequestBytes` of one request at a time; one
    /// more is answered 503 (bounds the memory large uploads can hold).
    public var maxLargeRequests = 4
    public var largeRequestBytes = 1 << 20
    /// A connection with nothing in flight, or whose writes make no progress, is closed after this.
    public var idleTimeout: Duration = .seconds(60)
    /// How long `run` keeps flushing queued replies after a stop request.
    public var drainTimeout: Duration = .seconds(2)
    /// How long to keep reading (and discarding) after a final reply before closing.
    public var lingerTimeout: Duration = .seconds(2)
    /// Queued reply bytes above which a connection is not read (a stream is dropped instead).
    public var maxBufferedOutput = 1 << 20
    /// Bytes a body producer is asked for at a time (one chunk per connection per loop turn).
    public var bodyChunk = 64 << 10
    /// Signals that stop the server (e.g. SIGTERM, SIGINT). They are blocked on the thread that
    /// calls `run`; the process should block them in every other thread too.
    public var stopSignals: [Int32] = []

    public init(listen: [ListenAddress]) { self.listen = listen }
}

/// An HTTP/1.1 server on the calling thread:
///
///     var config = HTTPServerConfig(listen: [ListenAddress("127.0.0.1:8080")!])
///     config.stopSignals = [SIGTERM, SIGINT]
///     let server = try HTTPServer(config: config, handler: app)
///     app.server = server      // weak: lets the app push to streams from `tick`
///     try server.run()         // until `stopHandle.stop()` or a stop signal
///
/// A stream's life: `handle` returns `.stream(head, token)`; the app pushes events with
/// `send(_:to:)` (or `broadcast`), usually from `tick`; it ends with `finish(token)`, the client
/// leaving, the client falling `maxBufferedOutput` behind, or `stop`, and in every case the app
/// then gets `streamClosed(token)` once.
public final class HTTPServer {
    /// Stops a running server from any thread: no new connections, queued replies flushed
    /// (up to `drainTimeout`), then `run` returns. Before `run`, makes it return at once.
    public struct StopHandle: Sendable {
        let wakeup: LoopWakeup
        public func stop() { wakeup.signal() }
    }

    /// The addresses actually bound (real ports where 0 was asked for).
    public let addresses: [ListenAddress]
    public var stopHandle: StopHandle { StopHandle(wakeup: loop.wakeup) }
    /// Streams currently open.
    public var streamCount: Int { streams.count }

    private let config: HTTPServerConfig
    private let handler: any HTTPHandler
    private let loop: EventLoop
    private var listeners: [Listener]
    private var listenersPaused = false
    /// Connections by descriptor; epoll keys carry a generation too, so an event for a closed
    /// connection is never delivered to a newer one that reused its descriptor.
    private var slots: [Connection?] = []
    private var nextGeneration: UInt64 = 1
    private var openCount = 0
    private var servingCount = 0
    private var streams: [StreamToken: Connection] = [:]
    private var deferredReplies: [DeferredReply: Connection] = [:]
    /// Connections now holding more than `largeRequestBytes` of a request.
    private var largeRequests = 0
    private var endedStreams: [StreamToken] = []
    private var dirty: [Connection] = []
    private var now: UInt64 = Sys.monotonicNanos()
    private var dateSecond = -1
    private var dateLine: [UInt8] = []
    /// Reused for every produced chunk.
    private var chunkWriter = JSONWriter(reserve: 32 << 10)
    private var started = false
    private var stopping = false
    private var drainDeadline: UInt64 = 0
    private let headerTimeout: UInt64, idleTimeout: UInt64, drainTimeout: UInt64, lingerTimeout: UInt64, evictionAge: UInt64
    /// A descriptor held back for the moment accept fails with EMFILE/ENFILE (-1: none).
    private var reserveFD: Int32 = -1
    /// Connections answered 503 at the descriptor limit since it was last logged, and when that was.
    private var descriptorLimitRefusals = 0
    private var descriptorLimitLogged: UInt64?
    private let bodyTimeout: UInt64

    /// Binds every listen address now (so ports are known before `run`).
    public init(config: HTTPServerConfig, handler: any HTTPHandler) throws(Errno) {
        self.config = config
        self.handler = handler
        loop = try EventLoop()
        var bound: [Listener] = []
        do {
            for address in config.listen {
                let l = try Listener.open(address)
                bound.append(l)
                try loop.add(l.fd, events: UInt32(EPOLLIN.rawValue), key: UInt64(bound.count - 1))
            }
        } catch {
            for l in bound { Sys.close(l.fd) }
            throw error
        }
        listeners = bound
        addresses = bound.map(\.address)
        headerTimeout = nanos(config.headerTimeout)
        idleTimeout = nanos(config.idleTimeout)
        drainTimeout = nanos(config.drainTimeout)
        lingerTimeout = nanos(config.lingerTimeout)
        evictionAge = nanos(config.evictionAge)
        reserveFD = (try? Sys.open("/dev/null", O_RDONLY)) ?? -1
        bodyTimeout = nanos(config.bodyTimeout)
    }

    deinit {
        if reserveFD >= 0 { Sys.close(reserveFD) }
        for l in listeners { Sys.close(l.fd) }
        for case let c? in slots { Sys.close(c.fd) }
    }

    /// Serves on the calling thread until stopped. Call once.
    public func run() throws(Errno) {
        precondition(!started, "perfring: HTTPServer.run called twice")
        started = true
        if !config.stopSignals.isEmpty { try loop.stopOnSignals(config.stopSignals) }
        try loop.startTicking(every: max(nanos(config.tickInterval), 1_000_000))
        var idleWork = false
        while true {
            let timeout = stopping ? Int32(clamping: (drainDeadline > now ? drainDeadline - now : 0) / 1_000_000 + 1) : idleWork ? 0 : -1
            let fired = try loop.wait(timeoutMs: timeout) { key, events in
                now = Sys.monotonicNanos()
                dispatch(key: key, events: events)
            }
            now = Sys.monotonicNanos()
            if fired.contains(.stop) && !stopping { beginDrain() }
            if fired.contains(.tick) {
                if !stopping { handler.tick(now: now) }
                sweep()
                if listenersPaused && !stopping { resumeListeners() }
            }
            if !stopping && (idleWork || fired.contains(.tick)) {
                idleWork = handler.idle(now: now)
                now = Sys.monotonicNanos()
            }
            flushDirty()
            notifyEndedStreams()
            if stopping && (openCount == 0 || now >= drainDeadline) { break }
        }
        for case let c? in slots { close(c) }
        notifyEndedStreams()
    }

    // MARK: streams

    /// Queues `bytes` on a stream. False when the stream is gone, or was just dropped because
    /// its client had more than `maxBufferedOutput` bytes unread (it will reconnect with
    /// Last-Event-ID).
    @discardableResult
    public func send(_ bytes: [UInt8], to stream: StreamToken) -> Bool {
        guard let c = streams[stream] else { return false }
        guard c.output.count <= config.maxBufferedOutput else {
            close(c)
            return false
        }
        c.output.append(bytes)
        markDirty(c)
        return true
    }

    /// Bytes queued on a stream that its client has not taken yet (nil: no such stream), so
    /// the application can send a backlog only as fast as the client reads it.
    public func queuedBytes(_ stream: StreamToken) -> Int? { streams[stream]?.output.count }

    /// Queues `bytes` on every open stream.
    public func broadcast(_ bytes: [UInt8]) {
        for token in streams.keys { send(bytes, to: token) }
    }

    /// Ends a stream once what is queued on it is flushed.
    public func finish(_ stream: StreamToken) {
        guard let c = streams[stream] else { return }
        endStream(c, stream)
        c.phase = .closing(linger: false)
        markDirty(c)
    }

    // MARK: deferred replies

    /// Sends the reply a handler deferred. False when its client has gone (the reply is dropped).
    @discardableResult
    public func complete(_ reply: DeferredReply, with response: HTTPResponse) -> Bool {
        guard let c = deferredReplies.removeValue(forKey: reply), let pending = c.pending, !c.closed else { return false }
        c.pending = nil
        queue(response, on: c, keepAlive: pending.keepAlive, versionMinor: pending.versionMinor, isHEAD: pending.isHEAD)
        markDirty(c)
        return true
    }

    // MARK: loop events

    private func dispatch(key: UInt64, events: UInt32) {
        let index = Int(truncatingIfNeeded: key & 0xFFFF_FFFF)
        if key >> 32 == 0 {
            acceptConnections(from: index)
            return
        }
        guard index < slots.count, let c = slots[index], c.key == key else { return }
        if events & (UInt32(EPOLLERR.rawValue) | UInt32(EPOLLHUP.rawValue)) != 0 {
            close(c)
            return
        }
        if events & UInt32(EPOLLIN.rawValue) != 0 && !readable(c) { return }
        service(c)
    }

    private func acceptConnections(from index: Int) {
        guard index < listeners.count else { return }
        for _ in 0..<64 {
            let fd: Int32
            do {
                guard let accepted = try Sys.accept(listeners[index].fd) else { return }
                fd = accepted
            } catch {
                if error.rawValue == EMFILE || error.rawValue == ENFILE, refuseAtDescriptorLimit(listeners[index].fd) {
                    continue
                }
                if [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.rawValue) {
                    // Out of descriptors or memory: a level-triggered listener would spin, so
                    // stop accepting until the next tick has closed something.
                    pauseListeners()
                    return
                }
                continue  // the client gave up before we accepted (ECONNABORTED and kin)
            }
            try? Sys.setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let c = Connection(fd: fd, key: nextGeneration << 32 | UInt64(UInt32(bitPattern: fd)), now: now, limits: config.limits)
            nextGeneration = nextGeneration == 0xFFFF_FFFF ? 1 : nextGeneration + 1
            do {
                try loop.add(fd, events: c.interest, key: c.key)
            } catch {
                Sys.close(fd)
                continue
            }
            if Int(fd) >= slots.count { slots += Array(repeating: nil, count: Int(fd) + 1 - slots.count + 64) }
            slots[Int(fd)] = c
            openCount += 1
            if servingCount >= config.maxConnections, let idle = longestWaiting() {
                close(idle)  // it has had its chance; the new client gets the slot
            }
            if servingCount >= config.maxConnections {
                reject(c, .error(.serviceUnavailable, "too many connections"))
                service(c)
            } else {
                c.counted = true
                servingCount += 1
            }
        }
    }

    /// The connection that has waited longest, and at least `evictionAge`, with no request in
    /// progress and nothing to send (silent since it connected, or idle between requests): the
    /// one to close when a new client needs its slot. A scan, but only at the limit.
    private func longestWaiting() -> Connection? {
        var best: Connection?
        for case let c? in slots where c.counted && !c.closed && c.input.count == 0 && c.output.count == 0 {
            guard case .open = c.phase, now &- c.lastActivity >= evictionAge else { continue }
            if let b = best, b.lastActivity <= c.lastActivity { continue }
            best = c
        }
        return best
    }

    /// Accept failed for want of a descriptor: frees the reserved one to take the connection,
    /// answer it 503 and close it, then reserves one again. False when that is not possible
    /// (no reserve, or the connection could not be taken): the caller pauses accepting.
    private func refuseAtDescriptorLimit(_ listener: Int32) -> Bool {
        guard reserveFD >= 0 else { return false }
        Sys.close(reserveFD)
        reserveFD = -1
        defer { reserveFD = (try? Sys.open("/dev/null", O_RDONLY)) ?? -1 }
        guard let fd = try? Sys.accept(listener) else { return false }
        let reply = ByteQueue(capacity: 512)
        let response = HTTPResponse.error(.serviceUnavailable, "server out of file descriptors; try again later")
        reply.appendHead(response, date: currentDateLine(), contentLength: response.body.count, close: true, keepAliveHeader: false)
        reply.append(response.body)
        _ = try? Sys.send(fd, reply.bytes)
        Sys.shutdownWrite(fd)
        // Read what the request already sent, so closing does not reset the reply away.
        let sink = reply.tail(minimum: 4096, limit: 4096)
        _ = try? Sys.recv(fd, sink)
        Sys.close(fd)
        descriptorLimitRefusals += 1
        if descriptorLimitLogged.map({ now &- $0 >= 60_000_000_000 }) ?? true {
            Log.warning("out of file descriptors (\(descriptorLimitRefusals) connection\(descriptorLimitRefusals == 1 ? "" : "s") answered 503 since the last report); raise the limit (ulimit -n, LimitNOFILE=) or lower --max-connections")
            descriptorLimitLogged = now
            descriptorLimitRefusals = 0
        }
        return true
    }

    /// Reads what the socket has. False when the connection was closed.
    private func readable(_ c: Connection) -> Bool {
        switch c.phase {
        case .open:
            let space = c.input.tail(minimum: 2048, limit: config.limits.maxRequestBytes)
            guard space.count > 0 else {
                // Unreachable within the parser's limits; answered rather than trusted.
                reject(c, .error(.contentTooLarge, "request too large"))
                return true
            }
            do {
                guard let n = try Sys.recv(c.fd, space) else { return true }
                if n == 0 {
                    c.readEOF = true
                } else {
                    if c.input.count == 0 { c.requestStarted = now }
                    c.input.commit(n)
                    c.lastActivity = now
                    if !c.large && c.input.count > config.largeRequestBytes {
                        guard largeRequests < config.maxLargeRequests else {
                            reject(c, .error(.serviceUnavailable, "too many large requests in progress; try again later"))
                            return true
                        }
                        c.large = true
                        largeRequests += 1
                    }
                }
            } catch {
                close(c)
                return false
            }
        case .stream, .lingering:
            // Nothing more is expected from this client: discard what comes, watch for its end.
            c.input.removeAll()
            defer { c.input.removeAll() }
            do {
                if try Sys.recv(c.fd, c.input.tail(minimum: 2048, limit: 1 << 16)) == 0 {
                    close(c)
                    return false
                }
            } catch {
                close(c)
                return false
            }
        case .closing:
            break
        }
        return true
    }

    /// Parses, answers and writes as far as the connection allows, then sets its interest.
    private func service(_ c: Connection) {
        var produced = false
        while true {
            if case .open = c.phase, c.producer == nil, c.pending == nil { answerBufferedRequests(c) }
            guard flush(c) else {
                close(c)
                return
            }
            if c.producer != nil {
                // One chunk per turn: the socket's next writability brings this connection back.
                guard !produced, c.output.count < config.bodyChunk else { break }
                produced = true
                produceChunk(c)
                continue
            }
            guard c.output.count == 0 else { break }
            switch c.phase {
            case .open:
                if c.pending != nil { break }  // a deferred reply is awaited
                if c.input.count > 0 && !c.awaitingBytes { continue }  // parsing had stopped at the output cap
                if c.readEOF && c.awaitingBytes && c.hasCompleteHead {
                    reject(c, .error(.badRequest, "the connection was closed before the request was complete (\(c.input.count) bytes received)"))
                    continue
                }
                if c.readEOF {
                    close(c)  // half-closed and everything answered
                    return
                }
            case .closing(let linger):
                guard linger && !c.readEOF else {
                    close(c)
                    return
                }
                Sys.shutdownWrite(c.fd)
                c.phase = .lingering(until: now &+ lingerTimeout)
                c.input.removeAll()
            case .stream, .lingering:
                break
            }
            break
        }
        updateInterest(c)
    }

    private func answerBufferedRequests(_ c: Connection) {
        c.awaitingBytes = false
        while case .open = c.phase, c.input.count > 0, c.output.count < config.maxBufferedOutput {
            switch c.parser.parse(c.input.bytes) {
            case .incomplete:
                c.awaitingBytes = true
                if !c.continueAnswered, let (head, request) = c.parser.pendingHead(c.input.bytes), head.expectsContinue {
                    c.continueAnswered = true
                    if let refusal = handler.refuseContent(request) {
                        reject(c, refusal)
                    } else {
                        c.output.append("HTTP/1.1 100 Continue\r\n\r\n")
                    }
                }
                return
            case .invalid(let status, let reason):
                reject(c, .error(status, reason))
                return
            case .complete(let request, let consumed):
                c.input.consume(consumed)
                c.input.shrinkIfLarge()
                releaseLarge(c)
                c.requestStarted = now
                c.continueAnswered = false
                c.answered = true
                respond(c, to: request)
            }
        }
    }

    private func respond(_ c: Connection, to request: HTTPRequest) {
        let keepAlive = request.keepAlive
        switch handler.handle(request) {
        case .response(let response):
            queue(response, on: c, keepAlive: keepAlive, versionMinor: request.versionMinor, isHEAD: request.isHEAD)
        case .produced(let head, let producer):
            // HTTP/1.0 has no chunked coding: the body ends when the connection does.
            let chunked = request.versionMinor >= 1
            let close = !keepAlive || !chunked
            c.output.appendHead(head, date: currentDateLine(), contentLength: nil, close: close, keepAliveHeader: false, chunked: chunked)
            if !request.isHEAD && !head.status.forbidsContent {
                c.producer = producer
                c.chunked = chunked
            }
            if close { c.phase = .closing(linger: true) }
        case .deferred(let reply):
            c.pending = Connection.Pending(keepAlive: keepAlive, versionMinor: request.versionMinor, isHEAD: request.isHEAD)
            deferredReplies[reply] = c
        case .stream(let head, let token):
            c.output.appendHead(head, date: currentDateLine(), contentLength: nil, close: true, keepAliveHeader: false)
            c.input.removeAll()
            if request.isHEAD {
                endedStreams.append(token)
                c.phase = .closing(linger: true)
            } else {
                c.output.append(head.body)
                if let previous = streams[token] { close(previous) }
                c.phase = .stream(token)
                streams[token] = c
            }
        }
    }

    /// Asks the connection's producer for one chunk, framed in the writer itself (its size line
    /// zero-padded to a fixed width, which RFC 9112 allows, so it can be written before the
    /// chunk), and sends it straight from there when nothing is queued before it: the common
    /// case copies no body bytes. What the socket does not take is queued. The last chunk ends
    /// the body.
    private func produceChunk(_ c: Connection) {
        guard let producer = c.producer else { return }
        chunkWriter.reset()
        if c.chunked { chunkWriter.literal(Self.chunkSizeLine) }
        let head = chunkWriter.count
        let done = producer.produce(into: &chunkWriter, budget: config.bodyChunk + head)
        if c.chunked {
            let size = chunkWriter.count - head
            if size > 0 {
                chunkWriter.setHex(size, at: 0, width: Self.chunkSizeLine.count - 2)
                chunkWriter.literal("\r\n")
            } else {
                chunkWriter.reset()  // never an empty chunk: that would end the body
            }
            if done { chunkWriter.literal("0\r\n\r\n") }
        }
        if done { c.producer = nil }
        chunkWriter.withBytes { bytes in
            var rest = bytes
            // A send error leaves it all queued: the flush that follows meets it and closes.
            if c.output.count == 0, !rest.isEmpty, let n = try? Sys.send(c.fd, rest) {
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            }
            c.output.append(rest)
        }
        c.lastActivity = now
    }
    /// A chunk-size line before its chunk is made: 8 hex digits, room for any chunk.
    private static let chunkSizeLine = Array("00000000\r\n".utf8)

    /// Queues a complete response (closing after it when the connection is not kept alive).
    private func queue(_ response: HTTPResponse, on c: Connection, keepAlive: Bool, versionMinor: Int, isHEAD: Bool) {
        c.output.appendHead(response, date: currentDateLine(), contentLength: response.body.count,
                            close: !keepAlive, keepAliveHeader: keepAlive && versionMinor == 0)
        if !isHEAD && !response.status.forbidsContent { c.output.append(response.body) }
        if !keepAlive { c.phase = .closing(linger: true) }
    }

    /// The connection no longer holds a large request.
    private func releaseLarge(_ c: Connection) {
        guard c.large, c.input.count <= config.largeRequestBytes else { return }
        c.large = false
        largeRequests -= 1
    }

    /// Queues a final reply and closes after it (the request, or its content, is not read).
    private func reject(_ c: Connection, _ response: HTTPResponse) {
        c.output.appendHead(response, date: currentDateLine(), contentLength: response.body.count, close: true, keepAliveHeader: false)
        c.output.append(response.body)
        c.input.removeAll()
        releaseLarge(c)
        c.awaitingBytes = false
        c.phase = .closing(linger: true)
    }

    /// Writes what the socket takes. False on a write error (the peer is gone).
    private func flush(_ c: Connection) -> Bool {
        while c.output.count > 0 {
            guard let n = try? Sys.send(c.fd, c.output.bytes) else { return false }
            if n == 0 { return true }
            c.output.consume(n)
            c.lastActivity = now
        }
        // Not between a streamed body's chunks: each would grow the queue again (a chain of
        // reallocations and fresh zeroed pages per chunk); the body's end shrinks it.
        if c.producer == nil { c.output.shrinkIfLarge() }
        return true
    }

    private func updateInterest(_ c: Connection) {
        var want: UInt32 = 0
        switch c.phase {
        case .open:
            let blocked = c.output.count >= config.maxBufferedOutput || (c.input.count > 0 && !c.awaitingBytes) || c.producer != nil || c.pending != nil
            if !c.readEOF && !blocked { want |= UInt32(EPOLLIN.rawValue) }
        case .stream, .lingering:
            want |= UInt32(EPOLLIN.rawValue)
        case .closing:
            break
        }
        // A body still to produce: level-triggered writability brings it back once per turn.
        if c.output.count > 0 || c.producer != nil { want |= UInt32(EPOLLOUT.rawValue) }
        guard want != c.interest else { return }
        do {
            try loop.modify(c.fd, events: want, key: c.key)
            c.interest = want
        } catch {
            close(c)
        }
    }

    private func close(_ c: Connection) {
        guard !c.closed else { return }
        c.closed = true
        c.producer = nil
        if case .stream(let token) = c.phase { endStream(c, token) }
        c.input.removeAll()
        releaseLarge(c)
        c.pending = nil
        loop.remove(c.fd)
        Sys.close(c.fd)
        slots[Int(c.fd)] = nil
        openCount -= 1
        if c.counted { servingCount -= 1 }
    }

    private func endStream(_ c: Connection, _ token: StreamToken) {
        if streams[token] === c { streams[token] = nil }
        endedStreams.append(token)
    }

    private func notifyEndedStreams() {
        while !endedStreams.isEmpty {
            let ended = endedStreams
            endedStreams.removeAll()
            for token in ended { handler.streamClosed(token) }
        }
    }

    private func markDirty(_ c: Connection) {
        guard !c.dirty else { return }
        c.dirty = true
        dirty.append(c)
    }

    private func flushDirty() {
        while !dirty.isEmpty {
            let list = dirty
            dirty.removeAll(keepingCapacity: true)
            for c in list {
                c.dirty = false
                if !c.closed { service(c) }
            }
        }
    }

    // MARK: timeouts and shutdown

    private func sweep() {
        for case let c? in slots where !c.closed {
            let idle = now &- c.lastActivity >= idleTimeout
            switch c.phase {
            case .open:
                let inContent = c.input.count > config.limits.maxHeadBytes
                if c.awaitingBytes && now &- c.requestStarted >= (inContent ? bodyTimeout : headerTimeout) {
                    reject(c, .error(.requestTimeout, inContent ? "request content not received in time" : "request not received in time"))
                    service(c)
                } else if c.pending == nil && (idle || (!c.answered && c.input.count == 0 && now &- c.requestStarted >= headerTimeout)) {
                    close(c)  // idle, or silent since it connected
                }
            case .closing, .stream:
                if idle && c.output.count > 0 { close(c) }  // the client stopped reading
            case .lingering(let until):
                if now >= until { close(c) }
            }
        }
    }

    private func beginDrain() {
        stopping = true
        drainDeadline = now &+ drainTimeout
        for l in listeners {
            if !listenersPaused { loop.remove(l.fd) }
            Sys.close(l.fd)
        }
        listeners = []
        for case let c? in slots where !c.closed {
            switch c.phase {
            case .stream(let token):
                endStream(c, token)
                c.phase = .closing(linger: false)
            case .open, .closing:
                c.phase = .closing(linger: false)
            case .lingering:
                break
            }
            if c.output.count == 0 { close(c) } else { updateInterest(c) }
        }
    }

    private func pauseListeners() {
        guard !listenersPaused else { return }
        listenersPaused = true
        for l in listeners { loop.remove(l.fd) }
    }

    private func resumeListeners() {
        listenersPaused = false
        for (k, l) in listeners.enumerated() {
            try? loop.add(l.fd, events: UInt32(EPOLLIN.rawValue), key: UInt64(k))
        }
    }

    /// `Date: <IMF-fixdate>\r\n`, recomputed at most once a second.
    private func currentDateLine() -> [UInt8] {
        let second = Int(Sys.realtimeNanos() / 1_000_000_000)
        if second != dateSecond {
            dateSecond = second
            dateLine = Array("Date: \(HTTPDate.imfFixdate(secondsSinceEpoch: second))\r\n".utf8)
        }
        return dateLine
    }
}

private func nanos(_ d: Duration) -> UInt64 {
    let (seconds, attoseconds) = d.components
    guard seconds >= 0 else { return 0 }
    return UInt64(min(seconds, 1 << 32)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
}
