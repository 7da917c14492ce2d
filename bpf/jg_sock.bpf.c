// cgroup socket programs: deny connect()/sendmsg() to an agent's denied destinations from governed
// cgroups. Attached (BPF_F_ALLOW_MULTI links) to jg-kernel's cgroup subtree only; a task outside the
// governed cgroups always gets 1 (allow).
#include "jg_common.bpf.h"

static __always_inline void jg_deny_event(__u32 kind, __u64 cgid, __u32 slot, __u16 family, __u16 port_be,
                                          const __u8 addr[16]) {
    jg_count(JG_STAT_DENIED);
    struct jg_event *e = jg_event_new(kind, cgid, slot);
    if (!e) return;
    e->aux = family;
    __builtin_memset(e->detail, 0, sizeof(e->detail));
    /* sockaddr_in6 shape: family, port, flowinfo, addr */
    __builtin_memcpy(&e->detail[0], &family, 2);
    __builtin_memcpy(&e->detail[2], &port_be, 2);
    __builtin_memcpy(&e->detail[8], addr, 16);
    bpf_ringbuf_submit(e, 0);
}

static __always_inline int jg_check4(struct bpf_sock_addr *ctx, __u32 kind) {
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 1;
    __u32 ip = ctx->user_ip4;
    __u8 a[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    __builtin_memcpy(&a[12], &ip, 4);
    if (!jg_dest_denied(*slot, a)) return 1;
    jg_deny_event(kind, cgid, *slot, AF_INET, (__u16)ctx->user_port, a);
    return 0;
}

static __always_inline int jg_check6(struct bpf_sock_addr *ctx, __u32 kind) {
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 1;
    __u32 w[4];
    w[0] = ctx->user_ip6[0];
    w[1] = ctx->user_ip6[1];
    w[2] = ctx->user_ip6[2];
    w[3] = ctx->user_ip6[3];
    __u8 a[16];
    __builtin_memcpy(a, w, 16);
    if (!jg_dest_denied(*slot, a)) return 1;
    jg_deny_event(kind, cgid, *slot, AF_INET6, (__u16)ctx->user_port, a);
    return 0;
}

SEC("cgroup/connect4")
int jg_connect4(struct bpf_sock_addr *ctx) { return jg_check4(ctx, JG_EV_DENY_CONNECT); }

SEC("cgroup/connect6")
int jg_connect6(struct bpf_sock_addr *ctx) { return jg_check6(ctx, JG_EV_DENY_CONNECT); }

SEC("cgroup/sendmsg4")
int jg_sendmsg4(struct bpf_sock_addr *ctx) { return jg_check4(ctx, JG_EV_DENY_SENDMSG); }

SEC("cgroup/sendmsg6")
int jg_sendmsg6(struct bpf_sock_addr *ctx) { return jg_check6(ctx, JG_EV_DENY_SENDMSG); }
