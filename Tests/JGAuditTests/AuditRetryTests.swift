import Foundation
import Glibc
import JGAudit
import JGJSON
import Testing

/// A full disk is not the end of the chain: the append after space returns cuts the torn tail of the
/// failed one, checks the head and goes on — no record lost, duplicated or forked.
@Suite struct AuditRetryTests {
    func entry(_ i: Int, pad: Int) -> AuditEntryParts {
        AuditEntryParts(observation: .object([("n", .integer(.signed(Int64(i)))), ("pad", .string(String(repeating: "p", count: pad)))]),
                        intent: .object([("class", .string("Test"))]), assessment: .object([]),
                        decision: .object([("verdict", .string("ALLOW"))]))
    }

    @Test func appendGoesOnWhenSpaceReturns() throws {
        // A real ENOSPC needs a small file system of its own (root only); elsewhere there is nothing to test.
        guard geteuid() == 0 else { return }
        let dir = TempDir()
        guard mount("tmpfs", dir.path, "tmpfs", 0, "size=256k") == 0 else { return }
        defer { umount2(dir.path, Int32(MNT_DETACH)) }
        let log = try AuditLog(path: dir.log)
        try log.appendBoot()
        try log.append([entry(1, pad: 10)], timestamp: 1)
        // Fill what is left, so the next append fails part-way through its write.
        let filler = dir.path + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT, 0o600)
        let chunk = [UInt8](repeating: 0, count: 4096)
        while write(fd, chunk, chunk.count) > 0 {}
        while write(fd, chunk, 1) > 0 {}
        close(fd)
        // Entries bigger than a page: each needs space the disk no longer has (a write may land part-way).
        var written: UInt64 = 2
        var failures = 0
        for i in 2..<6 {
            do {
                try log.append([entry(i, pad: 9000)], timestamp: 2)
                written += 1
            } catch {
                failures += 1
            }
        }
        #expect(failures > 0)
        #expect(log.failed != nil)
        #expect(log.nextIndex == written)
        unlink(filler)
        try log.append([entry(9, pad: 9000)], timestamp: 3)
        #expect(log.failed == nil)
        #expect(log.nextIndex == written + 1)
        log.close()
        let r = AuditVerifier.verify(path: dir.log)
        #expect(r.ok, "\(r.reason ?? "")")
        #expect(r.entries == written + 1)
    }
}
