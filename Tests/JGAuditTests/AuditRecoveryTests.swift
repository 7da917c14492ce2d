import Foundation
import Glibc
import JGAudit
import JGCrypto
import JGJSON
import Testing

@Suite("Audit recovery, truncation and outside verification")
struct AuditRecoveryTests {
    private func tornFiles(_ dir: TempDir) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("audit.jsonl.torn-") }
    }

    @Test func tornTailIsMovedAsideAndChainContinues() throws {
        let dir = TempDir()
        let log = try makeLog(dir.log, count: 3)
        let (index, hash) = (log.nextIndex, log.lastHash)
        log.close()
        let goodBytes = readBytes(dir.log)

        // Half of a real line, as a crash in the middle of write() would leave it.
        let other = TempDir()
        try makeLog(other.log, count: 3).close()
        let half = Array(lines(other.log)[2].prefix(70))
        appendBytes(dir.log, half)

        let before = AuditVerifier.verify(path: dir.log)
        #expect(!before.ok)
        #expect(before.firstBadLine == 5)
        #expect(try runPythonVerifier(dir.log).status == 1)

        let reopened = try AuditLog(path: dir.log)
        #expect(reopened.recoveredTornTail == half.count)
        #expect(reopened.nextIndex == index)
        #expect(reopened.lastHash == hash)
        #expect(readBytes(dir.log) == goodBytes)
        let torn = try tornFiles(dir)
        #expect(torn.count == 1)
        #expect(readBytes(dir.path + "/" + (torn.first ?? "")) == half)
        #expect(reopened.tornTailPath == dir.path + "/" + (torn.first ?? ""))

        try reopened.appendBoot(extraSignals: ["after_crash"], observation: .object([]))
        try reopened.append([entry(10), entry(11)], timestamp: 99)
        reopened.close()
        let after = AuditVerifier.verify(path: dir.log)
        #expect(after.ok, "\(after.reason ?? "")")
        #expect(after.entries == index + 3)
        #expect(try runPythonVerifier(dir.log).status == 0)

        // The boot marker written after recovery says how many bytes were moved aside.
        let boot = try JSONParser.parse(lines(dir.log)[Int(index)])
        #expect(boot["assessment"]?["recovered_torn_tail_bytes"] == .integer(.signed(Int64(half.count))))
    }

    @Test func completeButInvalidLastLineIsMovedAside() throws {
        let dir = TempDir()
        let log = try makeLog(dir.log, count: 2)
        let index = log.nextIndex
        log.close()
        let good = readBytes(dir.log)
        let garbage = Array("{\"index\":3,\"garbage\n".utf8)
        appendBytes(dir.log, garbage)

        let reopened = try AuditLog(path: dir.log)
        #expect(reopened.recoveredTornTail == garbage.count)
        #expect(reopened.nextIndex == index)
        #expect(readBytes(dir.log) == good)
        #expect(try tornFiles(dir).count == 1)
    }

    @Test func twoBadLinesAtTheEndAreRefusedNotCut() throws {
        let dir = TempDir()
        try makeLog(dir.log, count: 3).close()
        var ls = lines(dir.log)
        ls[2][ls[2].count - 3] ^= 1
        ls[3][ls[3].count - 3] ^= 1
        writeLines(dir.log, ls)
        let damaged = readBytes(dir.log)
        #expect(throws: AuditError.self) { _ = try AuditLog(path: dir.log) }
        #expect(readBytes(dir.log) == damaged, "corruption is evidence; open must not cut it away")
        #expect(try tornFiles(dir).isEmpty)
    }

    @Test func cleanFileIsNotTouched() throws {
        let dir = TempDir()
        try makeLog(dir.log, count: 2).close()
        let bytes = readBytes(dir.log)
        let log = try AuditLog(path: dir.log)
        #expect(log.recoveredTornTail == nil)
        #expect(readBytes(dir.log) == bytes)
        #expect(try tornFiles(dir).isEmpty)
    }

    @Test func manifestsDetectTruncation() throws {
        let dir = TempDir()
        try makeLog(dir.log, count: 5).close()
        let ls = lines(dir.log)
        let hash4 = try JSONParser.parse(ls[4])["hash"]?.stringValue ?? ""
        writeBytes(dir.log + ".manifests", Array((
            "{\"checkpoint\":{\"last_index\":2,\"signature\":\"00\"}}\n"
            + "{\"checkpoint\":{\"last_index\":4,\"last_hash\":\"\(hash4)\",\"signature\":\"00\"}}\n").utf8))

        let whole = AuditVerifier.verify(path: dir.log)
        #expect(whole.ok, "\(whole.reason ?? "")")
        #expect(whole.attestedLastIndex == 4)
        #expect(try runPythonVerifier(dir.log).status == 0)

        // Cutting the tail keeps a perfectly valid chain; only the manifests reveal the loss.
        writeLines(dir.log, Array(ls.prefix(4)))
        let cut = AuditVerifier.verify(path: dir.log)
        #expect(!cut.ok)
        #expect(cut.entries == 4)
        #expect(cut.firstBadLine == 5)
        #expect(cut.reason?.contains("truncated") == true)
        #expect(try runPythonVerifier(dir.log).status == 1)

        // A chain rewritten after the checkpoint (same length, different history) contradicts last_hash.
        let other = TempDir()
        try makeLog(other.log, count: 5, timestamp: 1).close()
        writeBytes(dir.log, readBytes(other.log))
        let forged = AuditVerifier.verify(path: dir.log)
        #expect(!forged.ok)
        #expect(forged.firstBadLine == 5)
    }

    @Test func malformedManifestsFail() throws {
        let dir = TempDir()
        try makeLog(dir.log, count: 1).close()
        writeBytes(dir.log + ".manifests", Array("{\"checkpoint\":{}}\n".utf8))
        #expect(!AuditVerifier.verify(path: dir.log).ok)
    }

    @Test func emptyAndMissingLogs() throws {
        let dir = TempDir()
        #expect(!AuditVerifier.verify(path: dir.log).ok, "a missing log is not a verified one")
        writeBytes(dir.log, [])
        let r = AuditVerifier.verify(path: dir.log)
        #expect(r.ok && r.entries == 0)
        writeBytes(dir.log + ".manifests", Array("{\"checkpoint\":{\"last_index\":0}}\n".utf8))
        #expect(!AuditVerifier.verify(path: dir.log).ok)
    }

    /// Lines whose hash is right but whose shape is not must still fail: the verifier checks the format,
    /// not just the arithmetic.
    @Test(arguments: ["extraKey", "duplicateKey", "spaces", "notBoot"])
    func wellHashedButMalformedLinesFail(kind: String) throws {
        let zeros = String(repeating: "0", count: 64)
        var obs = #"{"a":1}"#
        var intent = #"{"class":"Boot","signals":["jinnguard.boot_marker","kernel_release=6.1"]}"#
        if kind == "duplicateKey" { obs = #"{"a":1,"a":2}"# }
        if kind == "spaces" { obs = #"{"a": 1}"# }
        if kind == "notBoot" { intent = #"{"class":"Read","signals":[]}"# }
        let assessment = "{}", decision = "{}"
        let bytes = AuditTestBE.be64(0) + AuditTestBE.be64(5) + Array((zeros + obs + intent + assessment + decision).utf8)
        let h = Digest.hex(Digest.sha256(bytes))
        var line = #"{"index":0,"timestamp_secs":5,"prev_hash":""# + zeros + #"","observation":"# + obs + #","intent":"# + intent
            + #","assessment":{},"decision":{},"hash":""# + h + "\""
        if kind == "extraKey" { line += #","extra":1"# }
        line += "}\n"

        let dir = TempDir()
        writeBytes(dir.log, Array(line.utf8))
        let r = AuditVerifier.verify(path: dir.log)
        #expect(!r.ok, "\(kind) accepted")
        #expect(r.firstBadLine == 1)
        let py = try runPythonVerifier(dir.log)
        if kind == "spaces" {
            // Outside verifiers hash the bytes as they are, so only our layout check rejects this one.
            #expect(py.status == 0)
        } else {
            #expect(py.status == 1, "python accepted \(kind)")
        }
    }

    @Test func pythonVerifierAgreesWithSwiftWriter() throws {
        let dir = TempDir()
        let log = try makeLog(dir.log, count: 20)
        try log.appendBoot(extraSignals: ["restart"], observation: .object([("uptime", .number(0.5))]))
        try log.append([entry(99, note: "quote \" brace } backslash \\")], timestamp: 7)
        log.close()
        let ok = try runPythonVerifier(dir.log)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("OK 23 entries"))

        var ls = lines(dir.log)
        if let i = ls[10].firstIndex(of: UInt8(ascii: "7")) { ls[10][i] = UInt8(ascii: "8") } else { ls[10][20] ^= 1 }
        writeLines(dir.log, ls)
        let bad = try runPythonVerifier(dir.log)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("line 11"), "\(bad.stderr)")
        #expect(AuditVerifier.verify(path: dir.log).firstBadLine == 11)
    }

    /// /dev/full fails every write with ENOSPC: the first append must throw and every later one too.
    @Test func writeFailureFailsClosed() throws {
        let log = try AuditLog(path: "/dev/full")
        #expect(log.nextIndex == 0)
        do {
            try log.appendBoot(extraSignals: [], observation: .object([]))
            Issue.record("append to /dev/full succeeded")
        } catch {
            #expect(error.errno == ENOSPC)
        }
        #expect(log.failed?.errno == ENOSPC)
        #expect(log.nextIndex == 0)
        #expect(log.lastHash == String(repeating: "0", count: 64))
        #expect(throws: AuditError.self) { try log.appendBoot(extraSignals: [], observation: .object([])) }
        log.close()
    }
}
