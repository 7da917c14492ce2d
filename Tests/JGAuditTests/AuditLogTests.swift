import Foundation
import Glibc
import JGAudit
import JGCrypto
import JGJSON
import Testing

@Suite("Audit log writer and verifier")
struct AuditLogTests {
    @Test func bootThenEntriesVerify() throws {
        let dir = TempDir()
        let log = try makeLog(dir.log, count: 5)
        #expect(log.nextIndex == 6)
        #expect(log.recoveredTornTail == nil)
        log.close()

        let r = AuditVerifier.verify(path: dir.log)
        #expect(r.ok, "\(r.reason ?? "")")
        #expect(r.entries == 6)
        #expect(r.firstBadLine == nil)

        let first = try JSONParser.parse(lines(dir.log)[0])
        #expect(first["intent"]?["class"]?.stringValue == "Boot")
        guard case let .array(signals)? = first["intent"]?["signals"] else { Issue.record("no signals"); return }
        let s = signals.compactMap(\.stringValue)
        #expect(s.contains("jinnguard.boot_marker"))
        #expect(s.contains("test"))
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        #expect(s.contains("kernel_release=\(release)"))
    }

    @Test func topLevelKeyOrderIsExact() throws {
        let dir = TempDir()
        try makeLog(dir.log, count: 1).close()
        for line in lines(dir.log) {
            guard case let .object(pairs) = try JSONParser.parse(line) else { Issue.record("not an object"); continue }
            #expect(pairs.map(\.0) == ["index", "timestamp_secs", "prev_hash", "observation", "intent", "assessment", "decision", "hash"])
        }
        #expect(String(decoding: lines(dir.log)[0], as: UTF8.self).contains("\"prev_hash\":\"\(String(repeating: "0", count: 64))\""))
    }

    /// The hash and the line text are checked against bytes assembled by hand, and against a digest
    /// computed outside Swift (Python hashlib), so the writer cannot agree with itself by accident.
    @Test func knownEntryHash() throws {
        let dir = TempDir()
        let log = try AuditLog(path: dir.log)
        let boot = AuditEntryParts(
            observation: .object([("pid", .integer(.signed(42))), ("note", .string("brace } and quote \" inside"))]),
            intent: .object([("class", .string("Boot")), ("signals", .array([.string("jinnguard.boot_marker"), .string("kernel_release=6.1.0-test")]))]),
            assessment: .object([("risk", .integer(.signed(0)))]),
            decision: .object([("verdict", .string("BOOT"))]))
        let idx = try log.append([boot], timestamp: 1_700_000_000)
        #expect(idx == [0])

        let obs = #"{"pid":42,"note":"brace } and quote \" inside"}"#
        let intent = #"{"class":"Boot","signals":["jinnguard.boot_marker","kernel_release=6.1.0-test"]}"#
        let assessment = #"{"risk":0}"#
        let decision = #"{"verdict":"BOOT"}"#
        let zeros = String(repeating: "0", count: 64)
        var bytes: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x65, 0x53, 0xF1, 0x00] // be64(0) ‖ be64(1700000000)
        bytes += Array((zeros + obs + intent + assessment + decision).utf8)
        let expected = Digest.hex(Digest.sha256(bytes))
        #expect(expected == "231c63c183cce02e4033d510a49d785d028c74adeb9318d5e026e8405fafe4f1")
        #expect(log.lastHash == expected)

        let line = #"{"index":0,"timestamp_secs":1700000000,"prev_hash":""# + zeros + #"","observation":"# + obs
            + #","intent":"# + intent + #","assessment":"# + assessment + #","decision":"# + decision
            + #","hash":""# + expected + "\"}\n"
        #expect(readBytes(dir.log) == Array(line.utf8))

        // Entry 1 links to entry 0 and hashes be64(1).
        try log.append([entry(7)], timestamp: 1_700_000_001)
        let l1 = try JSONParser.parse(lines(dir.log)[1])
        #expect(l1["prev_hash"]?.stringValue == expected)
        var b1 = AuditTestBE.be64(1) + AuditTestBE.be64(1_700_000_001) + Array(expected.utf8)
        for k in ["observation", "intent", "assessment", "decision"] { b1 += Array(JSONWriter.write(l1[k]!).utf8) }
        #expect(l1["hash"]?.stringValue == Digest.hex(Digest.sha256(b1)))
        #expect(AuditVerifier.verify(path: dir.log).ok)
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6])
    func flippedDigitIsCaughtOnItsLine(line n: Int) throws {
        let dir = TempDir()
        try makeLog(dir.log, count: 5).close()
        for field in ["\"timestamp_secs\":", "\"pid\":", "\"hash\":\""] {
            var ls = lines(dir.log)
            let text = ls[n - 1]
            let marker = Array(field.utf8)
            guard let at = (0...(text.count - marker.count)).first(where: { Array(text[$0..<$0 + marker.count]) == marker }) else {
                Issue.record("field \(field) not found on line \(n)")
                continue
            }
            let pos = at + marker.count
            let original = ls[n - 1][pos]
            // Stay within the same character class so only the value, not the syntax, changes.
            let isDigit = original >= UInt8(ascii: "0") && original <= UInt8(ascii: "9")
            ls[n - 1][pos] = isDigit ? (original == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1"))
                                     : (original == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a"))
            writeLines(dir.log + ".t", ls)
            let r = AuditVerifier.verify(path: dir.log + ".t")
            #expect(!r.ok)
            #expect(r.firstBadLine == n, "\(field): \(r.reason ?? "")")
            #expect(r.entries == UInt64(n - 1))
        }
    }

    @Test func deletedMiddleLineIsCaught() throws {
        let dir = TempDir()
        try makeLog(dir.log, count: 5).close()
        var ls = lines(dir.log)
        ls.remove(at: 2)
        writeLines(dir.log, ls)
        let r = AuditVerifier.verify(path: dir.log)
        #expect(!r.ok)
        #expect(r.firstBadLine == 3)
    }

    @Test func reorderedLinesAreCaught() throws {
        let dir = TempDir()
        try makeLog(dir.log, count: 5).close()
        var ls = lines(dir.log)
        ls.swapAt(2, 3)
        writeLines(dir.log, ls)
        let r = AuditVerifier.verify(path: dir.log)
        #expect(!r.ok)
        #expect(r.firstBadLine == 3)
    }

    /// Every line is self-consistent and the indexes are contiguous; only prev_hash shows the splice.
    @Test func splicedChainsAreCaught() throws {
        let a = TempDir(), b = TempDir()
        try makeLog(a.log, count: 5, timestamp: 10).close()
        try makeLog(b.log, count: 5, timestamp: 20).close()
        writeLines(a.log, Array(lines(a.log).prefix(3)) + Array(lines(b.log).dropFirst(3)))
        let r = AuditVerifier.verify(path: a.log)
        #expect(!r.ok)
        #expect(r.firstBadLine == 4)
        #expect(r.reason?.contains("prev_hash") == true)
        let py = try runPythonVerifier(a.log)
        #expect(py.status == 1)
        #expect(py.stderr.contains("line 4"), "\(py.stderr)")
    }

    @Test func entryZeroMustBeBootMarker() throws {
        let dir = TempDir()
        let log = try AuditLog(path: dir.log)
        #expect(throws: AuditError.self) { try log.append([entry(1)], timestamp: 1) }
        #expect(log.failed == nil, "a rejected argument is not an I/O failure")
        #expect(readBytes(dir.log).isEmpty)
        try log.appendBoot(extraSignals: [], observation: .object([]))
        #expect(try log.append([entry(1)], timestamp: 1) == [1])
    }

    @Test func nonObjectPartsAreRejected() throws {
        let dir = TempDir()
        let log = try makeLog(dir.log, count: 0)
        var bad = entry(1)
        bad.assessment = .array([])
        #expect(throws: AuditError.self) { try log.append([bad], timestamp: 1) }
        #expect(log.nextIndex == 1)
        #expect(log.failed == nil)
    }

    @Test func reopenContinuesIndexAndHash() throws {
        let dir = TempDir()
        let first = try makeLog(dir.log, count: 3)
        let (index, hash) = (first.nextIndex, first.lastHash)
        first.close()

        let again = try AuditLog(path: dir.log)
        #expect(again.nextIndex == index)
        #expect(again.lastHash == hash)
        #expect(again.recoveredTornTail == nil)
        #expect(try again.appendBoot(extraSignals: [], observation: .object([])) == index)
        #expect(try again.append([entry(9)], timestamp: 5) == [index + 1])
        again.close()
        let r = AuditVerifier.verify(path: dir.log)
        #expect(r.ok, "\(r.reason ?? "")")
        #expect(r.entries == index + 2)
    }

    @Test func secondWriterIsRefused() throws {
        let dir = TempDir()
        let log = try makeLog(dir.log, count: 0)
        #expect(throws: AuditError.self) { _ = try AuditLog(path: dir.log) }
        log.close()
        _ = try AuditLog(path: dir.log)
    }

    @Test func logFileIsPrivate() throws {
        let dir = TempDir()
        try makeLog(dir.log, count: 0).close()
        var st = stat()
        #expect(stat(dir.log, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
    }

    @Test func groupAppendOfHundredIsOneChain() throws {
        let dir = TempDir()
        let log = try makeLog(dir.log, count: 0)
        let idx = try log.append((1...100).map { entry($0) }, timestamp: 42)
        #expect(idx == Array(1...100))
        #expect(log.nextIndex == 101)
        log.close()
        let ls = lines(dir.log)
        #expect(ls.count == 101)
        let r = AuditVerifier.verify(path: dir.log)
        #expect(r.ok, "\(r.reason ?? "")")
        #expect(r.entries == 101)
        #expect(try JSONParser.parse(ls[100])["hash"]?.stringValue == log.lastHash)
    }

    @Test func concurrentAppendsStayOneChain() async throws {
        let dir = TempDir()
        let log = try makeLog(dir.log, count: 0)
        await withTaskGroup(of: Void.self) { g in
            for t in 0..<8 {
                g.addTask { for i in 0..<10 { _ = try? log.append([entry(t * 100 + i)], timestamp: 1) } }
            }
        }
        #expect(log.nextIndex == 81)
        log.close()
        #expect(AuditVerifier.verify(path: dir.log).entries == 81)
    }

    @Test func stringsWithBracesAndEscapesVerify() throws {
        let dir = TempDir()
        let log = try makeLog(dir.log, count: 0)
        try log.append([entry(1, note: "}}{{ \"\\\" \\ \n\t \u{1} ünïcödé 🎉 {\"a\":}")], timestamp: 3)
        log.close()
        #expect(AuditVerifier.verify(path: dir.log).ok)
        #expect(try runPythonVerifier(dir.log).status == 0)
    }
}

enum AuditTestBE {
    static func be64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) } }
}
