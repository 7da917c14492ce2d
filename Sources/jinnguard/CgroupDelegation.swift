import CJGSys
import Glibc
import JGIPC

/// <cgroup2>/jinnguard, delegated to the non-root components (cgroup v2 delegation: ownership of the
/// directories and of the cgroup.procs files a migration crosses):
///   jinnguard/                  jg-kernel  (it creates <instance>/agents/<id> and attaches programs here)
///   jinnguard/cgroup.procs      jg-broker  (moving a tool from the broker's cgroup into a run cgroup needs
///                                          write access to the common ancestor's cgroup.procs: this one)
///   jinnguard/runs/             jg-broker  (ungoverned run cgroups)
///   jinnguard/broker-<instance> root       where the supervisor puts the broker, so that the common
///                                          ancestor of its cgroup and every run cgroup is jinnguard/
///   jinnguard/<instance>/       jg-kernel  (agent cgroups 0775, group jg-kernel, of which jg-broker is a member)
struct CgroupDelegation {
    let base: String
    let brokerCgroup: String

    static func prepare(stateDir: String, users: ComponentUsers) -> CgroupDelegation? {
        guard let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].first(where: { access($0 + "/cgroup.controllers", F_OK) == 0 }) else {
            return nil
        }
        let base = root + "/jinnguard"
        let instance = KernelInstance.name(stateDir: stateDir)
        let kernel = users[.kernel], broker = users[.broker]
        func warn(_ what: String) { Log.warn("cgroup delegation: \(what): \(String(cString: strerror(errno)))") }
        if mkdir(base, 0o755) != 0 && errno != EEXIST { warn("cannot create \(base)"); return nil }
        if chown(base, kernel.uid, kernel.gid) != 0 { warn("chown \(base)") }
        if chown(base + "/cgroup.procs", broker.uid, broker.gid) != 0 { warn("chown \(base)/cgroup.procs") }
        if mkdir(base + "/runs", 0o755) != 0 && errno != EEXIST { warn("cannot create \(base)/runs") }
        StateLayout.chownTree(base + "/runs", broker, recurse: true)
        // An instance tree left by a root-uid jg-kernel becomes the kernel user's.
        if StateLayout.isDirectory(base + "/" + instance) { StateLayout.chownTree(base + "/" + instance, kernel, recurse: true) }
        let mine = base + "/broker-" + instance
        if mkdir(mine, 0o755) != 0 && errno != EEXIST { warn("cannot create \(mine)"); return nil }
        return CgroupDelegation(base: base, brokerCgroup: mine)
    }

    /// Puts a freshly started broker into its cgroup (before it is configured, so before any tool run).
    func place(brokerPid pid: pid_t) {
        let fd = open(brokerCgroup + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { Log.warn("cannot open \(brokerCgroup)/cgroup.procs: \(String(cString: strerror(errno)))"); return }
        defer { close(fd) }
        if jg_sys_write_pid(fd, pid) != 0 { Log.warn("cannot move jg-broker into \(brokerCgroup): \(String(cString: strerror(errno)))") }
    }

    func remove() { rmdir(brokerCgroup) }
}
