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
