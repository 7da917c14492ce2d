#define _GNU_SOURCE
#include "jg_tool.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Landlock ABI (linux/landlock.h, up to ABI 6) — keep in sync with the kernel UAPI. */
struct jg_ll_ruleset_attr { uint64_t handled_access_fs, handled_access_net, scoped; };
struct jg_ll_path_beneath { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));
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
/* mount_setattr (Linux 5.12) — keep in sync with linux/mount.h. */
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
struct jg_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };
#define JG_MOUNT_ATTR_RDONLY 0x1
#define JG_MOUNT_ATTR_NOSUID 0x2
#define JG_MOUNT_ATTR_NODEV 0x4
#define JG_MOUNT_ATTR_NOEXEC 0x8
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* clone3 (Linux 5.3) with CLONE_INTO_CGROUP (5.7) — keep in sync with linux/sched.h. */
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define JG_CLONE_INTO_CGROUP 0x200000000ULL
struct jg_clone_args { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup; };

int jg_tool_landlock_abi(void) {
    long v = syscall(__NR_landlock_create_ruleset, NULL, 0, JG_LL_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

/* The child's report: kind 1 = step, 2 = layer; code = step number or layer bit. */
static void report(int fd, int kind, int code, int err) {
    int msg[3] = { kind, code, err };
    (void)!write(fd, msg, sizeof msg);
}

struct child {
    const jg_tool_spec *s;
    int errfd;
    unsigned got, skipped;
    int skipped_errno;
};

static void fail_step(struct child *c, int step) { report(c->errfd, 1, step, errno); _exit(127); }

/* A layer that failed: fatal when required, else noted and skipped. */
static void fail_layer(struct child *c, unsigned bit) {
    if (c->s->required & bit) { report(c->errfd, 2, (int)bit, errno); _exit(127); }
    if (!c->skipped) c->skipped_errno = errno;
    c->skipped |= bit;
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

/* ---- the view ------------------------------------------------------------------------------------ */

/* The new root is built on a tmpfs mounted over /tmp of the (private) old tree: a directory that exists
   everywhere and that the tool, not yet pivoted, may look up. */
#define ROOT "/tmp"

static int rooted(char *buf, size_t n, const char *path) {
    int k = snprintf(buf, n, "%s%s", ROOT, path);
    if (k < 0 || (size_t)k >= n) { errno = ENAMETOOLONG; return -1; }
    return 0;
}

static int mkdir_p(const char *path, mode_t mode) {
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
    return 0;
}

static int set_attr(const char *path, uint64_t attr, unsigned flags) {
    struct jg_mount_attr a = { .attr_set = attr };
    return (int)syscall(__NR_mount_setattr, AT_FDCWD, path, flags, &a, sizeof a);
}

static int touch(const char *path, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return errno == EEXIST ? 0 : -1;
    close(fd);
    return 0;
}

/* A host path bound read-only (no suid, no devices); a symlink is recreated, a missing path skipped. */
static int bind_system(const char *path) {
    char dst[PATH_MAX];
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (rooted(dst, sizeof dst, path) != 0) return -1;
    char *slash = strrchr(dst, '/');
    if (slash && slash != dst) { *slash = 0; if (mkdir_p(dst, 0755) != 0) return -1; *slash = '/'; }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0) return -1;
        target[n] = 0;
        return symlink(target, dst) == 0 || errno == EEXIST ? 0 : -1;
    }
    if (S_ISDIR(st.st_mode)) { if (mkdir(dst, 0755) != 0 && errno != EEXIST) return -1; }
    else if (touch(dst, 0644) != 0) return -1;
    if (mount(path, dst, NULL, MS_BIND | MS_REC, NULL) != 0) return -1;
    return set_attr(dst, JG_MOUNT_ATTR_RDONLY | JG_MOUNT_ATTR_NOSUID | JG_MOUNT_ATTR_NODEV, AT_RECURSIVE);
}

/* What must not show even inside a bound directory: an empty read-only directory or file on top. */
static int hide(const char *path) {
    char dst[PATH_MAX];
    struct stat st;
    if (rooted(dst, sizeof dst, path) != 0) return -1;
    if (lstat(dst, &st) != 0) return errno == ENOENT || errno == ENOTDIR || errno == EACCES ? 0 : -1;
    if (S_ISLNK(st.st_mode)) return 0; /* a link inside a read-only bind names something else, hidden by its own entry */
    if (S_ISDIR(st.st_mode)) {
        if (mount("jg-hidden", dst, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=1,mode=000") != 0) return -1;
        return set_attr(dst, JG_MOUNT_ATTR_RDONLY, 0);
    }
    return mount(ROOT "/.jg-empty", dst, NULL, MS_BIND, NULL);
}

static const char *const secret_paths[] = {
    "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d",
    "/etc/security/opasswd", "/etc/ssh", "/etc/ssl/private", "/etc/jinnguard", "/etc/credstore",
    "/etc/credstore.encrypted", "/etc/krb5.keytab", "/etc/libvirt", "/etc/docker", NULL,
};

static int build_view(struct child *c) {
    const jg_tool_spec *s = c->s;
    char dst[PATH_MAX];
    /* Exposed paths are opened before the new root covers /tmp (they may live there), bound through the
       descriptor later; one that does not exist fails the view. */
    int exposed[16], nexposed = 0;
    for (const char *const *p = s->exposed_paths; p && *p; p++) {
        if (nexposed == 16) { errno = E2BIG; return -1; }
        if ((exposed[nexposed] = open(*p, O_PATH | O_CLOEXEC)) < 0) return -1;
        nexposed++;
    }
    if (mount("jg-root", ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755") != 0) return -1;
    if (touch(ROOT "/.jg-empty", 0) != 0) return -1;
    for (const char *const *p = s->system_paths; p && *p; p++) if (bind_system(*p) != 0) return -1;
    for (const char *const *p = secret_paths; *p; p++) if (hide(*p) != 0) return -1;
    for (const char *const *p = s->hidden_paths; p && *p; p++) if (hide(*p) != 0) return -1;

    /* /dev: the listed devices, bound from the host (no mknod in a user namespace), on a read-only tmpfs. */
    if (mkdir(ROOT "/dev", 0755) != 0) return -1;
    if (mount("jg-dev", ROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755") != 0) return -1;
    for (const char *const *p = s->devices; p && *p; p++) {
        char src[PATH_MAX];
        if (strchr(*p, '/') || snprintf(src, sizeof src, "/dev/%s", *p) >= (int)sizeof src) { errno = EINVAL; return -1; }
        if (rooted(dst, sizeof dst, src) != 0 || touch(dst, 0666) != 0) return -1;
        if (mount(src, dst, NULL, MS_BIND, NULL) != 0) return -1;
        if (set_attr(dst, JG_MOUNT_ATTR_NOSUID | JG_MOUNT_ATTR_NOEXEC, 0) != 0) return -1;
    }
    const char *links[][2] = { { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
                               { "/proc/self/fd/2", "stderr" }, { "/tmp", "shm" } };
    for (unsigned i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(dst, sizeof dst, ROOT "/dev/%s", links[i][1]);
        if (symlink(links[i][0], dst) != 0) return -1;
    }
    if (set_attr(ROOT "/dev", JG_MOUNT_ATTR_RDONLY, 0) != 0) return -1;

    /* Its own /proc, mounted while the host's is still visible (the kernel requires one in the namespace). */
    if ((s->layers & JG_TOOL_PROC) && (c->got & JG_TOOL_PIDNS)) {
        if (mkdir(ROOT "/proc", 0555) != 0) return -1;
        if (mount("proc", ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) c->got |= JG_TOOL_PROC;
        else fail_layer(c, JG_TOOL_PROC);
    }
    if (s->layers & JG_TOOL_PRIVATE_TMP) {
        char opts[96];
        snprintf(opts, sizeof opts, "size=%um,nr_inodes=16384,mode=1777", s->tmp_mb ? s->tmp_mb : 64);
        if (mkdir(ROOT "/tmp", 01777) != 0) return -1;
        if (mount("jg-tmp", ROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) == 0) c->got |= JG_TOOL_PRIVATE_TMP;
        else fail_layer(c, JG_TOOL_PRIVATE_TMP);
    }
    if (s->layers & JG_TOOL_PRIVATE_RUN) {
        if (mkdir(ROOT "/run", 0755) != 0) return -1;
        if (mount("jg-run", ROOT "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,nr_inodes=1024,mode=0755") == 0)
            c->got |= JG_TOOL_PRIVATE_RUN;
        else fail_layer(c, JG_TOOL_PRIVATE_RUN);
    }
    /* Only on the process's own tmpfs, so that nothing outside ever holds a copy. */
    if (s->inside_path) {
        int ok_run = (c->got & JG_TOOL_PRIVATE_RUN) && strncmp(s->inside_path, "/run/", 5) == 0;
        int ok_tmp = (c->got & JG_TOOL_PRIVATE_TMP) && strncmp(s->inside_path, "/tmp/", 5) == 0;
        if ((!ok_run && !ok_tmp) || strstr(s->inside_path, "/..")) { errno = EINVAL; return -1; }
        if (rooted(dst, sizeof dst, s->inside_path) != 0) return -1;
        char *slash = strrchr(dst, '/');
        *slash = 0;
        if (mkdir_p(dst, 0755) != 0) return -1;
        *slash = '/';
        int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
        if (fd < 0) return -1;
        const char *p = s->inside_data;
        size_t left = s->inside_len;
        while (left) {
            ssize_t n = write(fd, p, left);
            if (n <= 0) { int e = errno; close(fd); errno = n < 0 ? e : EIO; return -1; }
            p += n; left -= (size_t)n;
        }
        close(fd);
    }
    /* The workspace at the path it has on the host, bound from the start directory ("." needs no search
       permission on the directories above it, which belong to the daemon). */
    if (rooted(dst, sizeof dst, s->workspace) != 0 || mkdir_p(dst, 0755) != 0) return -1;
    if (mount(".", dst, NULL, MS_BIND | MS_REC, NULL) != 0) return -1;
    if (set_attr(dst, JG_MOUNT_ATTR_NOSUID | JG_MOUNT_ATTR_NODEV, AT_RECURSIVE) != 0) return -1;
    /* Last, so that neither the private /tmp nor a hidden path covers them. */
    for (int i = 0; i < nexposed; i++) {
        struct stat st;
        char src[64];
        const char *view = s->exposed_views && s->exposed_views[i] && *s->exposed_views[i] ? s->exposed_views[i] : s->exposed_paths[i];
        if (fstat(exposed[i], &st) != 0 || rooted(dst, sizeof dst, view) != 0) return -1;
        char *slash = strrchr(dst, '/');
        if (slash && slash != dst) { *slash = 0; if (mkdir_p(dst, 0755) != 0) return -1; *slash = '/'; }
        /* A socket's mount point is a socket too: directory listings (d_type, find -type s) name it as one. */
        if (S_ISDIR(st.st_mode) ? (mkdir(dst, 0755) != 0 && errno != EEXIST)
            : S_ISSOCK(st.st_mode) ? (mknod(dst, S_IFSOCK | 0644, 0) != 0 && errno != EEXIST) : touch(dst, 0644) != 0) return -1;
        snprintf(src, sizeof src, "/proc/self/fd/%d", exposed[i]);
        if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0) return -1;
        if (set_attr(dst, JG_MOUNT_ATTR_RDONLY | JG_MOUNT_ATTR_NOSUID | JG_MOUNT_ATTR_NODEV, AT_RECURSIVE) != 0) return -1;
        close(exposed[i]);
    }
    if (set_attr(ROOT, JG_MOUNT_ATTR_RDONLY, 0) != 0) return -1;

    /* pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only the view. */
    if (chdir(ROOT) != 0) return -1;
    if (syscall(SYS_pivot_root, ".", ".") != 0) return -1;
    if (umount2(".", MNT_DETACH) != 0) return -1;
    if (chdir(s->workspace) != 0) return -1;
    return 0;
}

/* ---- Landlock -------------------------------------------------------------------------------------- */

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

/* Read-only everywhere, read-write in the workspace and the private /tmp, no TCP, abstract sockets and
   signals scoped to the run. */
static void landlock(struct child *c, int workspace_fd) {
    const jg_tool_spec *s = c->s;
    unsigned want = s->layers & (JG_TOOL_LANDLOCK_FS | JG_TOOL_LANDLOCK_NET | JG_TOOL_LANDLOCK_SCOPE);
    if (!want) return;
    int abi = jg_tool_landlock_abi();
    if (abi < 1) {
        for (unsigned bit = 1; bit; bit <<= 1) if (want & bit) { errno = EOPNOTSUPP; fail_layer(c, bit); }
        return;
    }
    if (abi < 4 && (want & JG_TOOL_LANDLOCK_NET)) { errno = EOPNOTSUPP; fail_layer(c, JG_TOOL_LANDLOCK_NET); want &= ~JG_TOOL_LANDLOCK_NET; }
    if (abi < 6 && (want & JG_TOOL_LANDLOCK_SCOPE)) { errno = EOPNOTSUPP; fail_layer(c, JG_TOOL_LANDLOCK_SCOPE); want &= ~JG_TOOL_LANDLOCK_SCOPE; }
    uint64_t fs = JG_LL_FS_ALL_V1;
    if (abi >= 2) fs |= JG_LL_FS_REFER;
    if (abi >= 3) fs |= JG_LL_FS_TRUNCATE;
    if (abi >= 5) fs |= JG_LL_FS_IOCTL_DEV;
    struct jg_ll_ruleset_attr attr = { .handled_access_fs = fs };
    size_t size = sizeof(uint64_t);
    if (want & JG_TOOL_LANDLOCK_NET) { attr.handled_access_net = JG_LL_NET_BIND_TCP | JG_LL_NET_CONNECT_TCP; size = 2 * sizeof(uint64_t); }
    if (want & JG_TOOL_LANDLOCK_SCOPE) { attr.scoped = JG_LL_SCOPE_ABSTRACT_UNIX | JG_LL_SCOPE_SIGNAL; size = sizeof attr; }
    int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0) { for (unsigned bit = 1; bit; bit <<= 1) if (want & bit) fail_layer(c, bit); return; }
    uint64_t ro = JG_LL_FS_EXECUTE | JG_LL_FS_READ_FILE | JG_LL_FS_READ_DIR;
    uint64_t dev_rw = JG_LL_FS_READ_FILE | JG_LL_FS_WRITE_FILE | (abi >= 3 ? JG_LL_FS_TRUNCATE : 0);
    struct jg_ll_path_beneath ws = { .allowed_access = fs, .parent_fd = workspace_fd };
    int bad = syscall(__NR_landlock_add_rule, rs, JG_LL_RULE_PATH_BENEATH, &ws, 0) < 0;
    /* /tmp is writable only when it is the run's own tmpfs. */
    bad = bad || add_path(rs, "/", ro) || ((c->got & JG_TOOL_PRIVATE_TMP) && add_path(rs, "/tmp", fs & ~JG_LL_FS_REFER)) ||
          ((c->got & JG_TOOL_PRIVATE_RUN) && add_path(rs, "/run", fs & ~JG_LL_FS_REFER)) ||
          add_path(rs, "/dev/null", dev_rw) || add_path(rs, "/dev/full", dev_rw);
    if (bad || syscall(__NR_landlock_restrict_self, rs, 0) < 0) {
        int e = errno; close(rs);
        for (unsigned bit = 1; bit; bit <<= 1) if (want & bit) { errno = e; fail_layer(c, bit); }
        return;
    }
    close(rs);
    c->got |= want;
}

/* Nothing left in any capability set (in the tool's user namespace the creator had them all). */
static int drop_caps(int in_userns) {
    if (in_userns) {
        /* Capabilities are numbered without gaps: the first EINVAL is past the kernel's last one. */
        for (int cap = 0; cap < 64; cap++) {
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
            if (errno == EINVAL) break;
            return -1;
        }
    }
    (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capset, &h, d) != 0) return -1;
    if (syscall(SYS_capget, &h, d) != 0) return -1;
    if (d[0].effective | d[0].permitted | d[1].effective | d[1].permitted) { errno = EPERM; return -1; }
    return 0;
}

/* Every descriptor above stdio closes at exec, whatever the broker left open without O_CLOEXEC. */
static int close_descriptors(void) {
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    for (int fd = 3; fd < max; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) != 0) return -1;
    }
    return 0;
}

struct layers_report { unsigned got, skipped; int skipped_errno; };

static void child_main(const jg_tool_spec *s, int errfd, int stfd, int in_cgroup) {
    struct child c = { .s = s, .errfd = errfd };
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < 32; sig++) signal(sig, SIG_DFL);
    if (s->new_session) { if (setsid() < 0) fail_step(&c, JG_TOOL_STEP_STDIO); }
    else setpgid(0, 0);
    pid_t spawner = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if ((s->layers & JG_TOOL_CGROUP) && in_cgroup) c.got |= JG_TOOL_CGROUP;
    else if (s->layers & JG_TOOL_CGROUP) {
        if (s->cgroup_procs_fd >= 0 && write(s->cgroup_procs_fd, "0", 1) == 1) c.got |= JG_TOOL_CGROUP;
        else { if (s->cgroup_procs_fd < 0) errno = ENOENT; fail_layer(&c, JG_TOOL_CGROUP); }
    }
    int devnull = s->in_fd >= 0 ? s->in_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || (devnull != 0 && dup2(devnull, 0) < 0) || dup2(s->out_fd, 1) < 0 || dup2(s->err_fd, 2) < 0) fail_step(&c, JG_TOOL_STEP_STDIO);
    if (close_descriptors() != 0) fail_step(&c, JG_TOOL_STEP_FDS);
    struct { int res; uint64_t v; } lim[] = {
        { RLIMIT_CPU, s->rlimit_cpu_seconds }, { RLIMIT_AS, s->rlimit_as_bytes }, { RLIMIT_FSIZE, s->rlimit_fsize_bytes },
        { RLIMIT_NPROC, s->rlimit_nproc }, { RLIMIT_NOFILE, s->rlimit_nofile }, { RLIMIT_CORE, 0 } };
    for (unsigned i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        if (lim[i].v == 0 && lim[i].res != RLIMIT_CORE) continue;
        struct rlimit rl = { lim[i].v, lim[i].v };
        if (setrlimit(lim[i].res, &rl) != 0) fail_step(&c, JG_TOOL_STEP_RLIMIT);
    }
    /* The directories above the workspace are the daemon's (the tool may not search them) and the workspace
       is the tool's (the broker, without CAP_DAC_OVERRIDE, may not): its parent is entered with the broker's
       identity, the workspace itself with the tool's. */
    /* Reached the way the caller reaches it: the directories above the state directory may be closed to
       the broker too (a state directory below a private one, handed over as a descriptor). */
    const char *host = s->workspace_access ? s->workspace_access : s->workspace;
    char parent[PATH_MAX];
    const char *slash = strrchr(host, '/');
    size_t plen = slash ? (size_t)(slash - host) : 0;
    if (!slash || slash[1] == 0 || plen >= sizeof parent) { errno = EINVAL; fail_step(&c, JG_TOOL_STEP_CHDIR); }
    memcpy(parent, host, plen);
    parent[plen] = 0;
    if (chdir(plen ? parent : "/") != 0) fail_step(&c, JG_TOOL_STEP_CHDIR);
    if (s->uid == 0 || s->gid == 0) { errno = EPERM; fail_step(&c, JG_TOOL_STEP_IDENTITY); }
    /* A caller that already is the identity (an unprivileged `jinnguard agent run`) keeps it: it may not
       setgroups, and its supplementary groups show as nobody's in the user namespace. */
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    int already = getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0 && ru == s->uid && eu == s->uid &&
                  su == s->uid && rg == s->gid && eg == s->gid && sg == s->gid;
    if (!already && (setgroups(0, NULL) != 0 || setresgid(s->gid, s->gid, s->gid) != 0 || setresuid(s->uid, s->uid, s->uid) != 0))
        fail_step(&c, JG_TOOL_STEP_IDENTITY);
    if (chdir(slash + 1) != 0) fail_step(&c, JG_TOOL_STEP_CHDIR);
    /* Changing uid made the process non-dumpable, which makes /proc/self/uid_map root's: undo that. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);

    /* An unprivileged user namespace gives the capabilities to build the other namespaces and the view
       without the broker holding CAP_SYS_ADMIN; the tool keeps its own uid inside. */
    if (s->layers & JG_TOOL_USERNS) {
        if (unshare(CLONE_NEWUSER) == 0) {
            char map[64], gmap[64];
            snprintf(map, sizeof map, "%u %u 1\n", s->uid, s->uid);
            snprintf(gmap, sizeof gmap, "%u %u 1\n", s->gid, s->gid);
            if (write_file("/proc/self/setgroups", "deny") != 0 || write_file("/proc/self/uid_map", map) != 0 ||
                write_file("/proc/self/gid_map", gmap) != 0) fail_layer(&c, JG_TOOL_USERNS);
            else c.got |= JG_TOOL_USERNS;
        } else fail_layer(&c, JG_TOOL_USERNS);
    }
    if (c.got & JG_TOOL_USERNS) {
        const struct { unsigned bit; int flags; } ns[] = {
            { JG_TOOL_MOUNTNS, CLONE_NEWNS }, { JG_TOOL_PIDNS, CLONE_NEWPID }, { JG_TOOL_NETNS, CLONE_NEWNET },
            { JG_TOOL_IPCNS, CLONE_NEWIPC | CLONE_NEWUTS }, { JG_TOOL_CGROUPNS, CLONE_NEWCGROUP } };
        for (unsigned i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            if (!(s->layers & ns[i].bit)) continue;
            if (unshare(ns[i].flags) == 0) c.got |= ns[i].bit;
            else fail_layer(&c, ns[i].bit);
        }
    } else {
        /* Without a user namespace none of these can be made: each counts as failed. */
        unsigned rest = s->layers & (JG_TOOL_MOUNTNS | JG_TOOL_PIDNS | JG_TOOL_NETNS | JG_TOOL_IPCNS | JG_TOOL_VIEW |
                                     JG_TOOL_PROC | JG_TOOL_PRIVATE_TMP | JG_TOOL_CGROUPNS | JG_TOOL_PRIVATE_RUN);
        for (unsigned bit = 1; bit; bit <<= 1) if (rest & bit) { errno = EPERM; fail_layer(&c, bit); }
    }

    /* Changing credentials (the identity, the user namespace) cleared the parent-death signal: set it again,
       so that the spawner's death (even by SIGKILL) still ends the run; a spawner already gone ends it now. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != spawner) _exit(127);
    /* The program runs as pid 1 of its own pid namespace; this process only waits for it. */
    pid_t waiter = getpid();
    pid_t tool = fork();
    if (tool < 0) fail_step(&c, JG_TOOL_STEP_FORK);
    if (tool > 0) {
        close(errfd);
        close(stfd);
        int st = 0;
        while (waitpid(tool, &st, 0) < 0 && errno == EINTR) {}
        if (WIFSIGNALED(st)) { signal(WTERMSIG(st), SIG_DFL); kill(getpid(), WTERMSIG(st)); _exit(128 + WTERMSIG(st)); }
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 127);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* (in its own pid namespace its parent shows as 0: nothing to compare there) */
    pid_t up = getppid();
    if (up != 0 && up != waiter) _exit(127);
    if (c.got & JG_TOOL_MOUNTNS) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail_layer(&c, JG_TOOL_MOUNTNS);
        else if (s->layers & JG_TOOL_VIEW) {
            /* Back to the workspace if the view fails: by descriptor, since its name may not be reachable. */
            int start = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (start < 0) fail_step(&c, JG_TOOL_STEP_CHDIR);
            if (build_view(&c) == 0) c.got |= JG_TOOL_VIEW;
            else {
                fail_layer(&c, JG_TOOL_VIEW);
                c.got &= ~(JG_TOOL_PROC | JG_TOOL_PRIVATE_TMP | JG_TOOL_PRIVATE_RUN);
                c.skipped |= s->layers & (JG_TOOL_PROC | JG_TOOL_PRIVATE_TMP | JG_TOOL_PRIVATE_RUN);
                if (fchdir(start) != 0) fail_step(&c, JG_TOOL_STEP_CHDIR);
            }
            close(start);
        }
    }
    int wsfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (wsfd < 0) fail_step(&c, JG_TOOL_STEP_CHDIR);
    if (drop_caps((c.got & JG_TOOL_USERNS) != 0) != 0) fail_step(&c, JG_TOOL_STEP_CAPS);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail_step(&c, JG_TOOL_STEP_NNP);
    landlock(&c, wsfd);
    close(wsfd);
    if (s->layers & JG_TOOL_SECCOMP) {
        struct sock_fprog prog = { .len = s->seccomp_len, .filter = (struct sock_filter *)s->seccomp_filter };
        if (!s->seccomp_filter || !s->seccomp_len) { errno = EINVAL; fail_layer(&c, JG_TOOL_SECCOMP); }
        else if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) fail_layer(&c, JG_TOOL_SECCOMP);
        else c.got |= JG_TOOL_SECCOMP;
    }
    /* The layers in place, reported by the process that is about to become the program. */
    struct layers_report rep = { c.got, c.skipped & ~c.got, c.skipped_errno };
    (void)!write(stfd, &rep, sizeof rep);
    close(stfd);
    execve(s->path, s->argv, s->envp);
    fail_step(&c, JG_TOOL_STEP_EXEC);
}

int jg_tool_spawn(const jg_tool_spec *s, jg_tool_outcome *out) {
    memset(out, 0, sizeof *out);
    int errp[2], stp[2];
    if (pipe2(errp, O_CLOEXEC) != 0) return -1;
    if (pipe2(stp, O_CLOEXEC) != 0) { close(errp[0]); close(errp[1]); return -1; }
    /* Started in its cgroup when the caller gave the directory; a kernel without clone3 or
       CLONE_INTO_CGROUP falls back to fork and a write to cgroup.procs in the child. */
    int in_cgroup = 0;
    pid_t pid = -1;
    if (s->cgroup_dir_fd >= 0 && (s->layers & JG_TOOL_CGROUP)) {
        struct jg_clone_args a = { .flags = JG_CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)s->cgroup_dir_fd };
        long r = syscall(SYS_clone3, &a, sizeof a);
        if (r >= 0) { pid = (pid_t)r; in_cgroup = 1; }
    }
    if (!in_cgroup) pid = fork();
    if (pid < 0) { int e = errno; close(errp[0]); close(errp[1]); close(stp[0]); close(stp[1]); errno = e; return -1; }
    if (pid == 0) {
        close(errp[0]); close(stp[0]);
        child_main(s, errp[1], stp[1], in_cgroup);
        _exit(127);
    }
    close(errp[1]);
    close(stp[1]);
    struct layers_report rep;
    ssize_t gn = read(stp[0], &rep, sizeof rep);
    close(stp[0]);
    int msg[3];
    ssize_t n = read(errp[0], msg, sizeof msg);
    close(errp[0]);
    if (n == (ssize_t)sizeof msg) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        if (msg[0] == 1) out->failed_step = msg[1]; else out->failed_layer = msg[1];
        out->failed_errno = msg[2];
        if (gn == (ssize_t)sizeof rep) { out->achieved = rep.got; out->skipped = rep.skipped; }
        errno = msg[2];
        return -1;
    }
    if (gn == (ssize_t)sizeof rep) { out->achieved = rep.got; out->skipped = rep.skipped; out->skipped_errno = rep.skipped_errno; }
    return pid;
}
