import Glibc

/// Where the unified (v2) cgroup hierarchy is, read from the mount table rather than assumed: a hybrid
/// host (systemd's legacy layout, this build machine) has it at /sys/fs/cgroup/unified, a production
/// systemd host and a container at /sys/fs/cgroup.
public enum CgroupLayout {
    /// The cgroup2 mount point of this process's mount namespace, or nil when there is none.
    public static func unifiedMount() -> String? {
        Files.readText("/proc/self/mountinfo", limit: 4 << 20).flatMap(unifiedMount(mountinfo:))
    }

    /// From mountinfo text (proc(5)): the mount point of the first cgroup2 file system, preferring
    /// /sys/fs/cgroup itself when several are mounted.
    public static func unifiedMount(mountinfo: String) -> String? {
        var found: [String] = []
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields[dash + 1] == "cgroup2" else { continue }
            found.append(unescape(String(fields[4])))
        }
        return found.first(where: { $0 == "/sys/fs/cgroup" }) ?? found.first
    }

    /// This process's own cgroup (v2: the "0::" line of /proc/self/cgroup) as a path below `mount`.
    public static func ownCgroup(mount: String) -> String? {
        guard let text = Files.readText("/proc/self/cgroup", limit: 1 << 16) else { return nil }
        return ownCgroup(procCgroup: text, mount: mount)
    }

    public static func ownCgroup(procCgroup: String, mount: String) -> String? {
        for line in procCgroup.split(separator: "\n") where line.hasPrefix("0::") {
            let rel = String(line.dropFirst(3))
            guard rel.hasPrefix("/"), !rel.split(separator: "/").contains("..") else { return nil }
            return rel == "/" ? mount : mount + rel
        }
        return nil
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ s: String) -> String {
        guard s.utf8.contains(UInt8(ascii: "\\")) else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 4 <= b.count,
               let v = UInt8(String(decoding: b[(i + 1)..<(i + 4)], as: UTF8.self), radix: 8) {
                out.append(v); i += 4
            } else {
                out.append(b[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
