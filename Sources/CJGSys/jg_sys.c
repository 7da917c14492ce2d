#define _GNU_SOURCE
#include "jg_sys.h"
#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/wait.h>

ssize_t jg_sys_send_with_fd(int sock, const void *buf, size_t len, int fd) {
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    if (fd >= 0) {
        memset(&u, 0, sizeof(u));
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t jg_sys_recv_with_fd(int sock, void *buf, size_t len, int *fd_out) {
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    *fd_out = -1;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
            memcpy(fd_out, CMSG_DATA(c), sizeof(int));
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        if (*fd_out >= 0) { close(*fd_out); *fd_out = -1; }
        errno = EBADMSG;
        return -1;
    }
    return n;
}

int jg_sys_peercred(int sock, int *pid, unsigned *uid, unsigned *gid) {
    struct ucred cr;
    socklen_t l = sizeof(cr);
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &l) != 0) return -1;
    *pid = cr.pid; *uid = cr.uid; *gid = cr.gid;
    return 0;
}

int jg_sys_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int jg_sys_get_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); }
int jg_sys_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }
int jg_sys_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, on, 0, 0, 0); }

#include <sys/signalfd.h>
int jg_sys_signalfd(const int *signals, int n) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < n; i++) sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}
int jg_sys_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}
int jg_sys_unblock_all_signals(void) {
    sigset_t set;
    sigfillset(&set);
    return sigprocmask(SIG_UNBLOCK, &set, NULL);
}
int jg_sys_setresuid(unsigned r, unsigned e, unsigned s) { return setresuid(r, e, s); }
int jg_sys_setresgid(unsigned r, unsigned e, unsigned s) { return setresgid(r, e, s); }
#include <sys/epoll.h>
int jg_sys_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static int jg_epoll_ctl(int epfd, int op, int fd, unsigned events, unsigned long long cookie) {
    struct epoll_event ev = { .events = events, .data = { .u64 = cookie } };
    return epoll_ctl(epfd, op, fd, &ev);
}
int jg_sys_epoll_add(int epfd, int fd, unsigned events, unsigned long long cookie) {
    return jg_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, events, cookie);
}
int jg_sys_epoll_mod(int epfd, int fd, unsigned events, unsigned long long cookie) {
    return jg_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, events, cookie);
}
int jg_sys_epoll_del(int epfd, int fd) {
    struct epoll_event ev = { 0 };
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev);
}
int jg_sys_epoll_wait(int epfd, unsigned long long *cookies, unsigned *events, int max, int timeout_ms) {
    struct epoll_event buf[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, buf, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        cookies[i] = buf[i].data.u64;
        events[i] = buf[i].events;
    }
    return n;
}
int jg_sys_accept_nonblocking(int listener) { return accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }
#include <spawn.h>
extern char **environ;
int jg_sys_spawn(const char *path, char *const argv[], const int *from, const int *to, int n) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    if (posix_spawn_file_actions_init(&fa) != 0) return -1;
    if (posix_spawnattr_init(&at) != 0) { posix_spawn_file_actions_destroy(&fa); return -1; }
    int top = 2;
    for (int i = 0; i < n; i++) {
        posix_spawn_file_actions_adddup2(&fa, from[i], to[i]);
        if (to[i] > top) top = to[i];
    }
    /* Nothing else leaks into a component, whatever the launcher left open. */
    posix_spawn_file_actions_addclosefrom_np(&fa, top + 1);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int r = posix_spawn(&pid, path, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (r != 0) { errno = r; return -1; }
    return pid;
}
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

int jg_sys_spawn_tool(const char *path, char *const argv[], char *const envp[], const char *cwd,
                      unsigned uid, unsigned gid, int out_fd, int err_fd) {
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) { close(errpipe[0]); close(errpipe[1]); return -1; }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < 32; s++) signal(s, SIG_DFL);
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) goto fail;
        if (chdir(cwd) != 0) goto fail;
        if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) goto fail;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) goto fail;
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        execve(path, argv, envp);
    fail:;
        int e = errno;
        (void)!write(errpipe[1], &e, sizeof e);
        _exit(127);
    }
    close(errpipe[1]);
    int e = 0;
    ssize_t n = read(errpipe[0], &e, sizeof e);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof e) {
        int st;
        waitpid(pid, &st, 0);
        errno = e;
        return -1;
    }
    return pid;
}

int jg_sys_openat2_beneath(int dirfd, const char *path, int flags, unsigned mode) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}
#include <sys/fsuid.h>
int jg_sys_setfsuid(unsigned uid) { return setfsuid(uid); }
int jg_sys_setfsgid(unsigned gid) { return setfsgid(gid); }

#include <malloc.h>

int jg_sys_release_free_memory(void) { return malloc_trim(0); }

#include <signal.h>
#include <sys/syscall.h>
#include <fcntl.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* keep in sync: Debian 12's headers may lack it */
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

int jg_sys_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int jg_sys_reap(int pid, int *status) {
    int st = 0;
    pid_t r;
    do { r = waitpid(pid, &st, WNOHANG); } while (r < 0 && errno == EINTR);
    if (r < 0) return -1;
    if (r == 0) return 0;
    *status = st;
    return 1;
}

int jg_sys_fork_worker(int keep_fd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < 32; sig++) if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent) _exit(127);
    if (keep_fd != 3) {
        if (dup2(keep_fd, 3) < 0) _exit(127);
    } else {
        int fl = fcntl(3, F_GETFD);
        if (fl >= 0) fcntl(3, F_SETFD, fl & ~FD_CLOEXEC);
    }
    if (syscall(SYS_close_range, 4, ~0U, 0) != 0) {
        for (int fd = 4; fd < 65536; fd++) close(fd);
    }
    return 0;
}

void jg_sys_exit_now(int code) { _exit(code); }

int jg_sys_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
#include <stdio.h>

int jg_sys_open_directory_path(const char *path) {
    return open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int jg_sys_access_as(const char *path, int mode, unsigned uid, unsigned gid, const unsigned *groups, int ngroups) {
    gid_t g[64];
    int m = ngroups > 64 ? 64 : (ngroups < 0 ? 0 : ngroups);
    for (int i = 0; i < m; i++) g[i] = groups[i];
    pid_t pid = fork();
    if (pid < 0) return errno;
    if (pid == 0) {
        if (setgroups((size_t)m, m ? g : NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) _exit(EPERM);
        _exit(access(path, mode) == 0 ? 0 : (errno & 0xff));
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) return errno;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
}

int jg_sys_write_pid(int fd, int pid) {
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%d", pid);
    return write(fd, buf, (size_t)n) == n ? 0 : -1;
}

/* getresuid/getresgid are _GNU_SOURCE only: Swift's Glibc does not see them. */
int jg_sys_getresuid(unsigned *r, unsigned *e, unsigned *s) { return getresuid(r, e, s); }
int jg_sys_getresgid(unsigned *r, unsigned *e, unsigned *s) { return getresgid(r, e, s); }

#include <stdio.h>
void jg_sys_stdout_line_buffered(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
int jg_sys_stdout_flush(void) { return fflush(stdout); }
