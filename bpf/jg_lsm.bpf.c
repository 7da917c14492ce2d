// BPF-LSM: enforcement where the kernel allows LSM programs (exec, open, create, unlink below an agent's
// denied directories; connect to denied destinations; mounts; capability-check telemetry), for governed
// cgroups only. On hosts that refuse LSM programs (lockdown, EPERM) this object still compiles and
// jg-kernel reports the LSM plane inactive with the errno.
#include "jg_common.bpf.h"

/// Is `d` or one of its ancestors (within its mount) a denied directory of this agent?
static __always_inline int jg_dir_denied(__u32 slot, struct dentry *d) {
    struct jg_dir_key k = { .gen = jg_generation(), .slot = slot };
    for (int i = 0; i < 32; i++) {
        if (!d) break;
        struct inode *ino = BPF_CORE_READ(d, d_inode);
        if (ino) {
            k.ino = BPF_CORE_READ(ino, i_ino);
            k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
            if (bpf_map_lookup_elem(&jg_dirs, &k)) return 1;
        }
        struct dentry *p = BPF_CORE_READ(d, d_parent);
        if (p == d) break;
        d = p;
    }
    return 0;
}

static __always_inline int jg_deny(__u32 kind, __u64 cgid, __u32 slot, struct dentry *d) {
    jg_count(JG_STAT_DENIED);
    struct jg_event *e = jg_event_new(kind, cgid, slot);
    if (e) {
        __builtin_memset(e->detail, 0, sizeof(e->detail));
        if (d) {
            const unsigned char *name = BPF_CORE_READ(d, d_name.name);
            bpf_probe_read_kernel_str(e->detail, sizeof(e->detail), name);
        }
        bpf_ringbuf_submit(e, 0);
    }
    return -EPERM;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(jg_bprm_check, struct linux_binprm *bprm, int ret) {
    if (ret) return ret;
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    struct dentry *d = BPF_CORE_READ(bprm, file, f_path.dentry);
    if (jg_dir_denied(*slot, d)) return jg_deny(JG_EV_DENY_EXEC, cgid, *slot, d);
    return 0;
}

SEC("lsm/file_open")
int BPF_PROG(jg_file_open, struct file *file, int ret) {
    if (ret) return ret;
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
    if (jg_dir_denied(*slot, d)) return jg_deny(JG_EV_DENY_OPEN, cgid, *slot, d);
    return 0;
}

SEC("lsm/inode_create")
int BPF_PROG(jg_inode_create, struct inode *dir, struct dentry *dentry, umode_t mode, int ret) {
    if (ret) return ret;
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    if (jg_dir_denied(*slot, BPF_CORE_READ(dentry, d_parent))) return jg_deny(JG_EV_DENY_CREATE, cgid, *slot, dentry);
    return 0;
}

SEC("lsm/inode_unlink")
int BPF_PROG(jg_inode_unlink, struct inode *dir, struct dentry *dentry, int ret) {
    if (ret) return ret;
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    if (jg_dir_denied(*slot, BPF_CORE_READ(dentry, d_parent))) return jg_deny(JG_EV_DENY_UNLINK, cgid, *slot, dentry);
    return 0;
}

SEC("lsm/socket_connect")
int BPF_PROG(jg_socket_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret) {
    if (ret) return ret;
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    __u16 family = BPF_CORE_READ(address, sa_family);
    __u8 a[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (family == AF_INET) {
        if (addrlen < (int)sizeof(struct sockaddr_in)) return 0;
        bpf_probe_read_kernel(&a[12], 4, &((struct sockaddr_in *)address)->sin_addr);
    } else if (family == AF_INET6) {
        if (addrlen < (int)sizeof(struct sockaddr_in6)) return 0;
        bpf_probe_read_kernel(a, 16, &((struct sockaddr_in6 *)address)->sin6_addr);
    } else {
        return 0;
    }
    if (!jg_dest_denied(*slot, a)) return 0;
    return jg_deny(JG_EV_DENY_CONNECT, cgid, *slot, 0);
}

SEC("lsm/sb_mount")
int BPF_PROG(jg_sb_mount, const char *dev_name, const struct path *path, const char *type, unsigned long flags,
             void *data, int ret) {
    if (ret) return ret;
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    return jg_deny(JG_EV_DENY_MOUNT, cgid, *slot, 0);
}

SEC("lsm/move_mount")
int BPF_PROG(jg_move_mount, const struct path *from_path, const struct path *to_path, int ret) {
    if (ret) return ret;
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    return jg_deny(JG_EV_DENY_MOUNT, cgid, *slot, 0);
}

SEC("lsm/capable")
int BPF_PROG(jg_capable, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts, int ret) {
    if (ret) return ret;
    __u64 cgid = 0;
    __u32 *slot = jg_governed_slot(&cgid);
    if (!slot) return 0;
    struct jg_event *e = jg_event_new(JG_EV_CAPABLE, cgid, *slot);
    if (e) {
        e->aux = cap;
        __builtin_memset(e->detail, 0, sizeof(e->detail));
        bpf_ringbuf_submit(e, 0);
    }
    return 0;
}
