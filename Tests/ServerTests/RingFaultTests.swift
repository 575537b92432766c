// The real perfring-server binary against a ring that goes wrong while it serves: the collector
// stopped, killed and restarted; the file replaced, truncated, scribbled on, given a future
// version, made unreadable, turned into a FIFO or a directory, removed. Each must be a clear
// error in the log and in /api/health, never a crash; the samples already read stay served;
// a valid ring heals it without restarting the server. Run as root, the server drops to nobody.
import Foundation
import Glibc
import Testing
@testable import Server
@testable import Shared

/// A directory the server can read after dropping to nobody (0755), that RingWriter trusts.
final class RingDir {
    let path: String
    init() {
        var template = Array("/tmp/perfring-fault-XXXXXX".utf8CString)
        path = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
        chmod(path, 0o755)
    }
    deinit { _ = system("chmod -R u+rwx '\(path)' 2>/dev/null; rm -rf '\(path)'") }
    var ring: String { path + "/ring" }
}

/// A program started in the background, its stderr kept in a file.
class Daemon {
    let process = Process()
    let logPath = NSTemporaryDirectory() + "perfring-daemon-" + UUID().uuidString + ".log"

    init(_ binary: String, _ args: [String]) throws {
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = args
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }
    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: logPath)
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var isRunning: Bool { process.isRunning }
    func signal(_ sig: Int32) { kill(pid, sig) }
    /// Sends `sig` and waits for the exit (and the reaping: a zombie still "exists"), 30 s at most.
    @discardableResult
    func stop(_ sig: Int32 = SIGTERM, sourceLocation: SourceLocation = #_sourceLocation) -> Int32 {
        signal(sig)
        finish(process, within: 30, sourceLocation: sourceLocation)
        return process.terminationStatus
    }
}

/// perfring-server on 127.0.0.1 with an ephemeral port, learnt from its log.
final class ServerProcess: Daemon {
    private(set) var port: UInt16 = 0

    /// `launcher` runs the server (e.g. `prlimit --nofile=64:64`), when given.
    init(_ args: [String], launcher: [String] = []) throws {
        let argv = launcher + [serverBinary, "--listen", "127.0.0.1:0", "--poll", "10ms"] + args
        try super.init(argv[0], Array(argv.dropFirst()))
        _ = eventually(seconds: 20) {
            guard let line = log.split(separator: "\n").first(where: { $0.contains("listening on http://127.0.0.1:") }) else { return !isRunning }
            port = UInt16(line.split(separator: ":").last!.filter(\.isNumber)) ?? 0
            return true
        }
        try #require(port != 0, "the server did not start: \(log)")
    }

    func get(_ target: String) throws -> TestResponse {
        let c = try TestClient(port: port)
        c.send("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
        return try #require(c.readResponse(), "no reply to \(target)")
    }

    func health() -> [String: Any]? {
        guard let r = try? get("/api/health"), r.status == 200 else { return nil }
        return try? jsonObject(r.body)
    }

    /// Waits until /api/health satisfies `condition`; the last health seen otherwise.
    func eventuallyHealth(_ condition: ([String: Any]) -> Bool) -> (ok: Bool, last: [String: Any]?) {
        var last: [String: Any]?
        let ok = eventually(seconds: 20) {
            last = health() ?? last
            return last.map(condition) ?? false
        }
        return (ok, last)
    }

    /// The sequence numbers /api/data serves.
    func seqs() -> [Int] {
        guard let r = try? get("/api/data"), r.status == 200, let o = try? jsonObject(r.body) else { return [] }
        return ((o["samples"] as? [[String: Any]]) ?? []).compactMap { number($0["seq"]).map(Int.init) }
    }
}

func healthString(_ h: [String: Any]?, _ key: String) -> String? { h?[key] as? String }

// MARK: tests

@Suite(.serialized) struct RingFaultTests {
    /// A collector stopped (SIGSTOP), killed (kill -9) and started again: stalled, then absent,
    /// the history still served throughout, then the new run followed by the same server.
    @Test func aKilledCollectorIsReportedAndItsSuccessorFollowed() throws {
        let dir = RingDir()
        let args = ["--ring", dir.ring, "--interval", "50ms", "--capacity", "2000", "-q"]
        let first = try Daemon(collectorBinary, args)
        #expect(eventually(seconds: 20) { ((try? RingReader(path: dir.ring))?.writeIndex() ?? 0) >= 2 })
        let server = try ServerProcess(["--ring", dir.ring])
        let running = server.eventuallyHealth { healthString($0, "collector") == "running" && (number($0["samples"]) ?? 0) >= 3 }
        #expect(running.ok, "\(String(describing: running.last))")
        let firstGeneration = healthString(running.last, "generation")

        first.signal(SIGSTOP)
        let stalled = server.eventuallyHealth { healthString($0, "collector") == "stalled" }
        #expect(stalled.ok, "\(String(describing: stalled.last))")
        #expect(healthString(stalled.last, "status") == "degraded")
        #expect(eventually(seconds: 20) { server.log.contains("collector running -> stalled") }, "\(server.log)")

        first.stop(SIGKILL)
        let absent = server.eventuallyHealth { healthString($0, "collector") == "absent" }
        #expect(absent.ok, "\(String(describing: absent.last))")
        let kept = number(absent.last?["samples"]) ?? 0
        #expect(kept >= 3, "the history is still served")
        #expect(try server.get("/api/latest").status == 200)
        #expect(server.seqs().count == Int(kept))
        #expect(eventually(seconds: 20) { server.log.contains("collector stalled -> absent") }, "\(server.log)")

        let second = try Daemon(collectorBinary, args)
        let followed = server.eventuallyHealth {
            healthString($0, "generation") != firstGeneration && healthString($0, "collector") == "running" && (number($0["samples"]) ?? 0) >= 2
        }
        #expect(followed.ok, "\(String(describing: followed.last))")
        #expect(healthString(followed.last, "status") == "ok")
        #expect(second.stop() == 0)
        let stopped = server.eventuallyHealth { healthString($0, "collector") == "stopped" }
        #expect(stopped.ok, "\(String(describing: stopped.last))")
        #expect(server.isRunning, "one server process throughout")
        #expect(server.stop() == 0)
        #expect(!server.log.contains("Fatal error"), "\(server.log)")
    }

    enum Damage: String, CaseIterable, Sendable {
        case replacedByGarbage, scribbledInPlace, truncatedInPlace, truncatedToNothing, futureVersionInPlace,
             futureVersionReplacement, unreadableReplacement, fifo, directory, removed
    }

    /// What /api/health and the log say for each damage.
    static func expectedError(_ d: Damage) -> String {
        switch d {
        case .replacedByGarbage, .scribbledInPlace: "not a perfring ring file"
        case .truncatedInPlace: "ring file truncated"
        case .truncatedToNothing: "ring file too small"
        case .futureVersionInPlace, .futureVersionReplacement: "ring format version 2 is not supported"
        case .unreadableReplacement: "Permission denied"
        case .fifo, .directory: "is not a regular file"
        case .removed: "no ring file at"
        }
    }

    @Test(arguments: Damage.allCases)
    func damageWhileServingIsReportedAndHealed(_ damage: Damage) throws {
        let dir = RingDir()
        var first: FakeCollector? = try FakeCollector(path: dir.ring, capacity: 16)
        first?.write(4)
        let server = try ServerProcess(["--ring", dir.ring])
        #expect(server.eventuallyHealth { number($0["samples"]) == 4 }.ok)

        let temp = dir.path + "/incoming"
        func replace(with bytes: [UInt8], mode: mode_t = 0o644) {
            let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, mode)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            #expect(rename(temp, dir.ring) == 0)
        }
        func garbage(_ n: Int) -> [UInt8] {
            var g = SystemRandomNumberGenerator()
            return (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
        }
        let original = try #require(FileManager.default.contents(atPath: dir.ring)).map { $0 }
        var versionTwo = original
        versionTwo.replaceSubrange(RingLayout.hVersion..<(RingLayout.hVersion + 4), with: apiLE32(2))

        var unreadable: FakeCollector?
        switch damage {
        case .replacedByGarbage:
            replace(with: garbage(original.count))
        case .scribbledInPlace:
            apiPatch(dir.ring, at: 0, garbage(original.count))
        case .truncatedInPlace:
            first = nil  // the writer must not touch pages that go away
            #expect(truncate(dir.ring, off_t(RingLayout.headerSize + 1000)) == 0)
        case .truncatedToNothing:
            first = nil
            #expect(truncate(dir.ring, 0) == 0)
        case .futureVersionInPlace:
            apiPatch(dir.ring, at: RingLayout.hVersion, apiLE32(2))
        case .futureVersionReplacement:
            replace(with: versionTwo)
        case .unreadableReplacement:
            // A new run's ring that the server may not read. Root reads anything, but the
            // server has dropped to nobody; run as another user it is the owner, whom mode 000
            // denies too.
            unreadable = try FakeCollector(path: dir.path + "/other")
            unreadable?.write(1)
            replace(with: try #require(FileManager.default.contents(atPath: dir.path + "/other")).map { $0 }, mode: 0)
        case .fifo:
            #expect(unlink(dir.ring) == 0 && mkfifo(dir.ring, 0o644) == 0)
        case .directory:
            #expect(unlink(dir.ring) == 0 && mkdir(dir.ring, 0o755) == 0)
        case .removed:
            #expect(unlink(dir.ring) == 0)
        }
        let want = Self.expectedError(damage)
        let reported = server.eventuallyHealth { (healthString($0, "ring_error") ?? "").contains(want) }
        #expect(reported.ok, "\(damage): \(String(describing: reported.last))")
        #expect(healthString(reported.last, "status") == "degraded")
        // Samples are read from the mapping when served: a file replaced or removed leaves it
        // valid and everything stays served; one truncated or overwritten in place under the
        // mapping holds nothing any more, and the server says so rather than serve garbage.
        let destroyed = [.truncatedInPlace, .truncatedToNothing, .scribbledInPlace].contains(damage)
        #expect(number(reported.last?["samples"]) == (destroyed ? 0 : 4), "what the mapping still holds is served")
        #expect(server.seqs() == (destroyed ? [] : [0, 1, 2, 3]))
        #expect(try server.get("/metrics").status == 200)
        #expect(server.log.contains("warning: ring \(dir.ring)") && server.log.contains(want), "\(server.log)")
        #expect(server.isRunning)

        // A valid ring at the path heals it, without a restart.
        switch damage {
        case .fifo: unlink(dir.ring)
        case .directory: rmdir(dir.ring)
        default: break
        }
        let healer: FakeCollector
        if let unreadable {
            chmod(dir.ring, 0o644)  // the new run's ring becomes readable: it is followed
            healer = unreadable
        } else {
            first = nil
            healer = try FakeCollector(path: dir.ring)
            healer.write(2)
        }
        let healed = server.eventuallyHealth { healthString($0, "generation") == healer.generationHex && $0["ring_error"] is NSNull }
        #expect(healed.ok, "\(damage): \(String(describing: healed.last))")
        #expect(healthString(healed.last, "status") == "ok")
        #expect(server.stop() == 0)
        #expect(!server.log.contains("Fatal error"), "\(server.log)")
    }

    /// The ring moved away (an error) and back (the same file again): the error clears.
    @Test func aRingMovedAwayAndBackClearsTheError() throws {
        let dir = RingDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        let server = try ServerProcess(["--ring", dir.ring])
        #expect(server.eventuallyHealth { number($0["samples"]) == 2 }.ok)
        #expect(rename(dir.ring, dir.path + "/aside") == 0)
        #expect(server.eventuallyHealth { (healthString($0, "ring_error") ?? "").contains("no ring file at") }.ok)
        #expect(rename(dir.path + "/aside", dir.ring) == 0)
        c.write()
        let back = server.eventuallyHealth { $0["ring_error"] is NSNull && number($0["samples"]) == 3 }
        #expect(back.ok, "\(String(describing: back.last))")
        #expect(healthString(back.last, "status") == "ok")
        #expect(server.stop() == 0)
    }

    /// chmod 000 on the ring the server already maps changes nothing for it: permissions are
    /// checked at open, and it keeps reading the file it opened.
    @Test func chmodOfTheOpenRingDoesNotInterruptServing() throws {
        let dir = RingDir()
        let c = try FakeCollector(path: dir.ring)
        c.write(2)
        let server = try ServerProcess(["--ring", dir.ring])
        #expect(server.eventuallyHealth { number($0["samples"]) == 2 }.ok)
        chmod(dir.ring, 0)
        c.write(3)
        let h = server.eventuallyHealth { number($0["samples"]) == 5 }
        #expect(h.ok, "\(String(describing: h.last))")
        #expect(h.last?["ring_error"] is NSNull)
        #expect(server.stop() == 0)
    }

    /// A FIFO at the ring path when the server starts: it must not block the server (opening a
    /// FIFO for reading waits for a writer), only be reported.
    @Test func aFIFOAtTheRingPathAtStartIsReportedNotWaitedOn() throws {
        let dir = RingDir()
        #expect(mkfifo(dir.ring, 0o644) == 0)
        let server = try ServerProcess(["--ring", dir.ring])
        let h = server.eventuallyHealth { (healthString($0, "ring_error") ?? "").contains("is not a regular file") }
        #expect(h.ok, "\(String(describing: h.last))")
        #expect(server.stop() == 0)
    }
}
