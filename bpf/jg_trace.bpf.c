// Telemetry: exec, open and connect (raw sys_enter tracepoint), the syscalls the sandbox refused (raw sys_exit),
// seccomp kills (raw signal_generate) and capability checks (raw cap_capable tracepoint) from governed cgroups; no tracefs mount needed. Raw tracepoints cannot deny: this object only observes.
#include "jg_common.bpf.h"

#if defined(__TARGET_ARCH_x86)
#define JG_NR_CONNECT 42
#define JG_NR_EXECVE 59
#define JG_NR_OPENAT 257
#define JG_NR_EXECVEAT 322
#define JG_NR_OPENAT2 437
#define JG_NR_OPEN 2
#define JG_NR_CREAT 85
#define JG_NR_IOCTL 16
#define JG_NR_SOCKET 41
#define JG_NR_SOCKETPAIR 53
#define JG_NR_BIND 49
#define JG_NR_CLONE 56
#define JG_NR_FORK 57
#define JG_NR_VFORK 58
#define JG_NR_CLONE3 435
#define JG_NR_KILL 62
#define JG_NR_TKILL 200
#define JG_NR_TGKILL 234
#define JG_NR_PIDFD_SEND_SIGNAL 424
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
    jg_submit_quiet(e);
    return 0;
}

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, JG_MAX_AGENTS);
    __type(key, __u32);
    __type(value, struct jg_refusal_budget);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} jg_refusal_budget SEC(".maps");

#define JG_EPERM 1
#define JG_ENOENT 2
#define JG_ESRCH 3
#define JG_EAGAIN 11
#define JG_EACCES 13
#define JG_EROFS 30
#define JG_ENOSYS 38
#define JG_EAFNOSUPPORT 97
#define JG_ECONNREFUSED 111
#define JG_TIOCSTI 0x5412
#define JG_CLONE_NEWUSER 0x10000000ULL

/* Is this failed syscall a refusal by the sandbox (seccomp's answers, Landlock's, the namespaces' and the
   rlimits'), rather than an ordinary error? Only these are recorded. */
static __always_inline int jg_is_refusal(long nr, long err, __u64 a0, __u64 a1) {
    switch (nr) {
    case JG_NR_SOCKET: case JG_NR_SOCKETPAIR: return err == JG_EAFNOSUPPORT;
    case JG_NR_CONNECT: case JG_NR_BIND: {
        if (err == JG_EPERM || err == JG_EACCES) return 1;
        /* a UNIX socket the namespaces keep out of reach (a host abstract name, a host path): no such peer */
        __u16 family = 0;
        bpf_probe_read_user(&family, sizeof family, (const void *)a1);
        return family == 1 && (err == JG_ECONNREFUSED || err == JG_ENOENT);
    }
    case JG_NR_IOCTL: return err == JG_EPERM && (a1 & 0xffffffffULL) == JG_TIOCSTI;
    case JG_NR_CLONE: return err == JG_EAGAIN || (err == JG_EPERM && (a0 & JG_CLONE_NEWUSER));
    case JG_NR_FORK: case JG_NR_VFORK: return err == JG_EAGAIN;
    case JG_NR_CLONE3: return err == JG_EAGAIN || err == JG_EPERM || err == JG_ENOSYS; /* ENOSYS: the filter's answer */
    case JG_NR_KILL: case JG_NR_TKILL: case JG_NR_TGKILL: case JG_NR_PIDFD_SEND_SIGNAL:
        return err == JG_EPERM || err == JG_ESRCH;
    case JG_NR_OPENAT: case JG_NR_OPENAT2: case JG_NR_OPEN: case JG_NR_CREAT:
        return err == JG_EACCES || err == JG_EPERM || err == JG_EROFS;
    /* the deny-list by name (seccomp/locked.deny, tool.deny): EPERM is the filter's answer */
    case 101: case 310: case 311: case 321: case 298: case 250: case 248: case 249: /* ptrace process_vm_* bpf perf keyctl add_key request_key */
    case 165: case 166: case 155: case 161: case 272: case 308: /* mount umount2 pivot_root chroot unshare setns */
    case 175: case 313: case 176: case 246: case 320: case 323: /* modules, kexec, userfaultfd */
    case 425: case 426: case 427: /* io_uring */
    case 428: case 429: case 430: case 431: case 432: case 433: case 442: case 312: case 438: /* new mount API, kcmp, pidfd_getfd */
        return err == JG_EPERM;
    }
    return 0;
}

/* One record per refusal, at most JG_REFUSALS_PER_WINDOW per agent slot a second: the rest are counted and
   the count rides on the slot's next record, so a flood stays visible without crowding other agents out. */
static __always_inline int jg_refusal_admit(__u32 slot, __u32 *suppressed) {
    struct jg_refusal_budget *b = bpf_map_lookup_elem(&jg_refusal_budget, &slot);
    if (!b) return 0;
    __u64 now = bpf_ktime_get_ns();
    __u64 w = now / JG_REFUSAL_WINDOW_NS;
    if (b->window != w) { b->window = w; b->used = 0; }
    if (b->used >= JG_REFUSALS_PER_WINDOW) { __sync_fetch_and_add(&b->suppressed, 1); return 0; }
    b->used += 1;
    *suppressed = b->suppressed;
    b->suppressed = 0;
    return 1;
}

/* Refused syscalls of governed processes: sys_exit fires for calls seccomp answered too (the call is skipped,
   the exit work still runs), so the kernel itself reports every refusal of the sandbox layers. */
SEC("raw_tracepoint/sys_exit")
int jg_sys_exit(struct bpf_raw_tracepoint_args *ctx) {
    long ret = (long)ctx->args[1];
    if (ret >= 0 || ret < -4095) return 0;
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    long nr = (long)BPF_CORE_READ(regs, orig_ax);
    __u64 a0 = BPF_CORE_READ(regs, di), a1 = BPF_CORE_READ(regs, si);
    if (nr == JG_NR_CLONE3) {
        /* clone3's flags are in user memory (seccomp cannot read them; this can): only a new user namespace */
        __u64 flags = 0;
        bpf_probe_read_user(&flags, sizeof flags, (const void *)a0);
        if (!(flags & JG_CLONE_NEWUSER) && -ret != JG_EAGAIN) return 0;
        a0 = flags;
    }
    if (!jg_is_refusal(nr, -ret, a0, a1)) return 0;
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    __u32 suppressed = 0;
    if (!jg_refusal_admit(*slot, &suppressed)) return 0;
    struct jg_event *e = jg_event_new(JG_EV_REFUSED, cgid, *slot);
    if (!e) return 0;
    __builtin_memset(e->detail, 0, sizeof(e->detail));
    struct jg_refusal r = { .ret = ret, .arg0 = a0, .arg1 = a1, .suppressed = suppressed };
    __builtin_memcpy(e->detail, &r, sizeof r);
    e->aux = (__s32)nr;
    if (nr == JG_NR_CONNECT || nr == JG_NR_BIND) {
        /* the address after the family: a UNIX path (an abstract one starts with NUL), or an inet port/address */
        long n = (long)BPF_CORE_READ(regs, dx) - 2;
        if (n > 63) n = 63;
        if (n > 0) bpf_probe_read_user(e->detail + JG_REFUSAL_PATH, n & 63, (const void *)(a1 + 2));
    } else if (nr == JG_NR_OPENAT || nr == JG_NR_OPENAT2)
        bpf_probe_read_user_str(e->detail + JG_REFUSAL_PATH, JG_DETAIL - JG_REFUSAL_PATH, (const char *)a1);
    else if (nr == JG_NR_OPEN || nr == JG_NR_CREAT)
        bpf_probe_read_user_str(e->detail + JG_REFUSAL_PATH, JG_DETAIL - JG_REFUSAL_PATH, (const char *)a0);
    jg_submit_quiet(e);
    return 0;
}

/* A governed process killed by its seccomp filter (another architecture's entry, socketcall and all): the
   filter's kill raises SIGSYS with the syscall and arch in the siginfo. Args: (sig, info, task, group, result). */
SEC("raw_tracepoint/signal_generate")
int jg_signal_generate(struct bpf_raw_tracepoint_args *ctx) {
    if ((int)ctx->args[0] != 31) return 0;
    struct kernel_siginfo *info = (struct kernel_siginfo *)ctx->args[1];
    if ((unsigned long)info < 4096) return 0; /* SEND_SIG_NOINFO / SEND_SIG_PRIV */
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    struct jg_event *e = jg_event_new(JG_EV_SECCOMP_KILL, cgid, *slot);
    if (!e) return 0;
    __builtin_memset(e->detail, 0, sizeof(e->detail));
    e->aux = BPF_CORE_READ(info, _sifields._sigsys._syscall);
    __u32 arch = BPF_CORE_READ(info, _sifields._sigsys._arch);
    __builtin_memcpy(e->detail, &arch, sizeof arch);
    jg_submit_quiet(e);
    return 0;
}

/* Capability checks by governed processes: the kernel's cap_capable tracepoint (raw, so no tracefs), whose
   arguments are (cred, target ns, ns, cap, result). Recorded with the capability number; observes only. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} jg_capable_seen SEC(".maps");

SEC("raw_tracepoint/cap_capable")
int jg_cap_capable(struct bpf_raw_tracepoint_args *ctx) {
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    /* The first check of each capability by each cgroup in a second: a sandbox build checks CAP_SYS_ADMIN
       once per mount, and the record says that it asked, not how often. */
    __u64 key = (bpf_get_current_cgroup_id() << 6) ^ (__u64)(ctx->args[3] & 63);
    __u64 now = bpf_ktime_get_ns();
    __u64 *last = bpf_map_lookup_elem(&jg_capable_seen, &key);
    if (last && now - *last < 1000000000ULL) return 0;
    bpf_map_update_elem(&jg_capable_seen, &key, &now, BPF_ANY);
    struct jg_event *e = jg_event_new(JG_EV_CAPABLE, cgid, *slot);
    if (!e) return 0;
    __builtin_memset(e->detail, 0, sizeof(e->detail));
    e->aux = (__u32)ctx->args[3];
    jg_submit_quiet(e);
    return 0;
}
