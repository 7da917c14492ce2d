// Why: curl_url_get hands back strings that must be released with curl_free; that stays in C. And
// libFuzzer's driver, declared for jg-fuzz.
#pragma once
#include <stddef.h>

/// The host and port libcurl's URL parser reads out of `url` (the one it would connect to), lowercased
/// by the caller's rules, not here. Returns 0 and fills `host` (NUL-terminated, IPv6 without brackets)
/// and `port`, or -1 when curl rejects the URL or the host does not fit in `cap`.
int jg_fuzz_curl_host(const char *url, char *host, size_t cap, long *port);

#include <stdint.h>
/// libFuzzer's driver (compiler-rt, linked by -sanitize=fuzzer). SwiftPM names an executable's entry
/// point `<module>_main` and aliases `main` to it, so libFuzzer's own `main` is never linked in and
/// jg-fuzz's entry calls the driver itself.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
