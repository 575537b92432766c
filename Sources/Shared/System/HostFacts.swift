// Setup-time facts about the host (Strings and Arrays are fine here: read once, never per tick).
import Glibc

public enum HostFacts {
    /// The CPU model from /proc/cpuinfo: x86 "model name", else the first of "Model",
    /// "Hardware", "cpu model", "cpu" (ARM, MIPS, POWER). Nil when none is present.
    public static func cpuModelName(procRoot: String = "/proc") -> String? {
        guard let text = try? Sys.readFile(procRoot + "/cpuinfo", limit: 1 << 22) else { return nil }
        var fallback: String? = nil
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: " \t")
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            if value.isEmpty { continue }
            if key == "model name" { return value }
            if fallback == nil && (key == "Model" || key == "Hardware" || key == "cpu model" || key == "cpu") {
                fallback = value
            }
        }
        return fallback
    }

    /// Online CPUs from /sys/devices/system/cpu/online; nil when unreadable or malformed.
    public static func onlineCPUs(sysRoot: String = "/sys") -> [Int]? {
        guard let text = try? Sys.readFile(sysRoot + "/devices/system/cpu/online") else { return nil }
        return parseCPUList(text)
    }

    /// The running kernel's release (`uname -r`).
    public static func kernelRelease() -> String {
        Sys.kernelRelease() ?? "unknown"
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self[...]
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    /// A one-line /proc or sysfs file's value: without its trailing newline and spaces.
    public var trimmingNewline: String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == " " { s = s.dropLast() }
        return String(s)
    }
}
