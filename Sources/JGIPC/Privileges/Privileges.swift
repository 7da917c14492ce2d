import Glibc
import CJGSys

/// Dropping a component to its privileges at start (DESIGN.md §1). Capabilities themselves are
/// handled by the CCap shim in each component that keeps any.
public enum Privileges {
    /// The shared unprivileged identity; no component runs as it (each has its own, ComponentIdentity).
    public static let nobody: UInt32 = 65534

    /// setgroups([]) + setgid + setuid, in that order; then verifies that root cannot be regained.
    public static func becomeUser(uid: UInt32, gid: UInt32) throws(SystemError) {
        guard setgroups(0, nil) == 0 else { throw SystemError("setgroups") }
        guard jg_sys_setresgid(gid, gid, gid) == 0 else { throw SystemError("setresgid") }
        guard jg_sys_setresuid(uid, uid, uid) == 0 else { throw SystemError("setresuid") }
        if uid != 0 && setuid(0) == 0 { throw SystemError("setuid(0) still works after dropping", errno: EPERM) }
    }

    public static func noNewPrivileges() throws(SystemError) {
        guard jg_sys_set_no_new_privs() == 0 else { throw SystemError("prctl(PR_SET_NO_NEW_PRIVS)") }
    }

    /// Not dumpable: no process of another uid (nor of its own, without ptrace rights) can read its
    /// memory through /proc/PID/mem or process_vm_readv, and it leaves no core. Root still reads
    /// /proc/PID/status. Components call it once start-up is done (DESIGN.md §1).
    public static func notDumpable() throws(SystemError) {
        guard jg_sys_set_dumpable(0) == 0 else { throw SystemError("prctl(PR_SET_DUMPABLE, 0)") }
    }

    /// Confines the filesystem view to an empty directory.
    public static func chrootEmpty(_ dir: String) throws(SystemError) {
        guard chroot(dir) == 0 else { throw SystemError("chroot(\(dir))") }
        guard chdir("/") == 0 else { throw SystemError("chdir(/)") }
    }
}
