import Glibc
@testable import Shared

/// A fresh private directory under /tmp, removed by `cleanup()`.
struct TempDir {
    let path: String
    init() {
        var template = Array("/tmp/perfring-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }
    func cleanup() { _ = system("rm -rf '\(path)'") }
}

/// Writes a ring with `count` records whose counter slot 0 holds the record index.
func makeRing(at path: String, capacity: Int = 8, events: Int = 2, perCpu: Int = 0) throws -> RingWriter {
    var c = RingConfig(path: path, capacity: capacity, eventCount: events)
    c.perCpuCount = perCpu
    c.target = "test"
    let w = try RingWriter(config: c)
    for i in 0..<events { w.setEvent(i, EventEntry(name: "ev\(i)", type: 1, config: UInt64(i), status: .counting)) }
    try w.publish()
    return w
}

func writeRecord(_ w: RingWriter, value: UInt64, time: UInt64) {
    let r = w.begin()
    r.setU64(RingLayout.rTimeNs, time)
    r.setU64(RingLayout.rDtNs, 100)
    r.setU64(RingLayout.rCounters, value)
    r.setU64(RingLayout.rCounters + 8, 100)
    r.setU64(RingLayout.rCounters + 16, 100)
    w.commit(heartbeat: time)
}

/// Overwrites bytes of a file in place.
func patch(_ path: String, at offset: Int, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY)
    precondition(fd >= 0)
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
    close(fd)
}

func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
