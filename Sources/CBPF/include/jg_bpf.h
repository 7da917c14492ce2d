// Why: jg-kernel loads the real BPF objects of bpf/ with libbpf (open, load, pin maps by name, attach,
// pin links), updates their maps and drains their ring buffer. libbpf's object model, bpf(2) wrappers and
// ring-buffer callbacks are C-only. Every function returns the raw result: 0 or -errno (or NULL with *err).
// No policy lives here.
#pragma once
#include <stdint.h>
#include "jg_bpf_abi.h"

struct jg_bpf_object;
struct ring_buffer;

/// The first warning or error line libbpf printed during the last load or attach (a reason to report); "" when none.
const char *jg_bpf_last_message(void);
/// Route libbpf's messages: warnings are kept for jg_bpf_last_message and written to stderr when `verbose`.
void jg_bpf_set_logging(int verbose);

/// Open and load (verify) the object at `path`; maps marked pinned are reused from, or pinned to, `pin_root`.
struct jg_bpf_object *jg_bpf_object_load(const char *path, const char *pin_root, int *err);
/// Closes the object and its link descriptors. Pinned links stay attached.
void jg_bpf_object_close(struct jg_bpf_object *o);
int jg_bpf_object_program_count(const struct jg_bpf_object *o);
const char *jg_bpf_program_name(const struct jg_bpf_object *o, int i);
const char *jg_bpf_program_section(const struct jg_bpf_object *o, int i);
/// Map descriptor of the object's map `name` (owned by the object), or -ENOENT.
int jg_bpf_object_map_fd(const struct jg_bpf_object *o, const char *name);

/// Attach program `i` and pin its link at `pin_path`. cgroup programs attach to `cgroup_fd` (a BPF link,
/// so other programs on that cgroup keep running). When `pin_path` already holds a link (an earlier
/// jg-kernel's): a cgroup link is switched to the new program in place (bpf_link_update: no instant
/// without enforcement) and *adopted = 1; any other link is replaced by the new one (attached first,
/// then the old pin removed). Returns 0 or -errno.
int jg_bpf_program_attach(struct jg_bpf_object *o, int i, int cgroup_fd, const char *pin_path, int *adopted);

/// BPF_OBJ_GET on a pinned path (close-on-exec descriptor) or -errno.
int jg_bpf_obj_get(const char *path);
/// Force-detach the pinned link at `path` (even while other processes hold it). 0 or -errno.
int jg_bpf_link_detach_pinned(const char *path);
/// Attachment of a link: BPF link type, cgroup id (cgroup links) and attach type. 0 or -errno.
int jg_bpf_link_query(int link_fd, uint32_t *link_type, uint64_t *cgroup_id, uint32_t *attach_type, uint32_t *prog_id);

int jg_bpf_map_update(int fd, const void *key, const void *value, uint64_t flags);
int jg_bpf_map_delete(int fd, const void *key);
int jg_bpf_map_lookup(int fd, const void *key, void *value);
/// Next key after `key` (NULL: the first). -ENOENT at the end.
int jg_bpf_map_next_key(int fd, const void *key, void *next);
/// Sum over CPUs of u64 slot `index` of a per-CPU array. 0 or -errno.
int jg_bpf_percpu_sum(int fd, uint32_t index, uint64_t *sum);

/// Ring buffer over map `map_fd`. NULL with *err on failure.
struct ring_buffer *jg_bpf_ringbuf_new(int map_fd, int *err);
/// A descriptor that polls readable when records are waiting (an epoll fd owned by the ring buffer).
int jg_bpf_ringbuf_fd(struct ring_buffer *rb);
/// Copy up to `cap` waiting records into `out`; returns how many, or -errno. Never blocks.
int jg_bpf_ringbuf_drain(struct ring_buffer *rb, struct jg_event *out, int cap);
void jg_bpf_ringbuf_free(struct ring_buffer *rb);

/// The kernel's dev_t encoding (MAJOR << 20 | MINOR, as in super_block.s_dev) of a stat st_dev.
uint64_t jg_bpf_kernel_dev(uint64_t st_dev);

/// statfs(2) f_type of `path` (BPF_FS_MAGIC, CGROUP2_SUPER_MAGIC, …) or -errno. (statfs is not visible to Swift's Glibc.)
int64_t jg_bpf_fs_type(const char *path);
