// A stateless HTTP/1.1 request parser in the manner of picohttpparser: the caller keeps the
// bytes and calls `parse` again on all of them whenever more arrive; bytes are consumed only
// when a request is complete.
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

public enum HTTPParser {
    public static func parse(_ bytes: UnsafeRawBufferPointer, limits: HTTPLimits = HTTPLimits()) -> HTTPParseResult {
        var scanner = Scanner(buf: bytes, limits: limits)
        do {
            return try scanner.request()
        } catch {
            switch error {
            case .incomplete: return .incomplete
            case .invalid(let status, let reason): return .invalid(status, reason)
            }
        }
    }
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

private struct Scanner {
    let buf: UnsafeRawBufferPointer
    let limits: HTTPLimits
    var i = 0

    /// The byte at the cursor; `.incomplete` when the buffer ends first.
    func peek() throws(Stop) -> UInt8 {
        guard i < buf.count else { throw .incomplete }
        return buf[i]
    }

    /// Consumes CR LF at the cursor; anything else is a bare CR or LF.
    mutating func crlf() throws(Stop) {
        let c = try peek()
        guard c == CR else { throw bad(c == LF ? "bare LF" : "expected CRLF") }
        i += 1
        guard try peek() == LF else { throw bad("bare CR") }
        i += 1
    }

    mutating func request() throws(Stop) -> HTTPParseResult {
        var emptyLines = 0
        while true {
            let c = try peek()
            guard c == CR || c == LF else { break }
            try crlf()
            emptyLines += 1
            guard emptyLines <= limits.maxLeadingEmptyLines else { throw bad("too many empty lines before the request") }
        }

        // MARK: request line
        let start = i
        /// The byte at the cursor, which must still be within the request-line limit.
        func lineByte(_ s: Scanner) throws(Stop) -> UInt8 {
            guard s.i - start < s.limits.maxRequestLine else { throw .invalid(.uriTooLong, "request line too long") }
            return try s.peek()
        }
        while true {
            let c = try lineByte(self)
            if c == SP && i > start { break }
            guard isToken(c) else { throw bad("invalid method") }
            i += 1
        }
        let methodRange = start..<i
        i += 1
        let targetStart = i
        while true {
            let c = try lineByte(self)
            if c == SP && i > targetStart { break }
            guard c > SP, c < 0x7F, c != UInt8(ascii: "#") else { throw bad("invalid request target") }
            i += 1
        }
        let targetRange = targetStart..<i
        i += 1
        for expected in "HTTP/".utf8 {
            guard try lineByte(self) == expected else { throw bad("invalid HTTP version") }
            i += 1
        }
        let major = try lineByte(self)
        i += 1
        guard try lineByte(self) == UInt8(ascii: ".") else { throw bad("invalid HTTP version") }
        i += 1
        let minor = try lineByte(self)
        i += 1
        guard major &- UInt8(ascii: "0") < 10, minor &- UInt8(ascii: "0") < 10 else { throw bad("invalid HTTP version") }
        guard major == UInt8(ascii: "1"), minor <= UInt8(ascii: "1") else {
            throw .invalid(.versionNotSupported, "only HTTP/1.0 and HTTP/1.1 are supported")
        }
        let afterVersion = try peek()
        if afterVersion != CR && afterVersion != LF { throw bad("invalid HTTP version") }
        try crlf()

        // MARK: header section
        let headerStart = i
        /// The byte at the cursor, which must still be within the header-section limit.
        func headerByte(_ s: Scanner) throws(Stop) -> UInt8 {
            guard s.i - headerStart < s.limits.maxHeaderBytes else {
                throw .invalid(.headerFieldsTooLarge, "header section too large")
            }
            return try s.peek()
        }
        var fields: [HTTPRequest.FieldRange] = []
        while true {
            let first = try headerByte(self)
            if first == CR {
                i += 1
                guard try headerByte(self) == LF else { throw bad("bare CR") }
                i += 1
                break
            }
            if first == LF { throw bad("bare LF") }
            if first == SP || first == HT { throw bad("obsolete line folding or leading whitespace") }
            guard fields.count < limits.maxHeaderCount else {
                throw .invalid(.headerFieldsTooLarge, "too many header fields")
            }
            let nameStart = i
            while true {
                let c = try headerByte(self)
                if c == UInt8(ascii: ":") && i > nameStart { break }
                guard isToken(c) else { throw bad("invalid header field name") }
                i += 1
            }
            let nameRange = nameStart..<i
            i += 1
            while true {
                let c = try headerByte(self)
                guard c == SP || c == HT else { break }
                i += 1
            }
            let valueStart = i
            var valueEnd = i
            while true {
                let c = try headerByte(self)
                if c == CR { break }
                guard c == HT || (c >= SP && c != 0x7F) else {
                    throw bad(c == LF ? "bare LF" : "control character in header value")
                }
                i += 1
                if c != SP && c != HT { valueEnd = i }
            }
            i += 1
            guard try headerByte(self) == LF else { throw bad("bare CR") }
            i += 1
            fields.append(HTTPRequest.FieldRange(name: nameRange, value: valueStart..<valueEnd))
        }
        let headEnd = i

        // MARK: semantics of the complete head
        let versionMinor = Int(minor - UInt8(ascii: "0"))
        var hosts = 0
        var contentLength: Int?
        var transferCodings = 0
        var chunkedOnly = false
        var close = false
        var keepAliveToken = false
        for f in fields {
            switch f.name.count {
            case 4 where matches(f.name, "host"):
                hosts += 1
            case 10 where matches(f.name, "connection"):
                forEachToken(f.value) { t in
                    if matches(t, "close") { close = true }
                    if matches(t, "keep-alive") { keepAliveToken = true }
                }
            case 14 where matches(f.name, "content-length"):
                guard let n = decimal(f.value) else { throw bad("invalid Content-Length") }
                if let previous = contentLength, previous != n { throw bad("conflicting Content-Length fields") }
                contentLength = n
            case 17 where matches(f.name, "transfer-encoding"):
                transferCodings += 1
                chunkedOnly = matches(f.value, "chunked")
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
        let limit = isUpload(method: methodRange, target: targetRange) ? limits.maxUploadBody : limits.maxBody
        guard length <= limit else { throw .invalid(.contentTooLarge, "request content too large (the limit here is \(limit) bytes)") }
        guard buf.count - headEnd >= length else { throw .incomplete }

        let (form, path, query) = try targetParts(targetRange, method: methodRange)
        let shift = { (r: Range<Int>) in (r.lowerBound - start)..<(r.upperBound - start) }
        let request = HTTPRequest(
            head: Array(UnsafeRawBufferPointer(rebasing: buf[start..<headEnd])),
            methodRange: shift(methodRange), targetRange: shift(targetRange),
            pathRange: shift(path), queryRange: query.map(shift),
            fieldRanges: fields.map { .init(name: shift($0.name), value: shift($0.value)) },
            targetForm: form, versionMinor: versionMinor,
            keepAlive: versionMinor == 1 ? !close : keepAliveToken && !close,
            body: length == 0 ? [] : Array(UnsafeRawBufferPointer(rebasing: buf[headEnd..<(headEnd + length)])))
        return .complete(request, consumed: headEnd + length)
    }

    /// Splits a request target into its form, path and query (RFC 9112 §3.2).
    func targetParts(_ t: Range<Int>, method: Range<Int>) throws(Stop) -> (HTTPTargetForm, Range<Int>, Range<Int>?) {
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
            guard end < t.upperBound, matches(t.lowerBound..<end, scheme) else { continue }
            let authorityEnd = buf[end..<t.upperBound].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }
                ?? t.upperBound
            guard authorityEnd > end else { throw bad("absolute-form target without a host") }
            let (path, query) = pathAndQuery(from: authorityEnd)
            return (.absolute, path, query)
        }
        throw bad("invalid request target")
    }

    /// A POST whose path is one of `limits.uploadPaths`.
    func isUpload(method: Range<Int>, target: Range<Int>) -> Bool {
        guard !limits.uploadPaths.isEmpty, buf[method].elementsEqual("POST".utf8) else { return false }
        let end = buf[target].firstIndex(of: UInt8(ascii: "?")) ?? target.upperBound
        return limits.uploadPaths.contains { buf[target.lowerBound..<end].elementsEqual($0.utf8) }
    }

    /// `buf[r]` equals `lower` (a lower-case literal) ignoring ASCII case.
    func matches(_ r: Range<Int>, _ lower: String) -> Bool {
        r.count == lower.utf8.count && zip(buf[r], lower.utf8).allSatisfy { asciiLower($0) == $1 }
    }

    /// Calls `body` with each OWS-trimmed element of a comma-separated list.
    func forEachToken(_ r: Range<Int>, _ body: (Range<Int>) -> Void) {
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
    func decimal(_ r: Range<Int>) -> Int? {
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
