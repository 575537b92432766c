// One accepted connection as the server keeps it: its phase, buffers, parser state and timers.
import CPerf
import Glibc

/// One accepted socket and its buffers.
final class Connection {
    enum Phase {
        /// Reading and answering requests.
        case open
        /// Carrying a stream; reads are discarded.
        case stream(StreamToken)
        /// A final reply is queued; after it, linger (or just close).
        case closing(linger: Bool)
        /// Write side shut; reading and discarding until the client closes or the deadline.
        case lingering(until: UInt64)
    }

    let fd: Int32
    let key: UInt64
    let input = ByteQueue(capacity: 4096)
    let output = ByteQueue(capacity: 4096)
    /// Scans `input` once, resuming where it stopped as bytes arrive.
    var parser: HTTPParser
    var phase = Phase.open
    var interest = UInt32(EPOLLIN.rawValue)
    /// The client shut its write side.
    var readEOF = false
    /// `input` holds the start of a request that is not complete yet.
    var awaitingBytes = false
    /// The request in `input` announced `Expect: 100-continue` and was answered (100 or refused).
    var continueAnswered = false
    /// At least one request was answered on this connection.
    var answered = false
    /// When the first byte of the request now in `input` arrived, or the connection was
    /// accepted (header timeout).
    var requestStarted: UInt64
    /// Last read or write progress (idle timeout).
    var lastActivity: UInt64
    /// Counted against `maxConnections` (a connection turned away with 503 is not).
    var counted = false
    var dirty = false
    var closed = false
    /// The body being produced for the current reply, and whether it is framed in chunks.
    var producer: HTTPBodyProducer?
    var chunked = false
    /// Counted in `largeRequests`.
    var large = false
    /// `input` holds a complete head (its content is what is missing): a client that half-closes
    /// now has cut its content short and is told so; one that stops inside a head is just closed.
    var hasCompleteHead: Bool {
        let b = input.bytes
        guard b.count >= 4 else { return false }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return true }
        return false
    }
    /// How to send the reply a handler deferred, while it is awaited.
    struct Pending { let keepAlive: Bool; let versionMinor: Int; let isHEAD: Bool }
    var pending: Pending?

    init(fd: Int32, key: UInt64, now: UInt64, limits: HTTPLimits) {
        self.fd = fd
        self.key = key
        parser = HTTPParser(limits: limits)
        requestStarted = now
        lastActivity = now
    }
}
