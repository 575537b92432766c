// A byte-level JSON builder. /api/data encodes tens of thousands of samples per request, so
// values are formatted by hand straight into one growing buffer: no String per number, no
// per-byte Array bookkeeping.

public struct JSONWriter {
    /// The growing output; a class so that appends never trigger a copy-on-write check.
    private final class Buffer {
        // Touched for every byte written and never shared across threads: no dynamic
        // exclusivity bookkeeping on each access.
        @exclusivity(unchecked) var base: UnsafeMutablePointer<UInt8>
        @exclusivity(unchecked) var count = 0
        @exclusivity(unchecked) var capacity: Int
        init(_ capacity: Int) {
            self.capacity = max(capacity, 64)
            base = .allocate(capacity: self.capacity)
        }
        deinit { base.deallocate() }
        @inline(__always) func reserve(_ n: Int) {
            if count + n > capacity { grow(count + n) }
        }
        func grow(_ needed: Int) {
            var c = capacity * 2
            while c < needed { c *= 2 }
            let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
            fresh.update(from: base, count: count)
            base.deallocate()
            base = fresh
            capacity = c
        }
        @inline(__always) func put(_ b: UInt8) {
            reserve(1)
            base[count] = b
            count += 1
        }
        @inline(__always) func put(_ p: UnsafeRawBufferPointer) {
            reserve(p.count)
            if let a = p.baseAddress { (base + count).update(from: a.assumingMemoryBound(to: UInt8.self), count: p.count) }
            count += p.count
        }
    }

    private let out: Buffer
    /// Whether the next value in the current object/array needs a comma first.
    private var needComma = false

    public init(reserve: Int = 256) { out = Buffer(reserve) }

    /// The JSON text so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: out.base, count: out.count)) }
    /// Bytes written so far.
    public var count: Int { out.count }
    /// The text so far, without copying it (valid during `body` only).
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: out.base, count: out.count))
    }
    /// Empties the writer, keeping its buffer (a reply produced in chunks reuses one writer).
    public mutating func reset() {
        out.count = 0
        needComma = false
    }

    @inline(__always) private func raw(_ b: UInt8) { out.put(b) }
    @inline(__always) private func raw(_ s: StaticString) {
        s.withUTF8Buffer { out.put(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always) private mutating func comma() {
        if needComma { out.put(UInt8(ascii: ",")) }
        needComma = true
    }

    public mutating func beginObject() { comma(); raw(UInt8(ascii: "{")); needComma = false }
    public mutating func endObject() { raw(UInt8(ascii: "}")); needComma = true }
    public mutating func beginArray() { comma(); raw(UInt8(ascii: "[")); needComma = false }
    public mutating func endArray() { raw(UInt8(ascii: "]")); needComma = true }

    /// Writes `"name":` (the value follows).
    public mutating func key(_ name: String) {
        comma()
        quoted(name)
        raw(UInt8(ascii: ":"))
        needComma = false
    }
    /// A key pre-rendered by `render(key:)` as `"name":`.
    @inline(__always) public mutating func key(rendered: [UInt8]) {
        rendered.withUnsafeBytes { key(rendered: $0) }
    }
    @inline(__always) public mutating func key(rendered: UnsafeRawBufferPointer) {
        comma()
        out.put(rendered)
        needComma = false
    }
    public static func render(key: String) -> [UInt8] {
        var w = JSONWriter(reserve: key.utf8.count + 8)
        w.key(key)
        return w.bytes
    }

    public mutating func string(_ s: String) {
        comma()
        quoted(s)
    }

    private func quoted(_ s: String) {
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

    public mutating func int(_ v: Int) {
        comma()
        if v < 0 { raw(UInt8(ascii: "-")) }
        digits(v.magnitude.asUInt64)
    }
    public mutating func uint(_ v: UInt64) { comma(); digits(v) }

    /// Decimal digits of `v`.
    @inline(__always) private func digits(_ v: UInt64) {
        var t: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes on the stack
        let (first, end) = withUnsafeMutableBytes(of: &t) { b in
            let buf = b.bindMemory(to: UInt8.self)
            return (Self.render(v, minDigits: 1, into: buf), buf.count)
        }
        withUnsafeBytes(of: &t) { out.put(UnsafeRawBufferPointer(rebasing: $0[first..<end])) }
    }

    /// Writes the decimal digits of `v`, at least `minDigits` (zero-padded), right-aligned at
    /// the end of `t` (20 bytes or more, two digits at a time from a table); returns the index
    /// of the first.
    @inline(__always) private static func render(_ v: UInt64, minDigits: Int, into t: UnsafeMutableBufferPointer<UInt8>) -> Int {
        // "00" "01" ... "99": a literal, so no lazy-global check per call.
        let pairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
        var i = t.count
        var n = v
        pairs.withUTF8Buffer { table in
            while n >= 100 {
                let r = Int(n % 100)
                n /= 100
                i -= 2
                t[i] = table[2 * r]
                t[i + 1] = table[2 * r + 1]
            }
            if n >= 10 {
                i -= 2
                t[i] = table[2 * Int(n)]
                t[i + 1] = table[2 * Int(n) + 1]
            } else {
                i -= 1
                t[i] = UInt8(truncatingIfNeeded: n) &+ 0x30
            }
        }
        while t.count - i < minDigits {
            i -= 1
            t[i] = 0x30
        }
        return i
    }

    /// A number, or null when it is NaN or infinite (an unavailable value). Shown with 10
    /// significant digits (more than any counter here is accurate to); integers exactly.
    public mutating func number(_ v: Double) {
        comma()
        guard v.isFinite else { raw("null"); return }
        let a = v.magnitude
        if a < 9.0e15, a == a.rounded(.towardZero) {
            if v < 0 { raw(UInt8(ascii: "-")) }
            digits(UInt64(a))
            return
        }
        guard a >= 1e-6, a < 1e15 else {
            v.description.utf8.withContiguousStorageIfAvailable { out.put(UnsafeRawBufferPointer($0)) }
            return
        }
        // Fixed point: the decimals that leave 10 significant digits.
        var decimals: Int
        if a >= 1 {
            var intDigits = 1
            var bound = 10.0
            while intDigits < 16 && bound <= a { intDigits += 1; bound *= 10 }
            decimals = max(0, 10 - intDigits)
        } else {
            decimals = 10
            var q = a
            while q < 0.1 { q *= 10; decimals += 1 }
            decimals = min(decimals, 19)
        }
        var divisor: UInt64 = 1
        for _ in 0..<decimals { divisor &*= 10 }
        let scaled = a * Double(divisor) + 0.5
        guard scaled < 1.8e19 else {
            v.description.utf8.withContiguousStorageIfAvailable { out.put(UnsafeRawBufferPointer($0)) }
            return
        }
        // All digits at once, at least one before the point; the point goes `decimals` from
        // the end and the fraction's trailing zeros are dropped.
        var t: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes on the stack
        let (first, point, last) = withUnsafeMutableBytes(of: &t) { b in
            let t = b.bindMemory(to: UInt8.self)
            let first = Self.render(UInt64(scaled), minDigits: decimals + 1, into: t)
            let point = t.count - decimals
            var last = t.count
            while last > point && t[last - 1] == 0x30 { last -= 1 }
            return (first, point, last)
        }
        withUnsafeBytes(of: &t) { t in
            let isZero = last == point && point - first == 1 && t[first] == 0x30
            if v < 0 && !isZero { out.put(UInt8(ascii: "-")) }
            out.put(UnsafeRawBufferPointer(rebasing: t[first..<point]))
            if last > point {
                out.put(UInt8(ascii: "."))
                out.put(UnsafeRawBufferPointer(rebasing: t[point..<last]))
            }
        }
    }

    /// Appends pre-rendered text (a reply's opening fields); the next value starts without a
    /// comma.
    public mutating func literal(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { out.put($0) }
        needComma = false
    }

    /// Appends one byte outside JSON's grammar (a CSV separator); the next value starts
    /// without a comma.
    public mutating func byte(_ b: UInt8) {
        out.put(b)
        needComma = false
    }

    /// Appends text outside JSON's grammar (CSV separators and headers, SSE framing); the next
    /// value starts without a comma.
    public mutating func literal(_ s: String) {
        var s = s
        s.withUTF8 { out.put(UnsafeRawBufferPointer($0)) }
        needComma = false
    }
}

extension UInt {
    fileprivate var asUInt64: UInt64 { UInt64(self) }
}
