/* The floor: what a decision's route costs with no work done on it.
 *
 * A 512-byte message goes around a ring of socketpairs through as many processes as a Jinn Guard
 * decision crosses: client -> gate -> prover -> broker -> gate -> client (4 processes including the
 * client, 5 hops). Each hop reads the whole message (5-byte header + body, like the daemon's frames)
 * and writes it on with one write. With --fsync FILE the "broker" appends 300 bytes to FILE and
 * fdatasyncs it before passing the message on, as the real broker does before any reply.
 *
 * usage: floor [-n COUNT] [-w WARMUP] [--fsync FILE]
 * prints one line: floor <label> n=.. p50_us=.. p95_us=.. p99_us=.. max_us=.. mean_us=..
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 512

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int read_full(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const char *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        ssize_t r = write(fd, buf + put, n - put);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        put += (size_t)r;
    }
    return 0;
}

/* Reads header then body, as the daemon's components do with a 5-byte frame header. */
static int read_msg(int fd, char *buf) {
    if (read_full(fd, buf, 5) < 0) return -1;
    return read_full(fd, buf + 5, MSG - 5);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, long n, double p) {
    long i = (long)(p / 100.0 * (double)n);
    if (i >= n) i = n - 1;
    return v[i];
}

/* A relay: read from `in`, optionally append+fdatasync, write to `out`, until EOF. */
static void relay(int in, int out, int audit_fd) {
    char buf[MSG];
    char line[300];
    memset(line, 'a', sizeof line);
    line[sizeof line - 1] = '\n';
    for (;;) {
        if (read_msg(in, buf) < 0) _exit(0);
        if (audit_fd >= 0) {
            if (write_full(audit_fd, line, sizeof line) < 0 || fdatasync(audit_fd) != 0) {
                perror("floor: audit append");
                _exit(1);
            }
        }
        if (write_full(out, buf, MSG) < 0) _exit(0);
    }
}

int main(int argc, char **argv) {
    long count = 10000, warmup = 500;
    const char *fsync_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) count = atol(argv[++i]);
        else if (!strcmp(argv[i], "-w") && i + 1 < argc) warmup = atol(argv[++i]);
        else if (!strcmp(argv[i], "--fsync") && i + 1 < argc) fsync_path = argv[++i];
        else { fprintf(stderr, "usage: floor [-n COUNT] [-w WARMUP] [--fsync FILE]\n"); return 2; }
    }
    /* Links: c<->g (client link), g<->p, p<->b, b<->g. Each socketpair end is owned by one process. */
    int cg[2], gp[2], pb[2], bg[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, cg) || socketpair(AF_UNIX, SOCK_STREAM, 0, gp) ||
        socketpair(AF_UNIX, SOCK_STREAM, 0, pb) || socketpair(AF_UNIX, SOCK_STREAM, 0, bg)) {
        perror("socketpair");
        return 1;
    }
    int audit_fd = -1;
    if (fsync_path) {
        audit_fd = open(fsync_path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0600);
        if (audit_fd < 0) { perror(fsync_path); return 1; }
    }
    pid_t kids[3];
    /* gate: two directions multiplexed in one process. Requests arrive on cg[1] -> send to gp[0];
     * broker replies arrive on bg[1] -> send to cg[1]. The ring is strictly sequential (one message in
     * flight), so the gate alternates: read client, forward to prover, read broker, forward to client. */
    if ((kids[0] = fork()) == 0) {
        close(cg[0]); close(gp[1]); close(pb[0]); close(pb[1]); close(bg[0]);
        if (audit_fd >= 0) close(audit_fd);
        char buf[MSG];
        for (;;) {
            if (read_msg(cg[1], buf) < 0) _exit(0);
            if (write_full(gp[0], buf, MSG) < 0) _exit(0);
            if (read_msg(bg[1], buf) < 0) _exit(0);
            if (write_full(cg[1], buf, MSG) < 0) _exit(0);
        }
    }
    if ((kids[1] = fork()) == 0) { /* prover */
        close(cg[0]); close(cg[1]); close(gp[0]); close(pb[1]); close(bg[0]); close(bg[1]);
        if (audit_fd >= 0) close(audit_fd);
        relay(gp[1], pb[0], -1);
    }
    if ((kids[2] = fork()) == 0) { /* broker */
        close(cg[0]); close(cg[1]); close(gp[0]); close(gp[1]); close(pb[0]); close(bg[1]);
        relay(pb[1], bg[0], audit_fd);
    }
    close(cg[1]); close(gp[0]); close(gp[1]); close(pb[0]); close(pb[1]); close(bg[0]); close(bg[1]);
    if (audit_fd >= 0) close(audit_fd);

    char buf[MSG];
    memset(buf, 'x', sizeof buf);
    buf[0] = 0; buf[1] = 0; buf[2] = (MSG - 5) >> 8; buf[3] = (MSG - 5) & 0xff; buf[4] = 1;
    double *lat = calloc((size_t)count, sizeof *lat);
    if (!lat) return 1;
    double t_start = 0;
    for (long i = -warmup; i < count; i++) {
        if (i == 0) t_start = now_us();
        double t0 = now_us();
        if (write_full(cg[0], buf, MSG) < 0 || read_msg(cg[0], buf) < 0) { fprintf(stderr, "floor: ring broke\n"); return 1; }
        if (i >= 0) lat[i] = now_us() - t0;
    }
    double elapsed = now_us() - t_start;
    close(cg[0]);
    for (int k = 0; k < 3; k++) waitpid(kids[k], NULL, 0);
    double sum = 0;
    for (long i = 0; i < count; i++) sum += lat[i];
    qsort(lat, (size_t)count, sizeof *lat, cmp_double);
    printf("floor %s n=%ld p50_us=%.1f p95_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f rate_per_s=%.0f\n",
           fsync_path ? "durable" : "ipc", count, pct(lat, count, 50), pct(lat, count, 95), pct(lat, count, 99),
           lat[count - 1], sum / count, count / (elapsed / 1e6));
    return 0;
}
