import Foundation
import JGAudit
import JGJSON

/// A fresh directory per test, so tests run in parallel without sharing files.
final class TempDir {
    let path: String

    init() {
        let base = FileManager.default.temporaryDirectory.path + "/jgaudit-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    var log: String { path + "/audit.jsonl" }
}

func readBytes(_ path: String) -> [UInt8] {
    [UInt8](FileManager.default.contents(atPath: path) ?? Data())
}

func writeBytes(_ path: String, _ bytes: [UInt8]) {
    precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
}

func appendBytes(_ path: String, _ bytes: [UInt8]) {
    let h = FileHandle(forWritingAtPath: path)!
    h.seekToEndOfFile()
    h.write(Data(bytes))
    try! h.close()
}

/// Lines without their newlines; the file is expected to end with one.
func lines(_ path: String) -> [[UInt8]] {
    var parts = readBytes(path).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
    if parts.last?.isEmpty == true { parts.removeLast() }
    return parts
}

func writeLines(_ path: String, _ ls: [[UInt8]]) {
    writeBytes(path, ls.flatMap { $0 + [UInt8(ascii: "\n")] })
}

func entry(_ n: Int, note: String = "") -> AuditEntryParts {
    AuditEntryParts(
        observation: .object([("agent_id", .string("agent-\(n)")), ("pid", .integer(.signed(Int64(1000 + n)))), ("note", .string(note))]),
        intent: .object([("class", .string("Read")), ("name", .string("read_record"))]),
        assessment: .object([("risk", .integer(.signed(Int64(n % 100))))]),
        decision: .object([("verdict", .string(n % 2 == 0 ? "ALLOW" : "DENY")), ("reason", .string("rule \(n)"))]))
}

/// A log with a boot marker followed by `count` ordinary entries.
@discardableResult
func makeLog(_ path: String, count: Int, timestamp: UInt64 = 1_700_000_000) throws -> AuditLog {
    let log = try AuditLog(path: path)
    try log.appendBoot(extraSignals: ["test"], observation: .object([("pid", .integer(.signed(1)))]))
    if count > 0 { try log.append((1...count).map { entry($0) }, timestamp: timestamp) }
    return log
}

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

let packageRoot: String = {
    // Tests/JGAuditTests/<file> → package root.
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

func runPythonVerifier(_ logPath: String) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", packageRoot + "/scripts/verify_audit.py", logPath]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}
