// Response writing: the per-connection output queue and how a response head is framed on it.
import CPerf
import Glibc
import Shared

/// A byte queue over one malloc'd block: appended at the tail, consumed from the head, compacted
/// and grown only when the tail runs out, so a connection's steady state allocates nothing.
final class ByteQueue {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private var start = 0
    private var end = 0
    private let initialCapacity: Int

    init(capacity: Int) {
        initialCapacity = capacity
        self.capacity = capacity
        base = .allocate(byteCount: capacity, alignment: 16)
    }
    deinit { base.deallocate() }

    var count: Int { end - start }
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + start, count: end - start) }

    func consume(_ n: Int) {
        start += n
        if start == end { removeAll() }
    }
    func removeAll() {
        start = 0
        end = 0
    }

    /// Free space after the tail, at least `minimum` bytes unless that would take the queue's
    /// capacity past `limit` (then whatever fits; empty when full at `limit`).
    func tail(minimum: Int, limit: Int) -> UnsafeMutableRawBufferPointer {
        if capacity - end < minimum && start > 0 {
            (base + 0).copyMemory(from: base + start, byteCount: end - start)
            end -= start
            start = 0
        }
        if capacity - end < minimum && capacity < limit {
            grow(to: min(max(capacity * 2, end + minimum), limit))
        }
        return UnsafeMutableRawBufferPointer(start: base + end, count: capacity - end)
    }
    func commit(_ n: Int) { end += n }

    func append(_ p: UnsafeRawBufferPointer) {
        guard p.count > 0 else { return }
        let space = tail(minimum: p.count, limit: Int.max)
        space.baseAddress!.copyMemory(from: p.baseAddress!, byteCount: p.count)
        end += p.count
    }
    func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }
    func append(_ s: String) {
        var s = s
        s.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }
    func append(decimal n: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for any Int
        withUnsafeMutableBytes(of: &digits) { d in
            var v = n.magnitude
            var k = d.count
            repeat {
                k -= 1
                d[k] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0
            if n < 0 {
                k -= 1
                d[k] = UInt8(ascii: "-")
            }
            append(UnsafeRawBufferPointer(rebasing: d[k...]))
        }
    }

    /// Returns a buffer that a large request or reply grew to its initial size once it is empty.
    func shrinkIfLarge() {
        guard end == start, capacity > 16 * initialCapacity else { return }
        base.deallocate()
        capacity = initialCapacity
        base = .allocate(byteCount: capacity, alignment: 16)
        removeAll()
    }

    private func grow(to newCapacity: Int) {
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        bigger.copyMemory(from: base + start, byteCount: end - start)
        base.deallocate()
        base = bigger
        capacity = newCapacity
        end -= start
        start = 0
    }

    /// Serialises a response head; the server owns framing, so the handler's framing headers
    /// are dropped, as are fields that are not a token name with a printable value (no
    /// response splitting through an application that echoes input into a header).
    func appendHead(_ r: HTTPResponse, date: [UInt8], contentLength: Int?, close: Bool, keepAliveHeader: Bool, chunked: Bool = false) {
        append("HTTP/1.1 ")
        append(decimal: r.status.code)
        append(" ")
        append(r.status.reason)
        append("\r\n")
        append(date)
        append("X-Content-Type-Options: nosniff\r\n")
        for field in r.headers where isSendable(field) {
            append(field.name)
            append(": ")
            append(field.value)
            append("\r\n")
        }
        if let contentLength, !r.status.forbidsContent {
            append("Content-Length: ")
            append(decimal: contentLength)
            append("\r\n")
        }
        if chunked && !r.status.forbidsContent {
            append("Transfer-Encoding: chunked\r\n")
        }
        if close {
            append("Connection: close\r\n")
        } else if keepAliveHeader {
            append("Connection: keep-alive\r\n")
        }
        append("\r\n")
    }
}

let serverOwnedFields: Set<String> = ["content-length", "date", "connection", "transfer-encoding", "x-content-type-options"]

func isSendable(_ field: HTTPField) -> Bool {
    guard !field.name.isEmpty, field.name.utf8.allSatisfy(isToken),
        field.value.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) })
    else { return false }
    switch field.name.utf8.count {
    case 4, 10, 14, 17, 22: return !serverOwnedFields.contains(field.name.lowercased())
    default: return true
    }
}
