// Why: libcap's cap_t is an opaque pointer API; Swift asks for one outcome: keep exactly these capabilities.
#pragma once
/// Keeps exactly `caps` (effective, permitted; inheritable and ambient cleared) and drops every other
/// capability from the bounding set. n = 0 drops everything. Returns 0, or -1 with errno.
int jg_cap_keep_only(const int *caps, int n);
/// Sets SECBIT_KEEP_CAPS so that a following setuid keeps the permitted set.
int jg_cap_set_keepcaps(int on);
