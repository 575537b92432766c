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
            let n = p.count
            reserve(n)
            guard let from = p.baseAddress else { return }
            JSONWriter.copy(from, count: n, to: base + count)
            count += n
        }
    }

    /// Copies `n` bytes: keys and short literals (most of a reply's copies) by two overlapping
    /// loads and stores, not a call to memmove.
    @inline(__always) private static func copy(_ from: UnsafeRawPointer, count n: Int, to t: UnsafeMutablePointer<UInt8>) {
        let to = UnsafeMutableRawPointer(t)
        if n >= 16 && n <= 32 {
            to.storeBytes(of: from.loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
            (to + (n - 16)).storeBytes(of: from.loadUnaligned(fromByteOffset: n - 16, as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
        } else if n >= 8 && n < 16 {
            to.storeBytes(of: from.loadUnaligned(as: UInt64.self), as: UInt64.self)
            (to + (n - 8)).storeBytes(of: from.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self), as: UInt64.self)
        } else if n < 8 {
            for i in 0..<n { to.storeBytes(of: from.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self) }
        } else {
            to.copyMemory(from: from, byteCount: n)
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

    /// How many decimal digits `v` has (1 for 0).
    @inline(__always) private static func digitCount(_ v: UInt64) -> Int {
        var n = 1, x = v
        if x >= 10_000_000_000_000_000 { n += 16; x /= 10_000_000_000_000_000 }
        if x >= 100_000_000 { n += 8; x /= 100_000_000 }
        if x >= 10_000 { n += 4; x /= 10_000 }
        if x >= 100 { n += 2; x /= 100 }
        if x >= 10 { n += 1 }
        return n
    }

    /// Decimal digits of `v`, straight into the output.
    @inline(__always) private func digits(_ v: UInt64) {
        let n = Self.digitCount(v)
        out.reserve(n)
        Self.put(v, digits: n, at: out.base + out.count)
        out.count += n
    }

    /// The last `count` decimal digits of `v` (zero-padded) at `t`, two at a time from a table.
    /// Past 8 digits the low 8 are split off first and written with 32-bit arithmetic: two
    /// short chains of divisions by 100 that the CPU overlaps, not one long one.
    @inline(__always) private static func put(_ v: UInt64, digits count: Int, at t: UnsafeMutablePointer<UInt8>) {
        // "00" "01" ... "99": a literal, so no lazy-global check per call.
        let pairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
        var i = count
        var n = v
        pairs.withUTF8Buffer { table in
            if i > 8 {
                var low = UInt32(truncatingIfNeeded: n % 100_000_000)
                n /= 100_000_000
                for _ in 0..<4 {
                    let r = Int(low % 100)
                    low /= 100
                    i -= 2
                    t[i] = table[2 &* r]
                    t[i &+ 1] = table[2 &* r &+ 1]
                }
            }
            var m = n
            while i >= 2 {
                let r = Int(m % 100)
                m /= 100
                i -= 2
                t[i] = table[2 &* r]
                t[i &+ 1] = table[2 &* r &+ 1]
            }
            if i == 1 { t[0] = UInt8(truncatingIfNeeded: m % 10) &+ 0x30 }
        }
    }

    /// The most bytes `render` writes.
    static let numberRoom = 32

    /// A number, or null when it is NaN or infinite (an unavailable value). Shown with 10
    /// significant digits (more than any counter here is accurate to); integers exactly.
    public mutating func number(_ v: Double) {
        comma()
        out.reserve(Self.numberRoom)
        out.count += Self.render(v, at: out.base + out.count)
    }

    /// `v` as `number` writes it, at `t` (room for `numberRoom` bytes); returns its length.
    /// A function of the value alone: a run of numbers is written through a local pointer,
    /// with no round trip through the buffer's count per number.
    @inline(__always) private static func render(_ v: Double, at t: UnsafeMutablePointer<UInt8>) -> Int {
        guard v.isFinite else {
            UnsafeMutableRawPointer(t).storeBytes(of: 0x6C6C_756E, as: UInt32.self)  // "null"
            return 4
        }
        let a = v.magnitude
        var p = t
        if v < 0 { p[0] = UInt8(ascii: "-"); p += 1 }
        // Whole numbers exactly (a conversion and back, not a call to trunc()).
        if a < 9.0e15, case let whole = Int64(a), Double(whole) == a {
            let n = digitCount(UInt64(whole))
            put(UInt64(whole), digits: n, at: p)
            return p + n - t
        }
        guard a >= 1e-6, a < 1e15 else { return described(v, at: t) }
        // Fixed point: the decimals that leave 10 significant digits.
        var whole: UInt64 = 0, decimals: Int
        if a >= 1 {
            // The digits before the point (a < 1e15: those of its integer part).
            whole = UInt64(Int64(a))
            decimals = max(0, 10 - digitCount(whole))
        } else {
            decimals = 10
            var q = a
            while q < 0.1 { q *= 10; decimals += 1 }
            decimals = min(decimals, 19)
        }
        let scale = scales[decimals]
        let scaled = a * scale + 0.5
        guard scaled < 1.8e19 else { return described(v, at: t) }
        let s = scaled < 9.0e18 ? UInt64(Int64(scaled)) : UInt64(scaled)
        guard s != 0 else { t[0] = UInt8(ascii: "0"); return 1 }
        // The scaled value split at its point by the exact power of ten (a multiplication, no
        // division), the rounding's carry going into the integer part; then the integer part's
        // digits and the fraction's, zero-padded to `decimals`, without its trailing zeros.
        let unit = decimals < 19 ? UInt64(Int64(scale)) : 10_000_000_000_000_000_000
        var fraction = s &- whole &* unit
        if fraction >= unit { whole &+= 1; fraction &-= unit }
        let n = digitCount(whole)
        put(whole, digits: n, at: p)
        p += n
        guard fraction != 0 else { return p - t }
        while fraction % 10 == 0 { fraction /= 10; decimals -= 1 }
        p[0] = UInt8(ascii: ".")
        put(fraction, digits: decimals, at: p + 1)
        return p + 1 + decimals - t
    }

    /// `v` in Swift's shortest form, for magnitudes fixed point does not suit (at most 24 bytes).
    @inline(never) private static func described(_ v: Double, at t: UnsafeMutablePointer<UInt8>) -> Int {
        var n = 0
        for b in v.description.utf8 { t[n] = b; n += 1 }
        return n
    }

    /// Appends an object's members: for each k, the pre-rendered key `"name":` at
    /// `keys[starts[k]..<starts[k + 1]]` and the number `values[k * stride]`. Written through a
    /// local pointer, one reservation for them all (a sample object of /api/data).
    public mutating func members(keys: UnsafeRawBufferPointer, starts: UnsafeBufferPointer<Int>, values: UnsafePointer<Double>, stride: Int) {
        let count = starts.count - 1
        guard count > 0, let keyBase = keys.baseAddress else { return }
        out.reserve(keys.count + count * (Self.numberRoom + 1))
        let base = out.base
        var p = base + out.count
        if needComma { p[0] = UInt8(ascii: ","); p += 1 }
        for k in 0..<count {
            if k > 0 { p[0] = UInt8(ascii: ","); p += 1 }
            let n = starts[k + 1] - starts[k]
            Self.copy(keyBase + starts[k], count: n, to: p)
            p += n
            p += Self.render(values[k * stride], at: p)
        }
        out.count = p - base
        needComma = true
    }

    /// Appends `values[0..<count]` comma-separated (an array's items), after a comma when
    /// `comma` is true; a value equal to the one before it is copied from its rendering (a
    /// column's many repeats: dt_ms, gap, a level, null). Written through a local pointer, a
    /// block of numbers per reservation.
    public mutating func numbers(_ values: UnsafePointer<Double>, count: Int, comma: Bool) {
        guard count > 0 else { return }
        var i = 0
        var separate = comma
        var lastBits = ~Double.nan.bitPattern, lastStart = 0, lastLength = 0
        while i < count {
            let block = min(count - i, 256)
            out.reserve(block * (Self.numberRoom + 1))
            let base = out.base
            var p = base + out.count
            for k in i..<(i + block) {
                if separate { p[0] = UInt8(ascii: ","); p += 1 }
                separate = true
                let v = values[k]
                if v.bitPattern == lastBits && lastLength <= 16 {
                    let from = UnsafeRawPointer(base + lastStart)
                    UnsafeMutableRawPointer(p).storeBytes(of: from.loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
                    p += lastLength
                } else {
                    let n = Self.render(v, at: p)
                    lastBits = v.bitPattern
                    lastStart = p - base
                    lastLength = n
                    p += n
                }
            }
            out.count = p - base
            i += block
        }
        needComma = true
    }

    /// Overwrites the `width` bytes at `offset` with `v` in lowercase hex, zero-padded (a size
    /// written before what it measures).
    public func setHex(_ v: Int, at offset: Int, width: Int) {
        precondition(v >= 0 && offset >= 0 && offset + width <= out.count && (width >= 16 || v < 1 << (4 * width)), "setHex out of range")
        var x = v
        for k in stride(from: offset + width - 1, through: offset, by: -1) {
            let d = UInt8(x & 15)
            out.base[k] = d < 10 ? 0x30 + d : 0x57 + d
            x >>= 4
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

/// 10^0 ... 10^19 as doubles (each exact), for scaling without a conversion.
private let scales: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19]
