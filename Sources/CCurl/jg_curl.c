#include "jg_curl.h"
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

typedef struct { jg_curl_result *r; size_t max; } sink;

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    sink *s = ud;
    size_t len = size * n;
    size_t room = s->max - s->r->body_len;
    if (len > room) { s->r->truncated = 1; len = room; }
    if (len > 0) {
        unsigned char *nb = realloc(s->r->body, s->r->body_len + len);
        if (!nb) return 0;
        s->r->body = nb;
        memcpy(nb + s->r->body_len, p, len);
        s->r->body_len += len;
    }
    /* Returning less than given aborts the transfer: stop reading once the cap is reached. */
    return s->r->truncated ? 0 : size * n;
}

int jg_curl_request(const char *url, const char *method, const char *pin, long timeout_ms, size_t max_bytes,
                    int allow_http, jg_curl_result *r) {
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c) { strcpy(r->error, "curl_easy_init failed"); return -1; }
    struct curl_slist *resolve = pin ? curl_slist_append(NULL, pin) : NULL;
    sink s = { r, max_bytes };
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, allow_http ? "https,http" : "https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(resolve);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r->truncated)) {
        strncpy(r->error, curl_easy_strerror(rc), sizeof r->error - 1);
        return -1;
    }
    return 0;
}

void jg_curl_free(jg_curl_result *r) {
    free(r->body);
    r->body = NULL;
}
