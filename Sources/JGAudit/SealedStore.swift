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
    /// Subject keys in secret memory (locked when the memlock limit allows, never dumped, wiped on erase/exit).
    private var keys: [String: SecretBytes] = [:]
    private var dirty: Set<Int32> = []
    private var files: [String: Int32] = [:]

    public init(auditLogPath: String) throws(AuditError) {
        directory = auditLogPath + ".sealed"
        for d in [directory, directory + "/keys", directory + "/data"] {
            if mkdir(d, 0o700) != 0 && errno != EEXIST { throw AuditError(operation: "mkdir \(d)", errno: errno, detail: "") }
        }
    }

    deinit {
        // Records queued but never flushed were never committed to by a chain entry; say so, still.
        do { try flush() } catch { Log.error("sealed store: \(error)") }
        files.values.forEach { close($0) }
    }

    static func fileName(_ subject: String) -> String { Digest.sha256Hex(subject) }

    func key(for subject: String) throws(AuditError) -> SecretBytes {
        if let k = keys[subject] { return k }
        let path = directory + "/keys/" + Self.fileName(subject)
        if let text = AuditSigningKey.readSmall(path), var k = Digest.unhex(text.trimmingWhitespace()), k.count == 32 {
            guard let s = SecretBytes(taking: &k) else { throw AuditError(operation: "secret memory", errno: ENOMEM, detail: "") }
            keys[subject] = s
            return s
        }
        guard var k = Digest.random(32) else { throw AuditError(operation: "random", errno: EIO, detail: "") }
        defer { SecretBytes.wipe(&k) }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError(operation: "create \(path)", errno: errno, detail: "") }
        var b = Array((Digest.hex(k) + "\n").utf8)
        let ok = writeFully(fd, b) && fsync(fd) == 0
        SecretBytes.wipe(&b)
        close(fd)
        guard ok else { throw AuditError(operation: "write \(path)", errno: errno, detail: "") }
        guard let s = SecretBytes(k) else { throw AuditError(operation: "secret memory", errno: ENOMEM, detail: "") }
        keys[subject] = s
        return s
    }

    /// The subject's pseudonym: stable while its key exists, unlinkable once erased.
    public func pseudonym(_ subject: String) throws(AuditError) -> String {
        if let p = pseudonyms[subject] { return p }
        let k = try key(for: subject)
        let p = String(Digest.hex(Array("pseudonym".utf8).withUnsafeBytes { Digest.hmacSHA256(key: k, range: 0..<k.count, message: $0) }).prefix(16))
        pseudonyms[subject] = p
        return p
    }

    /// Derived from the subject's key, so computed once per subject and process.
    private var pseudonyms: [String: String] = [:]

    /// Each subject's AES-GCM key with its schedule already expanded (set up once per subject, not per record).
    private var ciphers: [String: Seal.Key] = [:]
    /// Sealed records not yet written, per data file: one write per subject and batch (see `flush`).
    private var pending: [Int32: [UInt8]] = [:]
    private var plaintext: [UInt8] = []
    private var ciphertext: [UInt8] = []
    private var tag: [UInt8] = []
    /// Nonces are cut from one block of CSPRNG output at a time: a `RAND_bytes` call per record costs more
    /// than the sealing itself. Every nonce is still 96 fresh random bits, used once.
    private var randomPool: [UInt8] = []
    private var randomUsed = 0
    private static let randomPoolSize = 12 * 256

    private func cipher(for subject: String) throws(AuditError) -> Seal.Key {
        if let c = ciphers[subject] { return c }
        var raw = try key(for: subject).copyBytes()
        let made = Seal.Key(raw)
        SecretBytes.wipe(&raw)
        guard let c = made else { throw AuditError(operation: "seal", errno: EIO, detail: "AES-GCM key setup failed") }
        ciphers[subject] = c
        return c
    }

    /// Seals `fields` for `subject`; returns the commitment that goes into the chain. The sealed record is
    /// queued: `flush` writes it, and must be called before the chain entry that commits to it is written.
    public func seal(subject: String, reference: String, fields: JSONValue) throws(AuditError) -> String {
        let c = try cipher(for: subject)
        if randomUsed + 12 > randomPool.count {
            guard let r = Digest.random(Self.randomPoolSize) else { throw AuditError(operation: "random", errno: EIO, detail: "") }
            randomPool = r
            randomUsed = 0
        }
        let n0 = randomUsed
        randomUsed += 12
        plaintext.removeAll(keepingCapacity: true)
        JSONWriter.write(fields, into: &plaintext)
        ciphertext.removeAll(keepingCapacity: true)
        tag.removeAll(keepingCapacity: true)
        var ref = reference
        let ok = randomPool.withUnsafeBytes { pool in
            plaintext.withUnsafeBytes { plain in
                ref.withUTF8 { aad in
                    c.seal(nonce: UnsafeRawBufferPointer(rebasing: pool[n0..<n0 + 12]), aad: UnsafeRawBufferPointer(aad),
                           plaintext: plain, ciphertext: &ciphertext, tag: &tag)
                }
            }
        }
        guard ok else { throw AuditError(operation: "seal", errno: EIO, detail: "AES-GCM failed") }
        let nonce = randomPool[n0..<n0 + 12]
        var h = SHA256Stream()
        h.update(nonce)
        h.update(ciphertext)
        h.update(tag)
        var digits: [UInt8] = []
        digits.reserveCapacity(64)
        h.finalizeHex(into: &digits)
        let commitment = String(decoding: digits, as: UTF8.self)

        let fd = try dataFile(subject)
        // {"ref":…,"nonce":"…","ct":"…","tag":"…"}\n — what JSONWriter makes of that object, plus a newline.
        var line = pending.removeValue(forKey: fd) ?? []
        Self.literal("{\"ref\":", &line)
        JSONWriter.appendString(reference, to: &line)
        Self.literal(",\"nonce\":\"", &line)
        Digest.appendHex(nonce, to: &line)
        Self.literal("\",\"ct\":\"", &line)
        Digest.appendHex(ciphertext, to: &line)
        Self.literal("\",\"tag\":\"", &line)
        Digest.appendHex(tag, to: &line)
        Self.literal("\"}\n", &line)
        pending[fd] = line
        return commitment
    }

    /// Writes every queued sealed record (one write per subject file). Call before appending the chain
    /// entries that commit to them.
    public func flush() throws(AuditError) {
        guard !pending.isEmpty else { return }
        let batches = pending
        pending.removeAll()
        for (fd, b) in batches {
            let before = lseek(fd, 0, SEEK_END)
            guard writeFully(fd, b) else {
                let e = errno
                // A torn sealed line would spoil the next one written after it (a full disk comes back).
                if before >= 0 { _ = ftruncate(fd, before) }
                throw AuditError(operation: "write sealed data", errno: e, detail: "")
            }
            dirty.insert(fd)
        }
    }

    /// Makes sealed records durable; called before a checkpoint is signed over the entries that commit
    /// to them. A failure is an error: a checkpoint must not attest records that may not be on disk.
    public func sync() throws(AuditError) {
        try flush()
        for fd in dirty {
            guard fdatasync(fd) == 0 else { throw AuditError(operation: "fdatasync sealed data", errno: errno, detail: "") }
            dirty.remove(fd)
        }
    }

    @inline(__always)
    private static func literal(_ s: StaticString, _ out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
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
