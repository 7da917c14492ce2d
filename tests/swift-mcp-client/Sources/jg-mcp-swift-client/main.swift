// Starts the command after `--` (the gateway: jinnguard mcp …) as an MCP stdio server, connects the Swift
// SDK's Client to it, lists its tools and calls each `NAME=JSON_ARGS` given before `--`. Prints one JSON
// object: {"tools":[…],"calls":[{"tool":…,"isError":…,"text":…}]}. Exit 1 on a transport or protocol error.
import Foundation
import MCP
import SystemPackage

let argv = Array(CommandLine.arguments.dropFirst())
guard let sep = argv.firstIndex(of: "--"), sep + 1 < argv.count else {
    FileHandle.standardError.write(Data("usage: jg-mcp-swift-client TOOL=JSON_ARGS… -- SERVER_CMD [ARGS…]\n".utf8))
    exit(2)
}
let callSpecs = argv[..<sep]
let server = Array(argv[(sep + 1)...])

let proc = Process()
proc.executableURL = URL(fileURLWithPath: server[0])
proc.arguments = Array(server.dropFirst())
let toServer = Pipe(), fromServer = Pipe()
proc.standardInput = toServer
proc.standardOutput = fromServer
try proc.run()

func text(_ content: [Tool.Content]) -> String {
    content.compactMap { if case let .text(t, _, _) = $0 { return t } else { return nil } }.joined(separator: "\n")
}

let transport = StdioTransport(
    input: FileDescriptor(rawValue: fromServer.fileHandleForReading.fileDescriptor),
    output: FileDescriptor(rawValue: toServer.fileHandleForWriting.fileDescriptor))
let client = Client(name: "jg-mcp-swift-client", version: "1.0")
do {
    _ = try await client.connect(transport: transport)
    let tools = try await client.listTools().tools.map(\.name)
    var calls: [[String: Any]] = []
    for spec in callSpecs {
        let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
        let args = parts.count == 2 ? try JSONDecoder().decode([String: Value].self, from: Data(parts[1].utf8)) : [:]
        let r: (content: [Tool.Content], isError: Bool?) = try await client.callTool(name: parts[0], arguments: args)
        calls.append(["tool": parts[0], "isError": r.isError ?? false, "text": text(r.content)])
    }
    let out = try JSONSerialization.data(withJSONObject: ["tools": tools, "calls": calls], options: [.sortedKeys])
    FileHandle.standardOutput.write(out + Data("\n".utf8))
    await client.disconnect()
    try? toServer.fileHandleForWriting.close()
    proc.waitUntilExit()
    exit(0)
} catch {
    FileHandle.standardError.write(Data("jg-mcp-swift-client: \(error)\n".utf8))
    proc.terminate()
    exit(1)
}
