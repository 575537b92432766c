// A byte-level JSON builder. /api/data encodes tens of thousands of samples per request, so
// numbers are formatted by hand into one growing [UInt8] rather than through String.

public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Whether the next value in the current object/array needs a comma first.
    private var needComma = false

    public init(reserve: Int = 256) { bytes.reserveCapacity(reserve) }

    @inline(__always) mutating func raw(_ b: UInt8) { bytes.append(b) }
    @inline(__always) mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always) private mutating func comma() {
        if needComma { bytes.append(UInt8(ascii: ",")) }
        needComma = true
    }

    public mutating func beginObject() { comma(); raw(UInt8(ascii: "{")); needComma = false }
    public mutating func endObject() { raw(UInt8(ascii: "}")); needComma = true }
    public mutating func beginArray() { comma(); raw(UInt8(ascii: "[")); needComma = false }
    public mutating func endArray() { raw(UInt8(ascii: "]")); needComma = true }

    /// Writes `"name":` (the value follows).
    public mutating func key(_ name: String) {
        comma()
        string(name, separate: false)
        raw(UInt8(ascii: ":"))
        needComma = false
    }
    /// A key already known to be plain ASCII without escapes, pre-rendered as `"name":`.
    @inline(__always) public mutating func key(rendered: [UInt8]) {
        comma()
        bytes.append(contentsOf: rendered)
        needComma = false
    }
    public static func render(key: String) -> [UInt8] {
        var w = JSONWriter()
        w.key(key)
        return w.bytes
    }

    public mutating func string(_ s: String) { string(s, separate: true) }

    private mutating func string(_ s: String, separate: Bool) {
        if separate { comma() }
        raw(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0..<0x20, 0x7F:
                raw("\\u00")
                raw(hexDigit(b >> 4)); raw(hexDigit(b & 15))
            default: raw(b)
            }
        }
        raw(UInt8(ascii: "\""))
    }

    @inline(__always) private func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x57 + v }

    public mutating func bool(_ v: Bool) { comma(); v ? raw("true") : raw("false") }
    public mutating func null() { comma(); raw("null") }

    public mutating func int(_ v: Int) { comma(); integer(v) }
    public mutating func uint(_ v: UInt64) {
        comma()
        if v <= UInt64(Int.max) { integer(Int(v)) } else { bytes.append(contentsOf: Array(String(v).utf8)) }
    }

    @inline(__always) private mutating func integer(_ v: Int) {
        if v < 0 {
            raw(UInt8(ascii: "-"))
            if v == Int.min { bytes.append(contentsOf: Array("9223372036854775808".utf8)); return }
            digits(UInt64(-v))
        } else {
            digits(UInt64(v))
        }
    }

    @inline(__always) private mutating func digits(_ v: UInt64) {
        if v < 10 { raw(UInt8(truncatingIfNeeded: v) + 0x30); return }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch on the stack
        withUnsafeMutableBytes(of: &tmp) { buf in
            var n = v, i = 24
            while n > 0 {
                i -= 1
                buf[i] = UInt8(truncatingIfNeeded: n % 10) + 0x30
                n /= 10
            }
            bytes.append(contentsOf: buf[i..<24])
        }
    }

    /// A number, or null when it is NaN or infinite (an unavailable value). Shown with up to
    /// 10 significant digits (more than any counter here is accurate to); integers exactly.
    public mutating func number(_ v: Double) {
        comma()
        guard v.isFinite else { raw("null"); return }
        if v == v.rounded(), abs(v) < 9.0e15 { integer(Int(v)); return }
        let a = abs(v)
        guard a >= 1e-6, a < 1e15 else {
            bytes.append(contentsOf: Array(v.description.utf8))
            return
        }
        // Fixed point: pick the decimals that leave 10 significant digits, then trim zeros.
        // Below 1 the leading "0." holds no significant digit.
        var intDigits = a < 1 ? 0 : 1
        var p = 10.0
        while p <= a { intDigits += 1; p *= 10 }
        var decimals = max(0, 10 - intDigits)
        if a < 1 {
            var q = a
            while q < 0.1 { q *= 10; decimals += 1 }
        }
        decimals = min(decimals, 16)
        let scale = JSONWriter.pow10[decimals]
        let scaled = (a * scale).rounded()
        guard scaled < 9.0e15 else { bytes.append(contentsOf: Array(v.description.utf8)); return }
        var m = UInt64(scaled)
        if v < 0 { raw(UInt8(ascii: "-")) }
        let divisor = UInt64(scale)
        let whole = m / divisor
        m %= divisor
        digits(whole)
        if m == 0 { return }
        // Fraction with leading zeros, trailing zeros trimmed.
        var frac = m, width = decimals
        while frac % 10 == 0 { frac /= 10; width -= 1 }
        raw(UInt8(ascii: "."))
        var lead = width - 1
        var t = frac
        while t >= 10 { t /= 10; lead -= 1 }
        for _ in 0..<max(0, lead) { raw(UInt8(ascii: "0")) }
        digits(frac)
    }

    private static let pow10: [Double] = (0...16).map { e in (0..<e).reduce(1.0) { r, _ in r * 10 } }

    /// Appends text outside JSON's grammar (CSV separators and headers); the next value starts
    /// without a comma.
    public mutating func literal(_ s: String) {
        bytes.append(contentsOf: s.utf8)
        needComma = false
    }

    /// Appends pre-encoded JSON (a value).
    public mutating func rawValue(_ json: [UInt8]) { comma(); bytes.append(contentsOf: json) }
}
