/* Load generator for Jinn Guard (PROTOCOL.md §1-§5): one epoll thread driving C concurrent clients.
 *
 * Each client slot sends one request at a time and waits for the reply; the latency of every request
 * (connect included when a connection is opened for it) goes into an array, and the percentiles are
 * printed at the end as one JSON line. Requests are signed with HMAC-SHA256 (OpenSSL).
 *
 *   loadgen --socket PATH --secret-file FILE [options]
 *     -c N              concurrent clients (default 1)
 *     -n N              total measured requests (default 10000)
 *     -w N              warm-up requests, not measured (default 200)
 *     -t SECONDS        stop early after this long (default 60)
 *     --per-request     one connection per request (as the Python SDK does); default: persistent
 *     --kind allow|unknown|badsig   what the normal requests are (default allow)
 *     --deny-every K    every K-th request of a slot is a bad-signature request that must be denied
 *                       (on its own connection: a DENY closes the connection)
 *     --agents N        agents bench_agent_000.. (slot i uses agent i % N); default 256
 *     --label TEXT      label echoed in the output
 *
 * Accounting: a request of kind allow must come back ALLOW or CONSTRAIN; any other reply or transport
 * failure is an error. A request that must be denied (badsig, unknown) must come back DENY_*; an
 * ALLOW/CONSTRAIN for it is a fail-open. Every request is bounded in count and time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum kind { K_ALLOW, K_UNKNOWN, K_BADSIG };
enum state { S_IDLE, S_CONNECT_RETRY, S_RECV };

#define MAXTOK 64
#define RBUF 4096

struct slot {
    int fd;
    int persistent_ok;   /* fd is an open connection that may carry the next request */
    enum state st;
    enum kind cur;
    int must_deny;
    double t0;
    double retry_at;
    unsigned long sent;  /* requests sent by this slot (for deny-every) */
    int agent;
    char rbuf[RBUF];
    size_t rlen;
};

static const char *sock_path;
static unsigned char key[1024];
static size_t keylen;
static int per_request = 0;
static enum kind main_kind = K_ALLOW;
static long deny_every = 0;
static int nagents = 256;
static uint64_t *agent_seq;
static struct sockaddr_un addr;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* token counts */
struct tokcount { char tok[MAXTOK]; long n; };
static struct tokcount toks[64];
static int ntoks;
static void count_token(const char *t) {
    for (int i = 0; i < ntoks; i++) if (!strcmp(toks[i].tok, t)) { toks[i].n++; return; }
    if (ntoks < 64) { snprintf(toks[ntoks].tok, MAXTOK, "%s", t); toks[ntoks++].n = 1; }
}

static int build_frame(struct slot *s, enum kind k, char *out, size_t cap) {
    char payload[512];
    const char *agent_fmt = k == K_UNKNOWN ? "bench_unknown_%03d" : "bench_agent_%03d";
    char agent[64];
    snprintf(agent, sizeof agent, agent_fmt, s->agent);
    uint64_t seq = ++agent_seq[s->agent];
    int pl = snprintf(payload, sizeof payload,
                      "{\"intent_name\":\"read_customer_record\",\"agent_id\":\"%s\",\"sequence_counter\":%llu,"
                      "\"action_risk_score\":10}", agent, (unsigned long long)seq);
    unsigned char mac[32];
    unsigned int maclen = 32;
    HMAC(EVP_sha256(), key, (int)keylen, (unsigned char *)payload, (size_t)pl, mac, &maclen);
    char hex[65];
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", mac[i]);
    if (k == K_BADSIG) hex[0] = hex[0] == '0' ? '1' : '0'; /* one flipped nibble: a forged signature */
    /* escape the payload into a JSON string: it only contains quotes to escape */
    char esc[1024];
    size_t e = 0;
    for (int i = 0; i < pl; i++) {
        if (payload[i] == '"' || payload[i] == '\\') esc[e++] = '\\';
        esc[e++] = payload[i];
    }
    esc[e] = 0;
    int bl = snprintf(out + 5, cap - 5, "{\"payload\":\"%s\",\"signature\":\"%s\"}", esc, hex);
    out[0] = (char)((bl >> 24) & 0xff); out[1] = (char)((bl >> 16) & 0xff);
    out[2] = (char)((bl >> 8) & 0xff); out[3] = (char)(bl & 0xff); out[4] = 1;
    return bl + 5;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct series { double *v; long n, cap; };
static void push(struct series *s, double x) {
    if (s->n < s->cap) s->v[s->n++] = x;
}
static void print_series(const char *name, struct series *s) {
    if (s->n == 0) { printf("\"%s\":{\"n\":0}", name); return; }
    qsort(s->v, (size_t)s->n, sizeof(double), cmp_double);
    double sum = 0;
    for (long i = 0; i < s->n; i++) sum += s->v[i];
#define P(p) s->v[(long)((p) / 100.0 * s->n) >= s->n ? s->n - 1 : (long)((p) / 100.0 * s->n)] * 1e6
    printf("\"%s\":{\"n\":%ld,\"p50_us\":%.1f,\"p95_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f}",
           name, s->n, P(50), P(95), P(99), s->v[s->n - 1] * 1e6, sum / s->n * 1e6);
#undef P
}

int main(int argc, char **argv) {
    int clients = 1;
    long total = 10000, warmup = 200;
    double tlimit = 60;
    const char *secret_file = NULL, *label = "run";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--socket") && v) { sock_path = v; i++; }
        else if (!strcmp(a, "--secret-file") && v) { secret_file = v; i++; }
        else if (!strcmp(a, "-c") && v) { clients = atoi(v); i++; }
        else if (!strcmp(a, "-n") && v) { total = atol(v); i++; }
        else if (!strcmp(a, "-w") && v) { warmup = atol(v); i++; }
        else if (!strcmp(a, "-t") && v) { tlimit = atof(v); i++; }
        else if (!strcmp(a, "--per-request")) per_request = 1;
        else if (!strcmp(a, "--deny-every") && v) { deny_every = atol(v); i++; }
        else if (!strcmp(a, "--agents") && v) { nagents = atoi(v); i++; }
        else if (!strcmp(a, "--label") && v) { label = v; i++; }
        else if (!strcmp(a, "--kind") && v) {
            main_kind = !strcmp(v, "allow") ? K_ALLOW : !strcmp(v, "unknown") ? K_UNKNOWN : K_BADSIG; i++;
        } else { fprintf(stderr, "loadgen: bad argument %s\n", a); return 2; }
    }
    if (!sock_path || !secret_file || clients < 1 || nagents < 1 || total < 1) { fprintf(stderr, "loadgen: --socket and --secret-file needed\n"); return 2; }
    FILE *f = fopen(secret_file, "rb");
    if (!f) { perror(secret_file); return 2; }
    keylen = fread(key, 1, sizeof key, f);
    fclose(f);
    while (keylen && (key[keylen - 1] == '\n' || key[keylen - 1] == '\r' || key[keylen - 1] == ' ')) keylen--;

    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path);

    /* sequence counters: wall-clock nanoseconds as the base keeps them above every earlier run */
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t base = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
    agent_seq = calloc((size_t)nagents, sizeof *agent_seq);
    for (int i = 0; i < nagents; i++) agent_seq[i] = base;

    struct slot *slots = calloc((size_t)clients, sizeof *slots);
    struct series lat_main = {calloc((size_t)total, sizeof(double)), 0, total};
    struct series lat_deny = {calloc((size_t)total, sizeof(double)), 0, total};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    long started = 0, completed = 0, measured = 0, errors = 0, failopens = 0, must_deny_total = 0;
    long err_transport = 0, err_verdict = 0, err_connect = 0;
    long limit = warmup + total;
    for (int i = 0; i < clients; i++) { slots[i].fd = -1; slots[i].agent = i % nagents; slots[i].st = S_IDLE; }

    double t_begin = now_s(), t_measure = warmup == 0 ? t_begin : 0, t_end = t_begin + tlimit;
    long in_flight = 0;
    struct epoll_event evs[512];
    char frame[2048];
    int stop = 0;
    while (!stop) {
        double now = now_s();
        if (now > t_end) break;
        /* start requests on idle slots */
        for (int i = 0; i < clients; i++) {
            struct slot *s = &slots[i];
            if (s->st == S_RECV) continue;
            if (s->st == S_CONNECT_RETRY && now < s->retry_at) continue;
            if (started >= limit) continue;
            if (s->st == S_IDLE) {
                s->must_deny = 0;
                s->cur = main_kind;
                if (deny_every > 0 && (s->sent + 1 + (unsigned long)i) % (unsigned long)deny_every == 0) s->cur = K_BADSIG;
                if (s->cur != K_ALLOW) s->must_deny = 1;
                s->t0 = now;
            }
            int reuse = !per_request && s->cur == K_ALLOW && s->persistent_ok && s->fd >= 0;
            if (!reuse) {
                if (s->fd >= 0) { close(s->fd); s->fd = -1; s->persistent_ok = 0; }
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
                    close(fd);
                    if (errno == EAGAIN) { s->st = S_CONNECT_RETRY; s->retry_at = now + 0.0005; continue; }
                    err_connect++; errors++; started++; completed++; s->st = S_IDLE; s->sent++;
                    continue;
                }
                s->fd = fd;
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            }
            int len = build_frame(s, s->cur, frame, sizeof frame);
            ssize_t w = send(s->fd, frame, (size_t)len, MSG_NOSIGNAL);
            started++;
            s->sent++;
            if (w != len) {
                err_transport++; errors++; completed++;
                close(s->fd); s->fd = -1; s->persistent_ok = 0; s->st = S_IDLE;
                continue;
            }
            if (started == warmup + 1 && t_measure == 0) t_measure = now;
            s->rlen = 0;
            s->st = S_RECV;
            in_flight++;
        }
        if (completed >= limit || (started >= limit && in_flight == 0)) break;
        int n = epoll_wait(ep, evs, 512, in_flight ? 100 : 1);
        for (int k = 0; k < n; k++) {
            struct slot *s = &slots[evs[k].data.u32];
            if (s->st != S_RECV) {
                /* EOF on an idle persistent connection (idle limit): forget it */
                char tmp[64];
                if (s->fd >= 0 && read(s->fd, tmp, sizeof tmp) <= 0) { close(s->fd); s->fd = -1; s->persistent_ok = 0; }
                continue;
            }
            ssize_t r = read(s->fd, s->rbuf + s->rlen, RBUF - s->rlen);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            int done = 0, bad = 0;
            if (r <= 0) bad = 1;
            else {
                s->rlen += (size_t)r;
                if (s->rlen >= 5) {
                    uint32_t bl = ((uint32_t)(unsigned char)s->rbuf[0] << 24) | ((uint32_t)(unsigned char)s->rbuf[1] << 16) |
                                  ((uint32_t)(unsigned char)s->rbuf[2] << 8) | (unsigned char)s->rbuf[3];
                    if (s->rbuf[4] != 1 || bl + 5 > RBUF) bad = 1;
                    else if (s->rlen >= bl + 5) done = 1;
                }
            }
            if (!done && !bad) continue;
            double t = now_s();
            in_flight--;
            completed++;
            int is_measured = completed > warmup;
            s->st = S_IDLE;
            if (bad) {
                err_transport++; errors++;
                close(s->fd); s->fd = -1; s->persistent_ok = 0;
                continue;
            }
            char tok[MAXTOK] = "?";
            if (!strncmp(s->rbuf + 5, "SIGNAL: ", 8)) {
                size_t j = 0;
                const char *p = s->rbuf + 13;
                while (p + j < s->rbuf + s->rlen && p[j] != '\n' && j < MAXTOK - 1) { tok[j] = p[j]; j++; }
                tok[j] = 0;
            }
            int allowed = !strcmp(tok, "ALLOW") || !strcmp(tok, "CONSTRAIN");
            if (is_measured) {
                count_token(tok);
                measured++;
                if (s->must_deny) must_deny_total++;
            }
            if (s->must_deny && allowed) { failopens++; }
            else if (!s->must_deny && !allowed) { if (is_measured) { err_verdict++; errors++; } }
            else if (s->must_deny && strncmp(tok, "DENY_", 5)) { if (is_measured) { err_verdict++; errors++; } }
            if (is_measured) push(s->must_deny && main_kind == K_ALLOW ? &lat_deny : &lat_main, t - s->t0);
            if (allowed && !per_request && !s->must_deny) {
                s->persistent_ok = 1; /* keep it for the next request */
            } else {
                close(s->fd); s->fd = -1; s->persistent_ok = 0;
            }
        }
    }
    double t_stop = now_s();
    for (int i = 0; i < clients; i++) if (slots[i].fd >= 0) close(slots[i].fd);
    /* Requests still in flight when the time limit stopped the run are reported, not counted as errors
     * (the run was cut, the daemon did not fail them); a run that ends by count has none. */
    long unfinished = started - completed;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    double wall = t_stop - (t_measure ? t_measure : t_begin);
    printf("{\"label\":\"%s\",\"clients\":%d,\"per_request\":%s,\"kind\":\"%s\",\"deny_every\":%ld,"
           "\"measured\":%ld,\"must_deny\":%ld,\"errors\":%ld,\"err_transport\":%ld,\"err_verdict\":%ld,"
           "\"err_connect\":%ld,\"failopens\":%ld,\"wall_s\":%.3f,\"rate_per_s\":%.0f,\"loadgen_cpu_s\":%.3f,"
           "\"timed_out\":%s,\"unfinished\":%ld,\"tokens\":{",
           label, clients, per_request ? "true" : "false",
           main_kind == K_ALLOW ? "allow" : main_kind == K_UNKNOWN ? "unknown" : "badsig", deny_every, measured,
           must_deny_total, errors, err_transport, err_verdict, err_connect, failopens, wall,
           measured / (wall > 0 ? wall : 1), cpu, t_stop > t_end ? "true" : "false", unfinished);
    for (int i = 0; i < ntoks; i++) printf("%s\"%s\":%ld", i ? "," : "", toks[i].tok, toks[i].n);
    printf("},");
    print_series("latency", &lat_main);
    printf(",");
    print_series("latency_denied", &lat_deny);
    printf("}\n");
    return 0;
}
