// Why: libseccomp's rule helpers are variadic macros that Swift cannot call.
#pragma once
/// Loads a filter: every syscall named in `names` fails with `err`; everything else is allowed.
/// Unknown names fail the call (-1/EINVAL) rather than being skipped silently.
int jg_seccomp_load_denylist(const char *const *names, int n, int err);
/// Loads a filter: only the syscalls named in `names` are allowed; every other fails with `err`.
int jg_seccomp_load_allowlist(const char *const *names, int n, int err);
