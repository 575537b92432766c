// perfring-collector's command line: every flag, its default and its validation.
import Shared

public struct CollectorOptions: Equatable, Sendable {
    public enum Target: Equatable, Sendable {
        case systemWide
        case pid(Int32)
        case command([String])
    }

    public var ringPath: String
    public var ringPathIsDefault = true
    public var intervalNs: UInt64 = 100_000_000
    public var historyNs: UInt64 = 3600 * 1_000_000_000
    public var capacity: Int?
    public var events: [EventSpec] = EventCatalog.defaultNames.compactMap(EventCatalog.spec(named:))
    public var cpus: [Int]?
    public var perCpu = false
    /// False with --no-os: counters only, no /proc or /sys reads per tick.
    public var osSignals = true
    public var target: Target = .systemWide
    public var user: String?
    /// `--replace`: stop the collector that holds the ring's lock (SIGTERM), then take over.
    public var replace = false
    public var verbose = false
    public var quiet = false
    public var selfTest = false
    /// `--replay FILE`: load this recording into the ring instead of counting.
    public var replayPath: String?
    /// `--speed N`: replay N times faster than recorded (0: as fast as possible).
    public var replaySpeed = 1.0

    public static let minIntervalNs: UInt64 = 1_000_000
    public static let maxIntervalNs: UInt64 = 60_000_000_000
    /// Largest ring we agree to create (records); 24 h at 1 ms is far beyond any sane use.
    public static let maxCapacity = 50_000_000

    public init() { ringPath = RingPaths.collectorDefault() }

    /// Records the ring holds: `--capacity`, or history divided by the interval.
    public var resolvedCapacity: Int { capacity ?? max(2, Int(historyNs / intervalNs)) }

    public enum Parsed: Equatable { case run(CollectorOptions), help, version }

    public static func parse(_ args: [String]) throws(UsageError) -> Parsed {
        var o = CollectorOptions()
        var cursor = ArgCursor(args)
        var sawHistory = false
        var given = Set<String>()
        while let (flag, inline) = cursor.next() {
            given.insert(flag)
            switch flag {
            case "-h", "--help": return .help
            case "--version": return .version
            case "--ring":
                o.ringPath = try cursor.value(for: flag, inline: inline)
                o.ringPathIsDefault = false
                guard !o.ringPath.isEmpty, !o.ringPath.hasSuffix("/") else { throw UsageError("--ring: '\(o.ringPath)' is not a file path") }
            case "--interval":
                let v = try cursor.value(for: flag, inline: inline)
                guard let ns = parseDuration(v) else { throw UsageError("--interval: '\(v)' is not a duration (e.g. 100ms, 1s)") }
                guard ns >= minIntervalNs, ns <= maxIntervalNs else { throw UsageError("--interval: \(v) is outside 1ms to 60s") }
                o.intervalNs = ns
            case "--history":
                let v = try cursor.value(for: flag, inline: inline)
                guard let ns = parseDuration(v), ns > 0 else { throw UsageError("--history: '\(v)' is not a duration (e.g. 1h, 30m)") }
                o.historyNs = ns
                sawHistory = true
            case "--capacity":
                let v = try cursor.value(for: flag, inline: inline)
                guard let n = Int(v), n >= 2, n <= maxCapacity else { throw UsageError("--capacity: '\(v)' is not a record count from 2 to \(maxCapacity)") }
                o.capacity = n
            case "--events":
                let v = try cursor.value(for: flag, inline: inline)
                switch EventCatalog.parseList(v) {
                case .success(let e): o.events = e
                case .failure(let e): throw e
                }
            case "--cpus":
                let v = try cursor.value(for: flag, inline: inline)
                guard let list = parseCPUList(v) else { throw UsageError("--cpus: '\(v)' is not a CPU list (e.g. 0-3,8)") }
                o.cpus = list
            case "--per-cpu":
                try cursor.noValue(for: flag, inline: inline)
                o.perCpu = true
            case "--no-os":
                try cursor.noValue(for: flag, inline: inline)
                o.osSignals = false
            case "--pid":
                let v = try cursor.value(for: flag, inline: inline)
                guard let pid = Int32(v), pid > 0 else { throw UsageError("--pid: '\(v)' is not a process id") }
                guard case .systemWide = o.target else { throw UsageError("--pid: only one of --pid and -- CMD") }
                o.target = .pid(pid)
            case "--user":
                o.user = try cursor.value(for: flag, inline: inline)
                guard !(o.user ?? "").isEmpty else { throw UsageError("--user: empty name") }
            case "--replay":
                o.replayPath = try cursor.value(for: flag, inline: inline)
                guard !(o.replayPath ?? "").isEmpty else { throw UsageError("--replay: empty path") }
            case "--speed":
                let v = try cursor.value(for: flag, inline: inline)
                guard let speed = Double(v), speed.isFinite, speed >= 0 else {
                    throw UsageError("--speed: '\(v)' is not a factor of 0 or more (0: as fast as possible)")
                }
                o.replaySpeed = speed
            case "--replace":
                try cursor.noValue(for: flag, inline: inline)
                o.replace = true
            case "--self-test":
                try cursor.noValue(for: flag, inline: inline)
                o.selfTest = true
            case "-v", "--verbose":
                try cursor.noValue(for: flag, inline: inline)
                o.verbose = true
            case "-q", "--quiet":
                try cursor.noValue(for: flag, inline: inline)
                o.quiet = true
            case "--":
                let cmd = cursor.rest()
                guard !cmd.isEmpty else { throw UsageError("--: no command given") }
                guard case .systemWide = o.target else { throw UsageError("-- CMD: only one of --pid and -- CMD") }
                o.target = .command(cmd)
            default:
                throw UsageError(flag.hasPrefix("-") ? "unknown flag '\(flag)' (see --help)" : "unexpected argument '\(flag)' (a command goes after --)")
            }
        }
        if o.replayPath != nil {
            // A replay writes what the recording holds: nothing is counted, launched or chosen.
            if let clash = ["--pid", "--", "--events", "--interval", "--cpus", "--per-cpu", "--no-os", "--user", "--self-test"].first(where: given.contains) {
                throw UsageError("--replay: not with \(clash == "--" ? "-- CMD" : clash) (a replay counts nothing: the recording holds what the ring gets)")
            }
        } else if given.contains("--speed") {
            throw UsageError("--speed: only with --replay")
        }
        if sawHistory && o.capacity != nil { throw UsageError("--history and --capacity: give one of them") }
        // A replay's capacity depends on its recording's interval: checked once it is read.
        if o.capacity == nil, o.replayPath == nil {
            let n = o.historyNs / o.intervalNs
            guard n >= 2, n <= UInt64(maxCapacity) else {
                throw UsageError("--history: \(formatDuration(o.historyNs)) at \(formatDuration(o.intervalNs)) is \(n) records (2 to \(maxCapacity))")
            }
        }
        if o.perCpu, o.target != .systemWide { throw UsageError("--per-cpu: only in system-wide mode") }
        if o.cpus != nil, o.target != .systemWide { throw UsageError("--cpus: only in system-wide mode") }
        return .run(o)
    }

    public static let help = """
    perfring-collector: samples hardware and software performance counters and OS signals into a
    shared ring file, one record per interval. Needs root, CAP_PERFMON, or a permissive
    kernel.perf_event_paranoid for system-wide counting.

    usage: perfring-collector [options]                 system-wide, every CPU
           perfring-collector [options] --pid PID       one running process (all its threads)
           perfring-collector [options] -- CMD ARGS...  launch CMD and count exactly it
           perfring-collector [--ring PATH] [--history DUR | --capacity N] --replay FILE [--speed N]
                                                        load a recording into the ring

    options:
      --ring PATH       ring file (default /run/perfring/ring as root, else
                        $XDG_RUNTIME_DIR/perfring/ring, or /tmp/perfring-UID/ring without it).
                        One collector per ring: a second one exits 1 naming the first
      --replace         stop the collector that writes the ring (SIGTERM, waiting up to 10 s
                        for it to finish), then take it over
      --interval DUR    sampling interval, 1ms to 60s (default 100ms)
      --history DUR     history the ring keeps (default 1h); sets the capacity
      --capacity N      ring capacity in records (instead of --history)
      --events LIST     perf-style event names (default: cycles,instructions,cache-references,
                        cache-misses,branch-instructions,branch-misses,task-clock,
                        context-switches,cpu-migrations,page-faults)
      --cpus LIST       system-wide on these CPUs only, e.g. 0-3,8 (default: all online)
      --per-cpu         also record each CPU's counters and time split
      --no-os           counters only: skip the OS signals from /proc and /sys (they read
                        as unavailable); most of the collector's own cost per tick
      --pid PID         count one process and its threads
      --user NAME       drop to this user after opening counters and the ring (a -- CMD
                        runs as this user too)
      --replay FILE     write a recording into the ring instead of counting, paced like the
                        original, then mark the ring stopped: `perf stat -I MS -x, -e ...`
                        output (plain or -A per-CPU, summed) or perfring's /api/export.csv.
                        History and capacity count the recording's intervals
      --speed N         replay N times faster than recorded (default 1; 0: as fast as possible)
      --self-test       check what this machine can measure (events, timer, task-clock,
                        instructions, own overhead), print a table; exit 1 if a check fails
      -v, --verbose     debug logging;  -q, --quiet: warnings and errors only
      -h, --help        this text;  --version: the version

    examples:
      sudo perfring-collector
      sudo perfring-collector --interval 10ms --per-cpu
      sudo perfring-collector -- make -j2

    exit status: 0 ok (with -- CMD: the command's status), 1 runtime failure (with --replay:
    also a recording that cannot be read), 2 usage error (also a recording that does not parse).
    """
}

extension RingConfig {
    /// Rings above this size get a warning when reserved: `--interval 1ms` with the default hour
    /// of history is over 3 GiB, and the default ring lives in /run, which is memory.
    public static let largeBytes = 256 << 20

    /// For a ring over `largeBytes`: its size, and the --history or --capacity that would fit.
    /// Said before the space is reserved, which for gigabytes in tmpfs takes a while.
    public var sizeWarning: String? {
        guard fileSize > Self.largeBytes else { return nil }
        let fits = max(2, (Self.largeBytes - RingLayout.headerSize) / recordSize)
        let history = UInt64(fits) * intervalNs
        // A round figure, still under the limit: whole hours, else minutes, else seconds.
        var round = formatDuration(history)
        for (unit, suffix) in [(3_600_000_000_000 as UInt64, "h"), (60_000_000_000, "m"), (1_000_000_000, "s")] where history >= unit {
            round = "\(history / unit)\(suffix)"
            break
        }
        let mib = Double(fileSize) / Double(1 << 20)
        let size = mib >= 1024 ? "\((mib / 1024 * 10).rounded() / 10) GiB" : "\(Int(mib.rounded())) MiB"
        return "reserving \(size) for the ring at \(path) (\(capacity) records of \(recordSize) B); "
            + "for at most 256 MiB give --history \(round) (at \(formatDuration(intervalNs))) or --capacity \(fits)"
    }
}
