// Where the ring lives when nobody says: one answer for both daemons, so that a collector and
// a server started with no flags, by any users, meet at the same file.

public enum RingPaths {
    /// The system ring: root's collector (or the systemd unit) writes it.
    public static let system = "/run/perfring/ring"

    /// A user's own ring, for a collector run without root: `$XDG_RUNTIME_DIR/perfring/ring`
    /// when that is set, else `/tmp/perfring-UID/ring`.
    public static func user() -> String {
        if let xdg = Sys.environment("XDG_RUNTIME_DIR"), !xdg.isEmpty { return xdg + "/perfring/ring" }
        return "/tmp/perfring-\(Sys.geteuid())/ring"
    }

    /// The collector's default: the system ring as root, else the user's own.
    public static func collectorDefault() -> String { Sys.geteuid() == 0 ? system : user() }

    /// Where a server without `--ring` looks, in order: the system ring first (whoever runs
    /// the server: root's collector is the common case), then the user's own.
    public static func serverCandidates() -> [String] {
        let own = user()
        return Sys.geteuid() == 0 || own == system ? [system] : [system, own]
    }
}
