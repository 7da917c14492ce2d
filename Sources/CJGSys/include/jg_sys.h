// Why: Swift cannot reach the CMSG_* macros, struct ucred (GNU-only) or prctl's variadic form.
// Functions return the raw result; on failure -1 with errno set. No policy lives here.
#pragma once
#include <stddef.h>
#include <sys/types.h>

/// Sends `len` bytes with one descriptor attached (SCM_RIGHTS). fd < 0 sends no descriptor.
ssize_t jg_sys_send_with_fd(int sock, const void *buf, size_t len, int fd);
/// Receives up to `len` bytes and at most one descriptor (MSG_CMSG_CLOEXEC).
/// *fd_out is -1 when none came. Returns -1/EBADMSG when the control data was truncated.
ssize_t jg_sys_recv_with_fd(int sock, void *buf, size_t len, int *fd_out);
/// SO_PEERCRED of a connected AF_UNIX socket.
int jg_sys_peercred(int sock, int *pid, unsigned *uid, unsigned *gid);
/// Real, effective and saved ids (systemd-started components check all three).
int jg_sys_getresuid(unsigned *r, unsigned *e, unsigned *s);
int jg_sys_getresgid(unsigned *r, unsigned *e, unsigned *s);
int jg_sys_set_no_new_privs(void);
int jg_sys_get_no_new_privs(void);
int jg_sys_set_pdeathsig(int sig);
int jg_sys_set_dumpable(int on);

#include <signal.h>
/// signalfd(2) over the given signals (blocked first), non-blocking and close-on-exec.
int jg_sys_signalfd(const int *signals, int n);
/// Reads one pending signal number from a signalfd; 0 when none is pending.
int jg_sys_signalfd_read(int fd);
/// Unblocks every signal (children must not inherit the supervisor's mask).
int jg_sys_unblock_all_signals(void);
/// setresuid/setresgid are GNU extensions that Swift's Glibc module does not expose.
int jg_sys_setresuid(unsigned r, unsigned e, unsigned s);
int jg_sys_setresgid(unsigned r, unsigned e, unsigned s);
/// epoll for the event loop: struct epoll_event is packed on x86-64 and holds a union, so Swift gets
/// the mask and a 64-bit cookie as plain values instead. Close-on-exec instance.
int jg_sys_epoll_create(void);
int jg_sys_epoll_add(int epfd, int fd, unsigned events, unsigned long long cookie);
int jg_sys_epoll_mod(int epfd, int fd, unsigned events, unsigned long long cookie);
int jg_sys_epoll_del(int epfd, int fd);
/// Waits like epoll_wait(2) for at most `max` (clamped to 256) events, stored as parallel arrays.
int jg_sys_epoll_wait(int epfd, unsigned long long *cookies, unsigned *events, int max, int timeout_ms);
/// accept4 with SOCK_CLOEXEC | SOCK_NONBLOCK (GNU; not in Swift's Glibc module).
int jg_sys_accept_nonblocking(int listener);
/// posix_spawn of `path` with `argv` (NULL-terminated) and the current environment; `from[i]` is
/// duplicated onto `to[i]` in the child, the signal mask is cleared and signal dispositions reset.
/// Returns the pid, or -1 with errno.
int jg_sys_spawn(const char *path, char *const argv[], const int *from, const int *to, int n);
/// fork + exec of `path` for a tool run: in the child, stdout/stderr go to out_fd/err_fd, stdin is
/// /dev/null, the working directory is `cwd`, groups/gid/uid are set, no_new_privs is on, and it leads
/// its own process group (so a timeout can kill the whole group). Returns the pid, or -1 with errno.
int jg_sys_spawn_tool(const char *path, char *const argv[], char *const envp[], const char *cwd,
                      unsigned uid, unsigned gid, int out_fd, int err_fd);
/// openat2(dirfd, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS): no `..`,
/// absolute path or symlink can leave `dirfd`. Returns the fd, or -1 with errno.
int jg_sys_openat2_beneath(int dirfd, const char *path, int flags, unsigned mode);
/// setfsuid/setfsgid: file-system identity only, so the broker creates files as the tool user.
/// Return the previous value (the kernel's API).
int jg_sys_setfsuid(unsigned uid);
int jg_sys_setfsgid(unsigned gid);

/// Returns freed heap pages to the kernel (glibc malloc_trim(0)); 1 if memory was released.
int jg_sys_release_free_memory(void);

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits, so a child is watched from the
/// event loop instead of a blocking waitpid. Returns the fd (close-on-exec), or -1 with errno.
int jg_sys_pidfd_open(int pid);
/// waitpid(pid, WNOHANG): 1 and *status when the child was reaped, 0 while it runs, -1 with errno.
int jg_sys_reap(int pid, int *status);
/// fork for a short-lived worker (a network fetch): in the child `keep_fd` becomes fd 3, every other
/// descriptor above 2 is closed (the audit log's lock stays the broker's), signals are reset and the
/// worker dies with the broker. Returns 0 in the child, the pid in the parent, -1 with errno.
int jg_sys_fork_worker(int keep_fd);
/// _exit(2), for the worker: no atexit handlers or buffered output of the broker run twice.
void jg_sys_exit_now(int code) __attribute__((noreturn));
/// pipe2(fds, O_CLOEXEC) (Glibc's Swift overlay lacks pipe2).
int jg_sys_pipe_cloexec(int fds[2]);
/// access(path, mode) as another user: a forked child drops to uid/gid/groups and asks. Returns 0 when
/// allowed, else the errno the child saw (or of the fork). For start-up checks only.
/// A directory opened O_PATH|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC (a handle to reach it by, not to read it):
/// -1 with errno set. O_PATH is a GNU extension the Swift Glibc module does not export.
int jg_sys_open_directory_path(const char *path);
int jg_sys_access_as(const char *path, int mode, unsigned uid, unsigned gid, const unsigned *groups, int ngroups);
/// Writes the decimal `pid` to the open cgroup.procs `fd` (one write, as the kernel wants it).
int jg_sys_write_pid(int fd, int pid);
/// stdio's stdout is a C global Swift 6 cannot reference safely: line-buffer it and flush it here.
void jg_sys_stdout_line_buffered(void);
int jg_sys_stdout_flush(void);
