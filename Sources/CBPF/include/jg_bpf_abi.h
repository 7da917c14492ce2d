// Why: the layout of every map key/value and ring-buffer record shared by the BPF programs in bpf/
// (compiled with clang -target bpf against vmlinux.h) and jg-kernel (through this shim). One definition,
// included by both sides; change it only together with a new pin layout (maps are pinned across restarts).
#pragma once
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define JG_MAX_AGENTS 4096
#define JG_MAX_GOVERNED 4096
#define JG_MAX_DESTS 16384
#define JG_MAX_DIRS 4096
#define JG_DETAIL 128
/// Ancestor levels a governed process may be nested below its governed cgroup.
#define JG_MAX_LEVELS 16
#define JG_AGENT_NAME 64

/// Ring-buffer record kinds.
enum jg_event_kind {
    JG_EV_EXEC = 1,
    JG_EV_OPEN = 2,
    JG_EV_CONNECT = 3,
    JG_EV_DENY_CONNECT = 4,
    JG_EV_DENY_SENDMSG = 5,
    JG_EV_DENY_OPEN = 6,
    JG_EV_DENY_EXEC = 7,
    JG_EV_DENY_CREATE = 8,
    JG_EV_DENY_UNLINK = 9,
    JG_EV_DENY_MOUNT = 10,
    JG_EV_CAPABLE = 11,
    /// A governed process's syscall the sandbox refused (sys_exit): `aux` the syscall number, `detail` a
    /// struct jg_refusal and, for opens, the path after it.
    JG_EV_REFUSED = 12,
    /// A governed process killed by its seccomp filter (SIGSYS generated): `aux` the syscall, detail[0..3] the arch.
    JG_EV_SECCOMP_KILL = 13,
};

/// The head of a JG_EV_REFUSED record's detail: what the kernel answered and the first two arguments.
struct jg_refusal {
    __s64 ret;
    __u64 arg0;
    __u64 arg1;
    /// Refused records of this agent slot dropped (rate limit) since its previous record.
    __u32 suppressed;
    __u32 pad;
};
#define JG_REFUSAL_PATH 32

/// jg_refusal_budget (per agent slot): records left in the current window, so that one agent flooding
/// refusals cannot crowd the ring buffer and drop another agent's.
struct jg_refusal_budget {
    __u64 window;
    __u32 used;
    __u32 suppressed;
};
#define JG_REFUSALS_PER_WINDOW 256
#define JG_REFUSAL_WINDOW_NS 1000000000ULL

/// One ring-buffer record. For connect kinds `detail` holds the raw sockaddr (family in `aux`);
/// for exec/open the NUL-terminated path the process passed; for capable `aux` is the capability.
struct jg_event {
    __u64 cgroup_id;
    __u32 kind;
    __u32 pid;
    __s32 aux;
    __u32 slot;
    __u8 detail[JG_DETAIL];
};

/// jg_dests: LPM trie. prefixlen counts bits of (gen, slot, addr): 64 + address bits. IPv4 blocks are
/// stored IPv4-mapped (::ffff:a.b.c.d, prefix 96 + n), so connect4 and an IPv4-mapped connect6 hit the same entry.
struct jg_dest_key {
    __u32 prefixlen;
    __u32 gen;
    __u32 slot;
    __u8 addr[16];
};

/// jg_dirs: (generation, agent slot, kernel dev_t (major << 20 | minor), inode) of a denied directory.
struct jg_dir_key {
    __u32 gen;
    __u32 slot;
    __u64 dev;
    __u64 ino;
};

/// jg_config[0]: the generation programs read rules under (rules are written under the next one, then it flips).
struct jg_config {
    __u32 gen;
    __u32 flags;
};

struct jg_agent_name {
    char name[JG_AGENT_NAME];
};

/// jg_stats (per-CPU array) indices.
enum jg_stat {
    JG_STAT_DROPPED = 0,
    JG_STAT_DENIED = 1,
    JG_STAT_EVENTS = 2,
    JG_STAT_MAX = 4,
};
