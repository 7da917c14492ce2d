#define _GNU_SOURCE
#include "jg_cap.h"
#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>

int jg_cap_drop_bounding(const int *caps, int n) {
    for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
        int keep = 0;
        for (int i = 0; i < n; i++) if (caps[i] == c) keep = 1;
        if (!keep && cap_drop_bound(c) != 0 && errno != EINVAL) return -1;
    }
    return 0;
}

int jg_cap_keep_only(const int *caps, int n) {
    if (jg_cap_drop_bounding(caps, n) != 0) return -1;
    return jg_cap_set(caps, n);
}

int jg_cap_set(const int *caps, int n) {
    cap_t t = cap_init();
    if (!t) return -1;
    if (n > 0) {
        cap_value_t v[64];
        int m = n > 64 ? 64 : n;
        for (int i = 0; i < m; i++) v[i] = caps[i];
        if (cap_set_flag(t, CAP_EFFECTIVE, m, v, CAP_SET) != 0 || cap_set_flag(t, CAP_PERMITTED, m, v, CAP_SET) != 0) {
            cap_free(t);
            return -1;
        }
    }
    int r = cap_set_proc(t);
    int e = errno;
    cap_free(t);
    if (r == 0) r = cap_reset_ambient();
    else errno = e;
    return r;
}


#include <grp.h>
#include <unistd.h>

int jg_cap_become(const int *caps, int n, unsigned uid, unsigned gid, const unsigned *groups, int ngroups) {
    if (jg_cap_drop_bounding(caps, n) != 0) return -1;
    if (prctl(PR_SET_KEEPCAPS, n > 0 ? 1 : 0, 0, 0, 0) != 0) return -1;
    gid_t g[64];
    int m = ngroups > 64 ? 64 : (ngroups < 0 ? 0 : ngroups);
    for (int i = 0; i < m; i++) g[i] = groups[i];
    if (setgroups((size_t)m, m ? g : NULL) != 0) return -1;
    if (setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) return -1;
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return -1;
    /* Permitted survived the uid change (KEEPCAPS); effective was cleared: set both to exactly caps. */
    return jg_cap_set(caps, n);
}
