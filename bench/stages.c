/* Reference costs of the same primitives in C (OpenSSL, libc): what a stage costs with no language
 * overhead, next to the Swift figures of Benchmarks/. One JSON line per stage.
 * usage: stages AUDIT_FILE (on the daemon's file system) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static volatile unsigned sink;

#define MEASURE(name, outer, inner, body) do { \
    double *s_ = malloc(sizeof(double) * (outer)); \
    for (int w_ = 0; w_ < (outer) / 10 + 1; w_++) { body; } \
    for (int o_ = 0; o_ < (outer); o_++) { uint64_t t0_ = now_ns(); for (int i_ = 0; i_ < (inner); i_++) { body; } \
        s_[o_] = (double)(now_ns() - t0_) / (inner); } \
    qsort(s_, (outer), sizeof(double), cmpd); double m_ = 0; for (int o_ = 0; o_ < (outer); o_++) m_ += s_[o_]; \
    printf("{\"stage\":\"%s\",\"n\":%d,\"p50_ns\":%.0f,\"p99_ns\":%.0f,\"mean_ns\":%.0f}\n", name, (outer) * (inner), \
           s_[(outer) / 2], s_[(int)((outer) * 0.99)], m_ / (outer)); free(s_); } while (0)

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/tmp/jg-stages-c.bin";
    const char *payload = "{\"intent_name\":\"read_customer_record\",\"agent_id\":\"bench_agent_000\",\"sequence_counter\":1764180000000000001,\"action_risk_score\":10}";
    size_t pl = strlen(payload);
    const unsigned char key[] = "bench-0123456789abcdef0123456789abcdef";
    unsigned char mac[32], mac2[32], dig[32];
    unsigned int ml = 32;
    char body[512], frame[600], line[700];
    memset(body, 'b', sizeof body);
    memset(line, 'a', sizeof line);
    line[699] = '\n';

    MEASURE("framing: header encode + 221-byte copy (C)", 2000, 100, {
        uint32_t n = 221; frame[0] = (char)(n >> 24); frame[1] = (char)(n >> 16); frame[2] = (char)(n >> 8); frame[3] = (char)n; frame[4] = 1;
        memcpy(frame + 5, body, n); sink += (unsigned char)frame[100]; });
    MEASURE("HMAC-SHA256 of the payload (OpenSSL HMAC())", 2000, 10, {
        HMAC(EVP_sha256(), key, sizeof key - 1, (const unsigned char *)payload, pl, mac, &ml); sink += mac[0]; });
    HMAC(EVP_sha256(), key, sizeof key - 1, (const unsigned char *)payload, pl, mac2, &ml);
    MEASURE("HMAC-SHA256 + CRYPTO_memcmp (C)", 2000, 10, {
        HMAC(EVP_sha256(), key, sizeof key - 1, (const unsigned char *)payload, pl, mac, &ml); sink += CRYPTO_memcmp(mac, mac2, 32); });
    MEASURE("SHA-256 of a 700-byte audit line (C)", 2000, 10, { SHA256((unsigned char *)line, 700, dig); sink += dig[0]; });

    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) { perror(path); return 1; }
    MEASURE("append 700 bytes + fdatasync (C)", 1000, 1, {
        if (write(fd, line, 700) != 700 || fdatasync(fd) != 0) { perror("append"); return 1; } });
    static char batch[64 * 700];
    for (int i = 0; i < 64; i++) memcpy(batch + i * 700, line, 700);
    MEASURE("append 64 x 700 bytes + one fdatasync (C, group commit)", 200, 1, {
        if (write(fd, batch, sizeof batch) != (ssize_t)sizeof batch || fdatasync(fd) != 0) { perror("append"); return 1; } });
    close(fd);
    unlink(path);
    return 0;
}
