// Thin wrappers over the libc calls perfring makes, in the manner of apple/swift-system:
// one EINTR policy (`valueOrErrno(retryOnInterrupt:)`), a typed `Errno`, `close` never retried,
// and programmer errors (EBADF, EFAULT) as preconditions. No other file calls raw libc I/O.
import CPerf
import Glibc

/// A POSIX error number; its description comes from `strerror`.
public struct Errno: Error, Equatable, Hashable, CustomStringConvertible, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static var current: Errno { Errno(rawValue: Glibc.errno) }
    public var description: String { String(cString: strerror(rawValue)) }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let noEntry = Errno(rawValue: ENOENT)
    public static let exists = Errno(rawValue: EEXIST)
    public static let permission = Errno(rawValue: EPERM)
    public static let access = Errno(rawValue: EACCES)
    public static let invalid = Errno(rawValue: EINVAL)
    public static let tooManyFiles = Errno(rawValue: EMFILE)
    public static let noSpace = Errno(rawValue: ENOSPC)
    public static let noSuchProcess = Errno(rawValue: ESRCH)
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)
    public static let noDevice = Errno(rawValue: ENODEV)
    public static let tooManyLinks = Errno(rawValue: ELOOP)
    public static let inProgress = Errno(rawValue: EINPROGRESS)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let noChild = Errno(rawValue: ECHILD)
}

/// The single EINTR policy: retry when asked to; EBADF and EFAULT are bugs, not conditions.
@inline(__always)
func valueOrErrno<I: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ call: () -> I) throws(Errno) -> I {
    while true {
        let r = call()
        if r != -1 { return r }
        let e = Errno.current
        precondition(e.rawValue != EBADF && e.rawValue != EFAULT, "perfring: programming error: \(e)")
        if retryOnInterrupt && e == .interrupted { continue }
        throw e
    }
}

/// Bridges a closure-taking stdlib API (whose `rethrows` is untyped) back to `throws(Errno)`.
@inline(__always)
func rethrowingErrno<T>(_ body: () throws -> T) throws(Errno) -> T {
    do { return try body() } catch let e as Errno { throw e } catch { preconditionFailure("perfring: unexpected error \(error)") }
}

/// Calls that return 0 or an errno value directly (posix_fallocate, posix_spawn-style).
@inline(__always)
func zeroOrErrno(_ call: () -> Int32) throws(Errno) {
    let r = call()
    if r != 0 { throw Errno(rawValue: r) }
}

public enum Sys {
    // MARK: files

    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(Errno) -> Int32 {
        try valueOrErrno { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }
    public static func openat(_ dir: Int32, _ path: String, _ flags: Int32, mode: mode_t = 0) throws(Errno) -> Int32 {
        try valueOrErrno { Glibc.openat(dir, path, flags | O_CLOEXEC, mode) }
    }
    /// Never retried: on Linux the descriptor is released even when close reports EINTR.
    public static func close(_ fd: Int32) {
        let r = Glibc.close(fd)
        if r == -1 { precondition(Glibc.errno != EBADF, "perfring: close of a bad descriptor") }
    }
    public static func read(_ fd: Int32, _ buf: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try valueOrErrno { Glibc.read(fd, buf.baseAddress, buf.count) }
    }
    public static func pread(_ fd: Int32, _ buf: UnsafeMutableRawBufferPointer, at offset: Int) throws(Errno) -> Int {
        try valueOrErrno { Glibc.pread(fd, buf.baseAddress, buf.count, off_t(offset)) }
    }
    public static func write(_ fd: Int32, _ buf: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try valueOrErrno { Glibc.write(fd, buf.baseAddress, buf.count) }
    }
    public static func pwrite(_ fd: Int32, _ buf: UnsafeRawBufferPointer, at offset: Int) throws(Errno) -> Int {
        try valueOrErrno { Glibc.pwrite(fd, buf.baseAddress, buf.count, off_t(offset)) }
    }
    /// Writes all of `buf` (a short write is continued, not reported).
    public static func writeAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer) throws(Errno) {
        var done = 0
        while done < buf.count {
            done += try write(fd, UnsafeRawBufferPointer(rebasing: buf[done...]))
        }
    }
    public static func writeAll(_ fd: Int32, _ string: String) throws(Errno) {
        let s = string
        let bytes = Array(s.utf8)
        try rethrowingErrno { try bytes.withUnsafeBytes { u in try writeAll(fd, u) } }
    }
    public static func fstat(_ fd: Int32) throws(Errno) -> Glibc.stat {
        var st = Glibc.stat()
        _ = try valueOrErrno { Glibc.fstat(fd, &st) }
        return st
    }
    public static func stat(_ path: String) throws(Errno) -> Glibc.stat {
        var st = Glibc.stat()
        _ = try valueOrErrno { fstatat(AT_FDCWD, path, &st, 0) }
        return st
    }
    public static func lstat(_ path: String) throws(Errno) -> Glibc.stat {
        var st = Glibc.stat()
        _ = try valueOrErrno { fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) }
        return st
    }
    /// Stats `name` relative to a directory descriptor without following a final symlink.
    public static func lstatat(_ dir: Int32, _ name: String) throws(Errno) -> Glibc.stat {
        var st = Glibc.stat()
        _ = try valueOrErrno { fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) }
        return st
    }
    public static func rename(_ from: String, _ to: String) throws(Errno) {
        _ = try valueOrErrno { Glibc.rename(from, to) }
    }
    public static func renameat(_ dir: Int32, _ from: String, _ to: String) throws(Errno) {
        _ = try valueOrErrno { Glibc.renameat(dir, from, dir, to) }
    }
    /// A second name for `from` in the same directory; EEXIST when `to` exists (never replaced,
    /// unlike rename), and a symlink at `from` is linked as itself, never followed.
    public static func linkat(_ dir: Int32, _ from: String, _ to: String) throws(Errno) {
        _ = try valueOrErrno { Glibc.linkat(dir, from, dir, to, 0) }
    }
    public static func fsync(_ fd: Int32) throws(Errno) {
        _ = try valueOrErrno { Glibc.fsync(fd) }
    }
    public static func unlink(_ path: String) throws(Errno) {
        _ = try valueOrErrno { Glibc.unlink(path) }
    }
    public static func unlinkat(_ dir: Int32, _ path: String) throws(Errno) {
        _ = try valueOrErrno { Glibc.unlinkat(dir, path, 0) }
    }
    public static func mkdir(_ path: String, _ mode: mode_t) throws(Errno) {
        _ = try valueOrErrno { Glibc.mkdir(path, mode) }
    }
    public static func mkdirat(_ dir: Int32, _ name: String, _ mode: mode_t) throws(Errno) {
        _ = try valueOrErrno { Glibc.mkdirat(dir, name, mode) }
    }
    public static func ftruncate(_ fd: Int32, length: Int) throws(Errno) {
        _ = try valueOrErrno { Glibc.ftruncate(fd, off_t(length)) }
    }
    /// The working directory as the kernel resolved it (absolute, no symlinks).
    public static func getcwd() throws(Errno) -> String {
        guard let p = Glibc.getcwd(nil, 0) else { throw Errno.current }
        defer { free(p) }
        return String(cString: p)
    }
    /// Takes an exclusive open-file-description lock on the whole file without waiting: it
    /// belongs to this descriptor (not the process), and ends when the descriptor is closed or
    /// the process exits. Throws `.wouldBlock` (or `.access`) while another holder has it.
    public static func tryLockExclusive(_ fd: Int32) throws(Errno) {
        _ = try valueOrErrno { cperf_ofd_trylock(fd) }
    }
    public static func fchmod(_ fd: Int32, _ mode: mode_t) throws(Errno) {
        _ = try valueOrErrno { Glibc.fchmod(fd, mode) }
    }
    public static func fchown(_ fd: Int32, _ uid: uid_t, _ gid: gid_t) throws(Errno) {
        _ = try valueOrErrno { Glibc.fchown(fd, uid, gid) }
    }
    /// Reserves the blocks now, so a full disk is an error here rather than SIGBUS later.
    public static func fallocate(_ fd: Int32, length: Int) throws(Errno) {
        try zeroOrErrno { Glibc.posix_fallocate(fd, 0, off_t(length)) }
    }
    public static func access(_ path: String, _ mode: Int32) -> Bool { Glibc.access(path, mode) == 0 }
    public static func readlink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = Glibc.readlink(path, &buf, buf.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    /// The canonical absolute path: every symlink, `.` and `..` resolved (ENOENT when a part is
    /// missing), so a caller can check containment on the result.
    public static func realpath(_ path: String) throws(Errno) -> String {
        guard let p = Glibc.realpath(path, nil) else { throw Errno.current }
        defer { free(p) }
        return String(cString: p)
    }

    /// Names in a directory (without "." and ".."), e.g. /proc/PID/task.
    public static func listDirectory(_ path: String) throws(Errno) -> [String] {
        guard let dir = opendir(path) else { throw Errno.current }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Reads a whole small file (under /proc, /sys or the ring's own folder) into a String.
    public static func readFile(_ path: String, limit: Int = 1 << 20) throws(Errno) -> String {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let n = try rethrowingErrno { try chunk.withUnsafeMutableBytes { b in try read(fd, b) } }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: memory maps

    public static func mmap(length: Int, prot: Int32, flags: Int32, fd: Int32, offset: Int = 0) throws(Errno) -> UnsafeMutableRawPointer {
        let p = Glibc.mmap(nil, length, prot, flags, fd, off_t(offset))
        if p == MAP_FAILED || p == nil { throw Errno.current }
        return p!
    }
    /// Schedules write-back of a shared mapping (asynchronous: never blocks a tick).
    public static func msyncAsync(_ p: UnsafeMutableRawPointer, length: Int) {
        _ = Glibc.msync(p, length, MS_ASYNC)
    }
    /// Drops this process's page-table entries for a range of a shared file mapping: the data
    /// stays in the page cache (and in the file); only this process's resident set shrinks.
    public static func dropMappedPages(_ p: UnsafeMutableRawPointer, length: Int) {
        _ = Glibc.madvise(p, length, MADV_DONTNEED)
    }
    public static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    public static func munmap(_ p: UnsafeMutableRawPointer, length: Int) {
        let r = Glibc.munmap(p, length)
        precondition(r == 0, "perfring: munmap of a region that was not mapped")
    }

    // MARK: time

    public static func monotonicNanos() -> UInt64 { clockNanos(CLOCK_MONOTONIC) }
    public static func realtimeNanos() -> UInt64 { clockNanos(CLOCK_REALTIME) }
    public static func clockNanos(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
    /// Sleeps until an absolute CLOCK_MONOTONIC deadline (no drift from the sleep itself).
    public static func sleepUntil(monotonicNanos deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
    public static func sleep(nanos: UInt64) { sleepUntil(monotonicNanos: monotonicNanos() &+ nanos) }
    /// The UTC calendar fields of a Unix time (gmtime_r: reentrant, no locale, no Foundation).
    public static func utcTime(secondsSinceEpoch seconds: Int) -> tm {
        var t = time_t(seconds)
        var out = tm()
        _ = gmtime_r(&t, &out)
        return out
    }

    // MARK: timerfd, eventfd, signalfd, epoll

    public static func timerfd() throws(Errno) -> Int32 {
        try valueOrErrno { timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC)) }
    }
    /// Arms a timer at an absolute monotonic deadline, repeating every `interval` ns (0: once).
    public static func timerfdArm(_ fd: Int32, firstAt deadline: UInt64, interval: UInt64) throws(Errno) {
        var spec = itimerspec(
            it_interval: timespec(tv_sec: Int(interval / 1_000_000_000), tv_nsec: Int(interval % 1_000_000_000)),
            it_value: timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000)))
        _ = try valueOrErrno { timerfd_settime(fd, Int32(TFD_TIMER_ABSTIME), &spec, nil) }
    }
    /// Reads a timerfd or eventfd counter; nil when nothing is pending.
    public static func readCounter(_ fd: Int32) -> UInt64? {
        var v: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &v) { b in try? read(fd, b) }
        return n == 8 ? v : nil
    }
    public static func eventfd() throws(Errno) -> Int32 {
        try valueOrErrno { CPerf.eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
    }
    public static func eventfdSignal(_ fd: Int32) {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { b in try? write(fd, b) }
    }
    /// Blocks `signals` for this thread and returns a signalfd that reports them.
    public static func signalfd(_ signals: [Int32]) throws(Errno) -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        _ = try valueOrErrno { pthread_sigmask(SIG_BLOCK, &set, nil) == 0 ? 0 : -1 }
        return try valueOrErrno { CPerf.signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC)) }
    }
    /// The next pending signal number on a signalfd, or nil.
    public static func readSignal(_ fd: Int32) -> Int32? {
        var info = signalfd_siginfo()
        let n = withUnsafeMutableBytes(of: &info) { b in try? read(fd, b) }
        return n == MemoryLayout<signalfd_siginfo>.size ? Int32(info.ssi_signo) : nil
    }
    public static func ignoreSignal(_ sig: Int32) { signal(sig, SIG_IGN) }

    public static func epollCreate() throws(Errno) -> Int32 {
        try valueOrErrno { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }
    public static func epollAdd(_ ep: Int32, _ fd: Int32, events: UInt32, data: UInt64) throws(Errno) {
        var ev = epoll_event(events: events, data: epoll_data_t(u64: data))
        _ = try valueOrErrno { epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) }
    }
    public static func epollModify(_ ep: Int32, _ fd: Int32, events: UInt32, data: UInt64) throws(Errno) {
        var ev = epoll_event(events: events, data: epoll_data_t(u64: data))
        _ = try valueOrErrno { epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) }
    }
    public static func epollRemove(_ ep: Int32, _ fd: Int32) {
        var ev = epoll_event()
        _ = try? valueOrErrno { epoll_ctl(ep, EPOLL_CTL_DEL, fd, &ev) }
    }
    /// Waits for events; an interrupted wait returns 0 events rather than retrying, so the caller
    /// re-checks its deadlines.
    public static func epollWait(_ ep: Int32, _ events: UnsafeMutableBufferPointer<epoll_event>, timeoutMs: Int32) throws(Errno) -> Int {
        do {
            return Int(try valueOrErrno(retryOnInterrupt: false) { epoll_wait(ep, events.baseAddress, Int32(events.count), timeoutMs) })
        } catch where error == .interrupted {
            return 0
        }
    }

    // MARK: sockets

    public static func socket(_ domain: Int32, _ type: Int32) throws(Errno) -> Int32 {
        try valueOrErrno { Glibc.socket(domain, type | Int32(SOCK_CLOEXEC.rawValue), 0) }
    }
    public static func setsockopt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(Errno) {
        var v = value
        _ = try valueOrErrno { Glibc.setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }
    public static func bind(_ fd: Int32, _ addr: UnsafeRawPointer, _ len: socklen_t) throws(Errno) {
        _ = try valueOrErrno { Glibc.bind(fd, addr.assumingMemoryBound(to: sockaddr.self), len) }
    }
    public static func connect(_ fd: Int32, _ addr: UnsafeRawPointer, _ len: socklen_t) throws(Errno) {
        _ = try valueOrErrno { Glibc.connect(fd, addr.assumingMemoryBound(to: sockaddr.self), len) }
    }
    public static func listen(_ fd: Int32, backlog: Int32) throws(Errno) {
        _ = try valueOrErrno { Glibc.listen(fd, backlog) }
    }
    /// Accepts one connection as a non-blocking, close-on-exec socket; nil when none is pending.
    public static func accept(_ fd: Int32) throws(Errno) -> Int32? {
        do {
            return try valueOrErrno { cperf_accept4(fd, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)) }
        } catch where error == .wouldBlock {
            return nil
        }
    }
    public static func getsockname(_ fd: Int32) throws(Errno) -> sockaddr_storage {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &ss) { (p) throws(Errno) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(Errno) in
                try valueOrErrno { Glibc.getsockname(fd, sa, &len) }
            }
        }
        return ss
    }
    /// Sends without SIGPIPE; returns the bytes taken (0 when the socket buffer is full).
    public static func send(_ fd: Int32, _ buf: UnsafeRawBufferPointer) throws(Errno) -> Int {
        do {
            return try valueOrErrno { Glibc.send(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL)) }
        } catch where error == .wouldBlock {
            return 0
        }
    }
    /// Receives into `buf`; nil when nothing is pending, 0 at end of stream.
    public static func recv(_ fd: Int32, _ buf: UnsafeMutableRawBufferPointer) throws(Errno) -> Int? {
        do {
            return try valueOrErrno { Glibc.recv(fd, buf.baseAddress, buf.count, 0) }
        } catch where error == .wouldBlock {
            return nil
        }
    }
    public static func shutdownWrite(_ fd: Int32) { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }
    /// Parses a numeric address (inet_pton): 4 bytes for `AF_INET`, 16 for `AF_INET6`, network
    /// order; nil when `text` is not one.
    public static func inetPton(_ family: Int32, _ text: String) -> [UInt8]? {
        var raw = [UInt8](repeating: 0, count: 16)
        let r = raw.withUnsafeMutableBytes { b in Glibc.inet_pton(family, text, b.baseAddress) }
        return r == 1 ? Array(raw.prefix(family == AF_INET ? 4 : 16)) : nil
    }

    // MARK: perf events

    /// perf_event_open(2); the errno of a refusal is the caller's to classify.
    public static func perfEventOpen(_ attr: inout perf_event_attr, pid: Int32, cpu: Int32, groupFD: Int32) throws(Errno) -> Int32 {
        try valueOrErrno { cperf_event_open(&attr, pid, cpu, groupFD, UInt(PERF_FLAG_FD_CLOEXEC)) }
    }
    public static func perfEnable(_ fd: Int32, group: Bool) throws(Errno) {
        _ = try valueOrErrno { cperf_ioctl_enable(fd, group ? 1 : 0) }
    }
    public static func perfDisable(_ fd: Int32, group: Bool) throws(Errno) {
        _ = try valueOrErrno { cperf_ioctl_disable(fd, group ? 1 : 0) }
    }
    public static func perfReset(_ fd: Int32, group: Bool) throws(Errno) {
        _ = try valueOrErrno { cperf_ioctl_reset(fd, group ? 1 : 0) }
    }
    /// PERF_EVENT_IOC_ID: the id a PERF_FORMAT_ID read reports for this event.
    public static func perfID(_ fd: Int32) throws(Errno) -> UInt64 {
        var id: UInt64 = 0
        _ = try valueOrErrno { cperf_ioctl_id(fd, &id) }
        return id
    }

    // MARK: processes and privileges

    public static func getpid() -> Int32 { Glibc.getpid() }
    public static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
    public static func geteuid() -> uid_t { Glibc.geteuid() }
    public static func kill(_ pid: Int32, _ sig: Int32) throws(Errno) {
        _ = try valueOrErrno { Glibc.kill(pid, sig) }
    }
    /// True while `pid` exists (a zombie counts as existing until reaped).
    public static func processExists(_ pid: Int32) -> Bool {
        Glibc.kill(pid, 0) == 0 || Glibc.errno == EPERM
    }
    /// Non-blocking wait for `pid`; returns its raw wait status once it has ended.
    public static func tryWait(_ pid: Int32) throws(Errno) -> Int32? {
        var status: Int32 = 0
        let r = try valueOrErrno { waitpid(pid, &status, WNOHANG) }
        return r == pid ? status : nil
    }
    public static func wait(_ pid: Int32) throws(Errno) -> Int32 {
        var status: Int32 = 0
        _ = try valueOrErrno { waitpid(pid, &status, 0) }
        return status
    }
    /// User plus system CPU time of this process (getrusage), in ns.
    public static func processCPUNanos() -> UInt64 {
        var ru = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
        func ns(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1000 }
        return ns(ru.ru_utime) + ns(ru.ru_stime)
    }
    /// CPU time of the calling thread, in ns.
    public static func threadCPUNanos() -> UInt64 { clockNanos(CLOCK_THREAD_CPUTIME_ID) }
    public static func getrlimitNofile() -> rlimit {
        var rl = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl)
        return rl
    }
    public static func setrlimitNofile(_ rl: rlimit) throws(Errno) {
        var r = rl
        _ = try valueOrErrno { setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &r) }
    }
    public static func random64() -> UInt64 {
        var v: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &v) { b in getrandom(b.baseAddress, 8, 0) }
        if n != 8 { v = monotonicNanos() ^ (UInt64(UInt32(bitPattern: getpid())) << 32) }
        return v
    }
    /// `uname -r`.
    public static func kernelRelease() -> String? {
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    public static func hostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "unknown" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public struct Account: Sendable { public let uid: uid_t; public let gid: gid_t; public let name: String }
    public static func lookupUser(_ name: String) -> Account? {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buf = [CChar](repeating: 0, count: 4096)
        guard getpwnam_r(name, &pw, &buf, buf.count, &result) == 0, result != nil else { return nil }
        return Account(uid: pw.pw_uid, gid: pw.pw_gid, name: name)
    }
    /// Drops root for good: supplementary groups, gid, uid, then no-new-privs; verifies that
    /// uid 0 cannot be regained.
    public static func dropPrivileges(to account: Account) throws(Errno) {
        var groups = [account.gid]
        _ = try valueOrErrno { setgroups(1, &groups) }
        _ = try valueOrErrno { cperf_setresgid(account.gid, account.gid, account.gid) }
        _ = try valueOrErrno { cperf_setresuid(account.uid, account.uid, account.uid) }
        _ = try valueOrErrno { cperf_set_no_new_privs() }
        if account.uid != 0 && (setuid(0) == 0 || Glibc.geteuid() == 0) { throw Errno.permission }
    }

    // MARK: threads

    /// Starts a detached thread running `body` (the server's analysis worker). It inherits the
    /// caller's signal mask, so start it from a thread that has the stop signals blocked.
    public static func spawnThread(_ body: @escaping @Sendable () -> Void) throws(Errno) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let r = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, context)
        guard r == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            throw Errno(rawValue: r)
        }
        pthread_detach(thread)
    }
    /// Lowers the calling thread's scheduling priority (nice `by` more): a worker that must not
    /// take the CPU from the event loop beside it. (On Linux, PRIO_PROCESS with who 0 is the
    /// calling thread alone.)
    public static func lowerThreadPriority(by delta: Int32) {
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        let current = getpriority(which, 0)
        _ = setpriority(which, 0, min(current + delta, 19))
    }

    /// A counting semaphore between threads (sem_t, process-private).
    public final class Semaphore: @unchecked Sendable {
        private let sem = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        public init() { sem_init(sem, 0, 0) }
        deinit { sem_destroy(sem); sem.deallocate() }
        public func post() { sem_post(sem) }
        /// Waits for a post (EINTR retried).
        public func wait() { _ = try? valueOrErrno { sem_wait(sem) } }
    }
}
