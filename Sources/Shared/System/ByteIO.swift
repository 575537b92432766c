// Little-endian field access on raw bytes: how both sides of the ring (and tests) read and write
// fixed offsets without caring about alignment.

extension UnsafeRawPointer {
    @inline(__always) public func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    @inline(__always) public func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    @inline(__always) public func i32(_ offset: Int) -> Int32 { Int32(littleEndian: loadUnaligned(fromByteOffset: offset, as: Int32.self)) }
    /// A NUL-padded string field of at most `size` bytes (invalid UTF-8 is repaired, not trusted).
    public func string(_ offset: Int, size: Int) -> String {
        let base = (self + offset).assumingMemoryBound(to: UInt8.self)
        var n = 0
        while n < size && base[n] != 0 { n += 1 }
        return String(decoding: UnsafeBufferPointer(start: base, count: n), as: UTF8.self)
    }
}

extension UnsafeMutableRawPointer {
    @inline(__always) public func u64(_ offset: Int) -> UInt64 { UnsafeRawPointer(self).u64(offset) }
    @inline(__always) public func setU64(_ offset: Int, _ v: UInt64) { storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt64.self) }
    @inline(__always) public func setU32(_ offset: Int, _ v: UInt32) { storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt32.self) }
    @inline(__always) public func setI32(_ offset: Int, _ v: Int32) { storeBytes(of: v.littleEndian, toByteOffset: offset, as: Int32.self) }
    /// Writes `s` NUL-padded into a `size`-byte field, truncated at a UTF-8 boundary.
    public func setString(_ offset: Int, size: Int, _ s: String) {
        var bytes = [UInt8]()
        for scalar in s.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            if bytes.count + encoded.count > size - 1 { break }
            bytes += encoded
        }
        (self + offset).initializeMemory(as: UInt8.self, repeating: 0, count: size)
        bytes.withUnsafeBytes { (self + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }
}
