// Why: libcap's cap_t is an opaque pointer API; Swift asks for two outcomes only.
#pragma once
/// Drops every capability not in `caps` from the bounding set (needs CAP_SETPCAP: call while still root).
int jg_cap_drop_bounding(const int *caps, int n);
/// Sets effective and permitted to exactly `caps` (inheritable and ambient cleared). Returns 0, or -1 with errno.
int jg_cap_set(const int *caps, int n);
/// Both, in the order that works for a process that stays uid 0: bounding set first.
int jg_cap_keep_only(const int *caps, int n);
/// Becomes uid/gid with exactly `groups` as supplementary groups, keeping exactly `caps` (effective and
/// permitted; bounding set reduced to them, inheritable and ambient cleared) across the uid change
/// (PR_SET_KEEPCAPS). Call while root. Returns 0, or -1 with errno.
int jg_cap_become(const int *caps, int n, unsigned uid, unsigned gid, const unsigned *groups, int ngroups);
