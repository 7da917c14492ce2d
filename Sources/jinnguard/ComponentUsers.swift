import CJGSys
import Glibc
import JGIPC


/// One system user per component (DESIGN.md §1), created at start when missing:
/// `useradd --system --user-group` jg-gate, jg-prover, jg-broker, jg-kernel — the same names the
/// systemd units' sysusers.d will declare. Chosen over a numeric range because named system users are
/// allocated by the system (no collision with an existing account or agent, which a configured range
/// cannot promise), stay stable across restarts, and show by name in ps, ls and the audit trail.
struct ComponentUsers {
    var ids: [Component: ComponentIdentity]

    struct Failure: Error, CustomStringConvertible { var description: String }

    static let useradd = ["/usr/sbin/useradd", "/sbin/useradd", "/usr/bin/useradd"]

    /// `ensure` fills every component; a missing one would be a bug, and gets an identity that cannot start.
    subscript(_ c: Component) -> ComponentIdentity { ids[c] ?? ComponentIdentity(uid: 0, gid: 0) }

    static func ensure() throws(Failure) -> ComponentUsers {
        var found: [Component: ComponentIdentity] = [:]
        for c in Component.allCases {
            if lookup(c.rawValue) == nil { try create(c.rawValue) }
            guard let (uid, gid) = lookup(c.rawValue) else {
                throw Failure(description: "system user \(c.rawValue) does not exist and could not be created")
            }
            found[c] = ComponentIdentity(uid: uid, gid: gid)
        }
        if let why = ComponentIdentity.problem(with: found) { throw Failure(description: why) }
        // jg-broker makes each tool run's cgroup inside the agent cgroups jg-kernel creates (group-writable).
        if let kernelGid = found[.kernel]?.gid { found[.broker]?.groups = [kernelGid] }
        return ComponentUsers(ids: found)
    }

    /// A component uid that a policy names as an agent's peer uid would let that agent be a component.
    func refuseOverlap(agentUIDs: [UInt32]) throws(Failure) {
        if let why = ComponentIdentity.problem(with: ids, agentUIDs: agentUIDs) { throw Failure(description: why) }
    }

    static func lookup(_ name: String) -> (UInt32, UInt32)? {
        guard let pw = getpwnam(name) else { return nil }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    static func create(_ name: String) throws(Failure) {
        guard let tool = useradd.first(where: { access($0, X_OK) == 0 }) else {
            throw Failure(description: "system user \(name) is missing and useradd is not installed to create it")
        }
        let args = [tool, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", "--comment", "Jinn Guard \(name)", name]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let pid = jg_sys_spawn(tool, &argv, nil, nil, 0)
        guard pid > 0 else { throw Failure(description: "cannot run \(tool): \(String(cString: strerror(errno)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // Another daemon starting at the same moment may have created it first: the lookup after decides.
        if lookup(name) == nil {
            throw Failure(description: "\(tool) \(name) failed (status \(status)) and the user does not exist")
        }
        Log.info("created system user \(name)")
    }
}
