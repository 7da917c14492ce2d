import CCap
import CSeccomp
import Glibc
import JGIPC

enum Sandbox {
    /// Syscalls the gate never needs: executing, tracing, mounting, loading code into the kernel.
    static let deniedSyscalls = [
        "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2",
        "pivot_root", "chroot", "bpf", "init_module", "finit_module", "delete_module", "kexec_load",
        "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "unshare", "setns",
        "keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd", "personality",
    ]

    static func enterGate() throws {
        // The bounding set can only be emptied while still root; setuid then clears the rest.
        guard jg_cap_drop_bounding(nil, 0) == 0 else { throw SystemError("drop capability bounding set") }
        try Privileges.becomeUser(uid: Privileges.nobody, gid: Privileges.nobody)
        guard jg_cap_set(nil, 0) == 0 else { throw SystemError("drop capabilities") }
        try Privileges.noNewPrivileges()
        // Without this, a process that changed uid cannot be inspected in /proc by the operator.
        Privileges.setDumpable(true)
        let cstrs = deniedSyscalls.map { strdup($0) }
        defer { cstrs.forEach { free($0) } }
        let ptrs = cstrs.map { UnsafePointer<CChar>($0) }
        guard ptrs.withUnsafeBufferPointer({ jg_seccomp_load_denylist($0.baseAddress, Int32(ptrs.count), EPERM) }) == 0 else {
            throw SystemError("seccomp")
        }
    }
}
