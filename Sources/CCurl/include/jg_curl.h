// Why: libcurl's easy API is variadic (curl_easy_setopt), which Swift cannot call.
// One synchronous request with every limit set; no policy lives here.
#pragma once
#include <stddef.h>

typedef struct {
    long status;          /* HTTP status, 0 when no response */
    unsigned char *body;  /* malloc'd, at most max_bytes; free with jg_curl_free */
    size_t body_len;
    int truncated;        /* the body was longer than max_bytes */
    char error[256];      /* empty on success */
} jg_curl_result;

/// `pin` is a CURLOPT_RESOLVE entry "host:port:address" so that curl connects to the address that was
/// checked, never resolving the name again. `allow_http` permits plain http (only for allowed destinations).
/// Returns 0 when a response arrived, -1 otherwise (reason in result->error).
int jg_curl_request(const char *url, const char *method, const char *pin, long timeout_ms, size_t max_bytes,
                    int allow_http, jg_curl_result *result);
void jg_curl_free(jg_curl_result *result);
