// perfring-server's command line: every flag, its default and its validation.
import Shared

public struct ServerOptions: Equatable, Sendable {
    /// `--ring`, else the first place a collector without flags writes (`RingPaths`).
    public var ringPath: String
    /// Without `--ring`: where else to look, in order, while `ringPath` does not exist.
    public var ringFallbacks: [String]
    public var listen: [ListenAddress] = [ListenAddress("127.0.0.1:8080")!]
    public var listenIsDefault = true
    public var webRoot: String?
    public var chartJS = "/usr/share/javascript/chart.js/chart.min.js"
    public var maxConnections = 1024
    public var user: String?
    public var pollNs: UInt64 = 25_000_000
    public var verbose = false
    public var quiet = false
    /// Alert rules from --alert (parsed here) and the --alerts-file to read at start.
    public var alertRules: [AlertRule] = []
    public var alertsFile: String?
    public var minPhaseNs = PhaseTracker.defaultMinPhaseNs
    /// `--recordings DIR`: runs offered to /compare.html.
    public var recordingsDir: String?
    /// `--upload` / `--no-upload`; nil: on only when every listen address is loopback.
    public var upload: Bool?
    public var uploadSettings = UploadSettings()
    /// `--upload-timeout DUR`: how long a request's content may take to arrive.
    public var uploadTimeoutNs: UInt64 = 60_000_000_000

    /// Whether POST /api/analyze and /api/compare are served.
    public var uploadsEnabled: Bool { upload ?? listen.allSatisfy(\.isLoopback) }

    public init() {
        let candidates = RingPaths.serverCandidates()
        ringPath = candidates[0]
        ringFallbacks = Array(candidates.dropFirst())
    }

    public enum Parsed: Equatable { case run(ServerOptions), help, version }

    public static func parse(_ args: [String]) throws(UsageError) -> Parsed {
        var o = ServerOptions()
        var cursor = ArgCursor(args)
        var listens: [ListenAddress] = []
        while let (flag, inline) = cursor.next() {
            switch flag {
            case "-h", "--help": return .help
            case "--version": return .version
            case "--ring":
                o.ringPath = try cursor.value(for: flag, inline: inline)
                o.ringFallbacks = []
                guard !o.ringPath.isEmpty else { throw UsageError("--ring: empty path") }
            case "--listen":
                let v = try cursor.value(for: flag, inline: inline)
                guard let a = ListenAddress(v) else { throw UsageError("--listen: '\(v)' is not ADDR:PORT or PORT (e.g. 127.0.0.1:8080, localhost:8080, 8080, [::1]:8080, 0.0.0.0:0)") }
                listens.append(a)
            case "--web":
                o.webRoot = try cursor.value(for: flag, inline: inline)
            case "--chartjs":
                o.chartJS = try cursor.value(for: flag, inline: inline)
            case "--max-connections":
                let v = try cursor.value(for: flag, inline: inline)
                guard let n = Int(v), n >= 1, n <= 1_000_000 else { throw UsageError("--max-connections: '\(v)' is not a number from 1 to 1000000") }
                o.maxConnections = n
            case "--user":
                o.user = try cursor.value(for: flag, inline: inline)
                guard !(o.user ?? "").isEmpty else { throw UsageError("--user: empty name") }
            case "--poll":
                let v = try cursor.value(for: flag, inline: inline)
                guard let ns = parseDuration(v), ns >= 1_000_000, ns <= 10_000_000_000 else { throw UsageError("--poll: '\(v)' is not a duration from 1ms to 10s") }
                o.pollNs = ns
            case "--alert":
                let v = try cursor.value(for: flag, inline: inline)
                do { o.alertRules.append(try AlertRule.parse(v)) } catch { throw UsageError("--alert '\(v)': \(error)") }
            case "--alerts-file":
                o.alertsFile = try cursor.value(for: flag, inline: inline)
            case "--min-phase":
                let v = try cursor.value(for: flag, inline: inline)
                guard let ns = parseDuration(v), ns >= 1_000_000, ns <= 3_600_000_000_000 else { throw UsageError("--min-phase: '\(v)' is not a duration from 1ms to 1h") }
                o.minPhaseNs = ns
            case "-v", "--verbose":
                try cursor.noValue(for: flag, inline: inline)
                o.verbose = true
            case "--recordings":
                o.recordingsDir = try cursor.value(for: flag, inline: inline)
                guard !(o.recordingsDir ?? "").isEmpty else { throw UsageError("--recordings: empty path") }
            case "--upload", "--no-upload":
                try cursor.noValue(for: flag, inline: inline)
                o.upload = flag == "--upload"
            case "--upload-limit":
                let v = try cursor.value(for: flag, inline: inline)
                guard let n = parseByteSize(v), n >= 1024, n <= 1 << 30 else { throw UsageError("--upload-limit: '\(v)' is not a size from 1K to 1G (e.g. 16M)") }
                o.uploadSettings.maxBytes = n
            case "--upload-timeout":
                let v = try cursor.value(for: flag, inline: inline)
                guard let ns = parseDuration(v), ns >= 1_000_000_000, ns <= 3_600_000_000_000 else { throw UsageError("--upload-timeout: '\(v)' is not a duration from 1s to 1h") }
                o.uploadTimeoutNs = ns
            case "--analysis-queue":
                let v = try cursor.value(for: flag, inline: inline)
                guard let n = Int(v), n >= 1, n <= 64 else { throw UsageError("--analysis-queue: '\(v)' is not a number from 1 to 64") }
                o.uploadSettings.queueDepth = n
            case "-q", "--quiet":
                try cursor.noValue(for: flag, inline: inline)
                o.quiet = true
            default:
                throw UsageError(flag.hasPrefix("-") ? "unknown flag '\(flag)' (see --help)" : "unexpected argument '\(flag)'")
            }
        }
        if !listens.isEmpty { o.listen = listens; o.listenIsDefault = false }
        return .run(o)
    }

    /// `16M`, `512K`, `1G`, `1048576` (binary units); nil for anything else.
    static func parseByteSize(_ s: String) -> Int? {
        let units: [(String, Int)] = [("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("", 1)]
        for (suffix, scale) in units where s.uppercased().hasSuffix(suffix) {
            guard let n = Int(s.dropLast(suffix.count)), n >= 0, n <= Int.max / scale else { return nil }
            return n * scale
        }
        return nil
    }

    public static let help = """
    perfring-server: serves the perfring ring as a JSON API, Prometheus metrics and a live
    dashboard. Unprivileged: it only reads the ring file.

    usage: perfring-server [options]
           perfring-server analyze FILE [--json] [--min-phase DUR]   (see analyze --help)
           perfring-server export [--ring PATH] [--csv | --json] [--out FILE]   (CSV by default)
           perfring-server compare A B [--json] [--min-phase DUR]   (see compare --help)

    options:
      --ring PATH            ring file (default /run/perfring/ring when it exists, else
                             the collector's per-user default: $XDG_RUNTIME_DIR/perfring/ring,
                             or /tmp/perfring-UID/ring without it)
      --listen ADDR:PORT     address to serve on (default 127.0.0.1:8080; [::1]:8080 for IPv6;
                             0.0.0.0:PORT for every interface; port 0 picks a free port);
                             PORT alone and localhost:PORT mean 127.0.0.1:PORT (localhost is
                             not looked up: [::1]:PORT for IPv6 loopback); repeatable
      --web DIR              dashboard files (default: found next to the binary, in the source
                             tree, or in /usr/local/share/perfring/web, /usr/share/perfring/web)
      --chartjs PATH         Chart.js (default /usr/share/javascript/chart.js/chart.min.js,
                             from Debian's libjs-chart.js)
      --max-connections N    connections served at once (default 1024); more get 503
      --user NAME            started as root: drop to NAME after binding (default nobody)
      --poll DUR             how often the ring is checked for new records (default 25ms)
      --alert RULE           alert when a metric crosses a threshold for a while, e.g.
                             'cpi > 2 for 5s', 'cpu_util >= 90 for 30s'; repeatable
      --alerts-file PATH     more rules, one per line (# comments)
      --min-phase DUR        shortest execution phase the detector reports (default 1s)
      --recordings DIR       recordings (rings, CSV exports, perf stat output) that
                             /compare.html and /api/compare compare side by side
      --upload, --no-upload  serve POST /api/analyze and /api/compare (recordings sent to be
                             analysed); default: on when every --listen address is loopback
      --upload-limit SIZE    largest upload (default 16M); larger bodies get 413
      --upload-timeout DUR   time a request's content may take to arrive (default 60s)
      --analysis-queue N     analyses queued or running at once (default 4); more get 503
      -v, --verbose          debug logging;  -q, --quiet: warnings and errors only
      -h, --help             this text;  --version: the version

    endpoints: /  /api/latest  /api/data?since=SEQ&limit=N&fields=a,b&format=columns
               /api/stream  /api/events  /api/health  /api/fields  /api/export.csv  /metrics
               /api/phases  /api/alerts  /api/recordings  /api/compare?a=NAME&b=NAME
               POST /api/analyze[?min_phase=DUR&save=1]  POST /api/compare (form parts a, b)

    examples:
      perfring-server
      perfring-server --listen 0.0.0.0:9100 --ring /run/perfring/ring

    exit status: 0 ok, 1 runtime failure, 2 usage error.
    """
}
