// One writer per ring path. The lock is an OFD lock on `.NAME.lock` beside the ring, not on the
// ring itself: the ring is replaced by rename on every start, so a lock on it would guard the
// old inode while the new one is renamed over it. The lock file is never removed (removing it
// would let two writers lock two different inodes under the same name); it holds the owner's
// pid as text, for the message a second collector prints. It is taken before anything is
// created or renamed in the directory.
import Glibc

public final class RingLock {
    public let lockName: String
    private let fd: Int32
    /// Kept open: the lock file is named relative to it.
    private let directory: RingDirectory

    /// How long `--replace` waits for the previous owner to let go after SIGTERM (a command-mode
    /// collector first gives its command 5 s to exit).
    public static let replaceTimeoutNs: UInt64 = 10_000_000_000

    /// Locks the ring `name` in `directory`. When another process holds it: with `replace`,
    /// asks it (a perfring-collector) to stop with SIGTERM and waits for the lock; otherwise
    /// fails with "ring PATH is in use by perfring-collector pid N".
    public init(directory: RingDirectory, name: String, path: String, replace: Bool) throws(RingSetupError) {
        let lockName = ".\(name).lock"
        let fd: Int32
        // O_NOFOLLOW: a link planted at the lock's name is refused, not followed.
        do { fd = try Sys.openat(directory.fd, lockName, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, mode: 0o644) } catch { throw .create(directory.path + "/" + lockName, error) }
        var ok = false
        defer { if !ok { Sys.close(fd) } }
        if let st = try? Sys.fstat(fd), st.st_mode & S_IFMT != S_IFREG || st.st_uid != Sys.geteuid() {
            throw .badTarget(directory.path + "/" + lockName, "the lock file is not a regular file of the running user")
        }
        if !Self.tryLock(fd) {
            let owner = Self.owner(fd)
            guard replace else { throw .inUse(path, owner) }
            try Self.stopOwner(owner, fd: fd, path: path)
        }
        let text = Array("\(Sys.getpid())\n".utf8)
        do throws(Errno) {
            try Sys.ftruncate(fd, length: 0)
            _ = try rethrowingErrno { try text.withUnsafeBytes { b in try Sys.pwrite(fd, b, at: 0) } }
        } catch {
            throw .create(directory.path + "/" + lockName, error)
        }
        self.lockName = lockName
        self.fd = fd
        self.directory = directory
        ok = true
    }

    deinit { Sys.close(fd) }

    private static func tryLock(_ fd: Int32) -> Bool {
        do { try Sys.tryLockExclusive(fd); return true } catch { return false }
    }

    /// The holder's pid as it wrote it. A holder writes its pid just after it locks, so an
    /// empty file or a pid that no longer exists is re-read for a moment before it is believed.
    private static func owner(_ fd: Int32) -> Int32? {
        for _ in 0..<20 {
            var buf = [UInt8](repeating: 0, count: 16)
            let n = (try? buf.withUnsafeMutableBytes { b in try Sys.pread(fd, b, at: 0) }) ?? 0
            if let pid = Int32(String(decoding: buf[0..<n].prefix { $0 != 0x0A }, as: UTF8.self)), pid > 0, Sys.processExists(pid) { return pid }
            Sys.sleep(nanos: 10_000_000)
        }
        return nil
    }

    /// `--replace`: SIGTERM to the owner, if it is a perfring-collector, then wait for its lock.
    private static func stopOwner(_ owner: Int32?, fd: Int32, path: String) throws(RingSetupError) {
        guard let pid = owner else { throw .inUse(path, nil) }
        let comm = ((try? Sys.readFile("/proc/\(pid)/comm")) ?? "").split(separator: "\n").first.map(String.init) ?? ""
        // comm holds the first 15 bytes of the executable's name.
        guard !comm.isEmpty, "perfring-collector".hasPrefix(comm) else {
            throw .replaceRefused(path, "its lock is held by pid \(pid) (\(comm.isEmpty ? "unknown" : comm)), which is not a perfring-collector")
        }
        Log.info("ring \(path): stopping perfring-collector pid \(pid) (--replace)")
        do { try Sys.kill(pid, SIGTERM) } catch {
            throw .replaceRefused(path, "cannot signal perfring-collector pid \(pid): \(error)")
        }
        let deadline = Sys.monotonicNanos() &+ replaceTimeoutNs
        while !tryLock(fd) {
            guard Sys.monotonicNanos() < deadline else {
                throw .replaceRefused(path, "perfring-collector pid \(pid) still holds it \(replaceTimeoutNs / 1_000_000_000) s after SIGTERM")
            }
            Sys.sleep(nanos: 20_000_000)
        }
    }
}
