import CBPF
import Glibc

/// Break-glass: force-detach every link jg-kernel pinned (even while a jg-kernel holds them), remove all
/// its pins and its empty cgroups. Run as root by `jinnguard kernel detach` (which execs `jg-kernel detach`).
/// Enforcement stays off until a jg-kernel starts again (it attaches afresh at start).
enum Detach {
    static func run(instance: String?) -> Int32 {
        var instances = listDirectory(KernelPaths.pinBase)
        if let instance { instances = instances.filter { $0 == instance } }
        var detached = 0, failed = 0
        for inst in instances {
            // links/: the instance cgroup's attachment; slice/links/: the systemd slice's (SystemdCgroups).
            for linkDir in ["/links", "/slice/links"].map({ KernelPaths.pinBase + "/" + inst + $0 }) {
                for name in allEntries(linkDir) {
                    let r = jg_bpf_link_detach_pinned(linkDir + "/" + name)
                    if r == 0 { detached += 1 } else if r == -EOPNOTSUPP {
                        // raw tracepoint links cannot be force-detached; they only observe, and go away with
                        // their pin and the last process holding them
                        print("jg-kernel: \(inst)/\(name): telemetry link unpinned (released when its last holder exits)")
                    } else {
                        failed += 1
                        print("jg-kernel: detach \(inst)/\(name): \(KernelPaths.errnoText(-r))")
                    }
                }
            }
            let removed = removePinTree(KernelPaths.pinBase + "/" + inst, detachLinks: false)
            rmdir(KernelPaths.pinBase + "/" + inst)
            print("jg-kernel: instance \(inst): \(removed) pin(s) removed")
            if let base = KernelPaths.cgroupBase() { removeEmptyCgroups(base + "/" + inst) }
        }
        print("jg-kernel: \(detached) link(s) detached, \(failed) failed, \(instances.count) instance(s)")
        return failed == 0 ? 0 : 1
    }

    static func allEntries(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// rmdir bottom-up; cgroups that still hold processes stay (EBUSY).
    static func removeEmptyCgroups(_ dir: String) {
        for n in listDirectory(dir) { removeEmptyCgroups(dir + "/" + n) }
        rmdir(dir)
    }
}
