// The HTTP/1.1 value types the parser produces and the application's router consumes, and the
// helpers that turn a raw request target into something safe to route on. Everything here is a
// plain value: no I/O, no allocation beyond the Strings a caller asks for.
import Shared

/// A response status: its code and the reason phrase sent with it.
public struct HTTPStatus: Hashable, Sendable, CustomStringConvertible {
    public let code: Int
    public let reason: String
    public init(_ code: Int, _ reason: String) {
        self.code = code
        self.reason = reason
    }
    public var description: String { "\(code) \(reason)" }

    public static let ok = HTTPStatus(200, "OK")
    public static let created = HTTPStatus(201, "Created")
    public static let noContent = HTTPStatus(204, "No Content")
    public static let notModified = HTTPStatus(304, "Not Modified")
    public static let badRequest = HTTPStatus(400, "Bad Request")
    public static let forbidden = HTTPStatus(403, "Forbidden")
    public static let notFound = HTTPStatus(404, "Not Found")
    public static let methodNotAllowed = HTTPStatus(405, "Method Not Allowed")
    public static let requestTimeout = HTTPStatus(408, "Request Timeout")
    public static let conflict = HTTPStatus(409, "Conflict")
    public static let gone = HTTPStatus(410, "Gone")
    public static let lengthRequired = HTTPStatus(411, "Length Required")
    public static let contentTooLarge = HTTPStatus(413, "Content Too Large")
    public static let uriTooLong = HTTPStatus(414, "URI Too Long")
    public static let headerFieldsTooLarge = HTTPStatus(431, "Request Header Fields Too Large")
    public static let internalServerError = HTTPStatus(500, "Internal Server Error")
    public static let notImplemented = HTTPStatus(501, "Not Implemented")
    public static let serviceUnavailable = HTTPStatus(503, "Service Unavailable")
    public static let versionNotSupported = HTTPStatus(505, "HTTP Version Not Supported")

    /// 1xx, 204 and 304 replies carry neither content nor Content-Length (RFC 9110 §8.6).
    var forbidsContent: Bool { code < 200 || code == 204 || code == 304 }
}

/// One header field, as received or as to be sent.
public struct HTTPField: Equatable, Hashable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Which of RFC 9112 §3.2's four shapes the request target had.
public enum HTTPTargetForm: Sendable, Equatable {
    /// `/path?query`: the normal case.
    case origin
    /// `http://host/path?query`: the path and query are taken, the authority ignored.
    case absolute
    /// `host:port`, accepted only with CONNECT so the router can answer 405.
    case authority
    /// `*`, accepted only with OPTIONS.
    case asterisk
}

/// A parsed request. It owns a copy of its head (request line and header section) and refers
/// to parts of it by range, so parsing creates no Strings: the accessors below make them on
/// demand.
public struct HTTPRequest: Sendable, Equatable {
    /// Ranges of one header field's name and (OWS-trimmed) value within `head`.
    struct FieldRange: Sendable, Equatable {
        let name: Range<Int>
        let value: Range<Int>
    }

    let head: [UInt8]
    let methodRange: Range<Int>
    let targetRange: Range<Int>
    let pathRange: Range<Int>
    let queryRange: Range<Int>?
    let fieldRanges: [FieldRange]
    public let targetForm: HTTPTargetForm
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public let versionMinor: Int
    /// Whether the connection may carry another request after this one (RFC 9112 §9.3).
    public let keepAlive: Bool
    /// The request content (Content-Length framed, at most `HTTPLimits.maxBody` bytes).
    public let body: [UInt8]

    public var method: String { text(methodRange) }
    /// The request target exactly as received.
    public var target: String { text(targetRange) }
    /// The raw (still percent-encoded) path: the target up to `?`. `/` for an absolute-form
    /// target without a path, `*` for asterisk-form, empty for authority-form.
    public var path: String {
        switch targetForm {
        case .asterisk: return "*"
        case .absolute where pathRange.isEmpty: return "/"
        default: return text(pathRange)
        }
    }
    /// The raw query (after `?`, still encoded), or nil when the target has no `?`.
    public var query: String? { queryRange.map(text) }
    /// All header fields in the order received (duplicates kept).
    public var headers: [HTTPField] { fieldRanges.map { HTTPField(text($0.name), text($0.value)) } }
    public var headerCount: Int { fieldRanges.count }

    /// The first value of the named header (case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        var key = name
        return key.withUTF8 { n in
            for f in fieldRanges where head.asciiCaseInsensitiveEqual(f.name, UnsafeRawBufferPointer(n)) {
                return text(f.value)
            }
            return nil
        }
    }
    /// For server-sent-events reconnection (the id the client saw last).
    public var lastEventID: String? { header("Last-Event-ID") }
    /// HEAD gets GET's headers without the content; the server strips it.
    public var isHEAD: Bool { methodRange.count == 4 && head[methodRange].elementsEqual("HEAD".utf8) }
    /// The path decoded and normalised for routing, or nil (answer 400 or 404); see
    /// `RequestTarget.normalizePath`.
    public func normalizedPath() -> String? { RequestTarget.normalizePath(path) }
    /// The decoded query items, or nil when an escape is invalid (answer 400).
    public func queryItems() -> [HTTPQueryItem]? { RequestTarget.parseQuery(query ?? "") }

    private func text(_ r: Range<Int>) -> String { String(decoding: head[r], as: UTF8.self) }
}

extension Array where Element == UInt8 {
    /// Compares `self[range]` with `other` ignoring ASCII case (header names, tokens).
    func asciiCaseInsensitiveEqual(_ range: Range<Int>, _ other: UnsafeRawBufferPointer) -> Bool {
        guard range.count == other.count else { return false }
        for (k, i) in range.enumerated() where asciiLower(self[i]) != asciiLower(other[k]) { return false }
        return true
    }
}

@inline(__always)
func asciiLower(_ c: UInt8) -> UInt8 { c &- 0x41 < 26 ? c | 0x20 : c }

/// A response as the handler gives it. The server adds `Date`, `Content-Length`,
/// `X-Content-Type-Options: nosniff` and `Connection` itself, and drops any of those (and
/// `Transfer-Encoding`) that the handler sets, so framing stays the server's alone.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: [HTTPField]
    public var body: [UInt8]
    public init(status: HTTPStatus = .ok, headers: [HTTPField] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// `{"error":"message"}`: the shape of every error the server itself produces, written by
    /// the one JSON writer.
    public static func error(_ status: HTTPStatus, _ message: String) -> HTTPResponse {
        var w = JSONWriter(reserve: message.utf8.count + 16)
        w.beginObject()
        w.key("error"); w.string(message)
        w.endObject()
        return HTTPResponse(status: status, headers: [HTTPField("Content-Type", "application/json")], body: w.bytes)
    }
}

/// The IMF-fixdate of RFC 9110 §5.6.7 (`Sun, 06 Nov 1994 08:49:37 GMT`), without Foundation.
public enum HTTPDate {
    public static func imfFixdate(secondsSinceEpoch seconds: Int) -> String {
        let t = Sys.utcTime(secondsSinceEpoch: seconds)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(t.tm_wday) % 7]), \(two(t.tm_mday)) \(months[Int(t.tm_mon) % 12]) \(t.tm_year + 1900) "
            + "\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)) GMT"
    }
}

/// One decoded `name=value` pair of a query string.
public struct HTTPQueryItem: Equatable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Turns a raw request target into routable values. Each helper fails closed (nil) rather than
/// guess, so the router answers 400/404 instead of serving something unintended.
public enum RequestTarget {
    /// Decodes `%XX` escapes (and `+` as space when asked, for queries). Nil when an escape is
    /// malformed or the result is not UTF-8.
    public static func percentDecode(_ text: some StringProtocol, plusAsSpace: Bool = false) -> String? {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        var it = text.utf8.makeIterator()
        while let c = it.next() {
            if c == UInt8(ascii: "%") {
                guard let hi = it.next().flatMap(hexValue), let lo = it.next().flatMap(hexValue) else { return nil }
                out.append(hi << 4 | lo)
            } else {
                out.append(plusAsSpace && c == UInt8(ascii: "+") ? UInt8(ascii: " ") : c)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// Decodes and normalises a raw path for routing: `.` segments and empty segments (`//`)
    /// are dropped, a trailing `/` is kept. Nil (never a best effort) when the path does not
    /// start with `/`, has a `..` segment, encodes a dot, slash, backslash or percent sign
    /// (`%2e`, `%2f`, `%5c`, and `%25`, so nothing downstream can decode a second time into
    /// one), contains a backslash, or has any byte outside printable ASCII raw or decoded (so
    /// `%00`, `%0a`, and any UTF-8 are refused).
    public static func normalizePath(_ raw: String) -> String? {
        var bytes = raw.utf8.makeIterator()
        guard bytes.next() == UInt8(ascii: "/") else { return nil }
        var segments: [[UInt8]] = []
        var segment: [UInt8] = []
        func endSegment() -> Bool {
            defer { segment.removeAll(keepingCapacity: true) }
            if segment == [0x2E, 0x2E] { return false }
            if !segment.isEmpty && segment != [0x2E] { segments.append(segment) }
            return true
        }
        var trailingSlash = false
        while let c = bytes.next() {
            trailingSlash = false
            switch c {
            case UInt8(ascii: "/"):
                guard endSegment() else { return nil }
                trailingSlash = true
            case UInt8(ascii: "%"):
                guard let hi = bytes.next().flatMap(hexValue), let lo = bytes.next().flatMap(hexValue) else { return nil }
                let d = hi << 4 | lo
                guard d >= 0x20, d < 0x7F, !"./\\%".utf8.contains(d) else {
                    return nil
                }
                segment.append(d)
            case UInt8(ascii: "\\"):
                return nil
            case 0x21..<0x7F:
                segment.append(c)
            default:
                return nil
            }
        }
        guard endSegment() else { return nil }
        var out: [UInt8] = [UInt8(ascii: "/")]
        for (k, s) in segments.enumerated() {
            if k > 0 { out.append(UInt8(ascii: "/")) }
            out.append(contentsOf: s)
        }
        if trailingSlash && !segments.isEmpty { out.append(UInt8(ascii: "/")) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits `a=1&b=x+y` into decoded items (`+` is a space; empty parts are skipped; a part
    /// without `=` has an empty value). Nil when any escape is invalid.
    public static func parseQuery(_ raw: String) -> [HTTPQueryItem]? {
        var items: [HTTPQueryItem] = []
        for part in raw.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let eq = part.firstIndex(of: UInt8(ascii: "=")) ?? part.endIndex
            let value = eq == part.endIndex ? part[eq...] : part[part.index(after: eq)...]
            guard let n = percentDecode(Substring(part[..<eq]), plusAsSpace: true),
                let v = percentDecode(Substring(value), plusAsSpace: true)
            else { return nil }
            items.append(HTTPQueryItem(n, v))
        }
        return items
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
