import CJGSys
import Glibc
import JGIPC

/// Owners and modes of what the daemon keeps on disk, set by the supervisor (root) before any component
/// runs, for new and for existing state directories alike:
///
///   <state>/                 0711 jg-broker:root  traversable, not listable: agents reach the socket by
///                            name, nobody learns or opens anything else (every other entry below is
///                            owner-only). jg-broker owns it because it creates its own files here
///                            (signing key, workspace, torn audit tails, the atomic .pub rename).
///   jinnguard.sock           --socket-mode (0666)  the only entry meant for other uids
///   policy.yaml, secret,     0600 root             read by the supervisor only
///   lineage.state, status.json
///   audit.jsonl, .manifests, 0600 jg-broker        the broker's only (the .sealed tree 0700)
///   audit-signing.key
///   audit-signing.pub        0644 jg-broker        public by design (`audit verify --pubkey`)
///   empty/                   0555 root             the prover's chroot, empty
///   workspace/               jg-broker             tool workspaces (per agent, owned by the tool user)
///
/// jg-broker reaches the directory through a descriptor the supervisor opened (DirectoryHandle), never by
/// its path: the directories above it stay as the operator made them (a clone in root's 0700 home).
enum StateLayout {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// The state directory itself, before anything is created in it.
    static func prepareDirectory(_ state: String, broker: ComponentIdentity) throws(Failure) {
        if mkdir(state, 0o711) != 0 && errno != EEXIST { throw Failure(description: "mkdir \(state): \(text(errno))") }
        var st = stat()
        guard lstat(state, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { throw Failure(description: "\(state) is not a directory") }
        // A shared directory (/tmp, /) must not be handed to jg-broker and closed to everyone else.
        guard st.st_mode & (S_ISVTX | S_IWOTH) == 0, state != "/" else {
            throw Failure(description: "\(state) is a shared directory (sticky or world-writable): give --state-dir a directory of its own")
        }
        guard chown(state, broker.uid, 0) == 0, chmod(state, 0o711) == 0 else {
            throw Failure(description: "cannot give \(state) to jg-broker with mode 0711: \(text(errno))")
        }
        _ = try reach(state, as: broker, W_OK | X_OK, what: "reach the state directory")
    }

    /// The directory opened for `id` the way it will reach it (DirectoryHandle): O_PATH by root, then
    /// checked as `id` through /proc/self/fd — so directories above it need not be searchable by `id`.
    static func reach(_ dir: String, as id: ComponentIdentity, _ mode: Int32, what: String) throws(Failure) -> OwnedFD {
        let fd = jg_sys_open_directory_path(dir)
        guard fd >= 0 else { throw Failure(description: "cannot open \(dir): \(text(errno))") }
        let handle = OwnedFD(adopting: fd)
        // The forked check inherits the descriptor (no exec): it resolves exactly what the component will.
        if let why = deniedTo(id, DirectoryHandle(name: dir, fd: fd).access, mode) {
            throw Failure(description: "jg-broker (uid \(id.uid)) cannot \(what) \(dir): \(why)")
        }
        return handle
    }

    /// Files of a state directory older than this layout (policy 0644 and root-owned audit files).
    static func tighten(state: String, policyFile: String, lineageFile: String, auditLog: String, broker: ComponentIdentity) throws(Failure) {
        for p in [state + "/policy.yaml", state + "/secret", state + "/status.json", lineageFile] where exists(p) {
            if p == lineageFile || p.hasPrefix(state + "/") { _ = chmod(p, 0o600) }
        }
        if policyFile != state + "/policy.yaml", let m = mode(policyFile), m & 0o077 != 0 {
            Log.warn("policy \(policyFile) is readable by other users (mode \(String(m, radix: 8))); 0600 keeps its canaries secret")
        }
        // The broker's files: owner-only, and its own (a state directory of the root-uid broker had them root's).
        let dir = String(auditLog[..<(auditLog.lastIndex(of: "/") ?? auditLog.startIndex)])
        let base = String(auditLog[(auditLog.lastIndex(of: "/").map { auditLog.index(after: $0) } ?? auditLog.startIndex)...])
        var owned = [state + "/audit-signing.key", state + "/audit-signing.pub", state + "/workspace"]
        for name in entries(dir) where name == base || name.hasPrefix(base + ".") { owned.append(dir + "/" + name) }
        for p in owned where exists(p) {
            let tree = p.hasSuffix(".sealed")
            chownTree(p, broker, recurse: tree)
            if p.hasSuffix(".pub") { _ = chmod(p, 0o644) }
            else if p.hasSuffix("/workspace") { continue }
            else if isDirectory(p) { _ = chmod(p, 0o700) }
            else { _ = chmod(p, 0o600) }
        }
    }

    /// The directory the audit log and its companions (.manifests, .sealed, torn tails) are created in.
    static func auditDirectory(_ auditLog: String) -> String {
        String(auditLog[..<(auditLog.lastIndex(of: "/") ?? auditLog.startIndex)])
    }

    // MARK: helpers

    static func deniedTo(_ id: ComponentIdentity, _ path: String, _ mode: Int32) -> String? {
        let r = id.groups.withUnsafeBufferPointer { g in jg_sys_access_as(path, mode, id.uid, id.gid, g.baseAddress, Int32(g.count)) }
        return r == 0 ? nil : text(r)
    }

    static func chownTree(_ path: String, _ id: ComponentIdentity, recurse: Bool) {
        _ = lchown(path, id.uid, id.gid)
        guard recurse, isDirectory(path) else { return }
        for name in entries(path) { chownTree(path + "/" + name, id, recurse: true) }
    }

    static func entries(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { p in String(cString: p.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func exists(_ p: String) -> Bool { var st = stat(); return lstat(p, &st) == 0 }
    static func isDirectory(_ p: String) -> Bool { var st = stat(); return lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR }
    static func mode(_ p: String) -> UInt32? {
        let fd = open(p, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt32(st.st_mode & 0o7777) : nil
    }
    static func text(_ e: Int32) -> String { String(cString: strerror(e)) }
}
