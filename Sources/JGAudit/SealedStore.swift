import Glibc
import JGCrypto
import JGIPC
import JGJSON

/// Personal data (uids, pids, executables, command lines, paths, URLs) kept outside the chain, sealed per
/// subject with the subject's own AES-256-GCM key in `<audit-log>.sealed/`. The chain holds only the
/// subject's pseudonym and a commitment to the sealed bytes; `erase` deletes the key and the data, and the
/// chain still verifies because nothing in it changes.
public final class SealedStore {
    public let directory: String
    private var keys: [String: [UInt8]] = [:]
    private var dirty: Set<Int32> = []
    private var files: [String: Int32] = [:]

    public init(auditLogPath: String) throws(AuditError) {
        directory = auditLogPath + ".sealed"
        for d in [directory, directory + "/keys", directory + "/data"] {
            if mkdir(d, 0o700) != 0 && errno != EEXIST { throw AuditError(operation: "mkdir \(d)", errno: errno, detail: "") }
        }
    }

    deinit { files.values.forEach { close($0) } }

    static func fileName(_ subject: String) -> String { Digest.sha256Hex(subject) }

    func key(for subject: String) throws(AuditError) -> [UInt8] {
        if let k = keys[subject] { return k }
        let path = directory + "/keys/" + Self.fileName(subject)
        if let text = AuditSigningKey.readSmall(path), let k = Digest.unhex(text.trimmingWhitespace()), k.count == 32 {
            keys[subject] = k
            return k
        }
        guard let k = Digest.random(32) else { throw AuditError(operation: "random", errno: EIO, detail: "") }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError(operation: "create \(path)", errno: errno, detail: "") }
        let b = Array((Digest.hex(k) + "\n").utf8)
        let ok = write(fd, b, b.count) == b.count && fsync(fd) == 0
        close(fd)
        guard ok else { throw AuditError(operation: "write \(path)", errno: errno, detail: "") }
        keys[subject] = k
        return k
    }

    /// The subject's pseudonym: stable while its key exists, unlinkable once erased.
    public func pseudonym(_ subject: String) throws(AuditError) -> String {
        if let p = pseudonyms[subject] { return p }
        let p = String(Digest.hex(Digest.hmacSHA256(key: try key(for: subject), message: Array("pseudonym".utf8))).prefix(16))
        pseudonyms[subject] = p
        return p
    }

    /// Derived from the subject's key, so computed once per subject and process.
    private var pseudonyms: [String: String] = [:]

    /// Seals `fields` for `subject`; returns the commitment that goes into the chain.
    public func seal(subject: String, reference: String, fields: JSONValue) throws(AuditError) -> String {
        let k = try key(for: subject)
        guard let nonce = Digest.random(12) else { throw AuditError(operation: "random", errno: EIO, detail: "") }
        let plain = Array(JSONWriter.write(fields).utf8)
        guard let (ct, tag) = Seal.seal(key: k, nonce: nonce, aad: Array(reference.utf8), plaintext: plain) else {
            throw AuditError(operation: "seal", errno: EIO, detail: "AES-GCM failed")
        }
        let commitment = Digest.hex(Digest.sha256(nonce + ct + tag))
        let line = JSONWriter.write(.object([("ref", .string(reference)), ("nonce", .string(Digest.hex(nonce))),
                                             ("ct", .string(Digest.hex(ct))), ("tag", .string(Digest.hex(tag)))])) + "\n"
        let fd = try dataFile(subject)
        let b = Array(line.utf8)
        guard write(fd, b, b.count) == b.count else { throw AuditError(operation: "write sealed data", errno: errno, detail: "") }
        dirty.insert(fd)
        return commitment
    }

    /// Makes sealed records durable; called with the chain's group commit.
    public func sync() {
        for fd in dirty { _ = fdatasync(fd) }
        dirty.removeAll()
    }

    private func dataFile(_ subject: String) throws(AuditError) -> Int32 {
        if let fd = files[subject] { return fd }
        let path = directory + "/data/" + Self.fileName(subject) + ".jsonl"
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError(operation: "open \(path)", errno: errno, detail: "") }
        files[subject] = fd
        return fd
    }

    /// Crypto-shredding: removes the subject's key and sealed data. Returns false when there was nothing.
    public static func erase(auditLogPath: String, subject: String) -> Bool {
        let dir = auditLogPath + ".sealed"
        let name = fileName(subject)
        let a = unlink(dir + "/keys/" + name) == 0
        let b = unlink(dir + "/data/" + name + ".jsonl") == 0
        return a || b
    }

    /// Opens a subject's sealed records (for `audit show`), or nil when the subject was erased.
    public static func open(auditLogPath: String, subject: String) -> [(String, JSONValue)]? {
        let dir = auditLogPath + ".sealed"
        let name = fileName(subject)
        guard let kt = AuditSigningKey.readSmall(dir + "/keys/" + name), let key = Digest.unhex(kt.trimmingWhitespace()) else { return nil }
        guard let data = Files.read(dir + "/data/" + name + ".jsonl", limit: 1 << 30) else { return [] }
        var out: [(String, JSONValue)] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let v = try? JSONParser.parse(line), let ref = v["ref"]?.stringValue,
                  let n = v["nonce"]?.stringValue.flatMap(Digest.unhex), let ct = v["ct"]?.stringValue.flatMap(Digest.unhex),
                  let tag = v["tag"]?.stringValue.flatMap(Digest.unhex),
                  let plain = Seal.open(key: key, nonce: n, aad: Array(ref.utf8), ciphertext: ct, tag: tag),
                  let fields = try? JSONParser.parse(plain) else { continue }
            out.append((ref, fields))
        }
        return out
    }
}
