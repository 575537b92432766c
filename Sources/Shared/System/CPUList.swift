// The kernel's CPU-list format ("0-3,8,10-11"), as in /sys/devices/system/cpu/online and
// taskset -c. Shared by the collector's --cpus flag, HostFacts and the server.

/// Largest CPU number accepted: the kernel's NR_CPUS ceiling (CONFIG_NR_CPUS <= 8192) minus one.
public let maxCPUNumber = 8191

/// Parses a CPU list such as `0-3,8,10-11` into ascending, duplicate-free CPU numbers.
///
/// Surrounding whitespace (the trailing newline of a sysfs file) is ignored; spaces around the
/// separators are accepted. Returns nil for anything malformed: an empty list or empty item
/// (`1,,2`, `1,`), a reversed range (`3-1`), signs or other characters, the kernel's stride
/// syntax (`0-7:2/4`), or a CPU number above `maxCPUNumber` (which also bounds the result's
/// size, so `0-99999999` is rejected rather than allocated). Overlapping items are merged.
public func parseCPUList(_ s: String) -> [Int]? {
    var present = [Bool](repeating: false, count: maxCPUNumber + 1)
    var any = false
    var bytes = Substring(s).utf8[...]
    func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
    while let f = bytes.first, isSpace(f) { bytes = bytes.dropFirst() }
    while let l = bytes.last, isSpace(l) { bytes = bytes.dropLast() }
    if bytes.isEmpty { return nil }

    /// Reads one decimal number (at most 5 digits, <= maxCPUNumber) after optional blanks.
    func number(_ b: inout Substring.UTF8View.SubSequence) -> Int? {
        while let f = b.first, f == 0x20 || f == 0x09 { b = b.dropFirst() }
        var v = 0
        var digits = 0
        while let f = b.first, f >= 0x30, f <= 0x39 {
            digits += 1
            if digits > 5 { return nil }
            v = v * 10 + Int(f - 0x30)
            b = b.dropFirst()
        }
        while let f = b.first, f == 0x20 || f == 0x09 { b = b.dropFirst() }
        return digits > 0 && v <= maxCPUNumber ? v : nil
    }

    while true {
        guard let lo = number(&bytes) else { return nil }
        var hi = lo
        if bytes.first == UInt8(ascii: "-") {
            bytes = bytes.dropFirst()
            guard let h = number(&bytes), h >= lo else { return nil }
            hi = h
        }
        for c in lo...hi { present[c] = true }
        any = true
        guard let sep = bytes.first else { break }
        guard sep == UInt8(ascii: ",") else { return nil }
        bytes = bytes.dropFirst()
    }
    guard any else { return nil }
    return present.indices.filter { present[$0] }
}

/// Formats CPU numbers in the same list syntax, collapsing runs: [0,1,2,3,8] -> "0-3,8".
public func formatCPUList(_ cpus: [Int]) -> String {
    let sorted = Array(Set(cpus)).sorted()
    var parts: [String] = []
    var i = 0
    while i < sorted.count {
        var j = i
        while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
        parts.append(j == i ? "\(sorted[i])" : j == i + 1 ? "\(sorted[i]),\(sorted[j])" : "\(sorted[i])-\(sorted[j])")
        i = j + 1
    }
    return parts.joined(separator: ",")
}
