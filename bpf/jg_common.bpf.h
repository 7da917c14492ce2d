// Maps and helpers shared by every jg-kernel BPF object. Every map is pinned by name under the pin root
// jg-kernel passes (/sys/fs/bpf/jinnguard), so the objects share one set of maps and a restarted
// jg-kernel adopts them with their contents.
#pragma once
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "jg_bpf_abi.h"

#define EPERM 1
#define AF_INET 2
#define AF_INET6 10

char LICENSE[] SEC("license") = "GPL";

/// cgroup id → agent slot. Only cgroups in this map (or below them) are ever denied anything.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, JG_MAX_GOVERNED);
    __type(key, __u64);
    __type(value, __u32);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} jg_governed SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, JG_MAX_DESTS);
    __type(key, struct jg_dest_key);
    __type(value, __u8);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} jg_dests SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, JG_MAX_DIRS);
    __type(key, struct jg_dir_key);
    __type(value, __u8);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} jg_dirs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct jg_config);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} jg_config SEC(".maps");

/// Agent slot → agent id, so that a restarted jg-kernel maps slots back to agents.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, JG_MAX_AGENTS);
    __type(key, __u32);
    __type(value, struct jg_agent_name);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} jg_agents SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, JG_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} jg_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} jg_events SEC(".maps");

static __always_inline void jg_count(__u32 which) {
    __u64 *v = bpf_map_lookup_elem(&jg_stats, &which);
    if (v) *v += 1;
}

/// The agent slot of the calling task when it runs in a governed cgroup (or below one); NULL otherwise.
static __always_inline __u32 *jg_governed_slot(__u64 *cgid) {
    __u64 id = bpf_get_current_cgroup_id();
    __u32 *slot = bpf_map_lookup_elem(&jg_governed, &id);
    if (slot) { *cgid = id; return slot; }
    /* Level 0 is the root, level 1 jg-kernel's own subtree root: never governed. */
    for (int lvl = 2; lvl < JG_MAX_LEVELS; lvl++) {
        __u64 a = bpf_get_current_ancestor_cgroup_id(lvl);
        if (a == 0 || a == id) break;
        slot = bpf_map_lookup_elem(&jg_governed, &a);
        if (slot) { *cgid = a; return slot; }
    }
    return 0;
}

static __always_inline __u32 jg_generation(void) {
    __u32 zero = 0;
    struct jg_config *c = bpf_map_lookup_elem(&jg_config, &zero);
    return c ? c->gen : 0;
}

/// Is the IPv6 (or IPv4-mapped) address denied for this agent slot?
static __always_inline int jg_dest_denied(__u32 slot, const __u8 addr[16]) {
    struct jg_dest_key k = { .prefixlen = 64 + 128, .gen = jg_generation(), .slot = slot };
    __builtin_memcpy(k.addr, addr, 16);
    return bpf_map_lookup_elem(&jg_dests, &k) != 0;
}

/// Reserve one record; counts a drop when the ring is full. Never blocks.
static __always_inline struct jg_event *jg_event_new(__u32 kind, __u64 cgid, __u32 slot) {
    struct jg_event *e = bpf_ringbuf_reserve(&jg_events, sizeof(*e), 0);
    if (!e) { jg_count(JG_STAT_DROPPED); return 0; }
    e->cgroup_id = cgid;
    e->kind = kind;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    e->aux = 0;
    e->slot = slot;
    jg_count(JG_STAT_EVENTS);
    return e;
}

/// Telemetry records (not denials) wake the reader only once the ring is a quarter full: jg-kernel drains
/// every 100 ms anyway, and a wakeup per record (an IPI each) cost a locked agent's start-up one per mount
/// and open of its sandbox build.
static __always_inline void jg_submit_quiet(struct jg_event *e) {
    __u64 avail = bpf_ringbuf_query(&jg_events, BPF_RB_AVAIL_DATA);
    bpf_ringbuf_submit(e, avail > 64 * 1024 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}
