// The ring is the history (issue 15): replies read it when they are made, large ones are
// streamed as the client drains them without holding up anyone else, resumed streams catch up
// in bounded steps or get a `gap` event, and a ring of any claimed size is served without the
// server allocating for it.
import Foundation
import Glibc
import Shared
import Testing
@testable import Server

/// Raw SSE text received so far on `c`: the events, gap events included.
private func rawEvents(_ c: TestClient) -> [(event: String, id: String, data: String)] {
    let text = String(decoding: c.buffer, as: UTF8.self)
    guard let start = text.range(of: "\r\n\r\n") else { return [] }
    return text[start.upperBound...].components(separatedBy: "\n\n").dropLast().compactMap { block in
        var e = (event: "", id: "", data: "")
        for line in block.split(separator: "\n") {
            if line.hasPrefix("event: ") { e.event = String(line.dropFirst(7)) }
            if line.hasPrefix("id: ") { e.id = String(line.dropFirst(4)) }
            if line.hasPrefix("data: ") { e.data = String(line.dropFirst(6)) }
        }
        return e.event.isEmpty ? nil : e
    }
}

@Suite struct HistoryServingTests {
    /// A reply far larger than the socket buffers, whose client reads nothing for a while:
    /// other requests are answered meanwhile, and the reply, once drained, is whole.
    @Test(arguments: ["/api/data", "/api/data?format=columns", "/api/export.csv"])
    func aLargeReplyStreamsWhileOthersAreServed(_ target: String) throws {
        let dir = APITempDir()
        let n = 12_000
        let c = try FakeCollector(path: dir.ring, capacity: n)
        c.write(n)
        let server = APIServer(ring: dir.ring)
        let big = try TestClient(port: server.port)
        big.send("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try #require(big.read(until: "\r\n\r\n"))
        #expect(head.contains("Transfer-Encoding: chunked"))
        // The big reply is stuck behind its unread socket; the server answers others anyway.
        for _ in 0..<20 {
            let latest = try server.object("/api/latest")
            #expect(number(latest["seq"]) == Double(n - 1))
        }
        // Drained, it is complete and in order.
        let body = try #require(big.chunkedBodyAfterHead(), "the reply ended properly")
        if target.hasSuffix(".csv") {
            let lines = String(decoding: body, as: UTF8.self).split(separator: "\n")
            #expect(lines.count == n + 1)
            #expect(lines.dropFirst().map { Int($0.prefix { $0 != "," }) } == (0..<n).map { Optional($0) })
        } else {
            let o = try jsonObject(body)
            if let columns = o["columns"] as? [String: Any] {
                #expect((columns["seq"] as? [Any])?.compactMap { number($0).map(Int.init) } == Array(0..<n))
                #expect((columns["phase"] as? [Any])?.count == n)
                #expect((columns["cpi"] as? [Any])?.count == n)
            } else {
                #expect(seqs(o) == Array(0..<n))
            }
        }
    }

    /// A ring of more than 16 events (a replayed recording) keeps the counters of slots 16 on
    /// past the record's fixed part: every reply shape reads them from there.
    @Test(arguments: [17, 40, 128])
    func countersPastTheSixteenthSlotAreServed(events: Int) throws {
        let dir = APITempDir()
        let extra = (Slot.events.count..<events).map {
            EventEntry(name: "ev\($0)", type: 1, config: UInt64($0), status: .counting, group: UInt32($0), opened: 1)
        }
        let c = try FakeCollector(path: dir.ring, capacity: 8, events: Slot.events + extra)
        var r = FakeRecord.plain
        for slot in Slot.events.count..<events { r.counters[slot] = .full(UInt64(1000 + slot)) }
        c.write(r)
        c.write(r)
        let server = APIServer(ring: dir.ring)
        let last = events - 1
        let expected = Double(1000 + last)
        let objects = try server.object("/api/data")
        let samples = try #require(objects["samples"] as? [[String: Any]])
        #expect(samples.map { $0["ev\(last)"] as? Double } == [expected, expected])
        #expect(samples.map { $0["ev\(last)_per_s"] as? Double } == [expected * 2, expected * 2])  // dt 0.5 s
        let columns = try #require(try server.object("/api/data?format=columns")["columns"] as? [String: Any])
        #expect(columns["ev\(last)"] as? [Double] == [expected, expected])
        #expect(columns["ev16"] as? [Double] == [1016, 1016])
        let csv = try server.get("/api/export.csv").text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let k = try #require(csv.first?.firstIndex(of: "ev\(last)"))
        #expect(csv.dropFirst().map { String($0[k]) } == ["\(1000 + last)", "\(1000 + last)"])
    }

    /// Records caught mid-write (an odd sequence word) inside a block of rows, at a block's
    /// edge and in a run are left out of objects and CSV, the sample after each with `gap` 1
    /// (but the reply's first), and are null in every column; the samples around them keep their own values.
    @Test(arguments: [[5], [15, 16], [16, 17, 18, 33], [0, 39]])
    func recordsCaughtMidWriteAreLeftOutOfEveryShape(torn: [Int]) throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring, capacity: 64)
        c.write(40)
        let recordSize = RingLayout.recordSize(eventCount: Slot.events.count, perCpuCount: 0)
        for i in torn {
            apiPatch(dir.ring, at: RingLayout.headerSize(eventCount: Slot.events.count) + i * recordSize, apiLE64(UInt64(2 * i + 1)))
        }
        let kept = (0..<40).filter { !torn.contains($0) }
        // A gap is told after a sample of the reply (before its first one, none can be).
        let gapAfter = Set(kept.filter { $0 > kept[0] && torn.contains($0 - 1) })
        let server = APIServer(ring: dir.ring)

        let samples = try #require(try server.object("/api/data")["samples"] as? [[String: Any]])
        #expect(samples.compactMap { number($0["seq"]).map(Int.init) } == kept)
        #expect(samples.map { number($0["gap"]) } == kept.map { gapAfter.contains($0) ? 1 : 0 })
        #expect(samples.allSatisfy { number($0["ipc"]) == 1.5 })

        let rows = try server.get("/api/export.csv").text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let seqAt = try #require(rows.first?.firstIndex(of: "seq")), gapAt = try #require(rows.first?.firstIndex(of: "gap"))
        #expect(rows.dropFirst().map { Int($0[seqAt]) } == kept)
        #expect(rows.dropFirst().map { Int($0[gapAt]) } == kept.map { gapAfter.contains($0) ? 1 : 0 })

        let columns = try #require(try server.object("/api/data?format=columns")["columns"] as? [String: Any])
        let seq = try #require(columns["seq"] as? [Any])
        #expect(seq.count == 40)
        #expect((0..<40).filter { isNull(seq[$0]) } == torn)
        let ipc = try #require(columns["ipc"] as? [Any])
        #expect((0..<40).filter { isNull(ipc[$0]) } == torn)
    }

    /// HTTP/1.0 has no chunked coding: the body is delimited by the connection's end.
    @Test func anHTTP10ClientGetsTheBodyUntilClose() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(5)
        let server = APIServer(ring: dir.ring)
        let client = try TestClient(port: server.port)
        client.send("GET /api/data HTTP/1.0\r\n\r\n")
        #expect(client.closesConnection())
        let text = String(decoding: client.buffer, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        #expect(parts.count == 2)
        #expect(!parts[0].contains("Transfer-Encoding") && parts[0].contains("Connection: close"))
        #expect(seqs(try jsonObject(Array(parts[1].utf8))) == [0, 1, 2, 3, 4])
    }

    /// A Last-Event-ID that names no sample the ring holds gets a `gap` event, then the
    /// stream is live: nothing from the history is replayed.
    @Test(arguments: ["bogus", "::", "GEN:999999", "GEN:0", "GEN:-1", "0123456789abcdeg:1"])
    func anUnknownLastEventIDGetsAGapThenLive(_ id: String) throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring, capacity: 8)
        c.write(20)  // seq 0...19, the ring keeps 12...19: GEN:0 is older than the ring
        let server = APIServer(ring: dir.ring)
        let gen = c.generationHex
        let lastID = id.replacingOccurrences(of: "GEN", with: gen)
        let stream = try TestClient.stream(port: server.port, lastEventID: lastID)
        #expect(stream.read(until: "event: gap\n") != nil)
        c.write()
        _ = stream.events(through: "\(gen):20")
        let events = rawEvents(stream)
        #expect(events.map(\.event) == ["gap", "sample"], "\(events)")
        #expect(events.last?.id == "\(gen):20")
        let gap = try jsonObject(Array((events.first?.data ?? "").utf8))
        #expect(gap["last_event_id"] as? String == lastID)
        #expect(number(gap["oldest_seq"]) == 12 && number(gap["next_seq"]) == 20)
    }

    /// Resuming far behind: the backlog arrives whole and in order, a bounded amount per tick.
    @Test func aResumedStreamCatchesUpOnALongBacklog() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring, capacity: 4096)
        c.write(3000)
        let server = APIServer(ring: dir.ring)
        let gen = c.generationHex
        let stream = try TestClient.stream(port: server.port, lastEventID: "\(gen):9")
        #expect(stream.read(until: "id: \(gen):2999\n") != nil)
        let events = stream.events(through: "\(gen):2999")
        #expect(events.map(\.id) == (10..<3000).map { "\(gen):\($0)" })
    }

    /// A header claiming two billion records (a sparse file of 1.7 TB) holding three: served
    /// at once, with none of that size allocated.
    @Test func aSparseHugeRingIsServedWithoutAllocating() throws {
        let dir = RingDir()  // readable by the account a root-started server drops to
        let small = dir.path + "/small"
        let c = try FakeCollector(path: small, capacity: 4)
        c.write(3)
        let capacity: UInt32 = 1 << 31
        let bytes = try #require(FileManager.default.contents(atPath: small)).map { $0 }
        let recordSize = Int(bytes[RingLayout.hRecordSize]) | Int(bytes[RingLayout.hRecordSize + 1]) << 8
        let fd = open(dir.ring, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        #expect(fd >= 0)
        #expect(ftruncate(fd, off_t(RingLayout.headerSize) + off_t(capacity) * off_t(recordSize)) == 0)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, RingLayout.headerSize + 3 * recordSize, 0) }
        close(fd)
        apiPatch(dir.ring, at: RingLayout.hCapacity, apiLE32(capacity))

        let server = try ServerProcess(["--ring", dir.ring])
        let h = server.eventuallyHealth { number($0["samples"]) == 3 }
        #expect(h.ok, "\(String(describing: h.last))")
        #expect(server.seqs() == [0, 1, 2])
        #expect(try server.get("/api/latest").status == 200)
        let status = try String(contentsOfFile: "/proc/\(server.pid)/status", encoding: .utf8)
        let rssKB = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
        #expect(rssKB > 0 && rssKB < 200 * 1024, "server RSS \(rssKB) kB")
        #expect(server.stop() == 0)
    }

    /// A collector restarted under an open reply: the reply goes on from the old mapping, whole.
    @Test func aReplyOutlivesItsRingBeingReplaced() throws {
        let dir = APITempDir()
        let n = 6_000
        let first = try FakeCollector(path: dir.ring, capacity: n)
        first.write(n)
        let server = APIServer(ring: dir.ring)
        let big = try TestClient(port: server.port)
        big.send("GET /api/data HTTP/1.1\r\nHost: t\r\n\r\n")
        _ = try #require(big.read(until: "\r\n\r\n"))
        let second = try FakeCollector(path: dir.ring)
        second.write(2)
        #expect(server.eventuallyObject("/api/health") { $0["generation"] as? String == second.generationHex } != nil)
        let o = try jsonObject(try #require(big.chunkedBodyAfterHead()))
        #expect(o["generation"] as? String == first.generationHex)
        #expect(seqs(o) == Array(0..<n))
    }
}

/// A full ring at start is a backlog for phases and alerts: it is consumed in bounded slices
/// on ticks and between the server loop's turns, never by a request, so requests are answered
/// while it lasts; records that arrive live are still seen by the next request.
@Suite struct PhaseBacklogTests {
    @Test func aLargeBacklogIsConsumedInSlicesNotByRequests() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring, capacity: 8192)
        c.write(5000)
        let api = PerfringAPI(ringPath: dir.ring, files: nil)
        api.tick(now: Sys.monotonicNanos())
        let afterTick = api.follower.backlog
        #expect(afterTick >= 5000 - UInt64(PerfringAPI.backlogSlice) && afterTick > 0, "one tick takes one slice at most")
        // Requests leave a large backlog alone.
        let text = Array("GET /api/latest HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        guard case .complete(let request, _) = text.withUnsafeBytes({ HTTPParser.parse($0) }) else {
            Issue.record("request did not parse"); return
        }
        guard case .response(let latest) = api.handle(request) else { Issue.record("no response"); return }
        #expect(latest.status == .ok)
        #expect(api.follower.backlog == afterTick)
        // The loop's idle slices finish it.
        var slices = 0
        while api.idle(now: Sys.monotonicNanos()) { slices += 1 }
        #expect(api.follower.backlog == 0 && slices >= 1)
        // Live records are small backlogs: the next request takes them in.
        c.write(3)
        _ = api.handle(request)
        #expect(api.follower.backlog == 0)
    }

    /// A columns reply derives a group of columns per pass over its range when they fit its
    /// bounded scratch, else a pass per column: the bytes are the same whatever the grouping
    /// (one column, several, all of them), for a whole ring and for a range within it.
    @Test(arguments: [1, 7, 1000])
    func columnsAreTheSameWhateverTheirGrouping(columnsPerGroup: Int) throws {
        let dir = APITempDir()
        let n = 300
        let c = try FakeCollector(path: dir.ring, capacity: n)
        for i in 0..<n {
            var r = FakeRecord.plain
            r.dtNs = 500_000_000 + UInt64(i % 7) * 1_000_000
            r.counters[Slot.cycles] = .full(UInt64(2_000_000 + (i * 7919) % 100_000))
            r.counters[Slot.instructions] = .full(UInt64(3_000_000 + (i * 104_729) % 1_000_000))
            c.write(r)
        }
        let samples = try RingSnapshot.read(dir.ring).samples
        let ranges: [(Range<UInt64>, UInt64?)] = [(samples.indices, nil), (100..<250, 99)]
        for (range, before) in ranges {
            let budget = ScratchBudget(limit: columnsPerGroup * range.count * 8)
            let grouped = columnsBody(samples, range, before: before, scratch: budget)
            #expect(grouped == columnsBody(samples, range, before: before, scratch: ScratchBudget(limit: 0)))
            #expect(budget.inUse == 0, "a finished reply gives its scratch back")
            let columns = try #require(try jsonObject(grouped)["columns"] as? [String: [Any]])
            #expect(columns["seq"]?.compactMap { number($0).map(UInt64.init) } == Array(range))
            #expect(columns.values.allSatisfy { $0.count == range.count })
            #expect(Set(columns["cycles"]?.compactMap { number($0) } ?? []).count > 1)
        }
    }

    /// Replies share one scratch budget: while one holds it, the next is served a pass per
    /// column (the same bytes), so many slow clients cannot make the server hold a scratch each.
    @Test func repliesShareOneScratchBudget() throws {
        let dir = APITempDir()
        let c = try FakeCollector(path: dir.ring, capacity: 200)
        c.write(200)
        let samples = try RingSnapshot.read(dir.ring).samples
        let budget = ScratchBudget(limit: ScratchBudget.perReply)
        let first = SampleReply(encoder: SampleEncoder(allColumnsOf: samples), range: samples.indices, shape: .columns, labels: nil,
                                opening: Array(#"{"columns":"#.utf8), before: nil, scratch: budget)
        var w = JSONWriter(reserve: 1 << 16)
        _ = first.produce(into: &w, budget: 4096)  // its first chunk takes the scratch
        #expect(budget.inUse > 0 && budget.inUse <= budget.limit)
        let held = budget.inUse
        let second = columnsBody(samples, samples.indices, before: nil, scratch: budget)
        #expect(budget.inUse == held, "the second reply took nothing: the budget was spent")
        #expect(second == columnsBody(samples, samples.indices, before: nil, scratch: ScratchBudget(limit: 1 << 30)))
        // A reply whose metric columns are written holds no scratch.
        while !first.produce(into: &w, budget: 4096) { w.reset() }
        #expect(budget.inUse == 0)
        withExtendedLifetime(first) {}
    }
}

/// The whole body of a columns reply over `range`, produced in 4 KB chunks.
private func columnsBody(_ samples: RingSamples, _ range: Range<UInt64>, before: UInt64?, scratch: ScratchBudget) -> [UInt8] {
    let reply = SampleReply(encoder: SampleEncoder(allColumnsOf: samples), range: range, shape: .columns, labels: nil,
                            opening: Array(#"{"columns":"#.utf8), before: before, scratch: scratch)
    var out: [UInt8] = [], w = JSONWriter(reserve: 1 << 16), done = false
    while !done {
        w.reset()
        done = reply.produce(into: &w, budget: 4096)
        out += w.bytes
    }
    return out
}
