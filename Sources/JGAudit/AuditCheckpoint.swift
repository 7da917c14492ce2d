import Glibc
import JGCrypto
import JGIPC
import JGJSON

/// Signed checkpoints in `<audit-log>.manifests` (PROTOCOL.md §8, ours: Ed25519). A checkpoint attests
/// the chain head (index and hash) at a time; a log that ends below an attested index was truncated,
/// and a checkpoint that does not verify under the exported public key is not evidence.
public enum AuditCheckpoint {
    /// The exact bytes signed: versioned, one field per line, no JSON canonicalisation needed.
    public static func message(lastIndex: UInt64, lastHash: String, timestamp: UInt64) -> [UInt8] {
        Array("jinnguard-checkpoint-v1\n\(lastIndex)\n\(lastHash)\n\(timestamp)\n".utf8)
    }

    public static func keyID(_ publicKey: [UInt8]) -> String { String(Digest.hex(Digest.sha256(publicKey)).prefix(16)) }

    public static func line(lastIndex: UInt64, lastHash: String, timestamp: UInt64, key: Ed25519Key) -> String? {
        guard let sig = key.sign(message(lastIndex: lastIndex, lastHash: lastHash, timestamp: timestamp)) else { return nil }
        return JSONWriter.write(.object([("checkpoint", .object([
            ("last_index", .integer(.unsigned(lastIndex))), ("last_hash", .string(lastHash)),
            ("timestamp_secs", .integer(.unsigned(timestamp))), ("key_id", .string(keyID(key.publicKey))),
            ("signature", .string(Digest.hex(sig))),
        ]))])) + "\n"
    }

    /// Appends one checkpoint durably (fdatasync) to `<logPath>.manifests`.
    public static func append(logPath: String, lastIndex: UInt64, lastHash: String, key: Ed25519Key) throws(AuditError) {
        let now = UInt64(time(nil))
        guard let text = line(lastIndex: lastIndex, lastHash: lastHash, timestamp: now, key: key) else {
            throw AuditError(operation: "sign checkpoint", errno: EINVAL, detail: "Ed25519 signing failed")
        }
        let path = logPath + ".manifests"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError(operation: "open \(path)", errno: errno, detail: "") }
        defer { close(fd) }
        let b = Array(text.utf8)
        let before = lseek(fd, 0, SEEK_END)
        guard writeFully(fd, b), fdatasync(fd) == 0 else {
            let e = errno
            // A torn checkpoint line (a full disk) would fail every later verification: cut it back.
            if before >= 0 { _ = ftruncate(fd, before) }
            throw AuditError(operation: "write \(path)", errno: e, detail: "")
        }
    }

    /// Checks every checkpoint's signature. Returns nil when all verify, else the first bad line and why.
    public static func verifySignatures(logPath: String, publicKey: [UInt8]) -> (line: Int, reason: String)? {
        let path = logPath + ".manifests"
        guard let data = Files.read(path, limit: 1 << 30) else { return (0, "no manifests at \(path): nothing is attested") }
        var count = 0
        for (i, raw) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            guard let v = try? JSONParser.parse(raw), let cp = v["checkpoint"],
                  case let .integer(idx)? = cp["last_index"], let last = idx.uint64,
                  let hash = cp["last_hash"]?.stringValue, case let .integer(ts)? = cp["timestamp_secs"], let t = ts.uint64,
                  let sigHex = cp["signature"]?.stringValue, let sig = Digest.unhex(sigHex) else {
                return (i + 1, "checkpoint without a signature")
            }
            guard Ed25519Key.verify(publicKey: publicKey, message: message(lastIndex: last, lastHash: hash, timestamp: t), signature: sig) else {
                return (i + 1, "checkpoint signature does not verify under the given public key")
            }
            count += 1
        }
        return count == 0 ? (0, "no checkpoints in \(path)") : nil
    }
}

/// The broker's checkpoint key: generated at first start (0600), public half exported next to it.
public enum AuditSigningKey {
    public static func loadOrCreate(privatePath: String, publicPath: String) throws(AuditError) -> Ed25519Key {
        if let text = readSmall(privatePath) {
            guard var seed = Digest.unhex(text.trimmingWhitespace()) else {
                throw AuditError(operation: "load \(privatePath)", errno: EINVAL, detail: "not a hex Ed25519 seed")
            }
            let key = Ed25519Key(privateKey: seed)
            SecretBytes.wipe(&seed)
            guard let k = key else {
                throw AuditError(operation: "load \(privatePath)", errno: EINVAL, detail: "not a hex Ed25519 seed")
            }
            try export(k, publicPath)
            return k
        }
        guard let k = Ed25519Key.generate() else { throw AuditError(operation: "generate signing key", errno: EIO, detail: "") }
        let fd = open(privatePath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError(operation: "create \(privatePath)", errno: errno, detail: "") }
        var seed = k.privateKey
        var b = Array((Digest.hex(seed) + "\n").utf8)
        SecretBytes.wipe(&seed)
        let ok = writeFully(fd, b) && fsync(fd) == 0
        SecretBytes.wipe(&b)
        close(fd)
        guard ok else { throw AuditError(operation: "write \(privatePath)", errno: errno, detail: "") }
        try export(k, publicPath)
        return k
    }

    static func export(_ k: Ed25519Key, _ path: String) throws(AuditError) {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AuditError(operation: "create \(tmp)", errno: errno, detail: "") }
        let b = Array((Digest.hex(k.publicKey) + "\n").utf8)
        let ok = writeFully(fd, b) && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else { throw AuditError(operation: "write \(path)", errno: errno, detail: "") }
    }

    public static func readSmall(_ path: String) -> String? { Files.readText(path, limit: 1 << 16) }
}
