import Glibc
import JGCrypto
import JGGateCore
import JGIPC
import JGJSON

/// The per-agent key directory (`--agent-secret-dir`, default `<state>/agent-keys`): a file per agent id
/// holding its key, owned by the one user allowed to read it (mode 0400); rotated keys wait in
/// `.previous/<agent id>` ("<valid until, unix seconds>\n<key>\n", root's, 0600) until they expire.
enum AgentKeyFiles {
    struct Previous { var validUntil: UInt64; var forms: [[UInt8]] }
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func previousDir(_ dir: String) -> String { dir + "/.previous" }

    static func previousKeys(dir: String) -> [String: Previous] {
        let pdir = previousDir(dir)
        guard let d = opendir(pdir) else { return [:] }
        defer { closedir(d) }
        var out: [String: Previous] = [:]
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { p in String(cString: p.bindMemory(to: CChar.self).baseAddress!) }
            guard validAgentName(name), let raw = Files.read(pdir + "/" + name, limit: 1 << 16),
                  let nl = raw.firstIndex(of: 0x0A), let until = UInt64(String(decoding: raw[..<nl], as: UTF8.self)) else { continue }
            let forms = KeySet.forms(ofFileBytes: Array(raw[(nl + 1)...]))
            guard let f = forms.first, !f.isEmpty else { continue }
            out[name] = Previous(validUntil: until, forms: forms)
        }
        return out
    }

    /// The earliest expiry still ahead: the supervisor reloads the keys then, so an expired key goes.
    static func nextExpiry(dir: String, now: UInt64) -> UInt64? {
        previousKeys(dir: dir).values.map(\.validUntil).filter { $0 >= now }.min()
    }

    /// Agent ids are file names here: nothing that could climb out of the directory or hide.
    static func validAgentName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && name != "." && name != ".." && !name.hasPrefix(".")
            && !name.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 < 0x20 || $0 == 0x7F })
            && name.trimmingWhitespace() == name
    }

    /// Writes `bytes` to dir/name through a temporary file, owner uid:gid, `mode`, synced, then renamed.
    static func writeAtomically(dir: String, name: String, bytes: [UInt8], uid: UInt32, gid: UInt32, mode: mode_t) throws(Failure) {
        let tmp = dir + "/.tmp-" + name
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var ok = writeFully(fd, bytes)
        ok = ok && fchown(fd, uid, gid) == 0 && fchmod(fd, mode) == 0 && fsync(fd) == 0
        let err = errno
        close(fd)
        guard ok, rename(tmp, dir + "/" + name) == 0 else {
            unlink(tmp)
            throw Failure(description: "cannot write \(dir)/\(name): \(String(cString: strerror(ok ? errno : err)))")
        }
        let d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if d >= 0 { fsync(d); close(d) }
    }

    /// Made when missing: 0711 (a key's user reaches their file by name and lists nothing), `.previous`
    /// 0700. An existing directory (the operator's --agent-secret-dir) keeps its mode.
    static func prepare(_ dir: String) throws(Failure) {
        for (path, mode) in [(dir, mode_t(0o711)), (previousDir(dir), mode_t(0o700))] {
            if mkdir(path, mode) == 0 {
                chmod(path, mode)
            } else if errno != EEXIST {
                throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))")
            }
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { throw Failure(description: "\(path) is not a directory") }
        }
    }

    /// A fingerprint for the audit record: never the key itself.
    static func fingerprint(_ key: [UInt8]) -> String { String(Digest.hex(Digest.sha256(key)).prefix(16)) }
}
