import CKeyutils
import Glibc
import JGCrypto
import JGGateCore
import JGIPC
import JGJSON

/// Finds the HMAC keys (PROTOCOL.md §4): secret file, then the kernel keyring (`user` key
/// `jinnguard_hmac_key`), then JINN_GUARD_SECRET; previous key with expiry; per-agent key directory.
struct KeyLoader {
    var secretFile: String?
    /// Used when no source is configured at all: created with a fresh random key if missing.
    var defaultSecretFile: String?
    var previousFile: String?
    var previousValidUntil: UInt64?
    var agentDir: String?
    /// The default directory (<state>/agent-keys): made at start when missing; an explicit one must exist.
    var agentDirIsDefault = false

    struct Failure: Error, CustomStringConvertible { var description: String }

    func load() throws(Failure) -> (KeySet, String) {
        var current: [[UInt8]]
        var source: String
        if let f = secretFile {
            current = try Self.readKeyFile(f, what: "secret file")
            source = "file \(f)"
        } else if let k = Self.keyring() {
            current = KeySet.forms(ofFileBytes: k)
            source = "kernel keyring (user key jinnguard_hmac_key)"
        } else if let env = getenv("JINN_GUARD_SECRET"), !String(cString: env).isEmpty {
            current = [Array(String(cString: env).utf8)]
            source = "environment JINN_GUARD_SECRET"
        } else if let f = defaultSecretFile {
            if access(f, F_OK) != 0 { try Self.generate(f) }
            current = try Self.readKeyFile(f, what: "generated secret file")
            source = "file \(f)"
        } else {
            throw Failure(description: "no HMAC key: give --secret-file, a kernel keyring user key 'jinnguard_hmac_key', or JINN_GUARD_SECRET")
        }
        var previous: [[UInt8]] = []
        switch (previousFile, previousValidUntil) {
        case (nil, nil): break
        case let (f?, until?):
            previous = try Self.readKeyFile(f, what: "previous secret file")
            _ = until
        default:
            throw Failure(description: "--previous-secret-file and --previous-secret-valid-until go together")
        }
        var agents: [String: [[UInt8]]] = [:]
        if let dir = agentDir {
            if agentDirIsDefault { try? AgentKeyFiles.prepare(dir) }
            agents = try Self.readAgentDir(dir)
            // A rotated agent key stays accepted until its expiry (`jinnguard keys rotate`).
            let now = UInt64(time(nil))
            for (id, p) in AgentKeyFiles.previousKeys(dir: dir) where p.validUntil >= now && agents[id] != nil {
                agents[id]! += p.forms
            }
        }
        current.removeAll { $0.isEmpty }
        guard !current.isEmpty else { throw Failure(description: "the HMAC key from \(source) is empty") }
        return (KeySet(current: current, previous: previous, previousValidUntil: previousValidUntil ?? 0, agentKeys: agents), source)
    }

    static func readFile(_ path: String) -> [UInt8]? { Files.read(path, limit: 1 << 20) }

    static func readKeyFile(_ path: String, what: String) throws(Failure) -> [[UInt8]] {
        guard let raw = readFile(path) else {
            throw Failure(description: "cannot read \(what) \(path): \(String(cString: strerror(errno)))")
        }
        let forms = KeySet.forms(ofFileBytes: raw)
        guard let first = forms.first, !first.isEmpty else { throw Failure(description: "\(what) \(path) is empty") }
        return forms
    }

    static func keyring() -> [UInt8]? {
        var p: UnsafeMutableRawPointer?
        var len = 0
        guard jg_keyutils_read_user_key("jinnguard_hmac_key", &p, &len) == 0, let p else { return nil }
        defer { jg_keyutils_free(p) }
        let bytes = Array(UnsafeRawBufferPointer(start: p, count: len))
        return bytes.isEmpty ? nil : bytes
    }

    static func generate(_ path: String) throws(Failure) {
        guard let key = Digest.random(32) else { throw Failure(description: "no randomness for a secret") }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let text = Array((Digest.hex(key) + "\n").utf8)
        guard writeFully(fd, text), fsync(fd) == 0 else {
            throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func readAgentDir(_ dir: String) throws(Failure) -> [String: [[UInt8]]] {
        guard let d = opendir(dir) else { throw Failure(description: "cannot open --agent-secret-dir \(dir): \(String(cString: strerror(errno)))") }
        defer { closedir(d) }
        var out: [String: [[UInt8]]] = [:]
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { p in String(cString: p.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." { continue }
            guard !name.isEmpty, name.trimmingWhitespace() == name,
                  !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw Failure(description: "bad agent key file name \(JSONWriter.quote(name)) in \(dir)")
            }
            let path = dir + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { throw Failure(description: "cannot stat \(path)") }
            guard (st.st_mode & S_IFMT) == S_IFREG else { continue }
            out[name] = try readKeyFile(path, what: "agent key")
        }
        return out
    }

    /// The gate's settings: keys as hex, never written to disk.
    static func settingsJSON(_ k: KeySet) -> String {
        func arr(_ forms: [[UInt8]]) -> JSONValue { .array(forms.map { .string(Digest.hex($0)) }) }
        return JSONWriter.write(.object([
            ("current", arr(k.current)), ("previous", arr(k.previous)),
            ("previous_valid_until", .integer(.unsigned(k.previousValidUntil))),
            ("agents", .object(k.agentKeys.sorted { $0.key < $1.key }.map { ($0.key, arr($0.value)) })),
        ]))
    }
}
