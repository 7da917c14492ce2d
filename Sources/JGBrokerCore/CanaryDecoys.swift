import CJGSys
import Glibc

/// Decoy files named after the policy's canary resources, planted in each agent workspace: nothing
/// legitimate opens them, so any open by a governed process (seen by jg-kernel's open telemetry) is an
/// access to a canary, however its name was spelled or assembled. Planted again before each run, in
/// case a tool removed one. Kept apart from ToolRunner so that whatever prepares a workspace can call it.
public enum CanaryDecoys {
    /// The file name a decoy of `resource` takes: its last path component, when that is a usable name.
    public static func fileName(_ resource: String) -> String? {
        guard let last = resource.split(separator: "/").last.map(String.init), !last.isEmpty, last != ".", last != "..",
              !last.utf8.contains(0), last.utf8.count <= 255 else { return nil }
        return last
    }

    static let contents = Array("jinnguard canary decoy: opening this file denies the agent's further requests\n".utf8)

    /// Creates the missing decoys in `directory` (never following a link), with the file-system identity
    /// of `uid`/`gid` (the directory's owner: the broker holds no CAP_DAC_OVERRIDE), then gives them to
    /// root, read-only. Returns the names that could not be planted.
    @discardableResult
    public static func plant(_ resources: [String], in directory: String, uid: UInt32, gid: UInt32) -> [String] {
        guard resources.contains(where: { fileName($0) != nil }) else { return [] }
        var failed: [String] = []
        // The workspace is its tool uid's (0700), its parent the daemon's: the parent is entered with the
        // broker's identity, the workspace with the tool's.
        guard let slash = directory.lastIndex(of: "/") else { return resources }
        let parent = open(slash == directory.startIndex ? "/" : String(directory[..<slash]), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return resources }
        defer { close(parent) }
        let dirGid = jg_sys_setfsgid(gid)
        let dirUid = jg_sys_setfsuid(uid)
        let dfd = openat(parent, String(directory[directory.index(after: slash)...]), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        _ = jg_sys_setfsuid(UInt32(dirUid))
        _ = jg_sys_setfsgid(UInt32(dirGid))
        guard dfd >= 0 else { return resources }
        defer { close(dfd) }
        for r in resources {
            guard let name = fileName(r) else { continue }
            var st = stat()
            if fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 { continue }
            let oldGid = jg_sys_setfsgid(gid)
            let oldUid = jg_sys_setfsuid(uid)
            let fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o444)
            _ = jg_sys_setfsuid(UInt32(oldUid))
            _ = jg_sys_setfsgid(UInt32(oldGid))
            guard fd >= 0 else { failed.append(name); continue }
            _ = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            _ = fchown(fd, 0, 0)
            close(fd)
        }
        return failed
    }
}
