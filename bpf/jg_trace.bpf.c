// Telemetry: exec, open and connect (raw sys_enter tracepoint) and capability checks (raw cap_capable
// tracepoint) from governed cgroups; no tracefs mount needed. Raw tracepoints cannot deny: this object only observes.
#include "jg_common.bpf.h"

#if defined(__TARGET_ARCH_x86)
#define JG_NR_CONNECT 42
#define JG_NR_EXECVE 59
#define JG_NR_OPENAT 257
#define JG_NR_EXECVEAT 322
#define JG_NR_OPENAT2 437
#else
#error "jg_trace.bpf.c: syscall numbers for this architecture are missing"
#endif

SEC("raw_tracepoint/sys_enter")
int jg_sys_enter(struct bpf_raw_tracepoint_args *ctx) {
    long nr = (long)ctx->args[1];
    __u32 kind;
    switch (nr) {
    case JG_NR_EXECVE: case JG_NR_EXECVEAT: kind = JG_EV_EXEC; break;
    case JG_NR_OPENAT: case JG_NR_OPENAT2: kind = JG_EV_OPEN; break;
    case JG_NR_CONNECT: kind = JG_EV_CONNECT; break;
    default: return 0;
    }
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    struct jg_event *e = jg_event_new(kind, cgid, *slot);
    if (!e) return 0;
    __builtin_memset(e->detail, 0, sizeof(e->detail));
    if (kind == JG_EV_CONNECT) {
        const void *uaddr = (const void *)BPF_CORE_READ(regs, si);
        long len = (long)BPF_CORE_READ(regs, dx);
        if (len > 28) len = 28;
        if (len > 0) bpf_probe_read_user(e->detail, len & 31, uaddr);
        __u16 family = 0;
        __builtin_memcpy(&family, e->detail, 2);
        e->aux = family;
    } else {
        /* execve(path, …): path is arg 1; execveat/openat/openat2(dirfd, path, …): arg 2 */
        const char *upath = nr == JG_NR_EXECVE ? (const char *)BPF_CORE_READ(regs, di)
                                               : (const char *)BPF_CORE_READ(regs, si);
        bpf_probe_read_user_str(e->detail, sizeof(e->detail), upath);
    }
    bpf_ringbuf_submit(e, 0);
    return 0;
}

/* Capability checks by governed processes: the kernel's cap_capable tracepoint (raw, so no tracefs), whose
   arguments are (cred, target ns, ns, cap, result). Recorded with the capability number; observes only. */
SEC("raw_tracepoint/cap_capable")
int jg_cap_capable(struct bpf_raw_tracepoint_args *ctx) {
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    struct jg_event *e = jg_event_new(JG_EV_CAPABLE, cgid, *slot);
    if (!e) return 0;
    __builtin_memset(e->detail, 0, sizeof(e->detail));
    e->aux = (__u32)ctx->args[3];
    bpf_ringbuf_submit(e, 0);
    return 0;
}
