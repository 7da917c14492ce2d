// Why: keyutils returns malloc'd buffers and key serials; Swift gets one call that copies the payload out.
#pragma once
#include <stddef.h>
/// Finds a `user` key named `desc` in the session, user or process keyring and reads its payload
/// into a malloc'd buffer (*out, *len; free with jg_keyutils_free). Returns 0, or -1 with errno.
int jg_keyutils_read_user_key(const char *desc, void **out, size_t *len);
void jg_keyutils_free(void *p);
