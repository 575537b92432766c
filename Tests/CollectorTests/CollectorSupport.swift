import Foundation
import Glibc
import Testing
@testable import Shared

/// The directory holding the built products (the test bundle sits beside them).
let productsDir: String = {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return exe.deletingLastPathComponent().path
}()

/// The release build of the collector, beside the debug products (`.build/<triple>/release`).
let releaseCollector = URL(fileURLWithPath: productsDir).deletingLastPathComponent().appendingPathComponent("release/perfring-collector").path

struct RunResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs a built product (or any program) to completion, `timeout` seconds at most; output goes
/// through temporary files.
@discardableResult
func runProduct(_ name: String, _ args: [String], timeout: Double = 30, sourceLocation: SourceLocation = #_sourceLocation) throws -> RunResult {
    let b = try Background(name.hasPrefix("/") ? name : productsDir + "/" + name, args)
    let status = b.wait(seconds: timeout, sourceLocation: sourceLocation)
    return RunResult(status: status, stdout: b.stdout, stderr: b.stderr)
}

/// Every complete record of a ring, in index order.
func readAll(_ path: String) throws -> (RingReader, [[UInt8]]) {
    let r = try RingReader(path: path)
    let w = r.writeIndex() ?? 0
    var out: [[UInt8]] = []
    var buf = [UInt8](repeating: 0, count: r.header.recordSize)
    for i in r.oldestIndex(writeIndex: w)..<w {
        let ok = buf.withUnsafeMutableBytes { r.read(i, into: $0.baseAddress!) }
        if ok == .ok { out.append(buf) }
    }
    return (r, out)
}

func view<T>(_ bytes: [UInt8], _ body: (RecordView) -> T) -> T {
    bytes.withUnsafeBytes { body(RecordView($0.baseAddress!)) }
}

struct TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "perfring-ctest-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o700)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Starts a binary in the background with stdout and stderr to files (extra `environment`
/// variables on top of the test's own).
final class Background {
    let process = Process()
    let errPath = NSTemporaryDirectory() + "perfring-bg-" + UUID().uuidString
    let outPath = NSTemporaryDirectory() + "perfring-bg-out-" + UUID().uuidString
    init(_ path: String, _ args: [String], environment: [String: String] = [:]) throws {
        FileManager.default.createFile(atPath: errPath, contents: nil)
        FileManager.default.createFile(atPath: outPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = args
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardError = FileHandle(forWritingAtPath: errPath)
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        try process.run()
    }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }
    /// Its exit status; one that has not exited within `seconds` is killed and the test fails
    /// there, rather than the whole run waiting on it.
    func wait(seconds: Double = 60, sourceLocation: SourceLocation = #_sourceLocation) -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            Issue.record("\(process.executableURL?.lastPathComponent ?? "process") did not exit within \(Int(seconds)) s: \(stderr.suffix(2000))", sourceLocation: sourceLocation)
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return process.terminationStatus
    }
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: errPath)
        try? FileManager.default.removeItem(atPath: outPath)
    }
}

func waitFor(seconds: Double = 20, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
