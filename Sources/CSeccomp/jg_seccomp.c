#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>
#include "jg_seccomp.h"
#include <errno.h>
#include <seccomp.h>

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

int jg_seccomp_export_denylist(const char *const *names, int n, int err, void *out, unsigned long *len) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) { errno = ENOMEM; return -1; }
    for (int i = 0; i < n; i++) {
        int nr = seccomp_syscall_resolve_name(names[i]);
        if (nr == __NR_SCMP_ERROR) { seccomp_release(ctx); errno = EINVAL; return -1; }
        int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0);
        if (r < 0) { seccomp_release(ctx); errno = -r; return -1; }
    }
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
