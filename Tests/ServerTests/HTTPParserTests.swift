// The request parser against valid and malformed requests, each fed whole, byte by byte and at
// seeded random splits (the server resumes one parser over the growing buffer as bytes arrive,
// so the three must agree), the parser's work held linear in its input, plus the
// target-decoding helpers.
import Testing
@testable import Server

/// SplitMix64: a seeded generator so random splits and mutations are reproducible.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func parse(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits()) -> HTTPParseResult {
    bytes.withUnsafeBytes { HTTPParser.parse($0, limits: limits) }
}

/// Feeds `bytes` in chunks ending at `cuts` the way the server does: append, resume the one
/// parser over the whole buffer, stop at the first result that is not `.incomplete`. Also
/// returns the parser's work (`bytesExamined`).
func feedCounting(_ bytes: [UInt8], cuts: [Int], limits: HTTPLimits = HTTPLimits()) -> (result: HTTPParseResult, examined: Int) {
    var parser = HTTPParser(limits: limits)
    var buffer: [UInt8] = []
    var done = 0
    for cut in cuts.sorted() + [bytes.count] where cut > done && cut <= bytes.count {
        buffer += bytes[done..<cut]
        done = cut
        let r = buffer.withUnsafeBytes { parser.parse($0) }
        if r != .incomplete { return (r, parser.bytesExamined) }
    }
    return (.incomplete, parser.bytesExamined)
}

func feed(_ bytes: [UInt8], cuts: [Int], limits: HTTPLimits = HTTPLimits()) -> HTTPParseResult {
    feedCounting(bytes, cuts: cuts, limits: limits).result
}

/// Parses whole, byte by byte and at five seeded random splittings, resuming one parser; all
/// must agree, and so must a fresh parse of each random prefix (incomplete, or the same verdict).
func parseEveryWay(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits(), seed: UInt64 = 1) -> HTTPParseResult {
    let whole = parse(bytes, limits: limits)
    #expect(feed(bytes, cuts: Array(0..<bytes.count), limits: limits) == whole, "byte by byte")
    var rng = SeededRNG(seed: seed)
    for _ in 0..<5 {
        let cuts = (0..<Int.random(in: 1...6, using: &rng)).map { _ in Int.random(in: 0...bytes.count, using: &rng) }
        #expect(feed(bytes, cuts: cuts, limits: limits) == whole, "split at \(cuts.sorted())")
        for cut in cuts {
            let prefix = parse(Array(bytes[..<cut]), limits: limits)
            #expect(prefix == .incomplete || prefix == whole, "fresh parse of \(cut) bytes")
        }
    }
    return whole
}

func request(_ result: HTTPParseResult) -> (HTTPRequest, Int)? {
    if case .complete(let r, let consumed) = result { return (r, consumed) }
    return nil
}

struct ValidCase: CustomTestStringConvertible, Sendable {
    let name: String
    let raw: String
    var method = "GET"
    var path = "/"
    var query: String? = nil
    var minor = 1
    var keepAlive = true
    var form = HTTPTargetForm.origin
    var body = ""
    var headers: [HTTPField]? = nil
    var testDescription: String { name }
}

let validCases: [ValidCase] = [
    ValidCase(name: "minimal 1.1", raw: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ValidCase(name: "path and query", raw: "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: a\r\n\r\n", path: "/a/b", query: "x=1&y=2"),
    ValidCase(name: "empty query", raw: "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", path: "/a", query: ""),
    ValidCase(name: "1.0 closes by default", raw: "GET / HTTP/1.0\r\n\r\n", minor: 0, keepAlive: false),
    ValidCase(name: "1.0 keep-alive", raw: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", minor: 0, keepAlive: true),
    ValidCase(name: "1.0 keep-alive and close", raw: "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
              minor: 0, keepAlive: false),
    ValidCase(name: "1.1 close in a list", raw: "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade ,  CLOSE\r\n\r\n", keepAlive: false),
    ValidCase(name: "1.1 close in a second field", raw: "GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nconnection: close\r\n\r\n",
              keepAlive: false),
    ValidCase(name: "leading empty lines", raw: "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ValidCase(name: "absolute form", raw: "GET http://example.com:8080/p/q?z HTTP/1.1\r\nHost: a\r\n\r\n",
              path: "/p/q", query: "z", form: .absolute),
    ValidCase(name: "absolute form without path", raw: "GET HTTPS://example.com HTTP/1.1\r\nHost: a\r\n\r\n", form: .absolute),
    ValidCase(name: "absolute form with only a query", raw: "GET http://h?k=v HTTP/1.1\r\nHost: a\r\n\r\n",
              query: "k=v", form: .absolute),
    ValidCase(name: "asterisk form", raw: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", method: "OPTIONS", path: "*", form: .asterisk),
    ValidCase(name: "authority form", raw: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
              method: "CONNECT", path: "", form: .authority),
    ValidCase(name: "any token method", raw: "M-SEARCH~! / HTTP/1.1\r\nHost: a\r\n\r\n", method: "M-SEARCH~!"),
    ValidCase(name: "HEAD", raw: "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", method: "HEAD", path: "/x"),
    ValidCase(name: "value whitespace trimmed", raw: "GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v w \t\r\nX-B:\r\n\r\n",
              headers: [HTTPField("Host", "a"), HTTPField("X-A", "v w"), HTTPField("X-B", "")]),
    ValidCase(name: "obs-text in a value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX: caf\u{E9}\r\n\r\n",
              headers: [HTTPField("Host", "a"), HTTPField("X", "caf\u{E9}")]),
    ValidCase(name: "empty Host", raw: "GET / HTTP/1.1\r\nHost:\r\n\r\n"),
    ValidCase(name: "Content-Length 0", raw: "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
    ValidCase(name: "body", raw: "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", method: "POST", path: "/p", body: "hello"),
    ValidCase(name: "equal duplicate Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 003\r\n\r\nabc",
              method: "POST", body: "abc"),
    ValidCase(name: "percent-encoded target kept raw", raw: "GET /%2e%2e/x?a=%zz HTTP/1.1\r\nHost: a\r\n\r\n",
              path: "/%2e%2e/x", query: "a=%zz"),
]

struct InvalidCase: CustomTestStringConvertible, Sendable {
    let name: String
    let raw: [UInt8]
    let code: Int
    init(_ name: String, _ raw: String, _ code: Int) {
        self.name = name
        self.raw = Array(raw.utf8)
        self.code = code
    }
    init(_ name: String, bytes: [UInt8], _ code: Int) {
        self.name = name
        self.raw = bytes
        self.code = code
    }
    var testDescription: String { name }
}

private let host = "Host: a\r\n"
let invalidCases: [InvalidCase] = [
    // line endings
    InvalidCase("bare LF after request line", "GET / HTTP/1.1\n\(host)\r\n", 400),
    InvalidCase("bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\n\n", 400),
    InvalidCase("bare LF as final line", "GET / HTTP/1.1\r\n\(host)\n", 400),
    InvalidCase("bare CR after request line", "GET / HTTP/1.1\r\(host)\r\n", 400),
    InvalidCase("bare CR in a field", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
    InvalidCase("bare CR ending the head", "GET / HTTP/1.1\r\n\(host)\rX", 400),
    InvalidCase("bare LF before the request", "\nGET / HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("bare CR before the request", "\r\rGET / HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("too many empty lines", String(repeating: "\r\n", count: 5) + "GET / HTTP/1.1\r\n\(host)\r\n", 400),
    // request line
    InvalidCase("empty method", " / HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("separator in method", "GE(T / HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("double space", "GET  / HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("tab separator", "GET\t/ HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("no version", "GET /\r\n\(host)\r\n", 400),
    InvalidCase("trailing space after version", "GET / HTTP/1.1 \r\n\(host)\r\n", 400),
    InvalidCase("NUL in target", bytes: Array("GET /a".utf8) + [0] + Array(" HTTP/1.1\r\n\(host)\r\n".utf8), 400),
    InvalidCase("control byte in target", bytes: Array("GET /a".utf8) + [1] + Array(" HTTP/1.1\r\n\(host)\r\n".utf8), 400),
    InvalidCase("DEL in target", bytes: Array("GET /a".utf8) + [0x7F] + Array(" HTTP/1.1\r\n\(host)\r\n".utf8), 400),
    InvalidCase("non-ASCII in target", "GET /caf\u{E9} HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("fragment in target", "GET /a#b HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("relative target", "GET a/b HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("asterisk without OPTIONS", "GET * HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("absolute form without host", "GET http:///x HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("bare scheme", "GET http:// HTTP/1.1\r\n\(host)\r\n", 400),
    InvalidCase("lower-case protocol", "GET / http/1.1\r\n\(host)\r\n", 400),
    InvalidCase("not HTTP", "GET / HTX/1.1\r\n\(host)\r\n", 400),
    InvalidCase("version without minor", "GET / HTTP/1\r\n\(host)\r\n", 400),
    InvalidCase("two-digit minor", "GET / HTTP/1.10\r\n\(host)\r\n", 400),
    InvalidCase("letter version", "GET / HTTP/1.x\r\n\(host)\r\n", 400),
    InvalidCase("HTTP/2.0", "GET / HTTP/2.0\r\n\(host)\r\n", 505),
    InvalidCase("HTTP/1.2", "GET / HTTP/1.2\r\n\(host)\r\n", 505),
    InvalidCase("HTTP/0.9", "GET / HTTP/0.9\r\n\(host)\r\n", 505),
    InvalidCase("HTTP/3.0", "GET / HTTP/3.0\r\n\(host)\r\n", 505),
    // header fields
    InvalidCase("obs-fold", "GET / HTTP/1.1\r\n\(host)X: a\r\n b\r\n\r\n", 400),
    InvalidCase("obs-fold with tab", "GET / HTTP/1.1\r\n\(host)X: a\r\n\tb\r\n\r\n", 400),
    InvalidCase("whitespace before the first field", "GET / HTTP/1.1\r\n \(host)\r\n", 400),
    InvalidCase("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    InvalidCase("tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
    InvalidCase("empty field name", "GET / HTTP/1.1\r\n\(host): a\r\n\r\n", 400),
    InvalidCase("separator in field name", "GET / HTTP/1.1\r\n\(host)X(y): a\r\n\r\n", 400),
    InvalidCase("field without colon", "GET / HTTP/1.1\r\n\(host)Xyz\r\n\r\n", 400),
    InvalidCase("NUL in value", bytes: Array("GET / HTTP/1.1\r\n\(host)X: a".utf8) + [0] + Array("b\r\n\r\n".utf8), 400),
    InvalidCase("control byte in value", bytes: Array("GET / HTTP/1.1\r\n\(host)X: a".utf8) + [0x1B] + Array("\r\n\r\n".utf8), 400),
    InvalidCase("DEL in value", bytes: Array("GET / HTTP/1.1\r\n\(host)X: a".utf8) + [0x7F] + Array("\r\n\r\n".utf8), 400),
    InvalidCase("missing Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400),
    InvalidCase("two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),
    InvalidCase("two Host fields in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n", 400),
    // framing and smuggling shapes
    InvalidCase("Content-Length and Transfer-Encoding",
                "POST / HTTP/1.1\r\n\(host)Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400),
    InvalidCase("Transfer-Encoding then Content-Length",
                "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400),
    InvalidCase("conflicting Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    InvalidCase("Content-Length list", "POST / HTTP/1.1\r\n\(host)Content-Length: 3, 3\r\n\r\nabc", 400),
    InvalidCase("Content-Length with sign", "POST / HTTP/1.1\r\n\(host)Content-Length: +3\r\n\r\nabc", 400),
    InvalidCase("negative Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n", 400),
    InvalidCase("Content-Length with inner space", "POST / HTTP/1.1\r\n\(host)Content-Length: 1 2\r\n\r\n", 400),
    InvalidCase("hex Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length: 0x10\r\n\r\n", 400),
    InvalidCase("empty Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length:\r\n\r\n", 400),
    InvalidCase("overflowing Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length: 99999999999999999999999\r\n\r\n", 400),
    InvalidCase("Content-Length over the cap", "POST / HTTP/1.1\r\n\(host)Content-Length: 1048577\r\n\r\n", 413),
    InvalidCase("chunked", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
    InvalidCase("chunked any case", "POST / HTTP/1.1\r\n\(host)transfer-encoding: CHUNKED\r\n\r\n", 411),
    InvalidCase("gzip transfer coding", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\n\r\n", 501),
    InvalidCase("coding list", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    InvalidCase("two Transfer-Encoding fields", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    InvalidCase("Transfer-Encoding in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    // size limits
    InvalidCase("request line over 8 KiB", "GET /" + String(repeating: "a", count: 8200) + " HTTP/1.1\r\n\(host)\r\n", 414),
    InvalidCase("method over 8 KiB", String(repeating: "G", count: 8300) + " / HTTP/1.1\r\n\(host)\r\n", 414),
    InvalidCase("header section over 16 KiB", "GET / HTTP/1.1\r\n\(host)X: " + String(repeating: "v", count: 16400) + "\r\n\r\n", 431),
    InvalidCase("many small fields over 16 KiB", "GET / HTTP/1.1\r\n\(host)" + String(repeating: "X-Long-Field-Name: " + String(repeating: "v", count: 200) + "\r\n", count: 80) + "\r\n", 431),
    InvalidCase("101 fields", "GET / HTTP/1.1\r\n\(host)" + String(repeating: "X: y\r\n", count: 100) + "\r\n", 431),
]

@Suite struct HTTPParserTests {
    @Test(arguments: validCases)
    func parsesValidRequests(_ c: ValidCase) throws {
        let bytes = Array(c.raw.utf8)
        let (r, consumed) = try #require(request(parseEveryWay(bytes)))
        #expect(consumed == bytes.count)
        #expect(r.method == c.method)
        #expect(r.path == c.path)
        #expect(r.query == c.query)
        #expect(r.versionMinor == c.minor)
        #expect(r.keepAlive == c.keepAlive)
        #expect(r.targetForm == c.form)
        #expect(r.body == Array(c.body.utf8))
        if let headers = c.headers { #expect(r.headers == headers) }
        #expect(r.isHEAD == (c.method == "HEAD"))
    }

    @Test(arguments: invalidCases)
    func rejectsMalformedRequests(_ c: InvalidCase) {
        let result = parseEveryWay(c.raw)
        guard case .invalid(let status, let reason) = result else {
            Issue.record("expected \(c.code), got \(result)")
            return
        }
        #expect(status.code == c.code, "\(reason)")
        #expect(!reason.isEmpty)
    }

    @Test func requestLineLimitFiresWithoutWaitingForCRLF() {
        let prefix = Array(("GET /" + String(repeating: "a", count: 8192)).utf8)
        #expect(parse(Array(prefix.prefix(8191))) == .incomplete)
        guard case .invalid(let status, _) = parse(prefix) else {
            Issue.record("no 414 for an unterminated long line")
            return
        }
        #expect(status == .uriTooLong)
    }

    @Test func headerLimitFiresWithoutWaitingForTheEnd() {
        let head = Array(("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 17000)).utf8)
        guard case .invalid(let status, _) = parse(head) else {
            Issue.record("no 431 for an unterminated large header")
            return
        }
        #expect(status == .headerFieldsTooLarge)
    }

    /// Limits are exact: a line of exactly the limit parses, one byte more does not.
    @Test func limitsAreExactAndConfigurable() throws {
        let limits = HTTPLimits(maxRequestLine: 20, maxHeaderBytes: 32, maxHeaderCount: 2, maxBody: 4)
        let line = "GET /123456 HTTP/1.1"  // 20 bytes
        #expect(request(parseEveryWay(Array((line + "\r\nHost: a\r\n\r\n").utf8), limits: limits)) != nil)
        #expect(parseEveryWay(Array(("GET /1234567 HTTP/1.1\r\nHost: a\r\n\r\n").utf8), limits: limits)
            == .invalid(.uriTooLong, "request line too long"))
        let fields = "Host: a\r\nX: 1234567890123456\r\n\r\n"  // 32 bytes
        #expect(fields.utf8.count == 32)
        #expect(request(parseEveryWay(Array((line + "\r\n" + fields).utf8), limits: limits)) != nil)
        let over = "Host: a\r\nX: 12345678901234567\r\n\r\n"
        guard case .invalid(let s1, _) = parseEveryWay(Array((line + "\r\n" + over).utf8), limits: limits) else {
            Issue.record("header section limit not applied")
            return
        }
        #expect(s1 == .headerFieldsTooLarge)
        guard case .invalid(let s2, _) = parseEveryWay(Array((line + "\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n").utf8), limits: limits) else {
            Issue.record("field count limit not applied")
            return
        }
        #expect(s2 == .headerFieldsTooLarge)
        let body = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        guard case .invalid(let s3, _) = parseEveryWay(Array(body.utf8), limits: limits) else {
            Issue.record("body limit not applied")
            return
        }
        #expect(s3 == .contentTooLarge)
    }

    @Test func hundredFieldsAreAccepted() throws {
        let raw = "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X: y\r\n", count: 99) + "\r\n"
        let (r, _) = try #require(request(parseEveryWay(Array(raw.utf8))))
        #expect(r.headerCount == 100)
    }

    @Test func pipelinedRequestsParseOneAtATime() throws {
        let parts = [
            "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody",
            "\r\nHEAD /3?x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        ]
        var buffer = Array(parts.joined().utf8) + Array("GET /4 HT".utf8)
        var paths: [String] = []
        for part in parts {
            let (r, consumed) = try #require(request(parseEveryWay(buffer)))
            #expect(consumed == part.utf8.count)
            paths.append(r.path)
            buffer.removeFirst(consumed)
        }
        #expect(paths == ["/1", "/2", "/3"])
        #expect(parse(buffer) == .incomplete)
    }

    @Test func headerLookupIgnoresCaseAndKeepsTheFirst() throws {
        let raw = "GET / HTTP/1.1\r\nhost: h\r\nLast-Event-ID: 42\r\nX-Dup: one\r\nx-dup: two\r\n\r\n"
        let (r, _) = try #require(request(parse(Array(raw.utf8))))
        #expect(r.header("HOST") == "h")
        #expect(r.header("x-DUP") == "one")
        #expect(r.lastEventID == "42")
        #expect(r.header("missing") == nil)
        #expect(r.target == "/")
    }

    /// The parser resumes where it stopped: a 15 KB header trickled byte by byte (15,000 calls)
    /// costs a small multiple of its size in bytes examined, as do random splits, not the
    /// n²/2 (about 112 million) that re-scanning from the start would.
    @Test(arguments: [UInt64(1), 2, 3])
    func trickledHeaderCostsLinearWork(seed: UInt64) throws {
        let raw = Array(("GET /api/latest HTTP/1.1\r\nHost: a\r\nX-Filler: " + String(repeating: "v", count: 15_000) + "\r\nAccept: */*\r\n\r\n").utf8)
        let n = raw.count
        let whole = feedCounting(raw, cuts: [])
        #expect(request(whole.result) != nil)
        #expect(whole.examined <= 2 * n, "whole: \(whole.examined) bytes examined for \(n)")
        let trickled = feedCounting(raw, cuts: Array(0..<n))
        #expect(trickled.result == whole.result)
        #expect(trickled.examined <= 2 * n, "byte by byte: \(trickled.examined) bytes examined for \(n)")
        var rng = SeededRNG(seed: seed)
        let cuts = (0..<500).map { _ in Int.random(in: 0...n, using: &rng) }
        let split = feedCounting(raw, cuts: cuts)
        #expect(split.result == whole.result)
        #expect(split.examined <= 2 * n, "random splits: \(split.examined) bytes examined for \(n)")
    }

    /// The same for a body trickled after its head, and for a request that turns out invalid
    /// at its last byte.
    @Test func trickledBodyAndLateErrorCostLinearWork() throws {
        let body = String(repeating: "b", count: 20_000)
        let post = Array("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        let fed = feedCounting(post, cuts: Array(0..<post.count), limits: HTTPLimits(maxBody: 1 << 16))
        let (r, consumed) = try #require(request(fed.result))
        #expect(consumed == post.count && r.body.count == 20_000)
        #expect(fed.examined <= 2 * post.count)
        let bad = Array(("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 10_000) + "\u{1}").utf8)
        let refused = feedCounting(bad, cuts: Array(0..<bad.count))
        #expect(refused.result == .invalid(.badRequest, "control character in header value"))
        #expect(refused.examined <= 2 * bad.count)
    }

    /// The head of a request whose content is still to come is available (for 100-continue),
    /// and says whether it asked to continue.
    @Test func pendingHeadReportsExpectContinue() throws {
        let head = Array("PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n".utf8)
        var parser = HTTPParser()
        var buffer: [UInt8] = []
        for b in head {
            buffer.append(b)
            #expect(buffer.withUnsafeBytes { parser.pendingHead($0) }.map { _ in true } == nil, "head not complete yet")
            #expect(buffer.withUnsafeBytes { parser.parse($0) } == .incomplete)
        }
        let (h, r) = try #require(buffer.withUnsafeBytes { parser.pendingHead($0) })
        #expect(h.expectsContinue && r.method == "PUT" && r.path == "/up" && r.body.isEmpty)
        buffer += Array("hello".utf8)
        let (done, consumed) = try #require(request(buffer.withUnsafeBytes { parser.parse($0) }))
        #expect(consumed == buffer.count && done.body == Array("hello".utf8))
        // HTTP/1.0 expectations are ignored (RFC 9110 §10.1.1).
        for raw in ["PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
                    "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"] {
            var p = HTTPParser()
            let bytes = Array(raw.utf8)
            #expect(bytes.withUnsafeBytes { p.parse($0) } == .incomplete)
            let pending = bytes.withUnsafeBytes { p.pendingHead($0) }
            #expect(pending?.0.expectsContinue == raw.contains("1.1"))
        }
    }

    /// Random corruptions of valid requests: never a crash, and the same verdict however the
    /// bytes arrive.
    @Test(arguments: 1...4)
    func mutatedRequestsParseTheSameEveryWay(seed: UInt64) {
        var rng = SeededRNG(seed: seed)
        let alphabet = Array("\r\n \t:/?%#\0\u{7F}aZ0-,".utf8) + [0x80, 0xFF]
        for round in 0..<60 {
            var bytes = Array(validCases[round % validCases.count].raw.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                let b = alphabet.randomElement(using: &rng)!
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = b
                case 1: bytes.insert(b, at: at)
                default: bytes.remove(at: at)
                }
            }
            _ = parseEveryWay(bytes, seed: UInt64(round))
        }
    }
}

@Suite struct RequestTargetTests {
    @Test(arguments: [
        ("abc", "abc"), ("a%20b", "a b"), ("%41%62", "Ab"), ("caf%C3%A9", "caf\u{E9}"), ("a+b", "a+b"), ("", ""),
    ])
    func percentDecodes(_ raw: String, _ decoded: String) {
        #expect(RequestTarget.percentDecode(raw) == decoded)
    }

    @Test(arguments: ["%", "%4", "%zz", "a%g0", "%C3", "%FF"])
    func percentDecodeFailsOnBadEscapes(_ raw: String) {
        #expect(RequestTarget.percentDecode(raw) == nil)
    }

    @Test(arguments: [
        ("/", "/"), ("/a/b", "/a/b"), ("/a/b/", "/a/b/"), ("//a//b", "/a/b"), ("/a/./b", "/a/b"), ("/./", "/"),
        ("/%41pi", "/Api"), ("/a%20b", "/a b"), ("/..a/b..", "/..a/b.."), ("/a.b/c", "/a.b/c"), ("/~u/x-y_z", "/~u/x-y_z"),
    ])
    func normalisesPaths(_ raw: String, _ normalised: String) {
        #expect(RequestTarget.normalizePath(raw) == normalised)
    }

    /// Traversal and smuggling in every encoding this server has seen used against others.
    @Test(arguments: [
        "", "a/b", "/..", "/../etc/passwd", "/a/../../b", "/a/..", "/a/b/../", "/%2e%2e/x", "/%2E%2E/x", "/.%2e/x",
        "/%2e./x", "/%2e", "/a%2fb", "/a%2F..%2Fb", "/a%5c..%5cb", "/a\\..\\b", "/a\\b", "/a%00b", "/%00", "/a%0ab",
        "/a%0d%0aX: y", "/%252e%252e/", "/a%25", "/caf\u{E9}", "/caf%C3%A9", "/a%7f", "/%", "/%2", "/%g1", "/a b",
        "/a\u{0}b",
    ])
    func rejectsUnsafePaths(_ raw: String) {
        #expect(RequestTarget.normalizePath(raw) == nil)
    }

    @Test func parsesQueries() throws {
        let items = try #require(RequestTarget.parseQuery("a=1&b=x+y&&c&d=%26%3D&=e&f=caf%C3%A9"))
        #expect(items == [
            HTTPQueryItem("a", "1"), HTTPQueryItem("b", "x y"), HTTPQueryItem("c", ""), HTTPQueryItem("d", "&="),
            HTTPQueryItem("", "e"), HTTPQueryItem("f", "caf\u{E9}"),
        ])
        #expect(RequestTarget.parseQuery("") == [])
    }

    @Test(arguments: ["a=%", "a=%zz", "%x=1", "a=1&b=%C3", "k=%2"])
    func rejectsBadQueries(_ raw: String) {
        #expect(RequestTarget.parseQuery(raw) == nil)
    }

    @Test func requestHelpersUseTheRawParts() throws {
        let raw = "GET /a/%2e%2e/b?x=%41&y=1+2 HTTP/1.1\r\nHost: a\r\n\r\n"
        let (r, _) = try #require(request(parse(Array(raw.utf8))))
        #expect(r.normalizedPath() == nil)
        #expect(r.queryItems() == [HTTPQueryItem("x", "A"), HTTPQueryItem("y", "1 2")])
        let (plain, _) = try #require(request(parse(Array("GET /x//y/ HTTP/1.1\r\nHost: a\r\n\r\n".utf8))))
        #expect(plain.normalizedPath() == "/x/y/")
        #expect(plain.queryItems() == [])
    }

    @Test func formatsIMFFixdate() {
        #expect(HTTPDate.imfFixdate(secondsSinceEpoch: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.imfFixdate(secondsSinceEpoch: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
    }

    @Test func errorBodiesAreJSON() {
        let r = HTTPResponse.error(.badRequest, "bad \"x\"\n\\")
        #expect(String(decoding: r.body, as: UTF8.self) == #"{"error":"bad \"x\"\n\\"}"#)
        #expect(r.headers == [HTTPField("Content-Type", "application/json")])
    }
}
