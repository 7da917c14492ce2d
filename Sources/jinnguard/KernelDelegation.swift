import CJGSys
import Glibc
import JGIPC

/// What the non-root jg-kernel and jg-broker need of root's kernel objects, prepared by the supervisor.
/// Root keeps owning the shared directories (other daemons on the host, and older root-uid components,
/// keep working); the component users get access through their groups, and own only what is theirs.
///
/// cgroup v2 (<cgroup2>/jinnguard; delegation = write access to the directories and to the cgroup.procs
/// files a migration crosses):
///   jinnguard/                  root:jg-kernel 0775   jg-kernel creates <instance>/ here and attaches programs
///   jinnguard/cgroup.procs      root:jg-broker 0664   moving a tool from the broker's cgroup into a run cgroup
///                                                     needs write access to the common ancestor's cgroup.procs
///   jinnguard/runs/             root:jg-broker 0775   ungoverned run cgroups
///   jinnguard/broker-<instance> root 0755             where the supervisor puts the broker, so that the common
///                                                     ancestor of its cgroup and every run cgroup is jinnguard/
///   jinnguard/<instance>/       jg-kernel             agent cgroups 0775 group jg-kernel (jg-broker is a member)
/// bpffs: /sys/fs/bpf/jinnguard is made group jg-kernel 0770 by jg-kernel itself (it mounts bpffs when
/// missing); an instance pin directory left by a root-uid jg-kernel is handed to jg-kernel here.
struct KernelDelegation {
    let brokerCgroup: String?

    static func prepare(stateDir: String, users: ComponentUsers) -> KernelDelegation {
        let instance = KernelInstance.name(stateDir: stateDir)
        let kernel = users[.kernel], broker = users[.broker]
        func warn(_ what: String) { Log.warn("kernel delegation: \(what): \(String(cString: strerror(errno)))") }
        let pins = "/sys/fs/bpf/jinnguard/" + instance
        if StateLayout.isDirectory(pins) { StateLayout.chownTree(pins, kernel, recurse: true) }
        guard let root = CgroupLayout.unifiedMount() else {
            return KernelDelegation(brokerCgroup: nil)
        }
        let base = root + "/jinnguard"
        if mkdir(base, 0o775) != 0 && errno != EEXIST { warn("cannot create \(base)"); return KernelDelegation(brokerCgroup: nil) }
        if lchown(base, UInt32.max, kernel.gid) != 0 || chmod(base, 0o775) != 0 { warn("group of \(base)") }
        if lchown(base + "/cgroup.procs", UInt32.max, broker.gid) != 0 || chmod(base + "/cgroup.procs", 0o664) != 0 {
            warn("group of \(base)/cgroup.procs")
        }
        if mkdir(base + "/runs", 0o775) != 0 && errno != EEXIST { warn("cannot create \(base)/runs") }
        if lchown(base + "/runs", UInt32.max, broker.gid) != 0 || chmod(base + "/runs", 0o775) != 0 { warn("group of \(base)/runs") }
        // An instance tree left by a root-uid jg-kernel becomes the kernel user's (only ours: others are theirs).
        if StateLayout.isDirectory(base + "/" + instance) { StateLayout.chownTree(base + "/" + instance, kernel, recurse: true) }
        let mine = base + "/broker-" + instance
        if mkdir(mine, 0o755) != 0 && errno != EEXIST { warn("cannot create \(mine)"); return KernelDelegation(brokerCgroup: nil) }
        return KernelDelegation(brokerCgroup: mine)
    }

    /// Puts a freshly started broker into its cgroup (before it is configured, so before any tool run).
    func place(brokerPid pid: pid_t) {
        guard let cg = brokerCgroup else { return }
        let fd = open(cg + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { Log.warn("cannot open \(cg)/cgroup.procs: \(String(cString: strerror(errno)))"); return }
        defer { close(fd) }
        if jg_sys_write_pid(fd, pid) != 0 { Log.warn("cannot move jg-broker into \(cg): \(String(cString: strerror(errno)))") }
    }

    func remove() { if let cg = brokerCgroup { rmdir(cg) } }
}
