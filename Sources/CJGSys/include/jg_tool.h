// Why: a confined process is a sequence of raw syscalls between fork and exec (namespaces, uid maps,
// a mount view built with bind mounts and pivot_root, Landlock, seccomp, capabilities) that must run in
// the child with no Swift runtime involved. Kernel ABI values Debian 12's headers lack are declared in
// jg_tool.c ("keep in sync"). The policy (which layers, which paths) is JGSandbox's; this only applies it.
#pragma once
#include <stddef.h>
#include <stdint.h>

/// The layers of a confined process, requested and reported bit by bit (never faked).
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
    JG_TOOL_VIEW = 1 << 10,          /* a new root holding only the listed paths (pivot_root) */
    JG_TOOL_LANDLOCK_SCOPE = 1 << 11, /* abstract UNIX sockets and signals scoped (Landlock ABI 6) */
    JG_TOOL_IPCNS = 1 << 12,         /* IPC and UTS namespaces */
    JG_TOOL_CGROUPNS = 1 << 13,      /* a cgroup namespace rooted at the process's cgroup */
    JG_TOOL_PRIVATE_RUN = 1 << 14,   /* a private /run (tmpfs) */
};

/// Steps that never degrade: their failure always fails the start.
enum { JG_TOOL_STEP_STDIO = 1, JG_TOOL_STEP_RLIMIT, JG_TOOL_STEP_CHDIR, JG_TOOL_STEP_IDENTITY, JG_TOOL_STEP_FORK,
       JG_TOOL_STEP_CAPS, JG_TOOL_STEP_NNP, JG_TOOL_STEP_FDS, JG_TOOL_STEP_EXEC };

typedef struct {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *workspace;       /* the only writable directory besides the private /tmp; the start directory;
                                    its name, and its path inside the view */
    const char *workspace_access; /* how the caller reaches it on the host (through a directory descriptor,
                                     /proc/self/fd/N/...), or NULL for `workspace`; same last component */
    unsigned uid, gid;
    int in_fd;                   /* stdin, or -1 for /dev/null */
    int out_fd, err_fd;
    int new_session;             /* setsid() rather than a process group of its own (a locked agent) */
    int cgroup_procs_fd;         /* cgroup.procs of the run's cgroup, or -1 */
    int cgroup_dir_fd;           /* the run's cgroup directory, or -1: the child is started in it (clone3
                                    CLONE_INTO_CGROUP), skipping a migration that waits for an RCU grace
                                    period; cgroup.procs is the fallback */
    uint64_t rlimit_cpu_seconds, rlimit_as_bytes, rlimit_fsize_bytes, rlimit_nproc, rlimit_nofile;
    const void *seccomp_filter;  /* struct sock_filter[], or NULL */
    unsigned short seccomp_len;
    const char *const *system_paths; /* NULL-terminated: bound read-only into the view (symlinks recreated) */
    const char *const *hidden_paths; /* NULL-terminated: covered by an empty read-only mount where they show */
    const char *const *devices;      /* NULL-terminated: /dev/NAME bound into the view's /dev */
    const char *const *exposed_paths; /* NULL-terminated: bound read-only at the same path, last of all (a
                                         locked agent's Jinn Guard socket); never below a hidden directory */
    const char *const *exposed_views; /* NULL, or as many entries as exposed_paths: where each shows in the
                                         view (NULL entry or "" = the same path) */
    const char *inside_path;     /* NULL, or a file created in the view's private /run or /tmp (0400, the
                                    process's own): a key readable inside only */
    const void *inside_data;
    size_t inside_len;
    unsigned tmp_mb;             /* size of the private /tmp */
    unsigned layers;             /* JG_TOOL_* wanted */
    unsigned required;           /* JG_TOOL_* whose failure fails the start (the rest are skipped) */
} jg_tool_spec;

typedef struct {
    unsigned achieved;           /* JG_TOOL_* in place when the program was executed */
    int failed_layer;            /* the JG_TOOL_* bit that failed the start, or 0 */
    int failed_step;             /* the JG_TOOL_STEP_* that failed the start, or 0 */
    int failed_errno;
    unsigned skipped;            /* JG_TOOL_* that failed and were skipped (not required) */
    int skipped_errno;           /* errno of the first skipped layer */
} jg_tool_outcome;

/// Starts the program confined. Returns the pid of the run's outer process (it exits with the program's
/// status), or -1 with *outcome saying which layer or step failed and why.
int jg_tool_spawn(const jg_tool_spec *spec, jg_tool_outcome *outcome);
/// The Landlock ABI version the kernel offers (0 = none).
int jg_tool_landlock_abi(void);
