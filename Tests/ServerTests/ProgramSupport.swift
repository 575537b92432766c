// The programs the tests run (the built binaries, perf's tools) and the one way they are run to
// their end: output through files (a pipe that fills cannot stall the program), and a deadline
// (a program that does not end fails the test that ran it instead of hanging the whole run).
import Foundation
import Glibc
import Testing

private let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
let serverBinary = products + "/perfring-server"
let collectorBinary = products + "/perfring-collector"

struct ProgramResult {
    let status: Int32
    let stdout: [UInt8]
    let stderr: String
    var out: String { String(decoding: stdout, as: UTF8.self) }
}

/// Waits for `p` to exit, at most `seconds`. One still running then is a failure of the calling
/// test: it gets SIGTERM, SIGKILL 5 s later, and is reaped. False when it had to be stopped.
@discardableResult
func finish(_ p: Process, within seconds: Double, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    guard p.isRunning else { p.waitUntilExit(); return true }
    Issue.record("\(p.executableURL?.lastPathComponent ?? "a program") \(p.arguments ?? []) did not exit within \(Int(seconds)) s", sourceLocation: sourceLocation)
    p.terminate()
    let grace = Date().addingTimeInterval(5)
    while p.isRunning && Date() < grace { usleep(10_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    return false
}

/// Runs `path` with `args` (in `cwd`, with `input` on its stdin) to its end, `seconds` at most.
func runProgram(_ path: String, _ args: [String], cwd: String? = nil, input: [UInt8] = [], seconds: Double = 120,
                sourceLocation: SourceLocation = #_sourceLocation) throws -> ProgramResult {
    let base = NSTemporaryDirectory() + "perfring-program-" + UUID().uuidString
    let files = [base + ".in", base + ".out", base + ".err"]
    defer { for f in files { try? FileManager.default.removeItem(atPath: f) } }
    FileManager.default.createFile(atPath: files[0], contents: Data(input))
    for f in files.dropFirst() { FileManager.default.createFile(atPath: f, contents: nil) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    p.standardInput = FileHandle(forReadingAtPath: files[0])
    p.standardOutput = FileHandle(forWritingAtPath: files[1])
    p.standardError = FileHandle(forWritingAtPath: files[2])
    try p.run()
    finish(p, within: seconds, sourceLocation: sourceLocation)
    let out = (try? Data(contentsOf: URL(fileURLWithPath: files[1]))) ?? Data()
    let err = (try? Data(contentsOf: URL(fileURLWithPath: files[2]))) ?? Data()
    return ProgramResult(status: p.terminationStatus, stdout: Array(out), stderr: String(decoding: err, as: UTF8.self))
}
