// Why: libseccomp's rule helpers are variadic macros that Swift cannot call.
#pragma once
/// Loads a filter: every syscall named in `names` fails with `err`; everything else is allowed.
/// Unknown names fail the call (-1/EINVAL) rather than being skipped silently.
int jg_seccomp_load_denylist(const char *const *names, int n, int err);
/// Loads a filter: only the syscalls named in `names` are allowed; every other fails with `err`.
int jg_seccomp_load_allowlist(const char *const *names, int n, int err);
/// Builds (without loading) a deny-list filter as classic BPF, for a child to install before exec.
/// Writes at most *len bytes into out and sets *len to the bytes used. Returns 0, or -1 with errno.
int jg_seccomp_export_denylist(const char *const *names, int n, int err, void *out, unsigned long *len);
/// Builds the locked agent's filter: the deny-list plus AF_UNIX-only sockets, no TIOCSTI (masked compare),
/// no clone(CLONE_NEWUSER), clone3 ENOSYS, other architectures killed. Same output contract as above.
int jg_seccomp_export_locked(const char *const *names, int n, int err, void *out, unsigned long *len);
