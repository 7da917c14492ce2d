import Glibc
import JGIPC

/// The cgroup v2 directory of one tool run: created before, emptied (cgroup.kill) and removed after.
/// It names the run for jg-kernel's cgroup-scoped programs; resource limits come from rlimits because
/// cgroup v2 here may offer no memory/pids controllers.
final class RunCgroup {
    let path: String
    let procs: OwnedFD

    /// Under systemd: runs/ in jg-broker's own delegated subtree (Delegate=yes; DelegatedCgroup), which
    /// replaces <cgroup2>/jinnguard — a tool moved from the broker's unit cgroup anywhere outside it would
    /// need write access to cgroup.procs of an ancestor systemd owns.
    /// Set once at broker start-up (DelegatedCgroup), before the first run; only read afterwards.
    nonisolated(unsafe) public static var delegatedParent: String?

    static func defaultParent() -> String? {
        if let d = delegatedParent { return d }
        guard let root = CgroupLayout.unifiedMount() else { return nil }
        let dir = root + "/jinnguard/runs"
        if mkdir(dir, 0o755) != 0 && errno != EEXIST { return nil }
        return dir
    }

    /// The agent's governed cgroup, when jg-kernel has made it (then the kernel plane's rules and
    /// telemetry cover the run).
    static func governedParent(stateDir: String, agentID: String) -> String? {
        guard !agentID.isEmpty, !agentID.contains("/"), agentID != ".", agentID != "..", delegatedParent == nil,
              let root = CgroupLayout.unifiedMount() else { return nil }
        let dir = root + "/jinnguard/" + KernelInstance.name(stateDir: stateDir) + "/agents/" + agentID
        return access(dir + "/cgroup.procs", W_OK) == 0 ? dir : nil
    }

    init?(parent: String, name: String) {
        path = parent + "/" + name
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { return nil }
        let fd = open(path + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { rmdir(path); return nil }
        procs = OwnedFD(adopting: fd)
    }

    /// Kills whatever is left in the cgroup (a tool that left a process behind).
    func killAll() {
        let fd = open(path + "/cgroup.kill", O_WRONLY | O_CLOEXEC)
        if fd >= 0 { _ = write(fd, "1", 1); close(fd) }
    }

    func remove() {
        procs.close()
        for attempt in 0..<50 {
            if rmdir(path) == 0 || errno == ENOENT { return }
            if attempt == 0 { killAll() }
            usleep(2000)
        }
        Log.warn("cannot remove run cgroup \(path): \(String(cString: strerror(errno)))")
    }
}
