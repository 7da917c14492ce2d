#include "jg_fuzz.h"
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

int jg_fuzz_curl_host(const char *url, char *host, size_t cap, long *port) {
    CURLU *u = curl_url();
    if (!u) return -1;
    int rc = -1;
    char *h = NULL, *p = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) goto out;
    if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK) goto out;
    if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK) goto out;
    size_t n = strlen(h);
    const char *start = h;
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') { start = h + 1; n -= 2; }
    if (n + 1 > cap) goto out;
    memcpy(host, start, n);
    host[n] = '\0';
    char *end = NULL;
    long v = strtol(p, &end, 10);
    if (!end || *end != '\0') goto out;
    *port = v;
    rc = 0;
out:
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}
