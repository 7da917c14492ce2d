import Glibc
import JGGateCore
import JGIPC
import Testing

@Suite struct LineageJournalTests {
    func tempFile() throws -> (String, OwnedFD) {
        var template = Array("/tmp/jg-lineage-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(fd >= 0)
        _ = fcntl(fd, F_SETFL, O_APPEND)
        return (CText.string(template), OwnedFD(adopting: fd))
    }

    @Test func resetIsJournaledAndSurvivesAReload() throws {
        let (path, fd) = try tempFile()
        defer { unlink(path) }
        let s = LineageStore(file: fd)
        #expect(s.accept(agent: "a", sequence: UInt64(Int64.max)))
        #expect(!s.accept(agent: "a", sequence: 5))
        let r = s.reset(agent: "a")
        #expect(r.ok && r.previous == UInt64(Int64.max))
        #expect(s.accept(agent: "a", sequence: 5))
        let again = LineageStore(file: OwnedFD(adopting: open(path, O_RDWR | O_APPEND)))
        #expect(again.lastSequence("a") == 5)
        #expect(!again.accept(agent: "a", sequence: 5))
    }

    @Test func countersAbove2to63AreNotRestored() throws {
        let (path, fd) = try tempFile()
        defer { unlink(path) }
        let line = Array("\"a\" 18446744073709551615\n\"a\" 7\n".utf8)
        _ = line.withUnsafeBytes { write(fd.raw, $0.baseAddress, $0.count) }
        #expect(LineageStore(file: fd).lastSequence("a") == 7)
    }

    @Test func quotaIsPerAgent() {
        let s = LineageStore(file: nil)
        #expect((0..<3).allSatisfy { _ in s.takeQuota(agent: "a", quota: 3) })
        #expect(!s.takeQuota(agent: "a", quota: 3))
        #expect(s.takeQuota(agent: "b", quota: 3))
        #expect(s.takeQuota(agent: "a", quota: 0))
    }

    @Test func failedWriteIsReported() throws {
        let fd = open("/dev/full", O_WRONLY)
        try #require(fd >= 0)
        let s = LineageStore(file: OwnedFD(adopting: fd))
        s.deferWrites = true
        #expect(s.accept(agent: "a", sequence: 1))
        #expect(!s.flush())
        #expect(s.writeError == ENOSPC)
    }

    @Test func compactionKeepsEveryCounter() throws {
        let (path, fd) = try tempFile()
        let (tmp, target) = try tempFile()
        defer { unlink(path); unlink(tmp) }
        let s = LineageStore(file: fd)
        s.compactThreshold = 1024
        for i in 1...200 { #expect(s.accept(agent: i % 2 == 0 ? "a" : "b", sequence: UInt64(i))) }
        #expect(s.wantsCompaction)
        #expect(s.beginCompaction(into: target))
        #expect(!s.wantsCompaction)
        // Accepted while the rename is pending: in both files.
        #expect(s.accept(agent: "a", sequence: 1000))
        #expect(LineageStore(file: OwnedFD(adopting: open(path, O_RDONLY))).lastSequence("a") == 1000)
        #expect(rename(tmp, path) == 0)
        s.finishCompaction()
        #expect(s.accept(agent: "b", sequence: 2000))
        let reloaded = LineageStore(file: OwnedFD(adopting: open(path, O_RDONLY)))
        #expect(reloaded.lastSequence("a") == 1000 && reloaded.lastSequence("b") == 2000)
        #expect(fileText(path) == "\"a\" 200\n\"b\" 199\n\"a\" 1000\n\"b\" 2000\n")
        #expect(s.journalBytes == fileText(path).utf8.count)
    }
}
