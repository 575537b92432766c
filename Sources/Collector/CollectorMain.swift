// The collector's entry point as a library function, so tests can drive it whole.
import Glibc
import Server
import Shared

public let perfringVersion = "0.1.0"

/// Parses arguments, runs the collector (or the self-test) and returns the exit status:
/// 0 ok (in command mode, the command's status), 1 runtime failure, 2 usage error.
public func collectorMain(_ args: [String]) -> Int32 {
    let options: CollectorOptions
    do {
        switch try CollectorOptions.parse(args) {
        case .help:
            try? Sys.writeAll(1, CollectorOptions.help + "\n")
            return 0
        case .version:
            try? Sys.writeAll(1, "perfring-collector \(perfringVersion)\n")
            return 0
        case .run(let o):
            options = o
        }
    } catch {
        Log.error("\(error.message)")
        return 2
    }
    if options.verbose { Log.minimum = .debug }
    if options.quiet { Log.minimum = .warning }
    if let recording = options.replayPath { return Replay.main(options, recording: recording) }
    if options.selfTest {
        let (table, status) = SelfTest.report(SelfTest(options: options).run())
        try? Sys.writeAll(1, table)
        return status
    }
    do {
        let collector = try Collector(options: options)
        let status = collector.run()
        if !options.quiet { printSummary(options) }
        return status
    } catch {
        Log.error(error.message)
        return error.isUsage ? 2 : 1
    }
}

/// A command's or a process's run ends with perf stat's kind of summary on stderr (-q: none).
func printSummary(_ options: CollectorOptions) {
    switch options.target {
    case .systemWide: return
    case .pid, .command: break
    }
    let summary: RunSummary
    do { summary = try RunSummary.read(options.ringPath) } catch {
        Log.warning("no summary: \(options.ringPath): \(error)")
        return
    }
    try? Sys.writeAll(2, summary.text)
}
