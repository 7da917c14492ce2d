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
int jg_sys_set_no_new_privs(void);
int jg_sys_get_no_new_privs(void);
int jg_sys_set_pdeathsig(int sig);
int jg_sys_set_dumpable(int on);
