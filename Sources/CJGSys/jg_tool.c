#define _GNU_SOURCE
#include "jg_tool.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Landlock ABI (linux/landlock.h, up to ABI 6) — keep in sync with the kernel UAPI. */
struct jg_ll_ruleset_attr { uint64_t handled_access_fs, handled_access_net, scoped; };
struct jg_ll_path_beneath { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));
struct jg_ll_net_port { uint64_t allowed_access; uint64_t port; };
#define JG_LL_CREATE_RULESET_VERSION (1U << 0)
#define JG_LL_RULE_PATH_BENEATH 1
#define JG_LL_FS_EXECUTE (1ULL << 0)
#define JG_LL_FS_WRITE_FILE (1ULL << 1)
#define JG_LL_FS_READ_FILE (1ULL << 2)
#define JG_LL_FS_READ_DIR (1ULL << 3)
#define JG_LL_FS_ALL_V1 ((1ULL << 13) - 1)
#define JG_LL_FS_REFER (1ULL << 13)
#define JG_LL_FS_TRUNCATE (1ULL << 14)
#define JG_LL_FS_IOCTL_DEV (1ULL << 15)
#define JG_LL_NET_BIND_TCP (1ULL << 0)
#define JG_LL_NET_CONNECT_TCP (1ULL << 1)
#define JG_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define JG_LL_SCOPE_SIGNAL (1ULL << 1)
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

int jg_tool_landlock_abi(void) {
    long v = syscall(__NR_landlock_create_ruleset, NULL, 0, JG_LL_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

enum { STEP_CGROUP = 1, STEP_STDIO, STEP_RLIMIT, STEP_CHDIR, STEP_IDENTITY, STEP_USERNS, STEP_NAMESPACES,
       STEP_MOUNTS, STEP_FORK, STEP_NNP, STEP_LANDLOCK, STEP_SECCOMP, STEP_EXEC };

static void report(int fd, int step, int err) {
    int msg[2] = { step, err };
    (void)!write(fd, msg, sizeof msg);
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int add_path(int ruleset, const char *path, uint64_t access) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    struct jg_ll_path_beneath pb = { .allowed_access = access, .parent_fd = fd };
    long r = syscall(__NR_landlock_add_rule, ruleset, JG_LL_RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    errno = e;
    return r < 0 ? -1 : 0;
}

/* Read-only everywhere, read-write in the workspace and the private /tmp, no TCP. */
static int landlock(int workspace_fd, unsigned *achieved) {
    int abi = jg_tool_landlock_abi();
    if (abi < 1) { errno = EOPNOTSUPP; return -1; }
    uint64_t fs = JG_LL_FS_ALL_V1;
    if (abi >= 2) fs |= JG_LL_FS_REFER;
    if (abi >= 3) fs |= JG_LL_FS_TRUNCATE;
    if (abi >= 5) fs |= JG_LL_FS_IOCTL_DEV;
    struct jg_ll_ruleset_attr attr = { .handled_access_fs = fs };
    size_t size = sizeof(uint64_t);
    if (abi >= 4) { attr.handled_access_net = JG_LL_NET_BIND_TCP | JG_LL_NET_CONNECT_TCP; size = 2 * sizeof(uint64_t); }
    if (abi >= 6) { attr.scoped = JG_LL_SCOPE_ABSTRACT_UNIX | JG_LL_SCOPE_SIGNAL; size = sizeof attr; }
    int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0) return -1;
    uint64_t ro = JG_LL_FS_EXECUTE | JG_LL_FS_READ_FILE | JG_LL_FS_READ_DIR;
    uint64_t rw = fs;
    struct jg_ll_path_beneath ws = { .allowed_access = rw, .parent_fd = workspace_fd };
    if (syscall(__NR_landlock_add_rule, rs, JG_LL_RULE_PATH_BENEATH, &ws, 0) < 0) { int e = errno; close(rs); errno = e; return -1; }
    /* /tmp is writable only when it is the run's own tmpfs. */
    if (add_path(rs, "/", ro) || ((*achieved & JG_TOOL_PRIVATE_TMP) && add_path(rs, "/tmp", rw & ~JG_LL_FS_REFER)) ||
        add_path(rs, "/dev/null", JG_LL_FS_READ_FILE | JG_LL_FS_WRITE_FILE | (abi >= 3 ? JG_LL_FS_TRUNCATE : 0))) {
        int e = errno; close(rs); errno = e; return -1;
    }
    long r = syscall(__NR_landlock_restrict_self, rs, 0);
    int e = errno;
    close(rs);
    if (r < 0) { errno = e; return -1; }
    *achieved |= JG_TOOL_LANDLOCK_FS;
    if (abi >= 4) *achieved |= JG_TOOL_LANDLOCK_NET;
    return 0;
}

int jg_tool_spawn(const jg_tool_spec *s, unsigned *achieved, int *failed_step) {
    int errp[2], stp[2];
    if (pipe2(errp, O_CLOEXEC) != 0) return -1;
    if (pipe2(stp, O_CLOEXEC) != 0) { close(errp[0]); close(errp[1]); return -1; }
    *achieved = 0;
    *failed_step = 0;
    pid_t pid = fork();
    if (pid < 0) { int e = errno; close(errp[0]); close(errp[1]); close(stp[0]); close(stp[1]); errno = e; return -1; }
    if (pid == 0) {
        close(errp[0]); close(stp[0]);
        unsigned got = 0;
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < 32; sig++) signal(sig, SIG_DFL);
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (s->cgroup_procs_fd >= 0) {
            if (write(s->cgroup_procs_fd, "0", 1) != 1) { report(errp[1], STEP_CGROUP, errno); _exit(127); }
            got |= JG_TOOL_CGROUP;
        }
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(s->out_fd, 1) < 0 || dup2(s->err_fd, 2) < 0) {
            report(errp[1], STEP_STDIO, errno); _exit(127);
        }
        struct { int res; uint64_t v; } lim[] = {
            { RLIMIT_CPU, s->rlimit_cpu_seconds }, { RLIMIT_AS, s->rlimit_as_bytes }, { RLIMIT_FSIZE, s->rlimit_fsize_bytes },
            { RLIMIT_NPROC, s->rlimit_nproc }, { RLIMIT_NOFILE, s->rlimit_nofile }, { RLIMIT_CORE, 0 } };
        for (unsigned i = 0; i < sizeof lim / sizeof lim[0]; i++) {
            if (lim[i].v == 0 && lim[i].res != RLIMIT_CORE) continue;
            struct rlimit rl = { lim[i].v, lim[i].v };
            if (setrlimit(lim[i].res, &rl) != 0) { report(errp[1], STEP_RLIMIT, errno); _exit(127); }
        }
        /* Entered the way the caller reaches it: the directories above may be closed to the caller. */
        if (chdir(s->workspace_access ? s->workspace_access : s->workspace) != 0) { report(errp[1], STEP_CHDIR, errno); _exit(127); }
        /* Held open so the Landlock rule names this directory even after /tmp is covered by a tmpfs. */
        int wsfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (wsfd < 0) { report(errp[1], STEP_CHDIR, errno); _exit(127); }
        int ws_in_tmp = strncmp(s->workspace, "/tmp/", 5) == 0 || strcmp(s->workspace, "/tmp") == 0;
        if (setgroups(0, NULL) != 0 || setresgid(s->gid, s->gid, s->gid) != 0 || setresuid(s->uid, s->uid, s->uid) != 0) {
            report(errp[1], STEP_IDENTITY, errno); _exit(127);
        }
        /* Changing uid made the process non-dumpable, which makes /proc/self/uid_map root's: undo that. */
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        /* An unprivileged user namespace gives the capabilities to build the other namespaces without
           the broker holding CAP_SYS_ADMIN; the tool keeps its own uid inside. */
        if (unshare(CLONE_NEWUSER) == 0) {
            char map[64];
            snprintf(map, sizeof map, "%u %u 1\n", s->uid, s->uid);
            char gmap[64];
            snprintf(gmap, sizeof gmap, "%u %u 1\n", s->gid, s->gid);
            if (write_file("/proc/self/setgroups", "deny") != 0 || write_file("/proc/self/uid_map", map) != 0 ||
                write_file("/proc/self/gid_map", gmap) != 0) {
                report(errp[1], STEP_USERNS, errno); _exit(127);
            }
            got |= JG_TOOL_USERNS;
            if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) == 0) {
                got |= JG_TOOL_MOUNTNS | JG_TOOL_PIDNS | JG_TOOL_NETNS;
                if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) { report(errp[1], STEP_MOUNTS, errno); _exit(127); }
                /* A private /tmp, unless the workspace itself lives there (it would be hidden). */
                if (!ws_in_tmp && mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777") == 0)
                    got |= JG_TOOL_PRIVATE_TMP;
            } else if (s->require_all) { report(errp[1], STEP_NAMESPACES, errno); _exit(127); }
        } else if (s->require_all) { report(errp[1], STEP_USERNS, errno); _exit(127); }

        /* The tool runs as pid 1 of its own pid namespace; this process only waits for it. */
        pid_t tool = fork();
        if (tool < 0) { report(errp[1], STEP_FORK, errno); _exit(127); }
        if (tool > 0) {
            close(errp[1]);
            close(stp[1]);
            int st = 0;
            while (waitpid(tool, &st, 0) < 0 && errno == EINTR) {}
            if (WIFSIGNALED(st)) { signal(WTERMSIG(st), SIG_DFL); kill(getpid(), WTERMSIG(st)); _exit(128 + WTERMSIG(st)); }
            _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 127);
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (got & JG_TOOL_PIDNS) {
            if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) got |= JG_TOOL_PROC;
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { report(errp[1], STEP_NNP, errno); _exit(127); }
        if (landlock(wsfd, &got) != 0 && s->require_all) { report(errp[1], STEP_LANDLOCK, errno); _exit(127); }
        if (s->seccomp_filter && s->seccomp_len > 0) {
            struct sock_fprog prog = { .len = s->seccomp_len, .filter = (struct sock_filter *)s->seccomp_filter };
            if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) { report(errp[1], STEP_SECCOMP, errno); _exit(127); }
            got |= JG_TOOL_SECCOMP;
        }
        /* The layers in place, reported by the process that is about to become the tool. */
        (void)!write(stp[1], &got, sizeof got);
        close(stp[1]);
        execve(s->path, s->argv, s->envp);
        report(errp[1], STEP_EXEC, errno);
        _exit(127);
    }
    close(errp[1]);
    close(stp[1]);
    unsigned got = 0;
    ssize_t gn = read(stp[0], &got, sizeof got);
    close(stp[0]);
    int msg[2];
    ssize_t n = read(errp[0], msg, sizeof msg);
    close(errp[0]);
    if (n == (ssize_t)sizeof msg) {
        int st;
        waitpid(pid, &st, 0);
        *failed_step = msg[0];
        errno = msg[1];
        return -1;
    }
    if (gn == (ssize_t)sizeof got) *achieved = got;
    return pid;
}
