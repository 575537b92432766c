import Testing
@testable import Server
@testable import Shared

@Suite struct ServerFlags {
    @Test(arguments: [
        (["--listen", "example.com:80"], "--listen"),
        (["--listen", ":8080"], "--listen"),
        (["--listen", "localhost"], "--listen"),
        (["--listen", "80800"], "--listen"),
        (["--listen", "127.0.0.1"], "--listen"),
        (["--listen", "[::1]:99999"], "--listen"),
        (["--max-connections", "0"], "--max-connections"),
        (["--max-connections", "many"], "--max-connections"),
        (["--poll", "0ms"], "--poll"),
        (["--ring"], "needs a value"),
        (["--ring", ""], "--ring"),
        (["--user", ""], "--user"),
        (["--bogus"], "unknown flag"),
        (["stray"], "unexpected argument"),
    ])
    func badFlagsAreUsageErrors(_ args: [String], _ mention: String) {
        do {
            _ = try ServerOptions.parse(args)
            Issue.record("accepted \(args)")
        } catch {
            #expect(error.message.contains(mention), "\(error.message)")
        }
    }

    @Test func defaultsAndValues() throws {
        guard case .run(let d) = try ServerOptions.parse([]) else { Issue.record("not a run"); return }
        #expect(d.listen.map(\.description) == ["127.0.0.1:8080"])
        #expect(d.chartJS == "/usr/share/javascript/chart.js/chart.min.js")
        #expect(d.maxConnections == 1024)
        guard case .run(let o) = try ServerOptions.parse(["--listen", "[::1]:0", "--listen=0.0.0.0:9000", "--ring", "/tmp/r", "--poll", "10ms"]) else {
            Issue.record("not a run"); return
        }
        #expect(o.listen.map(\.description) == ["[::1]:0", "0.0.0.0:9000"])
        #expect(o.ringPath == "/tmp/r")
        #expect(o.pollNs == 10_000_000)
        #expect(try ServerOptions.parse(["-h"]) == .help)
        #expect(try ServerOptions.parse(["--version"]) == .version)
    }

    /// A bare port and `localhost` mean the IPv4 loopback, mapped without a name lookup.
    @Test(arguments: [("8080", "127.0.0.1:8080"), ("localhost:8080", "127.0.0.1:8080"), ("0", "127.0.0.1:0"),
                      ("localhost:0", "127.0.0.1:0"), ("[::1]:8080", "[::1]:8080"), ("0.0.0.0:9100", "0.0.0.0:9100")])
    func listenAcceptsAPortAloneAndLocalhost(text: String, address: String) throws {
        guard case .run(let o) = try ServerOptions.parse(["--listen", text]) else { Issue.record("not a run"); return }
        #expect(o.listen.map(\.description) == [address])
        #expect(o.listen[0].bytes == (address.hasPrefix("[") ? Array(repeating: 0, count: 15) + [1] : address.hasPrefix("0.0.0.0") ? [0, 0, 0, 0] : [127, 0, 0, 1]))
    }

    @Test func usageErrorsExitWithStatusTwo() {
        #expect(serverMain(["--listen", "nonsense"]) == 2)
        #expect(serverMain(["--web", "/nonexistent-perfring-web"]) == 2)
    }
}
