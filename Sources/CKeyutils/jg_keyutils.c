#include "jg_keyutils.h"
#include <errno.h>
#include <stdlib.h>
#include <keyutils.h>

int jg_keyutils_read_user_key(const char *desc, void **out, size_t *len) {
    static const key_serial_t rings[] = { KEY_SPEC_PROCESS_KEYRING, KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING };
    key_serial_t id = -1;
    for (size_t i = 0; i < sizeof(rings) / sizeof(rings[0]) && id < 0; i++)
        id = keyctl_search(rings[i], "user", desc, 0);
    if (id < 0) return -1;
    void *buf = NULL;
    long n = keyctl_read_alloc(id, &buf);
    if (n < 0) return -1;
    *out = buf;
    *len = (size_t)n;
    return 0;
}
void jg_keyutils_free(void *p) { free(p); }
