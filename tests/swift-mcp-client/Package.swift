// swift-tools-version:6.1
// A test-only MCP client built on the official MCP Swift SDK (modelcontextprotocol/swift-sdk), kept out of
// the product's Package.swift so that the product's CI build never resolves or compiles the SDK and its
// dependencies. tests/e2e/test_mcp_swift_client.py builds and runs it against `jinnguard mcp`.
import PackageDescription

let package = Package(
    name: "jg-mcp-swift-client",
    platforms: [.macOS("13.0")],
    dependencies: [
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", exact: "0.12.1"),
    ],
    targets: [
        .executableTarget(
            name: "jg-mcp-swift-client",
            dependencies: [.product(name: "MCP", package: "swift-sdk")]),
    ]
)
