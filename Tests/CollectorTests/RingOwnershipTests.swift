// The ring in daily use, through the real binaries: one collector per ring (a second one exits
// naming the first; --replace takes over cleanly; scripts/run started twice), and a ring
// truncated, replaced or removed under a running collector (it writes a new ring, it does not
// die of SIGBUS).
import Foundation
import Glibc
import Testing
@testable import Shared

/// A collector writing `ring` every 20 ms (counters the machine may refuse are fine: the tests
/// are about the file).
private func startCollector(_ ring: String, _ extra: [String] = []) throws -> Background {
    try Background(productsDir + "/perfring-collector", ["--ring", ring, "--interval", "20ms", "--capacity", "500"] + extra)
}

/// The header of the ring at `path` once one exists and has records.
private func liveHeader(_ path: String, otherThan generation: UInt64? = nil) -> RingHeader? {
    var found: RingHeader?
    _ = waitFor {
        guard let r = try? RingReader(path: path), (r.writeIndex() ?? 0) > 0, r.header.generation != generation else { return false }
        found = r.header
        return true
    }
    return found
}

@Suite(.serialized) struct RingOwnershipTests {
    @Test func aSecondCollectorOnTheSameRingExitsOneNamingTheFirst() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let first = try startCollector(ring)
        let header = try #require(liveHeader(ring))
        let pid = first.process.processIdentifier
        #expect(header.collectorPid == pid)
        for _ in 0..<2 {
            let second = try runProduct("perfring-collector", ["--ring", ring, "--interval", "20ms", "--capacity", "500"])
            #expect(second.status == 1, "\(second.stderr)")
            #expect(second.stderr == "perfring-collector: error: ring \(ring) is in use by perfring-collector pid \(pid) (--replace stops it first)\n")
        }
        // The first one's ring is still the one at the path, and it is still being written.
        let r = try RingReader(path: ring)
        #expect(r.header.generation == header.generation)
        let w = r.writeIndex() ?? 0
        #expect(waitFor { (r.writeIndex() ?? 0) > w })
        #expect(try Sys.listDirectory(dir.path).sorted() == [".ring.lock", "ring"], "no temporary file was left behind")
        first.signal(SIGINT)
        #expect(first.wait() == 0)
    }

    @Test func replaceStopsTheFirstCleanlyAndTakesOver() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let first = try startCollector(ring)
        let old = try #require(liveHeader(ring))
        let oldReader = try RingReader(path: ring)
        let second = try startCollector(ring, ["--replace"])
        #expect(first.wait() == 0, "the first collector stopped cleanly: \(first.stderr)")
        #expect(oldReader.stopped() == true, "and marked its ring stopped")
        let new = try #require(liveHeader(ring, otherThan: old.generation))
        #expect(new.collectorPid == second.process.processIdentifier)
        #expect(second.stderr.contains("stopping perfring-collector pid \(first.process.processIdentifier) (--replace)"))
        second.signal(SIGTERM)
        #expect(second.wait() == 0)
    }

    @Test func replaceDoesNotSignalAProcessThatIsNotACollector() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        // The lock is held here, and the file names another live process (a stale or forged
        // pid): --replace must not signal it.
        let sleeper = try Background("/bin/sleep", ["30"])
        let fd = open(dir.path + "/.ring.lock", O_RDWR | O_CREAT, 0o644)
        defer { close(fd) }
        try Sys.tryLockExclusive(fd)
        _ = "\(sleeper.process.processIdentifier)\n".withCString { write(fd, $0, strlen($0)) }
        let r = try runProduct("perfring-collector", ["--ring", ring, "--replace", "--interval", "20ms", "--capacity", "500"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("cannot take over ring \(ring): its lock is held by pid \(sleeper.process.processIdentifier) (sleep), which is not a perfring-collector"), "\(r.stderr)")
        #expect(sleeper.process.isRunning, "the other process was not signalled")
        #expect((try? Sys.lstat(ring)) == nil, "nothing was created")
    }

    /// The README's `scripts/run`, started a second time beside a running one: the second
    /// collector is refused with the first one's pid, the script says so and exits 1, and the
    /// first keeps running until Ctrl-C.
    @Test(.enabled(if: geteuid() == 0, "scripts/run starts the collector through sudo otherwise"))
    func scriptsRunStartedTwiceRefusesTheSecondCollector() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let repo = URL(fileURLWithPath: productsDir).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let args = ["--ring", ring, "--port", "0", "--interval", "20ms", "--capacity", "500"]
        let env = ["PERFRING_BIN": productsDir]  // the binaries this test run built
        // The test runner's threads block SIGINT and SIGTERM, and a child inherits that mask:
        // bash could never run its Ctrl-C trap. Start the script as a terminal would: an empty
        // mask, its own process group, and Ctrl-C sent to that whole group.
        let unblocked = ["-c", "import os, signal, sys\nsignal.pthread_sigmask(signal.SIG_SETMASK, [])\ntry: os.setsid()\nexcept OSError: pass  # already leads its own group\nos.execv(sys.argv[1], sys.argv[1:])", repo + "/scripts/run"]
        let first = try Background("/usr/bin/python3", unblocked + args, environment: env)
        #expect(waitFor(seconds: 60) { first.stdout.contains("perfring dashboard:") }, "stdout: \(first.stdout) stderr: \(first.stderr)")
        let header = try #require(liveHeader(ring))
        let second = try Background("/usr/bin/python3", unblocked + args, environment: env)
        #expect(second.wait() == 1)
        #expect(second.stderr.contains("error: ring \(ring) is in use by perfring-collector pid \(header.collectorPid)"), "\(second.stderr)")
        #expect(second.stderr.contains("scripts/run: the collector did not start"))
        #expect(try RingReader(path: ring).header.generation == header.generation)
        #expect(Sys.processExists(header.collectorPid), "the first collector still runs")
        kill(-first.process.processIdentifier, SIGINT)  // Ctrl-C: the script's whole group
        _ = first.wait()
        #expect(waitFor { !Sys.processExists(header.collectorPid) }, "Ctrl-C stopped the first collector")
        #expect(try RingReader(path: ring).stopped() == true)
    }

    /// Truncated (the collector's next write to the missing pages would be SIGBUS), replaced by
    /// another file, or removed: the collector notices, says so once, and writes a new ring at
    /// the path; a reader sees a new generation and records again.
    @Test(arguments: ["truncate", "replace", "remove"])
    func aDamagedRingIsReplacedByANewOne(_ damage: String) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let collector = try startCollector(ring)
        let old = try #require(liveHeader(ring))
        switch damage {
        case "truncate": #expect(truncate(ring, 8192) == 0)
        case "replace":
            try "not a ring\n".write(toFile: dir.path + "/other", atomically: false, encoding: .utf8)
            #expect(rename(dir.path + "/other", ring) == 0)
        default: #expect(unlink(ring) == 0)
        }
        let new = try #require(liveHeader(ring, otherThan: old.generation), "no new ring after \(damage): \(collector.stderr)")
        #expect(new.collectorPid == collector.process.processIdentifier)
        #expect(collector.process.isRunning)
        let said = ["truncate": "was truncated", "replace": "was replaced by another file", "remove": "was removed"][damage]!
        #expect(collector.stderr.contains("ring \(ring) \(said)"), "\(collector.stderr)")
        #expect(collector.stderr.contains("wrote a new ring there (generation \(String(new.generation, radix: 16)))"))
        collector.signal(SIGINT)
        #expect(collector.wait() == 0, "\(collector.stderr)")
        #expect(try RingReader(path: ring).stopped() == true)
    }

    /// When no new ring can be made (here: a symlink now sits at the path), the collector exits
    /// 1 with one clear error instead of writing into a file nobody reads.
    @Test func aDamagedRingThatCannotBeReplacedEndsTheRunWithStatusOne() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let collector = try startCollector(ring)
        _ = try #require(liveHeader(ring))
        #expect(unlink(ring) == 0)
        #expect(symlink("/etc/passwd", ring) == 0)
        #expect(collector.wait() == 1)
        // "was removed" or "was replaced by another file", depending on when it looked.
        #expect(collector.stderr.contains(", and no new ring can be made: refusing ring path \(ring): it is a symbolic link"), "\(collector.stderr)")
        #expect(collector.stderr.components(separatedBy: "error:").count == 2, "one error line")
        #expect(Sys.readlink(ring) == "/etc/passwd")
    }
}
