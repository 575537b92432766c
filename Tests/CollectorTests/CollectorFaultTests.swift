// Faults around the collector, through the real binaries: a bad ring location at start (full
// disk, missing or unwritable directory, a symlink, directory, FIFO or foreign file at the
// path, a symlink at the temporary name), a target that crashes, is killed or exits, CPU hogs
// on every core, and the server killed under load beside it. Waits are deadlines, not timings.
import Foundation
import Glibc
import Testing
@testable import Collector
@testable import Shared

// MARK: helpers

private let isRoot = geteuid() == 0
private let strace = "/usr/bin/strace"

/// Runs the collector; under strace when available, so a test can show which syscalls it made.
private func runCollector(_ args: [String], trace: Bool = false) throws -> (RunResult, syscalls: [String]?) {
    guard trace, FileManager.default.isExecutableFile(atPath: strace) else {
        return (try runProduct("perfring-collector", args), nil)
    }
    let log = NSTemporaryDirectory() + "perfring-strace-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: log) }
    // LeakSanitizer (scripts/test --sanitize) stops the world with ptrace, which a traced
    // process cannot: leaks are left to the untraced runs.
    let r = try runProduct(strace, ["-f", "-qq", "-e", "trace=perf_event_open,fallocate,openat", "-o", log,
                                    "-E", "ASAN_OPTIONS=detect_leaks=0", productsDir + "/perfring-collector"] + args)
    let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    return (r, lines)
}

/// The error the collector printed: exactly one line, at level error.
private func expectOneErrorLine(_ r: RunResult, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == 1, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n")
    #expect(lines.count == 1, "\(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.hasPrefix("perfring-collector: error: ") || r.stderr.contains(": error: "), "\(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.contains(text), "\(r.stderr) does not mention \(text)", sourceLocation: sourceLocation)
}

/// Under strace: the syscalls show that nothing was counted before the failure.
private func expectNoCounterOpened(_ syscalls: [String]?, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let syscalls else { return }
    #expect(!syscalls.isEmpty, "strace recorded nothing", sourceLocation: sourceLocation)
    #expect(!syscalls.contains { $0.contains("perf_event_open(") }, "a counter was opened", sourceLocation: sourceLocation)
}

/// A directory mounted as a small tmpfs (root only); unmounted by `cleanup`.
private struct Tmpfs {
    let dir = TempDir()
    init(_ options: String) { #expect(system("mount -t tmpfs -o \(options) perfring-test '\(dir.path)'") == 0) }
    func cleanup() {
        _ = system("umount '\(dir.path)'")
        dir.cleanup()
    }
}

/// A file's bytes and mode, to show that a refused path was left alone.
private func fingerprint(_ path: String) -> (String, mode_t)? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    var st = stat()
    return stat(path, &st) == 0 ? (text, st.st_mode) : nil
}

/// The tick accounting of a run: every index present once, and the ticks written plus those
/// reported missed cover the time between the first and the last tick.
private func expectEveryTickAccountedFor(_ records: [[UInt8]], intervalNs: UInt64, sourceLocation: SourceLocation = #_sourceLocation) -> (ticks: UInt64, missed: UInt64) {
    var ticks: UInt64 = 0, missed: UInt64 = 0
    var first: UInt64?, last: UInt64 = 0, previous: UInt64?
    for rec in records {
        view(rec) { v in
            if let p = previous { #expect(v.index == p + 1, "record \(p + 1) is missing", sourceLocation: sourceLocation) }
            previous = v.index
            guard !v.flags.contains(.final) else { return }  // the final record is not a tick
            if first == nil { first = v.timeNs } else {
                ticks += 1 + UInt64(v.missed)
                missed += UInt64(v.missed)
            }
            last = v.timeNs
        }
    }
    guard let first else {
        Issue.record("no tick records", sourceLocation: sourceLocation)
        return (0, 0)
    }
    // Ticks fire on absolute deadlines; a record's time lags its deadline by the scheduling
    // delay of that one tick only, so the count may differ from elapsed/interval by a few ticks
    // (the first and last delays), never by a drift that grows with the run.
    let expected = Double(last - first) / Double(intervalNs)
    let slack = 3 + expected * 0.02
    #expect(abs(Double(ticks) - expected) <= slack, "\(ticks) ticks (\(missed) missed) over \(expected) intervals", sourceLocation: sourceLocation)
    return (ticks, missed)
}

// MARK: tests

@Suite(.serialized) struct CollectorFaultTests {
    // Bad flags: exit status 2 and one line, for every flag the help names.

    static let badFlags: [([String], String)] = [
        (["--ring", ""], "--ring"), (["--ring", "/tmp/"], "--ring"), (["--ring"], "needs a value"),
        (["--interval", "5"], "--interval"), (["--interval", "0.5ms"], "--interval"), (["--interval", "2m"], "--interval"),
        (["--interval", "-1s"], "--interval"), (["--interval", "1e3ms"], "--interval"),
        (["--history", "soon"], "--history"), (["--history", "0s"], "--history"), (["--interval", "1ms", "--history", "30d"], "--history"),
        (["--capacity", "1"], "--capacity"), (["--capacity", "x"], "--capacity"), (["--capacity", "99999999999"], "--capacity"),
        (["--events", ""], "--events"), (["--events", "cycles,bogus"], "bogus"), (["--events", "cycles,cycles"], "twice"),
        (["--cpus", "3-1"], "--cpus"), (["--cpus", "x"], "--cpus"), (["--cpus", "4095"], "--cpus: CPU 4095 is not online"),
        (["--per-cpu=no"], "--per-cpu takes no value"), (["--no-os=1"], "--no-os takes no value"), (["--replay", "/r", "--no-os"], "--replay: not with --no-os"), (["--per-cpu", "--pid", "1"], "--per-cpu"),
        (["--pid", "-4"], "--pid"), (["--pid", "abc"], "--pid"), (["--pid", "0"], "--pid"), (["--pid", "99999999"], "no such process"),
        (["--user", ""], "--user"), (["--replace=yes"], "--replace takes no value"), (["--verbose=0"], "--verbose takes no value"), (["--quiet=yes"], "--quiet takes no value"),
        (["--replay", ""], "--replay"), (["--replay", "/r", "--pid", "1"], "--replay: not with --pid"),
        (["--replay", "/r", "--self-test"], "--replay: not with --self-test"), (["--self-test=yes"], "--self-test takes no value"),
        (["--speed", "2"], "--speed: only with --replay"), (["--replay", "/r", "--speed", "-1"], "--speed"), (["--replay", "/r", "--speed", "fast"], "--speed"),
        (["--"], "no command"), (["--pid", "1", "--", "true"], "only one"), (["--frobnicate"], "unknown flag"), (["stray"], "unexpected argument"),
    ]

    @Test func everyFlagWithABadValueExitsWithStatusTwoAndOneLine() throws {
        for (args, mention) in Self.badFlags {
            let r = try runProduct("perfring-collector", args)
            #expect(r.status == 2, "\(args): exit \(r.status) \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(mention), "\(args): \(r.stderr)")
        }
        let help = try runProduct("perfring-collector", ["--help"]).stdout
        let named = Set(help.split(whereSeparator: { !$0.isLetter && $0 != "-" }).filter { $0.hasPrefix("--") && $0.count > 2 }.map(String.init))
        let tried = Set(Self.badFlags.flatMap { $0.0 }.map { String($0.split(separator: "=").first ?? "") })
        #expect(named.subtracting(tried).subtracting(["--help", "--version"]).isEmpty, "flags in --help without a bad-value case")
    }

    @Test(.enabled(if: isRoot, "needs root: privileges are dropped only from root"))
    func aFailedPrivilegeDropRefusesToStart() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let r = try runProduct("perfring-collector", ["--ring", dir.path + "/ring", "--user", "no-such-user", "--", "true"])
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("--user: no user named 'no-such-user'"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "refused before creating the ring or starting the command")
        // Not root: the drop itself fails, and the collector stops rather than run as it is.
        let mine = TempDir(); defer { mine.cleanup() }
        chown(mine.path, 65534, 65534)
        // nobody runs a copy: the build directory may sit in a home that only its owner enters.
        let collector = mine.path + "/perfring-collector"
        try FileManager.default.copyItem(atPath: productsDir + "/perfring-collector", toPath: collector)
        chmod(collector, 0o755)
        let asNobody = try runProduct("/usr/sbin/runuser", ["-u", "nobody", "--", collector, "--ring", mine.path + "/ring",
                                                              "--user", "root", "--", "true"])
        #expect(asNobody.status == 1, "\(asNobody.stderr)")
        #expect(asNobody.stderr.contains("privilege drop failed"), "\(asNobody.stderr)")
    }

    // A bad ring location at start: one clear error line, and not a single counter opened.

    @Test(.enabled(if: isRoot, "needs root to mount a small tmpfs"))
    func aFullDiskIsReportedBeforeAnyCounterOpens() throws {
        let fs = Tmpfs("size=1m"); defer { fs.cleanup() }
        let (r, syscalls) = try runCollector(["--ring", fs.dir.path + "/ring", "--capacity", "100000", "--", "true"], trace: true)
        expectOneErrorLine(r, mentioning: "cannot reserve")
        #expect(r.stderr.contains("No space left on device"))
        expectNoCounterOpened(syscalls)
        if let syscalls { #expect(syscalls.contains { $0.contains("fallocate(") && $0.contains("ENOSPC") }) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.dir.path) == [".ring.lock"], "the temporary file is removed (the lock file stays, by design)")
    }

    @Test func aMissingDirectoryIsReportedBeforeAnyCounterOpens() throws {
        let (r, syscalls) = try runCollector(["--ring", "/nonexistent-perfring-dir/ring", "--", "true"], trace: true)
        expectOneErrorLine(r, mentioning: "ring directory /nonexistent-perfring-dir: No such file or directory")
        expectNoCounterOpened(syscalls)
    }

    @Test func anUnwritableDirectoryIsReportedBeforeAnyCounterOpens() throws {
        // Root ignores permission bits, so as root the directory is a read-only mount instead.
        let fs: Tmpfs? = isRoot ? Tmpfs("size=1m,ro") : nil
        let plain = TempDir()
        defer { fs?.cleanup(); chmod(plain.path, 0o700); plain.cleanup() }
        let dir = fs?.dir.path ?? plain.path
        if fs == nil { chmod(dir, 0o500) }
        let (r, syscalls) = try runCollector(["--ring", dir + "/ring", "--", "true"], trace: true)
        expectOneErrorLine(r, mentioning: "cannot create ring file \(dir)/.ring.")
        #expect(r.stderr.contains(isRoot ? "Read-only file system" : "Permission denied"))
        expectNoCounterOpened(syscalls)
    }

    @Test(.enabled(if: isRoot, "needs root to hand the directory to another user"))
    func aDirectoryOthersControlIsRefusedBeforeAnyCounterOpens() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        chown(dir.path, 65534, 65534)
        let (owned, syscalls) = try runCollector(["--ring", dir.path + "/ring", "--", "true"], trace: true)
        expectOneErrorLine(owned, mentioning: "refusing ring directory \(dir.path): owned by uid 65534")
        expectNoCounterOpened(syscalls)
        chown(dir.path, 0, 0)
        chmod(dir.path, 0o777)
        let (open, _) = try runCollector(["--ring", dir.path + "/ring", "--", "true"])
        expectOneErrorLine(open, mentioning: "writable by group or others without the sticky bit")
    }

    // A ring path that is not the collector's to replace.

    @Test func aSymlinkDirectoryFifoOrForeignFileAtTheRingPathIsRefused() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let victim = dir.path + "/victim"
        try "precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
        chmod(victim, 0o600)
        let before = fingerprint(victim)
        symlink(victim, dir.path + "/link")
        symlink(dir.path + "/none", dir.path + "/dangling")
        mkdir(dir.path + "/adir", 0o755)
        mkfifo(dir.path + "/fifo", 0o644)
        var cases = [("link", "it is a symbolic link"), ("dangling", "it is a symbolic link"), ("adir", "it is a directory"),
                     ("fifo", "it is a FIFO")]
        if isRoot {
            let foreign = dir.path + "/foreign"
            try "theirs\n".write(toFile: foreign, atomically: false, encoding: .utf8)
            chown(foreign, 65534, 65534)
            cases.append(("foreign", "the existing file is owned by uid 65534, not the running user"))
        }
        for (name, why) in cases {
            let (r, syscalls) = try runCollector(["--ring", dir.path + "/" + name, "--", "true"], trace: true)
            expectOneErrorLine(r, mentioning: "refusing ring path \(dir.path)/\(name): \(why)")
            expectNoCounterOpened(syscalls)
        }
        #expect(Sys.readlink(dir.path + "/link") == victim, "the symlink is still there, unfollowed")
        #expect(fingerprint(victim).map { $0 == before! } == true, "the file it points to is untouched")
        #expect(fingerprint(dir.path + "/dangling") == nil, "nothing was created through the dangling link")
        if isRoot { #expect(fingerprint(dir.path + "/foreign")?.0 == "theirs\n") }
    }

    /// The temporary name holds a random 64-bit generation and lives in a directory only root
    /// (or the collector's own user) may write, so no one else can plant anything there. Should
    /// a link be there anyway, O_CREAT|O_EXCL|O_NOFOLLOW refuses it: shown here with the
    /// generation pinned, so the link sits at the exact temporary path.
    @Test func aSymlinkAtTheTemporaryNameIsNotFollowed() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let victim = dir.path + "/victim"
        try "precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
        let before = fingerprint(victim)
        let generation: UInt64 = 0xdead_beef
        let temp = dir.path + "/.ring.deadbeef.tmp"
        symlink(victim, temp)
        let config = RingConfig(path: dir.path + "/ring", capacity: 4, eventCount: 1)
        #expect(throws: RingSetupError.create(temp, .exists)) { _ = try RingWriter(config: config, generation: generation) }
        #expect(Sys.readlink(temp) == victim)
        #expect(fingerprint(victim).map { $0 == before! } == true, "the link's target is untouched")
        #expect(fingerprint(dir.path + "/ring") == nil)

        // A dangling link is refused too (O_EXCL): nothing is created where it points.
        unlink(temp)
        symlink(dir.path + "/elsewhere", temp)
        #expect(throws: RingSetupError.create(temp, .exists)) { _ = try RingWriter(config: config, generation: generation) }
        #expect(fingerprint(dir.path + "/elsewhere") == nil)

        // A regular file planted there is neither truncated nor reused.
        unlink(temp)
        try "planted\n".write(toFile: temp, atomically: false, encoding: .utf8)
        #expect(throws: RingSetupError.create(temp, .exists)) { _ = try RingWriter(config: config, generation: generation) }
        #expect(fingerprint(temp)?.0 == "planted\n")

        // A link planted at the final path after the checks is replaced by the rename, not followed.
        let writer = try RingWriter(config: config, generation: generation + 1)
        writer.setEvent(0, EventEntry(name: "task-clock", type: 1, config: 1, status: .counting))  // a reader refuses a nameless event
        symlink(victim, dir.path + "/ring")
        try writer.publish()
        var st = stat()
        #expect(lstat(dir.path + "/ring", &st) == 0 && st.st_mode & S_IFMT == S_IFREG)
        #expect(fingerprint(victim).map { $0 == before! } == true)
        #expect(try RingReader(path: dir.path + "/ring").header.generation == generation + 1)
    }

    // The target ends.

    @Test(arguments: [("SEGV", SIGSEGV), ("KILL", SIGKILL), ("ABRT", SIGABRT)])
    func aCommandKilledBySignalEndsTheRunWith128PlusTheSignal(_ name: String, _ sig: Int32) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        // ulimit -c 0: no core file from the crash in the test's working directory.
        let r = try runProduct("perfring-collector", ["--ring", ring, "--interval", "20ms", "--capacity", "1000", "--", "/bin/sh", "-c", "ulimit -c 0; sleep 0.2; kill -\(name) $$"])
        #expect(r.status == 128 + sig, "\(r.stderr)")
        #expect(r.stderr.contains("command exited with status \(128 + sig)"))
        let (reader, records) = try readAll(ring)
        #expect(reader.stopped() == true)
        #expect(reader.exitStatus() == 128 + sig)
        let last = try #require(records.last)
        view(last) { v in
            #expect(v.flags.contains(.final))
            #expect(v.flags.contains(.targetExited))
        }
        #expect(records.dropLast().allSatisfy { r in view(r) { !$0.flags.contains(.final) } }, "one final record, at the end")
    }

    @Test func aCommandKilledFromOutsideEndsTheRunWith137() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let collector = try Background(productsDir + "/perfring-collector", ["--ring", ring, "--interval", "20ms", "--capacity", "1000", "-q", "--", "sleep", "30"])
        var target: Int32 = 0
        #expect(waitFor { (try? RingReader(path: ring)).map { target = $0.header.targetPid; return ($0.writeIndex() ?? 0) >= 3 } ?? false })
        #expect(target > 0)
        kill(target, SIGKILL)
        #expect(collector.wait() == 137, "\(collector.stderr)")
        let (reader, records) = try readAll(ring)
        #expect(reader.exitStatus() == 137)
        view(try #require(records.last)) { #expect($0.flags.contains(.final) && $0.flags.contains(.targetExited)) }
    }

    @Test func aPidTargetKilledWithSIGKILLEndsTheRunCleanly() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let target = Process()
        target.executableURL = URL(fileURLWithPath: "/bin/sleep")
        target.arguments = ["30"]
        try target.run()
        let collector = try Background(productsDir + "/perfring-collector", ["--ring", ring, "--interval", "20ms", "--capacity", "1000", "--pid", "\(target.processIdentifier)"])
        #expect(waitFor { ((try? RingReader(path: ring))?.writeIndex() ?? 0) >= 3 })
        kill(target.processIdentifier, SIGKILL)
        target.waitUntilExit()
        #expect(collector.wait() == 0, "\(collector.stderr)")
        #expect(collector.stderr.contains("has exited; stopping"))
        let (reader, records) = try readAll(ring)
        #expect(reader.stopped() == true)
        view(try #require(records.last)) { #expect($0.flags.contains(.final) && $0.flags.contains(.targetExited)) }
    }

    // Load beside the collector.

    /// Both CPUs (all of them) busy with hogs of the same priority: the collector still writes a
    /// record per tick, or says how many it missed.
    @Test func underCPUHogsEveryTickIsWrittenOrCountedMissed() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let ring = dir.path + "/ring"
        let cpus = max(2, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let hogs = Array(repeating: "timeout 3 sh -c 'while :; do :; done' &", count: cpus).joined(separator: " ")
        let r = try runProduct("perfring-collector", ["--ring", ring, "--interval", "10ms", "--capacity", "2000", "-q", "--", "/bin/sh", "-c", "\(hogs) wait"])
        #expect(r.status == 0, "\(r.stderr)")
        let (reader, records) = try readAll(ring)
        #expect(records.count > 100)
        let (ticks, missed) = expectEveryTickAccountedFor(records, intervalNs: reader.header.intervalNs)
        print("CPU hogs x\(cpus): \(ticks) ticks, \(missed) missed, \(records.count) records")
    }

    /// kill -9 of a server that is busy serving the ring: the collector does not notice. (It
    /// never talks to the server; this shows nothing it shares with it, the file, can stall it.)
    @Test func killingTheServerUnderLoadLeavesTheCollectorWriting() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        chmod(dir.path, 0o755)  // the server drops to nobody when run as root
        let ring = dir.path + "/ring"
        let collector = try Background(productsDir + "/perfring-collector", ["--ring", ring, "--interval", "20ms", "--capacity", "5000", "-q"])
        #expect(waitFor { ((try? RingReader(path: ring))?.writeIndex() ?? 0) >= 3 })
        let server = try Background(productsDir + "/perfring-server", ["--ring", ring, "--listen", "127.0.0.1:0", "--poll", "5ms"])
        var port: UInt16 = 0
        #expect(waitFor {
            guard let line = server.stderr.split(separator: "\n").first(where: { $0.contains("listening on http://127.0.0.1:") }) else { return false }
            port = UInt16(line.split(separator: ":").last!.trimmingCharacters(in: CharacterSet(charactersIn: "/"))) ?? 0
            return port != 0
        })
        let stop = SharedBox(false), answered = SharedBox(0), serverPort = port
        let clients = (0..<4).map { _ in
            Thread {
                while !stop.value {
                    if httpGet(port: serverPort, "/api/data?limit=100") { answered.add(1) }
                }
            }
        }
        clients.forEach { $0.start() }
        #expect(waitFor { answered.value >= 50 }, "the server answered \(answered.value) requests")
        let killedAt = Sys.monotonicNanos()
        let indexAtKill = (try? RingReader(path: ring))?.writeIndex() ?? 0
        server.signal(SIGKILL)
        #expect(server.wait() == SIGKILL)
        // Count records, not time: a loaded machine may miss ticks (they are accounted for below).
        #expect(waitFor { ((try? RingReader(path: ring))?.writeIndex() ?? 0) >= indexAtKill + 21 }, "still writing after the kill")
        stop.value = true
        collector.signal(SIGTERM)
        #expect(collector.wait() == 0, "\(collector.stderr)")
        let (reader, records) = try readAll(ring)
        #expect(reader.stopped() == true)
        let (ticks, missed) = expectEveryTickAccountedFor(records, intervalNs: reader.header.intervalNs)
        let after = records.filter { r in view(r) { $0.timeNs > killedAt } }.count
        #expect(after >= 20, "\(after) records after the kill")
        print("server killed under load (\(answered.value) requests answered): \(ticks) ticks, \(missed) missed, \(after) records after the kill")
    }
}

/// A value shared with client threads.
private final class SharedBox<T: Sendable>: @unchecked Sendable {
    private var v: T
    private let lock = NSLock()
    init(_ v: T) { self.v = v }
    var value: T {
        get { lock.withLock { v } }
        set { lock.withLock { v = newValue } }
    }
}
extension SharedBox where T == Int {
    func add(_ n: Int) { lock.withLock { v += n } }
}

/// One GET on a new connection; true on a 200.
private func httpGet(port: UInt16, _ target: String) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var tv = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = port.bigEndian
    sa.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard ok == 0 else { return false }
    let request = Array("GET \(target) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return false }
    var reply = [UInt8](), chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        reply += chunk[0..<n]
    }
    return reply.starts(with: Array("HTTP/1.1 200 ".utf8))
}
