// swift-tools-version:6.0
// perfring: a real-time hardware-performance monitor for Linux.
// libc only: no package dependencies. Each daemon is a thin `Main/` executable over a library
// target of the same folder, so tests import the logic rather than run the binaries.
import PackageDescription

let package = Package(
    name: "perfring",
    products: [
        .executable(name: "perfring-collector", targets: ["perfring-collector"]),
        .executable(name: "perfring-server", targets: ["perfring-server"]),
    ],
    targets: [
        .target(name: "CPerf", path: "Sources/CPerf"),
        .target(name: "Shared", dependencies: ["CPerf"], path: "Sources/Shared", exclude: ["Ring/RING-FORMAT.md", "THREAT-MODEL.md"]),
        // Collector links Server's offline tools for one thing: the end-of-run summary (RunSummary).
        .target(name: "Collector", dependencies: ["Shared", "CPerf", "Server"], path: "Sources/Collector", exclude: ["Main"]),
        .executableTarget(name: "perfring-collector", dependencies: ["Collector"], path: "Sources/Collector/Main"),
        .target(name: "Server", dependencies: ["Shared", "CPerf"], path: "Sources/Server", exclude: ["Main", "Phases/PHASES.md"]),
        .executableTarget(name: "perfring-server", dependencies: ["Server"], path: "Sources/Server/Main"),
        .testTarget(name: "SharedTests", dependencies: ["Shared", "CPerf"]),
        .testTarget(name: "CollectorTests", dependencies: ["Collector", "Shared"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Shared", "Collector", "CPerf"]),
    ],
    swiftLanguageModes: [.v6]
)
