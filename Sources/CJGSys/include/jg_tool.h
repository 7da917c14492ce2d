// Why: a sandboxed tool run is a sequence of raw syscalls between fork and exec (namespaces, uid maps,
// mounts, Landlock, seccomp) that must run in the child with no Swift runtime involved.
// Kernel ABI values that Debian 12's headers lack are declared in jg_tool.c ("keep in sync").
#pragma once
#include <stddef.h>
#include <stdint.h>

/// What the sandbox achieved, reported back bit by bit (a feature the kernel lacks is skipped, not faked).
enum {
    JG_TOOL_USERNS = 1 << 0,
    JG_TOOL_MOUNTNS = 1 << 1,
    JG_TOOL_PIDNS = 1 << 2,
    JG_TOOL_NETNS = 1 << 3,
    JG_TOOL_LANDLOCK_FS = 1 << 4,
    JG_TOOL_LANDLOCK_NET = 1 << 5,
    JG_TOOL_SECCOMP = 1 << 6,
    JG_TOOL_CGROUP = 1 << 7,
    JG_TOOL_PRIVATE_TMP = 1 << 8,
    JG_TOOL_PROC = 1 << 9,
};

typedef struct {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *workspace;      /* the only writable directory (plus a private /tmp), by its name */
    const char *workspace_access; /* how the caller reaches it (through a directory descriptor), or NULL */
    unsigned uid, gid;
    int out_fd, err_fd;
    int cgroup_procs_fd;        /* cgroup.procs of the run's cgroup, or -1 */
    uint64_t rlimit_cpu_seconds, rlimit_as_bytes, rlimit_fsize_bytes, rlimit_nproc, rlimit_nofile;
    const void *seccomp_filter; /* struct sock_filter[], or NULL */
    unsigned short seccomp_len;
    int require_all;            /* fail instead of skipping a missing feature */
} jg_tool_spec;

/// Starts the tool. Returns the pid of the run's outer process (it exits with the tool's status),
/// or -1 with errno; *achieved gets the JG_TOOL_* bits; *failed_step names the step that failed.
int jg_tool_spawn(const jg_tool_spec *spec, unsigned *achieved, int *failed_step);
/// The Landlock ABI version the kernel offers (0 = none).
int jg_tool_landlock_abi(void);
