// jg-kernel overhead: connect() and execve() per-call cost in the calling process's cgroup.
// Usage: kernel_bench connect|exec ITERATIONS PORT   (connect: TCP to 127.0.0.1:PORT, which must listen)
// Prints: "<op> <iterations> <ns per op>". Run it once per cgroup (bench/kernel_bench.sh does).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s connect|exec N [PORT]\n", argv[0]); return 2; }
    long n = atol(argv[2]);
    int port = argc > 3 ? atoi(argv[3]) : 0;
    double t0 = now_ns();
    if (strcmp(argv[1], "connect") == 0) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        for (long i = 0; i < n; i++) {
            int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
            struct linger l = { 1, 0 }; /* RST on close: no TIME_WAIT pile-up */
            setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            close(s);
        }
    } else if (strcmp(argv[1], "exec") == 0) {
        char *child[] = { "/bin/true", NULL };
        for (long i = 0; i < n; i++) {
            pid_t pid;
            if (posix_spawn(&pid, "/bin/true", NULL, NULL, child, environ) != 0) { perror("spawn"); return 1; }
            int st;
            waitpid(pid, &st, 0);
        }
    } else {
        return 2;
    }
    printf("%s %ld %.0f\n", argv[1], n, (now_ns() - t0) / (double)n);
    return 0;
}
