// swift-tools-version:6.0
import PackageDescription

// One thin C shim per C library (DESIGN.md §7); each links only its own library.
// Warnings are errors in the shims: they are where all the pointer work is (#16).
func shim(_ name: String, _ libs: [String]) -> Target {
    .target(name: name, path: "Sources/\(name)", cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])],
            linkerSettings: libs.map { .linkedLibrary($0) })
}

// Component code does not import _StringProcessing implicitly: one Regex or `String.contains(String)`
// would load it and its regex parser (about 1 MiB resident) into each of the four processes; TextSearch
// (JGPolicy) covers what they need. Not for `jinnguard`, whose argument parser and YAML loader load it anyway.
let lean: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-disable-implicit-string-processing-module-import"])]

let package = Package(
    name: "JinnGuard",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "jinnguard", targets: ["jinnguard"]),
        .executable(name: "jg-gate", targets: ["jg-gate"]),
        .executable(name: "jg-agent-run", targets: ["jg-agent-run"]),
        .executable(name: "jg-prover", targets: ["jg-prover"]),
        .executable(name: "jg-kernel", targets: ["jg-kernel"]),
        .executable(name: "jg-broker", targets: ["jg-broker"]),
        // The parsers, for the fuzz package (fuzz/Package.swift) only: no executable links this product.
        .library(name: "JinnGuardParsers", targets: ["JGIPC", "JGJSON", "JGPolicy", "JGPolicyYAML", "JGGateCore", "JGAudit", "JGBrokerCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // C shims
        shim("CJGSys", []),
        shim("COpenSSL", ["crypto"]),
        shim("CKeyutils", ["keyutils"]),
        shim("CSeccomp", ["seccomp"]),
        shim("CCap", ["cap"]),
        shim("CBPF", ["bpf"]),
        shim("CZ3", ["z3"]),
        shim("CCurl", ["curl"]),

        // Libraries: everything that is not a process.
        .target(name: "JGIPC", dependencies: ["CJGSys"], swiftSettings: lean),
        .target(name: "JGJSON", swiftSettings: lean),
        .target(name: "JGCrypto", dependencies: ["COpenSSL", "CKeyutils", "JGIPC"], swiftSettings: lean),
        // The policy model and its canonical JSON form: all the components need. YAML (Yams, which needs
        // Foundation, ~10 MiB resident per process) only in JGPolicyYAML, which no component links.
        .target(name: "JGPolicy", dependencies: ["JGJSON"], swiftSettings: lean),
        .target(name: "JGPolicyYAML", dependencies: ["JGPolicy", "Yams", "JGJSON", "JGCrypto"]),
        .target(name: "JGAudit", dependencies: ["JGCrypto", "JGJSON", "JGIPC"], swiftSettings: lean),
        .target(name: "JGSandbox", dependencies: ["JGIPC", "CSeccomp", "CCap", "CJGSys"], swiftSettings: lean),
        .target(name: "JGProverCore", dependencies: ["CZ3", "JGPolicy"], swiftSettings: lean),
        .target(name: "JGGateCore", dependencies: ["JGIPC", "JGJSON", "JGCrypto", "JGPolicy", "JGAudit"], swiftSettings: lean),
        .target(name: "JGBrokerCore", dependencies: ["JGGateCore", "JGIPC", "JGJSON", "JGPolicy", "JGAudit", "JGCrypto", "CJGSys", "CCurl", "JGSandbox"], swiftSettings: lean),
        // The MCP gateway's decisions (`jinnguard mcp`): message routing facts, proposals, result limits.
        .target(name: "JGMCP", dependencies: ["JGIPC", "JGJSON", "JGCrypto", "JGPolicy", "JGBrokerCore"]),

        // The four components and the operator command.
        .executableTarget(name: "jg-gate", dependencies: ["JGGateCore", "JGIPC", "JGJSON", "JGPolicy", "JGCrypto", "CJGSys", "JGSandbox"], swiftSettings: lean),
        .executableTarget(name: "jg-prover", dependencies: ["JGProverCore", "JGIPC", "JGJSON", "JGPolicy", "JGCrypto", "JGSandbox"], swiftSettings: lean),
        .executableTarget(name: "jg-kernel", dependencies: ["JGIPC", "JGJSON", "JGPolicy", "CBPF", "CJGSys", "JGSandbox"], swiftSettings: lean),
        .executableTarget(name: "jg-broker", dependencies: ["JGBrokerCore", "JGIPC", "JGJSON", "JGPolicy", "JGAudit", "JGCrypto", "JGSandbox"], swiftSettings: lean),
        // `make bench` only: request-time check against a fresh context per check, and policy analysis.
        .executableTarget(name: "jg-agent-run", dependencies: ["JGSandbox"], swiftSettings: lean),
        .executableTarget(name: "jg-bench-prover", dependencies: ["JGProverCore", "JGPolicy", "JGPolicyYAML"]),
        .executableTarget(name: "jinnguard", dependencies: [
            "JGIPC", "JGPolicy", "JGPolicyYAML", "JGAudit", "JGCrypto", "JGJSON", "JGProverCore", "JGGateCore", "CKeyutils", "CJGSys", "JGSandbox", "JGMCP",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),

        .target(name: "JGTestSupport", path: "Tests/JGTestSupport"),
        .testTarget(name: "JGCoreTests", dependencies: ["JGTestSupport", "JGIPC", "JGJSON", "JGCrypto", "JGPolicy", "JGPolicyYAML", "JGGateCore", "JGBrokerCore", "JGSandbox", "JGMCP"]),
        .testTarget(name: "JGProverTests", dependencies: ["JGTestSupport", "JGProverCore", "JGPolicy", "JGPolicyYAML"]),
        .testTarget(name: "JGAuditTests", dependencies: ["JGTestSupport", "JGAudit", "JGCrypto", "JGJSON"]),
    ],
    swiftLanguageModes: [.v6]
)
