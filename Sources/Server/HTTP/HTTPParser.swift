// An HTTP/1.1 request parser in the manner of picohttpparser, resumable: the caller keeps the
// bytes, appends what arrives and calls `parse` again on all of them; the parser remembers how
// far it scanned (and in which part of the request it was), so each byte is examined once
// however the request is split: a header trickled byte by byte costs O(n), not O(n²).
// Bytes are consumed only when a request is complete.
//
// Every decision is taken by one forward scan, at the first byte that settles it, and never
// depends on how much data happens to follow. That is what makes the result identical whether a
// request arrives whole, byte by byte or at random splits, and it lets a limit fire as soon as
// it is crossed (a 9 KiB request line without CRLF is a 414 at once, not a wait).
//
// Strict by design (RFC 9112 §2.2, §5, §6): CRLF only, no obs-fold, no whitespace before a
// colon, no control bytes, and framing that cannot be read two ways. This server never accepts
// a chunked body: `Transfer-Encoding: chunked` alone answers 411 (send Content-Length), any other
// transfer coding 501, and every combination that smuggling relies on 400.

/// Size limits a request must respect; each breach has its own status.
public struct HTTPLimits: Sendable, Equatable {
    /// Request line without its CRLF → 414.
    public var maxRequestLine: Int
    /// Header section including its final empty line → 431.
    public var maxHeaderBytes: Int
    /// Header fields → 431.
    public var maxHeaderCount: Int
    /// Content-Length above this → 413.
    public var maxBody: Int
    /// Empty lines tolerated before a request line (RFC 9112 §2.2) → 400 beyond.
    public var maxLeadingEmptyLines: Int
    /// POSTs to these paths (compared as sent, before any query) may carry up to
    /// `maxUploadBody` bytes instead of `maxBody`: uploads get their limit, every other request
    /// keeps the small one (and is never waited for beyond it).
    public var uploadPaths: [String] = []
    public var maxUploadBody = 0

    public init(maxRequestLine: Int = 8 * 1024, maxHeaderBytes: Int = 16 * 1024, maxHeaderCount: Int = 100,
                maxBody: Int = 1 << 20, maxLeadingEmptyLines: Int = 4) {
        self.maxRequestLine = maxRequestLine
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBody = maxBody
        self.maxLeadingEmptyLines = maxLeadingEmptyLines
    }

    /// The most bytes a request can occupy and still parse `.incomplete`: a reader never needs
    /// to buffer more than this.
    public var maxRequestBytes: Int { maxHeadBytes + max(maxBody, uploadPaths.isEmpty ? 0 : maxUploadBody) }
    /// The most bytes a request's head (empty lines, request line, header section) can occupy.
    public var maxHeadBytes: Int { 2 * maxLeadingEmptyLines + maxRequestLine + 2 + maxHeaderBytes }
}

public enum HTTPParseResult: Sendable, Equatable {
    /// One request; `consumed` bytes (leading empty lines, head and body) belong to it.
    case complete(HTTPRequest, consumed: Int)
    /// Not enough bytes yet to decide.
    case incomplete
    /// The request is malformed or over a limit: reply with this status and close.
    case invalid(HTTPStatus, String)
}

/// Why a scan stopped short of a request. Typed, so throwing it allocates nothing.
private enum Stop: Error {
    case incomplete
    case invalid(HTTPStatus, String)
}

private let CR: UInt8 = 0x0D
private let LF: UInt8 = 0x0A
private let SP: UInt8 = 0x20
private let HT: UInt8 = 0x09
private let httpSlash = Array("HTTP/".utf8)

/// RFC 9110 §5.6.2 tchar (method names, header names, Connection options).
@inline(__always)
func isToken(_ c: UInt8) -> Bool {
    switch c {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
        UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
        UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}

private func bad(_ reason: String) -> Stop { .invalid(.badRequest, reason) }

/// Parses one request at a time from a growing buffer. Call `parse` with the bytes received
/// so far (the same bytes as the last call, plus any that arrived since; where they sit in memory
/// may change); after `.complete`, drop the consumed bytes and keep calling with what follows.
/// After `.invalid` the connection is done: `reset()` before parsing anything else.
public struct HTTPParser: Sendable {
    public let limits: HTTPLimits
    private var state = State.leading
    /// Next byte to examine: everything before it was scanned by an earlier call.
    private var i = 0
    private var emptyLines = 0
    private var start = 0
    private var methodEnd = 0, targetStart = 0, targetEnd = 0
    private var major: UInt8 = 0, minor: UInt8 = 0
    private var headerStart = 0
    private var nameStart = 0, nameEnd = 0, valueStart = 0, valueEnd = 0
    private var fields: [HTTPRequest.FieldRange] = []
    /// Set once the head is complete and valid: what it said, while the body arrives.
    private var head: Head?
    /// Bytes the scanner has looked at, counting each look: the parser's work, which tests hold
    /// to a multiple of the input's size whatever the split.
    public private(set) var bytesExamined = 0

    private enum State {
        case leading, leadingLF
        case method, target, version(Int), afterVersion, requestLineLF
        case fieldStart, name, ows, value, valueLF, endLF
        case body
    }

    /// What a complete head established.
    public struct Head: Sendable {
        let headEnd: Int
        let contentLength: Int
        let versionMinor: Int
        let keepAlive: Bool
        /// `Expect: 100-continue` in an HTTP/1.1 request (HTTP/1.0 ones are ignored, RFC 9110 §10.1.1).
        public let expectsContinue: Bool
    }

    public init(limits: HTTPLimits = HTTPLimits()) { self.limits = limits }

    /// Forgets the request in progress (after `.complete` the parser does this itself);
    /// `bytesExamined` keeps counting.
    public mutating func reset() {
        let examined = bytesExamined
        self = HTTPParser(limits: limits)
        bytesExamined = examined
    }

    /// Parses `bytes` whole, with no earlier state: the reference every split must agree with.
    public static func parse(_ bytes: UnsafeRawBufferPointer, limits: HTTPLimits = HTTPLimits()) -> HTTPParseResult {
        var parser = HTTPParser(limits: limits)
        return parser.parse(bytes)
    }

    /// Continues the scan over `bytes` (the request so far: what the previous call saw, and more).
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) -> HTTPParseResult {
        precondition(bytes.count >= i, "perfring: HTTPParser resumed with fewer bytes than it had scanned")
        do {
            let result = try scan(bytes)
            reset()
            return result
        } catch {
            switch error {
            case .incomplete: return .incomplete
            case .invalid(let status, let reason): return .invalid(status, reason)
            }
        }
    }

    /// The head of the request in progress once it is complete but its body is not (`parse`
    /// returned `.incomplete`): lets the server answer `Expect: 100-continue` before the body.
    public func pendingHead(_ bytes: UnsafeRawBufferPointer) -> (Head, HTTPRequest)? {
        guard let head else { return nil }
        return try? (head, request(bytes, head: head, body: []))
    }

    /// The byte at the cursor; `.incomplete` when the buffer ends first.
    private mutating func peek(_ buf: UnsafeRawBufferPointer) throws(Stop) -> UInt8 {
        guard i < buf.count else { throw .incomplete }
        bytesExamined += 1
        return buf[i]
    }

    /// A request-line byte, which must still be within the request-line limit.
    private mutating func lineByte(_ buf: UnsafeRawBufferPointer) throws(Stop) -> UInt8 {
        guard i - start < limits.maxRequestLine else { throw .invalid(.uriTooLong, "request line too long") }
        return try peek(buf)
    }

    /// A header-section byte, which must still be within the header-section limit.
    private mutating func headerByte(_ buf: UnsafeRawBufferPointer) throws(Stop) -> UInt8 {
        guard i - headerStart < limits.maxHeaderBytes else {
            throw .invalid(.headerFieldsTooLarge, "header section too large")
        }
        return try peek(buf)
    }

    private mutating func scan(_ buf: UnsafeRawBufferPointer) throws(Stop) -> HTTPParseResult {
        while true {
            switch state {
            case .leading:
                let c = try peek(buf)
                if c == CR {
                    i += 1
                    state = .leadingLF
                } else if c == LF {
                    throw bad("bare LF")
                } else {
                    start = i
                    state = .method
                }
            case .leadingLF:
                guard try peek(buf) == LF else { throw bad("bare CR") }
                i += 1
                emptyLines += 1
                guard emptyLines <= limits.maxLeadingEmptyLines else { throw bad("too many empty lines before the request") }
                state = .leading

            // MARK: request line
            // The states that span many bytes loop here rather than through the outer switch.
            case .method:
                while true {
                    let c = try lineByte(buf)
                    if c == SP && i > start { break }
                    guard isToken(c) else { throw bad("invalid method") }
                    i += 1
                }
                methodEnd = i
                i += 1
                targetStart = i
                state = .target
            case .target:
                while true {
                    let c = try lineByte(buf)
                    if c == SP && i > targetStart { break }
                    guard c > SP, c < 0x7F, c != UInt8(ascii: "#") else { throw bad("invalid request target") }
                    i += 1
                }
                targetEnd = i
                i += 1
                state = .version(0)
            case .version(let k):
                let c = try lineByte(buf)
                switch k {
                case 0..<5:
                    guard c == httpSlash[k] else { throw bad("invalid HTTP version") }
                case 5:
                    major = c
                case 6:
                    guard c == UInt8(ascii: ".") else { throw bad("invalid HTTP version") }
                default:
                    minor = c
                }
                i += 1
                guard k == 7 else {
                    state = .version(k + 1)
                    continue
                }
                guard major &- UInt8(ascii: "0") < 10, minor &- UInt8(ascii: "0") < 10 else { throw bad("invalid HTTP version") }
                guard major == UInt8(ascii: "1"), minor <= UInt8(ascii: "1") else {
                    throw .invalid(.versionNotSupported, "only HTTP/1.0 and HTTP/1.1 are supported")
                }
                state = .afterVersion
            case .afterVersion:
                let c = try peek(buf)
                guard c == CR else { throw bad(c == LF ? "bare LF" : "invalid HTTP version") }
                i += 1
                state = .requestLineLF
            case .requestLineLF:
                guard try peek(buf) == LF else { throw bad("bare CR") }
                i += 1
                headerStart = i
                state = .fieldStart

            // MARK: header section
            case .fieldStart:
                let first = try headerByte(buf)
                if first == CR {
                    i += 1
                    state = .endLF
                    continue
                }
                if first == LF { throw bad("bare LF") }
                if first == SP || first == HT { throw bad("obsolete line folding or leading whitespace") }
                guard fields.count < limits.maxHeaderCount else {
                    throw .invalid(.headerFieldsTooLarge, "too many header fields")
                }
                nameStart = i
                state = .name
            case .name:
                while true {
                    let c = try headerByte(buf)
                    if c == UInt8(ascii: ":") && i > nameStart { break }
                    guard isToken(c) else { throw bad("invalid header field name") }
                    i += 1
                }
                nameEnd = i
                i += 1
                state = .ows
            case .ows:
                while true {
                    let c = try headerByte(buf)
                    guard c == SP || c == HT else { break }
                    i += 1
                }
                valueStart = i
                valueEnd = i
                state = .value
            case .value:
                while true {
                    let c = try headerByte(buf)
                    if c == CR { break }
                    guard c == HT || (c >= SP && c != 0x7F) else {
                        throw bad(c == LF ? "bare LF" : "control character in header value")
                    }
                    i += 1
                    if c != SP && c != HT { valueEnd = i }
                }
                i += 1
                state = .valueLF
            case .valueLF:
                guard try headerByte(buf) == LF else { throw bad("bare CR") }
                i += 1
                fields.append(HTTPRequest.FieldRange(name: nameStart..<nameEnd, value: valueStart..<valueEnd))
                state = .fieldStart
            case .endLF:
                guard try headerByte(buf) == LF else { throw bad("bare CR") }
                i += 1
                head = try semantics(buf, headEnd: i)
                state = .body

            // MARK: body
            case .body:
                let head = head!
                guard buf.count - head.headEnd >= head.contentLength else { throw .incomplete }
                let end = head.headEnd + head.contentLength
                let body = head.contentLength == 0 ? [] : Array(UnsafeRawBufferPointer(rebasing: buf[head.headEnd..<end]))
                return .complete(try request(buf, head: head, body: body), consumed: end)
            }
        }
    }

    /// The framing and connection semantics of a complete head (runs once per request).
    private func semantics(_ buf: UnsafeRawBufferPointer, headEnd: Int) throws(Stop) -> Head {
        let versionMinor = Int(minor - UInt8(ascii: "0"))
        var hosts = 0
        var contentLength: Int?
        var transferCodings = 0
        var chunkedOnly = false
        var close = false
        var keepAliveToken = false
        var expectsContinue = false
        for f in fields {
            switch f.name.count {
            case 4 where matches(buf, f.name, "host"):
                hosts += 1
            case 6 where matches(buf, f.name, "expect"):
                if matches(buf, f.value, "100-continue") { expectsContinue = versionMinor == 1 }
            case 10 where matches(buf, f.name, "connection"):
                forEachToken(buf, f.value) { t in
                    if matches(buf, t, "close") { close = true }
                    if matches(buf, t, "keep-alive") { keepAliveToken = true }
                }
            case 14 where matches(buf, f.name, "content-length"):
                guard let n = decimal(buf, f.value) else { throw bad("invalid Content-Length") }
                if let previous = contentLength, previous != n { throw bad("conflicting Content-Length fields") }
                contentLength = n
            case 17 where matches(buf, f.name, "transfer-encoding"):
                transferCodings += 1
                chunkedOnly = matches(buf, f.value, "chunked")
            default:
                break
            }
        }
        if versionMinor == 1 && hosts == 0 { throw bad("missing Host") }
        if hosts > 1 { throw bad("multiple Host fields") }
        if transferCodings > 0 {
            if contentLength != nil { throw bad("both Content-Length and Transfer-Encoding") }
            if versionMinor == 0 { throw bad("Transfer-Encoding in an HTTP/1.0 request") }
            if transferCodings == 1 && chunkedOnly {
                throw .invalid(.lengthRequired, "chunked request content is not accepted; send Content-Length")
            }
            throw .invalid(.notImplemented, "unsupported Transfer-Encoding")
        }
        let length = contentLength ?? 0
        let limit = isUpload(buf) ? limits.maxUploadBody : limits.maxBody
        guard length <= limit else { throw .invalid(.contentTooLarge, "request content too large (the limit here is \(limit) bytes)") }
        _ = try targetParts(buf)  // a bad target is refused with the head, before any body is awaited
        return Head(headEnd: headEnd, contentLength: length, versionMinor: versionMinor,
                    keepAlive: versionMinor == 1 ? !close : keepAliveToken && !close,
                    expectsContinue: expectsContinue && length > 0)
    }

    /// The request, its head copied out of `buf`.
    private func request(_ buf: UnsafeRawBufferPointer, head: Head, body: [UInt8]) throws(Stop) -> HTTPRequest {
        let (form, path, query) = try targetParts(buf)
        let shift = { [start] (r: Range<Int>) in (r.lowerBound - start)..<(r.upperBound - start) }
        return HTTPRequest(
            head: Array(UnsafeRawBufferPointer(rebasing: buf[start..<head.headEnd])),
            methodRange: shift(start..<methodEnd), targetRange: shift(targetStart..<targetEnd),
            pathRange: shift(path), queryRange: query.map(shift),
            fieldRanges: fields.map { .init(name: shift($0.name), value: shift($0.value)) },
            targetForm: form, versionMinor: head.versionMinor, keepAlive: head.keepAlive, body: body)
    }

    /// Splits the request target into its form, path and query (RFC 9112 §3.2).
    private func targetParts(_ buf: UnsafeRawBufferPointer) throws(Stop) -> (HTTPTargetForm, Range<Int>, Range<Int>?) {
        let t = targetStart..<targetEnd, method = start..<methodEnd
        func pathAndQuery(from p: Int) -> (Range<Int>, Range<Int>?) {
            guard let q = buf[p..<t.upperBound].firstIndex(of: UInt8(ascii: "?")) else { return (p..<t.upperBound, nil) }
            return (p..<q, (q + 1)..<t.upperBound)
        }
        if buf[t.lowerBound] == UInt8(ascii: "/") {
            let (path, query) = pathAndQuery(from: t.lowerBound)
            return (.origin, path, query)
        }
        if buf[method].elementsEqual("CONNECT".utf8) {
            return (.authority, t.lowerBound..<t.lowerBound, nil)
        }
        if t.count == 1 && buf[t.lowerBound] == UInt8(ascii: "*") {
            guard buf[method].elementsEqual("OPTIONS".utf8) else { throw bad("asterisk-form target is only for OPTIONS") }
            return (.asterisk, t.lowerBound..<t.lowerBound, nil)
        }
        for scheme in ["http://", "https://"] {
            let end = t.lowerBound + scheme.utf8.count
            guard end < t.upperBound, matches(buf, t.lowerBound..<end, scheme) else { continue }
            let authorityEnd = buf[end..<t.upperBound].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }
                ?? t.upperBound
            guard authorityEnd > end else { throw bad("absolute-form target without a host") }
            let (path, query) = pathAndQuery(from: authorityEnd)
            return (.absolute, path, query)
        }
        throw bad("invalid request target")
    }

    /// A POST whose path is one of `limits.uploadPaths`.
    private func isUpload(_ buf: UnsafeRawBufferPointer) -> Bool {
        guard !limits.uploadPaths.isEmpty, buf[start..<methodEnd].elementsEqual("POST".utf8) else { return false }
        let end = buf[targetStart..<targetEnd].firstIndex(of: UInt8(ascii: "?")) ?? targetEnd
        return limits.uploadPaths.contains { buf[targetStart..<end].elementsEqual($0.utf8) }
    }

    /// `buf[r]` equals `lower` (a lower-case literal) ignoring ASCII case.
    private func matches(_ buf: UnsafeRawBufferPointer, _ r: Range<Int>, _ lower: String) -> Bool {
        r.count == lower.utf8.count && zip(buf[r], lower.utf8).allSatisfy { asciiLower($0) == $1 }
    }

    /// Calls `body` with each OWS-trimmed element of a comma-separated list.
    private func forEachToken(_ buf: UnsafeRawBufferPointer, _ r: Range<Int>, _ body: (Range<Int>) -> Void) {
        var s = r.lowerBound
        while s <= r.upperBound {
            let e = buf[s..<r.upperBound].firstIndex(of: UInt8(ascii: ",")) ?? r.upperBound
            var a = s, b = e
            while a < b && (buf[a] == SP || buf[a] == HT) { a += 1 }
            while b > a && (buf[b - 1] == SP || buf[b - 1] == HT) { b -= 1 }
            if a < b { body(a..<b) }
            s = e + 1
        }
    }

    /// A non-empty run of digits that fits an Int; nil for signs, spaces, lists or overflow.
    private func decimal(_ buf: UnsafeRawBufferPointer, _ r: Range<Int>) -> Int? {
        guard !r.isEmpty else { return nil }
        var n = 0
        for k in r {
            let d = buf[k] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(d))
            guard !o1 && !o2 else { return nil }
            n = a
        }
        return n
    }
}
