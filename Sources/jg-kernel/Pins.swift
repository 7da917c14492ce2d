import CBPF
import Glibc
import JGIPC
import JGSandbox

/// Where jg-kernel keeps its kernel objects. One daemon = one instance, named after its state directory,
/// so that two daemons on one host (the e2e suite) never share maps or cgroups:
///   bpffs   /sys/fs/bpf/jinnguard/<instance>/{jg_governed,jg_dests,…}   maps, pinned by name by libbpf
///           /sys/fs/bpf/jinnguard/<instance>/links/<program>             links (attachments)
///   cgroup2 <root>/jinnguard                                             where the cgroup programs attach
///           <root>/jinnguard/<instance>/agents/<agent_id>                governed as that agent (and below)
///           <root>/jinnguard/runs/<name>, …                              governed on the broker's `govern`
struct KernelPaths {
    static let bpffs = "/sys/fs/bpf"
    static let pinBase = bpffs + "/jinnguard"
    static let bpfFSMagic: UInt = 0xcafe_4a11
    static let cgroup2Magic: UInt = 0x6367_7270

    var instance: String
    var cgroupBase: String?
    /// Under systemd: the slice the cgroup programs also attach to, and the broker's run cgroups.
    var systemd: SystemdCgroups? = nil

    var pinRoot: String { KernelPaths.pinBase + "/" + instance }
    var linkDir: String { pinRoot + "/links" }
    /// The links of the second attachment (the systemd slice); ends in /links like the first (removePinTree).
    var sliceLinkDir: String { pinRoot + "/slice/links" }
    var cgroupDir: String? { cgroupBase.map { $0 + "/" + instance } }
    var agentsDir: String? { cgroupDir.map { $0 + "/agents" } }

    /// A stable short name for a state directory (FNV-1a, 48 bits).
    static func instanceName(stateDir: String) -> String { KernelInstance.name(stateDir: stateDir) }

    /// <cgroup2>/jinnguard, which the supervisor creates for us (jg-kernel keeps no CAP_DAC_OVERRIDE).
    static func cgroupBase() -> String? {
        CgroupLayout.unifiedMount().map { $0 + "/jinnguard" }
    }

    static func fsType(_ path: String) -> UInt? {
        let t = jg_bpf_fs_type(path)
        return t < 0 ? nil : UInt(t)
    }

    /// Mount bpffs at /sys/fs/bpf when nothing is mounted there, and create /sys/fs/bpf/jinnguard. Needs
    /// CAP_SYS_ADMIN: called while the process still holds the capabilities it was started with, before
    /// it drops to CAP_BPF/CAP_PERFMON/CAP_NET_ADMIN. Returns nil or the reason it could not.
    static func prepareBPFFS(owner: ComponentIdentity) -> String? {
        // Under systemd jg-kernel never holds CAP_SYS_ADMIN: the rendezvous (root) prepared the pin base.
        if SystemdComponent.active {
            return access(pinBase, W_OK | X_OK) == 0 ? nil : "\(pinBase) is not writable by jg-kernel: \(String(cString: strerror(errno)))"
        }
        if fsType(bpffs) != bpfFSMagic {
            if mount("bpf", bpffs, "bpf", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), "mode=0700") != 0 {
                return "cannot mount bpffs at \(bpffs): \(String(cString: strerror(errno)))"
            }
            Log.info("mounted bpffs at \(bpffs)")
        }
        if mkdir(pinBase, 0o700) != 0 && errno != EEXIST {
            return "cannot create \(pinBase): \(String(cString: strerror(errno)))"
        }
        // jg-kernel, no longer root, must reach and write the pin base: bpffs is usually mounted 0700, so it
        // gets search permission (x) only — nothing in it can be listed, every pin keeps its owner-only mode —
        // and /sys/fs/bpf/jinnguard becomes group jg-kernel, 0770 (root keeps it: other instances on this host
        // keep theirs). Its own instance directory it creates itself; one left by a root-uid jg-kernel was
        // handed over by the supervisor.
        var st = stat()
        if lstat(bpffs, &st) == 0, st.st_mode & 0o011 != 0o011 { _ = chmod(bpffs, (st.st_mode & 0o7777) | 0o011) }
        if lchown(pinBase, UInt32.max, owner.gid) != 0 || chmod(pinBase, 0o770) != 0 {
            return "cannot give \(pinBase) to group \(owner.gid): \(String(cString: strerror(errno)))"
        }
        return nil
    }

    static func errnoText(_ e: Int32) -> String { String(cString: strerror(e)) }
}

/// Recursive removal of a pin directory (bpffs: unlink drops the pin; a link whose last reference goes
/// away is detached). Returns how many pins were removed.
@discardableResult
func removePinTree(_ dir: String, detachLinks: Bool) -> Int {
    guard let d = opendir(dir) else { return 0 }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    closedir(d)
    var n = 0
    for name in names {
        let p = dir + "/" + name
        var st = stat()
        guard lstat(p, &st) == 0 else { continue }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            n += removePinTree(p, detachLinks: detachLinks)
            rmdir(p)
        } else {
            if detachLinks && dir.hasSuffix("/links") { _ = jg_bpf_link_detach_pinned(p) }
            if unlink(p) == 0 { n += 1 }
        }
    }
    return n
}

func listDirectory(_ dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." && e.pointee.d_type == UInt8(DT_DIR) { names.append(name) }
    }
    return names
}
