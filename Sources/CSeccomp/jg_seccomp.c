#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>
#include "jg_seccomp.h"
#include <errno.h>
#include <seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static int load(const char *const *names, int n, uint32_t deflt, uint32_t act) {
    scmp_filter_ctx ctx = seccomp_init(deflt);
    if (!ctx) { errno = ENOMEM; return -1; }
    for (int i = 0; i < n; i++) {
        int nr = seccomp_syscall_resolve_name(names[i]);
        if (nr == __NR_SCMP_ERROR) { seccomp_release(ctx); errno = EINVAL; return -1; }
        int r = seccomp_rule_add(ctx, act, nr, 0);
        if (r < 0) { seccomp_release(ctx); errno = -r; return -1; }
    }
    int r = seccomp_load(ctx);
    seccomp_release(ctx);
    if (r < 0) { errno = -r; return -1; }
    return 0;
}

int jg_seccomp_load_denylist(const char *const *names, int n, int err) {
    return load(names, n, SCMP_ACT_ALLOW, SCMP_ACT_ERRNO(err));
}
int jg_seccomp_load_allowlist(const char *const *names, int n, int err) {
    return load(names, n, SCMP_ACT_ERRNO(err), SCMP_ACT_ALLOW);
}

/* Writes the filter as classic BPF into out (at most *len bytes; *len becomes its size) and releases ctx. */
static int export_and_release(scmp_filter_ctx ctx, void *out, unsigned long *len) {
    int fd = memfd_create("jg-seccomp", MFD_CLOEXEC);
    if (fd < 0) { seccomp_release(ctx); return -1; }
    int r = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (r < 0) { close(fd); errno = -r; return -1; }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0 || (unsigned long)size > *len) { close(fd); errno = E2BIG; return -1; }
    ssize_t got = pread(fd, out, (size_t)size, 0);
    close(fd);
    if (got != size) { errno = EIO; return -1; }
    *len = (unsigned long)size;
    return 0;
}

int jg_seccomp_export_denylist(const char *const *names, int n, int err, void *out, unsigned long *len) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) { errno = ENOMEM; return -1; }
    for (int i = 0; i < n; i++) {
        int nr = seccomp_syscall_resolve_name(names[i]);
        if (nr == __NR_SCMP_ERROR) { seccomp_release(ctx); errno = EINVAL; return -1; }
        int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0);
        if (r < 0) { seccomp_release(ctx); errno = -r; return -1; }
    }
    return export_and_release(ctx, out, len);
}

/* The locked agent's filter (jinnguard agent run): the deny-list, plus argument checks a name list cannot
   say. Sockets of family AF_UNIX only; TIOCSTI refused on the low 32 bits of the request (the kernel reads
   it as an unsigned int, so a request with high bits set is the same ioctl); clone with CLONE_NEWUSER
   refused; clone3 (whose flags a filter cannot read) answers ENOSYS so that libc falls back to clone. Any
   architecture but the native one (the 32-bit int 0x80 entry: socketcall and all) kills the process. */
int jg_seccomp_export_locked(const char *const *names, int n, int err, void *out, unsigned long *len) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) { errno = ENOMEM; return -1; }
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    for (int i = 0; r == 0 && i < n; i++) {
        int nr = seccomp_syscall_resolve_name(names[i]);
        if (nr == __NR_SCMP_ERROR) { seccomp_release(ctx); errno = EINVAL; return -1; }
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0);
    }
    if (r == 0) r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0));
    if (r == 0) r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0));
    if (r == 0) r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, TIOCSTI));
    if (r == 0) r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
    if (r == 0) r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (r < 0) { seccomp_release(ctx); errno = -r; return -1; }
    return export_and_release(ctx, out, len);
}
