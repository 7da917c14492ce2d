import Glibc
import JGAudit
import JGIPC

/// Tamper evidence, shown: copies of an audit log with one digit of a record's assessment changed, and
/// with one record deleted; the verifier must reject both.
enum AuditTamper {
    struct Result { var contentCaught: Bool; var contentLine: Int; var deleteCaught: Bool; var deleteLine: Int; var contentReason: String; var deleteReason: String }

    static func lines(_ path: String) -> [String]? {
        guard let t = Files.readText(path, limit: 1 << 30) else { return nil }
        return t.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    static func write(_ lines: [String], to path: String) -> Bool {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let b = Array((lines.joined(separator: "\n") + "\n").utf8)
        return Glibc.write(fd, b, b.count) == b.count
    }

    static func run(log: String, workDir: String) -> Result? {
        guard let ls = lines(log), ls.count >= 3 else { return nil }
        let k = ls.count / 2
        // (a) one digit inside the middle record's "assessment" object, 1-9 to another 1-9: still strict
        // JSON, so only the hash can tell.
        var changed = ls
        let line = Array(changed[k].utf8)
        guard let start = find(Array("\"assessment\":".utf8), in: line),
              let digit = line[start...].firstIndex(where: { $0 >= 0x31 && $0 <= 0x39 }) else { return nil }
        var edited = line
        edited[digit] = line[digit] == 0x39 ? 0x38 : line[digit] + 1
        changed[k] = String(decoding: edited, as: UTF8.self)
        let contentPath = workDir + "/audit.tampered-content.jsonl"
        let deletePath = workDir + "/audit.tampered-delete.jsonl"
        var deleted = ls
        deleted.remove(at: k)
        guard write(changed, to: contentPath), write(deleted, to: deletePath) else { return nil }
        let a = AuditVerifier.verify(path: contentPath)
        let b = AuditVerifier.verify(path: deletePath)
        unlink(contentPath); unlink(deletePath)
        return Result(contentCaught: !a.ok, contentLine: k + 1, deleteCaught: !b.ok, deleteLine: k + 1,
                      contentReason: a.reason ?? "", deleteReason: b.reason ?? "")
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard needle.count <= hay.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<i + needle.count]) == needle { return i }
        return nil
    }
}
