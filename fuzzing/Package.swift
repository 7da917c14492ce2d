// swift-tools-version:6.0
import PackageDescription

// The fuzz targets (docs/fuzzing.md), a package of their own so that the product build and CI's
// dependency rebuild stay as they are: `make fuzz` builds this with -sanitize=fuzzer,address.
// jg-fuzz holds only the libFuzzer entry points; the targets themselves are a library so that the
// same code also runs without libFuzzer (the differential oracles, scripts/fuzz_differential.py).
// A path dependency's identity is its directory's name, which is whatever the clone was called.
let root = Context.packageDirectory.split(separator: "/").dropLast().last.map { String($0).lowercased() } ?? "jinnguard"

let package = Package(
    name: "JinnGuardFuzz",
    dependencies: [.package(path: "..")],
    targets: [
        // curl_url (the reference for the network_request host rules: its strings need curl_free on every
        // path, which stays in C) and the declaration of libFuzzer's driver.
        .target(name: "CFuzzSupport", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "JGFuzzTargets", dependencies: [
            "CFuzzSupport", .product(name: "JinnGuardParsers", package: root),
        ]),
        .executableTarget(name: "jg-fuzz", dependencies: ["JGFuzzTargets"],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ]
)
