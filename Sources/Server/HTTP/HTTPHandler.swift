// What the HTTP server asks of the application: a handler that answers each request with a
// response, a streamed body, a deferred reply or an event stream.

/// Names one server-sent-events stream. The handler creates it and returns it with
/// `.stream`; the application keys its per-stream state (an event cursor) on it, pushes with
/// `HTTPServer.send(_:to:)` and frees that state in `HTTPHandler.streamClosed`.
public final class StreamToken: Hashable, Sendable {
    public init() {}
    public static func == (a: StreamToken, b: StreamToken) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// Names a reply the handler will give later, with `HTTPServer.complete(_:with:)`.
public final class DeferredReply: Hashable, Sendable {
    public init() {}
    public static func == (a: DeferredReply, b: DeferredReply) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// A reply body made piece by piece as the client drains it (HTTP/1.1: chunked transfer
/// coding; HTTP/1.0: delimited by closing the connection). The server calls `produce` on the
/// loop's thread whenever the connection's queue runs low, never for HEAD, and drops the
/// producer when the body is complete or the connection closes.
public protocol HTTPBodyProducer: AnyObject {
    /// Writes the next part of the body into `out` (empty on entry), stopping soon after
    /// `budget` bytes; returns true when the body is complete.
    func produce(into out: inout JSONWriter, budget: Int) -> Bool
}

public enum HTTPHandlerResult {
    /// A complete response.
    case response(HTTPResponse)
    /// A response whose body `producer` makes as the client reads it; the response's own body
    /// is ignored.
    case produced(HTTPResponse, HTTPBodyProducer)
    /// The response comes later, through `HTTPServer.complete(token, with:)`; until then the
    /// connection waits (nothing more is read from it). If the client leaves first, the later
    /// completion is dropped.
    case deferred(DeferredReply)
    /// Opens a stream: the response's status and headers are sent without Content-Length and
    /// with Connection: close (the stream ends when the connection does), its body as the first
    /// bytes; the connection then carries only what the application pushes. Use a new token
    /// per stream. For HEAD only the head is sent and the stream is closed at once.
    case stream(HTTPResponse, StreamToken)
}

/// The application's side of the server. Every method is called on the loop's thread, and the
/// server methods it may call back (`send`, `broadcast`, `finish`) must be called there too.
/// The server holds its handler strongly; a handler that keeps the server should hold it
/// `weak` or `unowned`.
public protocol HTTPHandler: AnyObject {
    /// Answers one request synchronously. HEAD requests arrive here too: answer as for GET and
    /// the server omits the body.
    func handle(_ request: HTTPRequest) -> HTTPHandlerResult
    /// A request announced content with `Expect: 100-continue` (its head is complete, its body
    /// empty here): the final response to send instead of reading that content (the server
    /// then closes), or nil to answer 100 Continue and read it.
    func refuseContent(_ head: HTTPRequest) -> HTTPResponse?
    /// Called every `HTTPServerConfig.tickInterval` (monotonic nanoseconds): poll sources, push
    /// to streams.
    func tick(now: UInt64)
    /// Background work, a bounded slice at a time, called after each loop turn's events: true
    /// when more remains, and the loop then looks for events without waiting before calling
    /// again, so requests are served between slices rather than after all of it.
    func idle(now: UInt64) -> Bool
    /// A stream ended (the client left, it was too slow, `finish` was called, or the server is
    /// stopping). Called exactly once per opened stream, from the loop, never from inside
    /// `send`, `broadcast` or `finish`.
    func streamClosed(_ stream: StreamToken)
}

extension HTTPHandler {
    public func refuseContent(_ head: HTTPRequest) -> HTTPResponse? { nil }
    public func tick(now: UInt64) {}
    public func idle(now: UInt64) -> Bool { false }
    public func streamClosed(_ stream: StreamToken) {}
}
