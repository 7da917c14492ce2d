import Glibc
import JGIPC

/// jg-broker under systemd (Delegate=yes): its unit's cgroup is its own. The broker moves itself into a
/// leaf (`broker/`, cgroup v2 keeps processes out of inner nodes that enable controllers) and makes each
/// tool run's cgroup in `runs/` beside it, so that every migration stays inside the subtree it owns.
public enum DelegatedCgroup {
    public struct Failure: Error, CustomStringConvertible { public var description: String }

    public static func enter() throws(Failure) {
        guard let mount = CgroupLayout.unifiedMount() else { throw Failure(description: "no cgroup v2 mount") }
        guard let own = CgroupLayout.ownCgroup(mount: mount), own != mount else { throw Failure(description: "own cgroup unknown") }
        var st = stat()
        guard stat(own, &st) == 0, st.st_uid == getuid() else {
            throw Failure(description: "\(own) is not delegated to this unit (Delegate=yes in jg-broker.service)")
        }
        func make(_ d: String) throws(Failure) {
            if mkdir(d, 0o755) != 0 && errno != EEXIST { throw Failure(description: "mkdir \(d): \(String(cString: strerror(errno)))") }
            // Searchable whatever the unit's UMask=: jg-kernel looks run cgroups up by path to govern them.
            _ = chmod(d, 0o755)
        }
        try make(own + "/broker")
        try make(own + "/runs")
        let fd = open(own + "/broker/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "open \(own)/broker/cgroup.procs: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let me = Array("\(getpid())\n".utf8)
        guard write(fd, me, me.count) == me.count else { throw Failure(description: "move into \(own)/broker: \(String(cString: strerror(errno)))") }
        RunCgroup.delegatedParent = own + "/runs"
        Log.info("cgroup: delegated subtree \(own) (tool runs in runs/)")
    }
}
