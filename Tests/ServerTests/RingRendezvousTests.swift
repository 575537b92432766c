// Collector and server meet at the same ring with no flags, and the server says what it waits
// for once: a missing ring polled every few milliseconds is one log line, not hundreds.
import Foundation
import Glibc
import Testing
@testable import Server
@testable import Shared

@Suite(.serialized) struct RingRendezvousTests {
    /// The server looks first where root's collector writes, then where the same user's
    /// collector writes: the collector's default is always among the server's candidates.
    @Test func theServerLooksWhereTheCollectorWrites() throws {
        guard case .run(let o) = try ServerOptions.parse([]) else { Issue.record("not a run"); return }
        #expect(o.ringPath == "/run/perfring/ring")
        #expect([o.ringPath] + o.ringFallbacks == RingPaths.serverCandidates())
        #expect(RingPaths.serverCandidates().contains(RingPaths.collectorDefault()))
        if Sys.geteuid() != 0 { #expect(o.ringFallbacks == [RingPaths.user()]) }
        guard case .run(let given) = try ServerOptions.parse(["--ring", "/tmp/r"]) else { Issue.record("not a run"); return }
        #expect(given.ringPath == "/tmp/r" && given.ringFallbacks.isEmpty, "--ring is the only place then")
    }

    @Test func theFollowerTakesTheFirstCandidateThatExists() throws {
        let dir = RingDir()
        let first = dir.path + "/system/ring", second = dir.path + "/user/ring"
        mkdir(dir.path + "/system", 0o755); mkdir(dir.path + "/user", 0o755)
        let follower = RingFollower(path: first, fallbacks: [second])
        follower.poll()
        #expect(follower.path == first, "waiting at the first while neither exists")
        #expect(follower.ringError == nil && follower.reader == nil)
        let user = try FakeCollector(path: second)
        user.write()
        follower.poll()
        #expect(follower.path == second)
        #expect(follower.generation == user.writer.generation)
        #expect(follower.samples?.count == 1)
        // Once following, a ring appearing at the first place does not pull it away mid-run.
        let system = try FakeCollector(path: first)
        system.write()
        follower.poll()
        #expect(follower.path == second)
    }

    /// Why the ring at the first place is not worth following: its collector stopped cleanly,
    /// or died (its heartbeat old, its pid gone), or it is a ring left from a run long ago.
    enum Stale: String, CaseIterable, Sendable { case stopped, died }

    /// With no --ring, a stale ring at /run/perfring/ring does not hide a live one at the
    /// user's own place: the follower takes the ring whose collector is running.
    @Test(arguments: Stale.allCases)
    func aLiveRingIsPreferredOverAStaleOne(_ stale: Stale) throws {
        let dir = RingDir()
        let first = dir.path + "/system/ring", second = dir.path + "/user/ring"
        mkdir(dir.path + "/system", 0o755); mkdir(dir.path + "/user", 0o755)
        let system = try FakeCollector(path: first, pid: stale == .died ? deadPid : nil)
        switch stale {
        case .stopped: system.write(); system.writer.markStopped()
        case .died: system.write(heartbeat: 1)
        }
        let user = try FakeCollector(path: second)
        user.write(3)
        let follower = RingFollower(path: first, fallbacks: [second])
        follower.poll()
        #expect(follower.path == second && follower.generation == user.writer.generation)
        #expect(follower.state(now: Sys.monotonicNanos()) == .running && follower.samples?.count == 3)
        // With no live collector anywhere the stale ring is still shown (its state says why).
        let lone = RingFollower(path: first, fallbacks: [dir.path + "/none/ring"])
        lone.poll()
        #expect(lone.path == first && lone.generation == system.writer.generation)
        #expect(lone.state(now: Sys.monotonicNanos()) == (stale == .stopped ? .stopped : .absent))
    }

    /// The followed ring's collector stops; the other place's collector starts: the follower
    /// moves to it, and back again when that one stops and the first place is live once more.
    @Test func theFollowerMovesToTheRingThatBecomesLive() throws {
        let dir = RingDir()
        let first = dir.path + "/system/ring", second = dir.path + "/user/ring"
        mkdir(dir.path + "/system", 0o755); mkdir(dir.path + "/user", 0o755)
        let follower = RingFollower(path: first, fallbacks: [second])
        let user = try FakeCollector(path: second)
        user.write()
        follower.poll()
        #expect(follower.path == second)
        // A live ring appearing at the first place does not pull a running follower away...
        let system = try FakeCollector(path: first)
        system.write(2)
        follower.poll()
        #expect(follower.path == second)
        // ...but once the followed collector stops, the live one is taken (within a scan period).
        user.writer.markStopped()
        #expect(eventually(seconds: 20) { follower.poll(); return follower.path == first })
        #expect(follower.generation == system.writer.generation && follower.samples?.count == 2)
        #expect(follower.state(now: Sys.monotonicNanos()) == .running)
        system.writer.markStopped()
        let again = try FakeCollector(path: second)
        again.write(4)
        #expect(eventually(seconds: 20) { follower.poll(); return follower.generation == again.writer.generation })
        #expect(follower.path == second && follower.samples?.count == 4)
    }

    @Test func eachConditionIsLoggedOnceNotOnEveryPoll() throws {
        let dir = RingDir()
        let ring = dir.path + "/ring"
        let server = try Daemon(serverBinary, ["--ring", ring, "--listen", "127.0.0.1:0", "--poll", "2ms"])
        func text() -> String { server.log }
        func count(_ s: String) -> Int { text().components(separatedBy: s).count - 1 }
        #expect(eventually { count("listening on") == 1 })
        // Hundreds of polls of a missing ring.
        usleep(500_000)
        #expect(count("waiting for the ring at \(ring)") == 1, "\(text())")
        let collector = try FakeCollector(path: ring)
        collector.write()
        #expect(eventually { count("following ring \(ring)") == 1 })
        collector.writer.markStopped()
        // (From running, or from stalled when a loaded machine delays the server past the fake
        // collector's one heartbeat: either way, logged once.)
        #expect(eventually { count("-> stopped") == 1 })
        usleep(300_000)
        server.stop()
        #expect(count("waiting for the ring") == 1 && count("following ring") == 1 && count("-> stopped") == 1, "\(text())")
    }
}
