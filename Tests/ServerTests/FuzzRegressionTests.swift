// The fuzz entries for perfring's two untrusted inputs (HTTP requests and the ring file), and the
// tests that replay what fuzzing found through them.
//
// scripts/fuzz compiles this file with -D PERFRING_FUZZ (which leaves out the tests) together
// with Tests/Fuzz/Entry.swift into a libFuzzer binary, so the fuzzer and the regression tests
// run exactly the same code: a crash fixed once stays fixed.
import Glibc
import Server
import Shared

/// A scratch directory for the entries: a web root, Chart.js, a file beside them that must never
/// be served, and the ring path the ring entry writes its input to.
final class FuzzFixture {
    static let secret = "PERFRING-FUZZ-SECRET"
    let dir: String
    var ring: String { dir + "/ring" }
    /// The application with a dashboard and no ring: what an HTTP request reaches.
    let api: PerfringAPI

    init(under parent: String) {
        var template = Array("\(parent)/perfring-fuzz-XXXXXX".utf8CString)
        dir = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
        _ = Glibc.mkdir(dir + "/web", 0o755)
        Self.write(dir + "/web/index.html", Array("<title>perfring</title>".utf8))
        Self.write(dir + "/chart.min.js", Array("/* chart */".utf8))
        Self.write(dir + "/secret.txt", Array(Self.secret.utf8))
        api = PerfringAPI(ringPath: dir + "/no-ring", files: StaticFiles(webRoot: dir + "/web", chartJS: dir + "/chart.min.js"))
    }

    func remove() { _ = system("rm -rf '\(dir)'") }

    /// Writes a whole file under a temporary name and renames it into place (a new inode each time).
    static func write(_ path: String, _ bytes: UnsafeRawBufferPointer) {
        let temp = path + ".new"
        let fd = Glibc.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "fuzz fixture: cannot create \(temp)")
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            precondition(n > 0, "fuzz fixture: cannot write \(temp)")
            done += n
        }
        Glibc.close(fd)
        precondition(Glibc.rename(temp, path) == 0, "fuzz fixture: cannot rename \(temp)")
    }
    static func write(_ path: String, _ bytes: [UInt8]) { bytes.withUnsafeBytes { write(path, $0) } }
}

// MARK: HTTP

/// Limits small enough that fuzz inputs reach every limit branch.
private let tightLimits = HTTPLimits(maxRequestLine: 64, maxHeaderBytes: 128, maxHeaderCount: 4, maxBody: 32, maxLeadingEmptyLines: 1)

/// Parses `input` as the server would and checks what the parser promises: the same verdict
/// however the bytes are split, `consumed` within the input, pipelined requests one at a time,
/// and no request (however routed) ever answered with the file outside the web root.
func fuzzHTTP(_ input: UnsafeRawBufferPointer, _ fx: FuzzFixture) {
    for limits in [HTTPLimits(), tightLimits] {
        let whole = HTTPParser.parse(input, limits: limits)
        for cut in cutPoints(input.count) {
            let part = HTTPParser.parse(UnsafeRawBufferPointer(rebasing: input[0..<cut]), limits: limits)
            switch whole {
            case .complete(_, let consumed):
                precondition(consumed > 0 && consumed <= input.count, "consumed \(consumed) of \(input.count)")
                precondition(part == (cut < consumed ? .incomplete : whole), "a prefix of \(cut) bytes parsed differently")
            case .invalid:
                precondition(part == .incomplete || part == whole, "a prefix of \(cut) bytes parsed differently")
            case .incomplete:
                precondition(part == .incomplete, "a prefix of \(cut) bytes decided what the whole input did not")
            }
        }
    }
    for limits in [HTTPLimits(), tightLimits] {
        // One parser resumed over growing prefixes, as the server runs it, agrees with a whole parse.
        var parser = HTTPParser(limits: limits)
        var resumed = HTTPParseResult.incomplete
        for cut in cutPoints(input.count) + [input.count] where resumed == .incomplete {
            resumed = parser.parse(UnsafeRawBufferPointer(rebasing: input[0..<cut]))
        }
        precondition(resumed == HTTPParser.parse(input, limits: limits), "a resumed parse differs from a whole one")
    }
    var offset = 0
    for _ in 0..<16 where offset < input.count {
        guard case .complete(let request, let consumed) = HTTPParser.parse(UnsafeRawBufferPointer(rebasing: input[offset...])) else { break }
        exercise(request, fx)
        offset += consumed
    }
}

/// Every prefix of a short input; 32 spread over a long one.
private func cutPoints(_ n: Int) -> [Int] {
    n <= 256 ? Array(0..<n) : (0..<32).map { $0 * n / 32 }
}

private func exercise(_ request: HTTPRequest, _ fx: FuzzFixture) {
    _ = (request.method, request.target, request.path, request.query, request.headers, request.lastEventID, request.isHEAD)
    _ = request.queryItems()
    if let path = request.normalizedPath() {
        precondition(path.hasPrefix("/") && !path.split(separator: "/").contains("..") && !path.contains("\\"), "normalised to \(path)")
        precondition(path.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "normalised path has a control or non-ASCII byte")
    }
    switch fx.api.handle(request) {
    case .response(let r):
        precondition((100...599).contains(r.status.code))
        precondition(!String(decoding: r.body, as: UTF8.self).contains(FuzzFixture.secret), "served a file outside the web root")
    case .produced(let head, let producer):
        precondition((100...599).contains(head.status.code))
        var w = JSONWriter()
        var done = false
        while !done {
            w.reset()
            done = producer.produce(into: &w, budget: 4096)
        }
    case .stream(_, let token):
        fx.api.streamClosed(token)
    case .deferred:
        break  // an upload's analysis, answered from the worker (the fixture has uploads off)
    }
}

// MARK: ring

/// Requests that read every part of a ring.
private let ringTargets = ["/api/health", "/api/latest", "/api/data", "/api/data?format=columns&since=0", "/api/export.csv",
                           "/api/events", "/api/fields", "/metrics"]

/// Treats `input` as a ring file: its first 4096 bytes through `parseRingHeader`, then the whole
/// input as a file at the ring path, followed by the server's own reader (RingFollower, the
/// metric deriver, every endpoint) before and after the file is cut in half under its mapping.
func fuzzRing(_ input: UnsafeRawBufferPointer, _ fx: FuzzFixture) {
    var image = [UInt8](repeating: 0, count: RingLayout.headerSize)
    image.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: input.prefix(RingLayout.headerSize))) }
    image.withUnsafeBytes { h in
        for size in [input.count, RingLayout.headerSize, Int(UInt32.max) * 4096] {
            _ = try? parseRingHeader(h.baseAddress!, fileSize: size)
        }
    }

    FuzzFixture.write(fx.ring, input)
    if let reader = try? RingReader(path: fx.ring) { readEverything(reader) }
    let api = PerfringAPI(ringPath: fx.ring, files: nil)
    ask(api, ringTargets)
    _ = api.follower.state(now: Sys.monotonicNanos())
    _ = Glibc.truncate(fx.ring, off_t(input.count / 2))
    ask(api, ["/api/health", "/api/latest"])
}

private func ask(_ api: PerfringAPI, _ targets: [String]) {
    for target in targets {
        let raw = Array("GET \(target) HTTP/1.1\r\nHost: f\r\n\r\n".utf8)
        guard case .complete(let request, _) = raw.withUnsafeBytes({ HTTPParser.parse($0) }) else { preconditionFailure("bad request \(target)") }
        if case .stream(_, let token) = api.handle(request) { api.streamClosed(token) }
    }
}

/// Every accessor of every record the reader will hand out.
private func readEverything(_ reader: RingReader) {
    let h = reader.header
    _ = (reader.heartbeat(), reader.stopped(), reader.exitStatus(), reader.headerIntact(), reader.isCurrent())
    for slot in 0..<RingLayout.maxEvents { _ = reader.total(slot) }
    guard let w = reader.writeIndex() else { return }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: h.recordSize, alignment: 64)
    defer { buffer.deallocate() }
    var i = reader.oldestIndex(writeIndex: w)
    var sum: UInt64 = 0
    while i < w && i - reader.oldestIndex(writeIndex: w) < 4096 {
        if reader.read(i, into: buffer) == .ok {
            let v = RecordView(UnsafeRawPointer(buffer))
            precondition(v.index == i, "record \(i) read as \(v.index)")
            sum &+= v.timeNs &+ v.dtNs &+ UInt64(v.missed) &+ UInt64(v.flags.rawValue) &+ v.osValid
            for f in OSField.allCases { sum &+= v.os(f) ?? 0 }
            for slot in 0..<h.eventCount { sum &+= v.counter(slot).value }
            for cpu in 0..<h.perCpuCount {
                for k in 0..<8 { sum &+= v.cpuTime(cpu: cpu, k, header: h) }
                for slot in 0..<h.eventCount { sum &+= v.cpuCounter(cpu: cpu, slot, header: h).running }
            }
        }
        i += 1
    }
    _ = sum
}

#if !PERFRING_FUZZ
import Testing

/// Replays every committed crasher (and the seed corpora, which must all pass too).
@Suite(.serialized) struct FuzzRegressionTests {
    static let fuzzRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(2)  // ServerTests/FuzzRegressionTests.swift
        return parts.joined(separator: "/") + "/Fuzz"
    }()

    static func inputs(_ target: String) -> [String] {
        ["crashers", "corpus"].flatMap { kind -> [String] in
            let dir = "\(fuzzRoot)/\(target)/\(kind)"
            return ((try? Sys.listDirectory(dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted().map { "\(dir)/\($0)" }
        }
    }

    static func bytes(_ path: String) throws -> [UInt8] {
        let fd = try Sys.open(path, O_RDONLY)
        defer { Sys.close(fd) }
        var out: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try Sys.read(fd, $0) }
            if n == 0 { return out }
            out += chunk[0..<n]
        }
    }

    @Test(arguments: ["http", "ring"])
    func everyCommittedInputReplaysCleanly(_ target: String) throws {
        let files = Self.inputs(target)
        #expect(!files.isEmpty, "no corpus under \(Self.fuzzRoot)/\(target)")
        let fx = FuzzFixture(under: "/tmp")
        defer { fx.remove() }
        for file in files {
            let input = try Self.bytes(file)
            input.withUnsafeBytes { target == "http" ? fuzzHTTP($0, fx) : fuzzRing($0, fx) }
        }
    }
}
#endif
