// Where the server listens: parsing `ADDR:PORT` and opening the listening socket.
import CPerf
import Glibc
import Shared

/// A numeric listen address: `127.0.0.1:8080`, `0.0.0.0:0` or `[::1]:8080`; `8080` alone and
/// `localhost:8080` mean 127.0.0.1 (the loopback default). Port 0 asks the kernel for a free
/// port; `Listener.address` then reports the real one. Other host names are not resolved (a
/// daemon should not depend on DNS to start), and `localhost` is mapped, not looked up.
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public let isIPv6: Bool
    /// The address in network order: 4 or 16 bytes.
    public let bytes: [UInt8]
    public let port: UInt16
    /// The host as written (without brackets), for messages.
    public let host: String

    public init?(_ text: String) {
        var utf8 = Array(text.utf8)
        if !utf8.contains(UInt8(ascii: ":")) { utf8 = Array("127.0.0.1:".utf8) + utf8 }
        if utf8.starts(with: "localhost:".utf8) { utf8 = Array("127.0.0.1".utf8) + utf8.dropFirst("localhost".utf8.count) }
        guard let colon = utf8.lastIndex(of: UInt8(ascii: ":")) else { return nil }
        var hostBytes = utf8[..<colon]
        let portBytes = utf8[(colon + 1)...]
        let bracketed = hostBytes.first == UInt8(ascii: "[") && hostBytes.last == UInt8(ascii: "]") && hostBytes.count >= 2
        if bracketed { hostBytes = hostBytes.dropFirst().dropLast() }
        guard !portBytes.isEmpty, portBytes.count <= 5, portBytes.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }),
            let port = UInt16(String(decoding: portBytes, as: UTF8.self))
        else { return nil }
        let host = String(decoding: hostBytes, as: UTF8.self)
        guard let bytes = Sys.inetPton(bracketed ? AF_INET6 : AF_INET, host) else { return nil }
        self.init(isIPv6: bracketed, bytes: bytes, port: port, host: host)
    }

    init(isIPv6: Bool, bytes: [UInt8], port: UInt16, host: String) {
        self.isIPv6 = isIPv6
        self.bytes = bytes
        self.port = port
        self.host = host
    }

    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A bound, listening, non-blocking socket.
struct Listener {
    let fd: Int32
    /// The address actually bound (the real port when 0 was asked for).
    let address: ListenAddress

    /// Binds with SO_REUSEADDR (a restart does not wait out TIME_WAIT) and, for IPv6,
    /// IPV6_V6ONLY (so `[::]` and `0.0.0.0` on one port can coexist and mean what they say).
    static func open(_ address: ListenAddress, backlog: Int32 = 1024) throws(Errno) -> Listener {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = try Sys.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue))
        do {
            try Sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if address.isIPv6 {
                try Sys.setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1)
                var sa = sockaddr_in6()
                sa.sin6_family = sa_family_t(AF_INET6)
                sa.sin6_port = address.port.bigEndian
                withUnsafeMutableBytes(of: &sa.sin6_addr) { $0.copyBytes(from: address.bytes) }
                try withUnsafeBytes(of: &sa) { (p) throws(Errno) in
                    try Sys.bind(fd, p.baseAddress!, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            } else {
                var sa = sockaddr_in()
                sa.sin_family = sa_family_t(AF_INET)
                sa.sin_port = address.port.bigEndian
                withUnsafeMutableBytes(of: &sa.sin_addr) { $0.copyBytes(from: address.bytes) }
                try withUnsafeBytes(of: &sa) { (p) throws(Errno) in
                    try Sys.bind(fd, p.baseAddress!, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            try Sys.listen(fd, backlog: backlog)
            var bound = try Sys.getsockname(fd)
            let port = withUnsafeBytes(of: &bound) { raw in
                // sin_port and sin6_port sit at the same offset, right after the family.
                UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: MemoryLayout<sa_family_t>.size, as: UInt16.self))
            }
            return Listener(fd: fd, address: ListenAddress(isIPv6: address.isIPv6, bytes: address.bytes, port: port, host: address.host))
        } catch {
            Sys.close(fd)
            throw error
        }
    }
}
