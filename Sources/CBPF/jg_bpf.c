#define _GNU_SOURCE
#include "jg_bpf.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char last_message[512];
static int verbose_logging;

static int jg_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    if (level == LIBBPF_DEBUG) return 0;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' ')) line[--n] = 0;
    /* keep the first warning since the last reset: usually the cause, later lines are consequences */
    const char *text = strncmp(line, "libbpf: ", 8) == 0 ? line + 8 : line;
    if (n > 0 && last_message[0] == 0) snprintf(last_message, sizeof last_message, "%s", text);
    if (verbose_logging) fprintf(stderr, "jg-kernel: libbpf: %s\n", line);
    return 0;
}

const char *jg_bpf_last_message(void) { return last_message; }

void jg_bpf_set_logging(int verbose) {
    verbose_logging = verbose;
    libbpf_set_print(jg_print);
}

#define JG_MAX_PROGS 32

struct jg_bpf_object {
    struct bpf_object *obj;
    struct bpf_program *progs[JG_MAX_PROGS];
    struct bpf_link *links[JG_MAX_PROGS];
    int count;
};

struct jg_bpf_object *jg_bpf_object_load(const char *path, const char *pin_root, int *err) {
    last_message[0] = 0;
    LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_root);
    struct bpf_object *obj = bpf_object__open_file(path, &oo);
    long e = libbpf_get_error(obj);
    if (!obj || e) { *err = e ? (int)e : -errno; return NULL; }
    int r = bpf_object__load(obj);
    if (r) { *err = r; bpf_object__close(obj); return NULL; }
    struct jg_bpf_object *o = calloc(1, sizeof *o);
    if (!o) { *err = -ENOMEM; bpf_object__close(obj); return NULL; }
    o->obj = obj;
    struct bpf_program *p;
    bpf_object__for_each_program(p, obj) {
        if (o->count == JG_MAX_PROGS) break;
        o->progs[o->count++] = p;
    }
    *err = 0;
    return o;
}

void jg_bpf_object_close(struct jg_bpf_object *o) {
    if (!o) return;
    for (int i = 0; i < o->count; i++) if (o->links[i]) bpf_link__destroy(o->links[i]);
    bpf_object__close(o->obj);
    free(o);
}

int jg_bpf_object_program_count(const struct jg_bpf_object *o) { return o->count; }
const char *jg_bpf_program_name(const struct jg_bpf_object *o, int i) { return bpf_program__name(o->progs[i]); }
const char *jg_bpf_program_section(const struct jg_bpf_object *o, int i) { return bpf_program__section_name(o->progs[i]); }

int jg_bpf_object_map_fd(const struct jg_bpf_object *o, const char *name) {
    struct bpf_map *m = bpf_object__find_map_by_name(o->obj, name);
    if (!m) return -ENOENT;
    return bpf_map__fd(m);
}

int jg_bpf_program_attach(struct jg_bpf_object *o, int i, int cgroup_fd, const char *pin_path, int *adopted) {
    *adopted = 0;
    last_message[0] = 0;
    if (i < 0 || i >= o->count) return -EINVAL;
    struct bpf_program *p = o->progs[i];
    int is_cgroup = bpf_program__type(p) == BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
    if (is_cgroup && access(pin_path, F_OK) == 0) {
        struct bpf_link *old = bpf_link__open(pin_path);
        long e = libbpf_get_error(old);
        if (old && !e) {
            int r = bpf_link__update_program(old, p);
            if (r == 0) {
                o->links[i] = old;
                *adopted = 1;
                return 0;
            }
            bpf_link__destroy(old); /* closes our descriptor only: the pin keeps it attached */
            /* a link that cannot take the new program (detached, wrong type): replace it below */
        }
    }
    struct bpf_link *l = is_cgroup ? bpf_program__attach_cgroup(p, cgroup_fd) : bpf_program__attach(p);
    long e = libbpf_get_error(l);
    if (!l || e) return e ? (int)e : -errno;
    if (access(pin_path, F_OK) == 0) {
        *adopted = 1;
        if (is_cgroup) {
            /* the old link could not be updated: detach it, or the old program keeps running too */
            jg_bpf_link_detach_pinned(pin_path);
        }
        unlink(pin_path);
    }
    int r = bpf_link__pin(l, pin_path);
    if (r) { bpf_link__destroy(l); return r; }
    o->links[i] = l;
    return 0;
}

int jg_bpf_obj_get(const char *path) {
    LIBBPF_OPTS(bpf_obj_get_opts, go, .file_flags = 0);
    int fd = bpf_obj_get_opts(path, &go);
    if (fd < 0) return -errno;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

int jg_bpf_link_detach_pinned(const char *path) {
    int fd = jg_bpf_obj_get(path);
    if (fd < 0) return fd;
    int r = bpf_link_detach(fd);
    int e = errno;
    close(fd);
    return r < 0 ? -e : 0;
}

int jg_bpf_link_query(int link_fd, uint32_t *link_type, uint64_t *cgroup_id, uint32_t *attach_type, uint32_t *prog_id) {
    struct bpf_link_info info;
    memset(&info, 0, sizeof info);
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(link_fd, &info, &len) < 0) return -errno;
    *link_type = info.type;
    *prog_id = info.prog_id;
    *cgroup_id = 0;
    *attach_type = 0;
    if (info.type == BPF_LINK_TYPE_CGROUP) {
        *cgroup_id = info.cgroup.cgroup_id;
        *attach_type = info.cgroup.attach_type;
    }
    return 0;
}

int jg_bpf_map_update(int fd, const void *key, const void *value, uint64_t flags) {
    return bpf_map_update_elem(fd, key, value, flags) < 0 ? -errno : 0;
}
int jg_bpf_map_delete(int fd, const void *key) { return bpf_map_delete_elem(fd, key) < 0 ? -errno : 0; }
int jg_bpf_map_lookup(int fd, const void *key, void *value) { return bpf_map_lookup_elem(fd, key, value) < 0 ? -errno : 0; }
int jg_bpf_map_next_key(int fd, const void *key, void *next) { return bpf_map_get_next_key(fd, key, next) < 0 ? -errno : 0; }

int jg_bpf_percpu_sum(int fd, uint32_t index, uint64_t *sum) {
    int n = libbpf_num_possible_cpus();
    if (n <= 0) return n < 0 ? n : -EINVAL;
    uint64_t *v = calloc((size_t)n, sizeof *v);
    if (!v) return -ENOMEM;
    if (bpf_map_lookup_elem(fd, &index, v) < 0) { int e = errno; free(v); return -e; }
    uint64_t s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    free(v);
    *sum = s;
    return 0;
}

struct drain_ctx { struct jg_event *out; int cap; int n; };
static struct drain_ctx *current_drain;

static int on_record(void *ctx, void *data, size_t size) {
    (void)ctx;
    struct drain_ctx *d = current_drain;
    if (!d) return -1;
    if (d->n < d->cap) {
        memset(&d->out[d->n], 0, sizeof(struct jg_event));
        memcpy(&d->out[d->n], data, size < sizeof(struct jg_event) ? size : sizeof(struct jg_event));
        d->n++;
    }
    /* the record is consumed either way; stop once the caller's buffer is full */
    return d->n < d->cap ? 0 : -ENOSPC;
}

struct ring_buffer *jg_bpf_ringbuf_new(int map_fd, int *err) {
    struct ring_buffer *rb = ring_buffer__new(map_fd, on_record, NULL, NULL);
    long e = libbpf_get_error(rb);
    if (!rb || e) { *err = e ? (int)e : -errno; return NULL; }
    *err = 0;
    return rb;
}

int jg_bpf_ringbuf_fd(struct ring_buffer *rb) { return ring_buffer__epoll_fd(rb); }

int jg_bpf_ringbuf_drain(struct ring_buffer *rb, struct jg_event *out, int cap) {
    if (cap <= 0) return 0;
    struct drain_ctx d = { out, cap, 0 };
    current_drain = &d;
    int r = ring_buffer__consume(rb);
    current_drain = NULL;
    if (r < 0 && r != -ENOSPC && d.n == 0) return r;
    return d.n;
}

void jg_bpf_ringbuf_free(struct ring_buffer *rb) { ring_buffer__free(rb); }

uint64_t jg_bpf_kernel_dev(uint64_t st_dev) {
    return ((uint64_t)major(st_dev) << 20) | (uint64_t)minor(st_dev);
}

#include <sys/vfs.h>
int64_t jg_bpf_fs_type(const char *path) {
    struct statfs s;
    if (statfs(path, &s) < 0) return -errno;
    return (int64_t)(unsigned long)s.f_type;
}
