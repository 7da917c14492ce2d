import Glibc
import JGIPC

/// Under systemd (Delegate=yes) jg-broker makes its tool runs' cgroups in its own unit's subtree,
/// `<slice>/jg-broker.service/runs/<agent>/…`, not below `<cgroup2>/jinnguard`: a tool moved there would
/// need write access to a cgroup.procs systemd owns. So jg-kernel also attaches its cgroup programs to the
/// slice that holds both units (they act only on the cgroups in jg_governed), and lets the broker have
/// cgroups below that `runs/` governed. The broker's unit cgroup is only believed when it belongs to the
/// jg-broker user (systemd chowns a delegated cgroup to the unit's User=).
struct SystemdCgroups: Sendable {
    /// Where the cgroup programs attach besides `<cgroup2>/jinnguard`: jg-kernel's own slice.
    let slice: String
    /// `<slice>/jg-broker.service/runs`: governable on the broker's `govern`.
    let brokerRuns: String

    static let brokerUnit = "jg-broker.service"

    /// Nil outside systemd, or when this process's cgroup is not a unit's in a slice below the root.
    static func find() -> SystemdCgroups? {
        guard SystemdComponent.active, let mount = CgroupLayout.unifiedMount(),
              let own = CgroupLayout.ownCgroup(mount: mount), own.hasPrefix(mount + "/"),
              let slash = own.lastIndex(of: "/") else { return nil }
        let slice = String(own[..<slash])
        // Never the root cgroup itself: the slice must be a cgroup of its own.
        guard slice.count > mount.count, slice.hasSuffix(".slice") else { return nil }
        return SystemdCgroups(slice: slice, brokerRuns: slice + "/" + brokerUnit + "/runs")
    }

    /// Nil when `path` is a cgroup below the broker's `runs/` that the broker's unit owns, else why not.
    func checkBrokerRun(_ path: String) -> String? {
        guard path.hasPrefix(brokerRuns + "/"), path.count > brokerRuns.count + 1 else { return "not below \(brokerRuns)" }
        guard let pw = getpwnam("jg-broker") else { return "no user jg-broker" }
        var st = stat()
        let unit = String(brokerRuns.dropLast("/runs".count))
        guard lstat(unit, &st) == 0, st.st_uid == pw.pointee.pw_uid else {
            return "\(unit) is not delegated to jg-broker (Delegate=yes)"
        }
        return nil
    }
}
