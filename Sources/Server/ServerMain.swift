// The server's entry point as a library function, so tests can start it whole.
import Glibc
import Shared

/// Parses arguments, binds, drops root, opens the ring, serves until SIGINT/SIGTERM. Returns
/// the exit status: 0 ok, 1 runtime failure, 2 usage error. `onListening` receives the bound
/// addresses (tests use it to learn the port).
public func serverMain(_ args: [String]) -> Int32 {
    switch args.first {
    case "analyze": return analyzeMain(Array(args.dropFirst()))
    case "export": return exportMain(Array(args.dropFirst()))
    case "compare": return compareMain(Array(args.dropFirst()))
    default: break
    }
    let options: ServerOptions
    do {
        switch try ServerOptions.parse(args) {
        case .help:
            try? Sys.writeAll(1, ServerOptions.help + "\n")
            return 0
        case .version:
            try? Sys.writeAll(1, "perfring-server \(perfringServerVersion)\n")
            return 0
        case .run(let o):
            options = o
        }
    } catch {
        Log.error(error.message)
        return 2
    }
    if options.verbose { Log.minimum = .debug }
    if options.quiet { Log.minimum = .warning }
    Sys.ignoreSignal(SIGPIPE)

    let webRoot = options.webRoot ?? StaticFiles.defaultWebRoot()
    if let webRoot {
        guard (try? Sys.stat(webRoot + "/index.html")) != nil else {
            Log.error("--web \(webRoot): no index.html there")
            return 2
        }
    } else {
        Log.warning("no dashboard files found (pass --web DIR); serving the API only")
    }
    if let dir = options.recordingsDir, (try? Sys.stat(dir)).map({ $0.st_mode & S_IFMT == S_IFDIR }) != true {
        Log.error("--recordings \(dir): not a directory")
        return 2
    }
    if (try? Sys.stat(options.chartJS)) == nil {
        Log.warning("Chart.js not found at \(options.chartJS): the dashboard cannot draw (apt-get install libjs-chart.js, or --chartjs PATH)")
    }
    var rules = options.alertRules
    if let file = options.alertsFile {
        do { rules += try AlertRule.parseFile(try Sys.readFile(file), name: file) } catch let e as UsageError {
            Log.error("--alerts-file \(e.message)")
            return 2
        } catch {
            Log.error("--alerts-file \(file): \(error)")
            return 2
        }
    }
    // A misspelled metric is an error now, not a warning at the first sample.
    do { try MetricNames.check(rules, known: MetricNames.known(ring: ([options.ringPath] + options.ringFallbacks).lazy.compactMap { try? RingReader(path: $0) }.first?.header)) } catch {
        Log.error(error.message)
        return 2
    }
    let api = PerfringAPI(ringPath: options.ringPath, ringFallbacks: options.ringFallbacks, files: webRoot.map { StaticFiles(webRoot: $0, chartJS: options.chartJS) },
                          minPhaseNs: options.minPhaseNs, alertRules: rules, recordingsDir: options.recordingsDir)
    var config = HTTPServerConfig(listen: options.listen)
    if options.uploadsEnabled {
        api.uploads = UploadService(settings: options.uploadSettings, recordingsDir: options.recordingsDir, minPhaseNs: options.minPhaseNs)
        config.limits.uploadPaths = UploadService.paths
        config.limits.maxUploadBody = options.uploadSettings.maxBytes
        config.bodyTimeout = .nanoseconds(Int64(options.uploadTimeoutNs))
        if !options.listen.allSatisfy(\.isLoopback) {
            Log.warning("--upload beyond loopback: whoever reaches the port can have recordings analysed" + (options.recordingsDir == nil ? "" : " and saved into --recordings"))
        }
    }
    config.maxConnections = options.maxConnections
    config.tickInterval = .nanoseconds(Int64(options.pollNs))
    config.stopSignals = [SIGINT, SIGTERM]
    let server: HTTPServer
    do { server = try HTTPServer(config: config, handler: api) } catch {
        Log.error("cannot listen on \(options.listen.map(\.description).joined(separator: ", ")): \(error)")
        return 1
    }
    api.server = server
    if Sys.geteuid() == 0 {
        let name = options.user ?? "nobody"
        guard let account = Sys.lookupUser(name) else {
            Log.error("--user: no user named '\(name)'; refusing to serve as root")
            return 1
        }
        do { try Sys.dropPrivileges(to: account) } catch {
            Log.error("cannot drop privileges to \(name): \(error); refusing to serve as root")
            return 1
        }
        Log.info("running as \(name) (uid \(account.uid))")
        if let webRoot, (try? Sys.stat(webRoot + "/index.html")) == nil {
            Log.warning("--web \(webRoot): \(name) cannot read the dashboard there (a directory above it is closed to \(name)?): "
                        + "the page will not load; pass --web with a copy \(name) can read, or --user")
        }
    } else if let name = options.user {
        Log.warning("--user \(name) ignored: not started as root")
    }
    // Only now, with the privileges it serves with, does the server open the ring: a root-only
    // file (or a link to one) at the path is refused as it would be for any client.
    api.follower.poll()
    for a in server.addresses {
        Log.info("listening on http://\(a.isIPv6 ? "[\(a.host)]" : a.host):\(a.port)/")
    }
    do { try server.run() } catch {
        Log.error("server loop failed: \(error)")
        return 1
    }
    Log.info("stopped")
    return 0
}
