import CBPF
import Glibc
import JGJSON

/// Which BPF planes load and attach on this host. "Active" means a program was really loaded and
/// attached here (systemd's bpf_restrict_fs_supported rule); otherwise the errno and the reason.
struct KernelPlanes {
    struct Entry {
        var name: String
        var active: Bool
        var errno: Int32
        var reason: String
    }

    var entries: [Entry]

    static func cgroupRoot() -> String? {
        // cgroup v2 has cgroup.controllers at its root; a v1 hierarchy does not.
        for p in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] where access(p + "/cgroup.controllers", F_OK) == 0 { return p }
        return nil
    }

    static func probe() -> KernelPlanes {
        var out: [Entry] = []
        let lsm = jg_bpf_probe_lsm()
        out.append(entry("lsm", lsm, hint: lsm == -EPERM ? "the kernel refuses BPF-LSM programs here (lockdown or no CAP_MAC_ADMIN path)" : nil))
        out.append(entry("tracepoint", jg_bpf_probe_tracepoint(), hint: nil))
        if let cg = cgroupRoot() {
            // The supervisor creates <cgroup2>/jinnguard for us: the cgroup2 root itself is not writable
            // without CAP_DAC_OVERRIDE, which jg-kernel does not keep.
            let root = access(cg + "/jinnguard", W_OK) == 0 ? cg + "/jinnguard" : cg
            let dir = "\(root)/probe-\(getpid())"
            if mkdir(dir, 0o700) == 0 {
                out.append(entry("cgroup_sock_addr", jg_bpf_probe_cgroup_connect4(dir), hint: nil))
                rmdir(dir)
            } else {
                out.append(Entry(name: "cgroup_sock_addr", active: false, errno: errno, reason: "cannot create a probe cgroup under \(root): \(String(cString: strerror(errno)))"))
            }
        } else {
            out.append(Entry(name: "cgroup_sock_addr", active: false, errno: ENOENT, reason: "no cgroup v2 mount found"))
        }
        return KernelPlanes(entries: out)
    }

    static func entry(_ name: String, _ rc: Int32, hint: String?) -> Entry {
        if rc == 0 { return Entry(name: name, active: true, errno: 0, reason: "loaded and attached") }
        let e = -rc
        return Entry(name: name, active: false, errno: e, reason: hint ?? String(cString: strerror(e)))
    }

    var json: String {
        JSONWriter.write(.object(entries.map { e in
            (e.name, .object([("active", .bool(e.active)), ("errno", .integer(.signed(Int64(e.errno)))), ("reason", .string(e.reason))]))
        }))
    }
}
