// The ring's directory, opened by a walk that trusts nothing: from "/" one component at a time
// with openat(O_NOFOLLOW|O_DIRECTORY), each checked with fstat on the descriptor just opened.
// Everything the collector then creates, locks or renames is relative to the descriptor held
// here, so a symlink or directory swapped in after the walk is never followed.
import Glibc

/// A checked, held directory descriptor for the ring and its lock file.
public final class RingDirectory {
    /// The directory as the user wrote it (for messages).
    public let path: String
    public let fd: Int32

    /// Walks to `path` (relative paths start at the working directory, as the kernel resolved
    /// it). Every directory on the way must be a real directory (not a symlink), owned by root
    /// or the running user, and not writable by group or others unless sticky. With `create`,
    /// a missing last component is made (0755) once its parent has passed those checks.
    public init(_ path: String, create: Bool = false) throws(RingSetupError) {
        self.path = path
        var absolute = path
        if !path.hasPrefix("/") {
            do { absolute = try Sys.getcwd() + "/" + path } catch { throw .directory(path, error) }
        }
        let parts = absolute.split(separator: "/").map(String.init).filter { $0 != "." }
        var fd: Int32
        do { fd = try Sys.open("/", O_RDONLY | O_DIRECTORY) } catch { throw .directory("/", error) }
        var ok = false
        defer { if !ok { Sys.close(fd) } }
        try Self.check(fd, "/")
        var walked = ""
        for (i, name) in parts.enumerated() {
            walked += "/" + name
            var next: Int32
            do {
                next = try Sys.openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            } catch .noEntry where create && i == parts.count - 1 {
                do { try Sys.mkdirat(fd, name, 0o755) } catch { if error != .exists { throw RingSetupError.directory(walked, error) } }
                do { next = try Sys.openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) } catch { throw Self.failure(fd, name, walked, error) }
            } catch {
                throw Self.failure(fd, name, walked, error)
            }
            Sys.close(fd)
            fd = next
            try Self.check(fd, walked)
        }
        self.fd = fd
        ok = true
    }

    deinit { Sys.close(fd) }

    /// Why `name` could not be opened as a directory: a symlink gets its own message (O_NOFOLLOW
    /// reports ELOOP, or ENOTDIR with O_DIRECTORY), anything else its errno.
    private static func failure(_ parent: Int32, _ name: String, _ walked: String, _ error: Errno) -> RingSetupError {
        if let st = try? Sys.lstatat(parent, name), st.st_mode & S_IFMT == S_IFLNK {
            return .untrustedDirectory(walked, "it is a symbolic link")
        }
        return .directory(walked, error)
    }

    /// Refuses a directory that another user could change: owned by someone other than root or
    /// the running user (an owner may always rename and delete, sticky bit or not), or writable
    /// by group or others without the sticky bit.
    private static func check(_ fd: Int32, _ path: String) throws(RingSetupError) {
        let st: stat
        do { st = try Sys.fstat(fd) } catch { throw .directory(path, error) }
        if st.st_uid != 0 && st.st_uid != Sys.geteuid() {
            throw .untrustedDirectory(path, "owned by uid \(st.st_uid), not root or the running user")
        }
        if st.st_mode & (S_IWGRP | S_IWOTH) != 0 && st.st_mode & S_ISVTX == 0 {
            throw .untrustedDirectory(path, "writable by group or others without the sticky bit")
        }
    }

    /// Refuses a ring path that is not the collector's to replace: a symlink, directory, FIFO,
    /// device, or a file owned by someone else. A missing name is fine.
    public func checkTarget(_ name: String, path: String) throws(RingSetupError) {
        let st: stat
        do { st = try Sys.lstatat(fd, name) } catch .noEntry { return } catch { throw .badTarget(path, error.description) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFLNK: throw .badTarget(path, "it is a symbolic link")
        case S_IFDIR: throw .badTarget(path, "it is a directory")
        case S_IFIFO: throw .badTarget(path, "it is a FIFO")
        default: throw .badTarget(path, "it is not a regular file")
        }
        if st.st_uid != Sys.geteuid() {
            throw .badTarget(path, "the existing file is owned by uid \(st.st_uid), not the running user")
        }
    }
}
