/// The seccomp profiles of the components. The files in `seccomp/` are the reviewed source; a unit test
/// fails when these lists and those files differ.
public enum SeccompProfiles {
    public static let gate = [
        "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
        "chroot", "bpf", "init_module", "finit_module", "delete_module", "kexec_load", "setuid", "setgid",
        "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "unshare", "setns", "keyctl", "add_key",
        "request_key", "perf_event_open", "userfaultfd", "personality",
    ]

    public static let prover = [
        "open", "openat", "openat2", "creat", "socket", "socketpair", "connect", "bind", "listen", "accept",
        "accept4", "execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace", "process_vm_readv",
        "process_vm_writev", "mount", "umount2", "pivot_root", "chroot", "bpf", "init_module", "finit_module",
        "delete_module", "kexec_load", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
        "setgroups", "unshare", "setns", "keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd",
        "personality", "mknod", "mknodat", "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "rename",
        "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "truncate", "chmod", "fchmodat", "chown", "fchownat",
    ]

    public static let tool = [
        "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot", "bpf",
        "perf_event_open", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
        "unshare", "setns", "keyctl", "add_key", "request_key", "userfaultfd", "personality", "acct", "swapon",
        "swapoff", "reboot", "settimeofday", "clock_settime", "adjtimex", "syslog", "open_by_handle_at",
        "name_to_handle_at", "quotactl", "io_uring_setup", "io_uring_enter", "io_uring_register", "fanotify_init",
        "lookup_dcookie", "vhangup",
    ]

    /// A locked agent (`jinnguard agent run`): the tool list, the new mount API and the io_uring and
    /// keyring calls by every name; sockets, TIOCSTI and clone's flags are checked by argument on top.
    public static let locked = tool + [
        "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "kcmp",
        "pidfd_getfd", "process_madvise", "migrate_pages", "move_pages", "mbind", "set_mempolicy",
    ]
}
