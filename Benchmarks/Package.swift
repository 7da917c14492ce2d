// swift-tools-version:6.0
import PackageDescription

// Stage microbenchmarks for `make bench` (scripts/bench.sh builds and runs this with -c release).
// The main package exports only executables, so the library targets it measures are the main package's
// own sources, reached through the symlinks in Sources/ (Sources/JGJSON -> ../../Sources/JGJSON, ...):
// the same code the daemon runs, compiled with the same settings. Nothing here is shipped.
func shim(_ name: String, _ libs: [String]) -> Target {
    .target(name: name, path: "Sources/\(name)", linkerSettings: libs.map { .linkedLibrary($0) })
}

let package = Package(
    name: "JinnGuardBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // google/swift-benchmark: the stage timings (median, P99, mean per stage) of BENCHMARKS.md.
        .package(url: "https://github.com/google/swift-benchmark", from: "0.1.2"),
    ],
    targets: [
        shim("CJGSys", []),
        shim("COpenSSL", ["crypto"]),
        shim("CKeyutils", ["keyutils"]),
        .target(name: "JGIPC", dependencies: ["CJGSys"]),
        .target(name: "JGJSON"),
        .target(name: "JGCrypto", dependencies: ["COpenSSL", "CKeyutils", "JGIPC"]),
        .target(name: "JGPolicy", dependencies: ["JGJSON"]),
        .target(name: "JGPolicyYAML", dependencies: ["JGPolicy", "Yams", "JGJSON", "JGCrypto"]),
        .target(name: "JGAudit", dependencies: ["JGCrypto", "JGJSON", "JGIPC"]),
        .target(name: "JGGateCore", dependencies: ["JGIPC", "JGJSON", "JGCrypto", "JGPolicy", "JGAudit"]),
        // Only AuditRecords.swift of JGBrokerCore (the rest pulls in the broker's execution dependencies).
        .target(name: "JGBrokerCore", dependencies: ["JGIPC", "JGJSON", "JGCrypto", "JGAudit"], path: "Sources/JGBrokerRecords"),
        .executableTarget(name: "jg-stage-bench",
                          dependencies: ["JGIPC", "JGJSON", "JGCrypto", "JGPolicy", "JGPolicyYAML", "JGAudit", "JGGateCore", "JGBrokerCore",
                                         .product(name: "Benchmark", package: "swift-benchmark")]),
    ],
    swiftLanguageModes: [.v5]
)
