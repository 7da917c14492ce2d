import Glibc
import CJGSys

/// Dropping a component to its privileges at start (DESIGN.md §1). Capabilities themselves are
/// handled by the CCap shim in each component that keeps any.
public enum Privileges {
    /// The shared unprivileged identity; no component runs as it (each has its own, ComponentIdentity).
    public static let nobody: UInt32 = 65534

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
