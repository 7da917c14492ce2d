#define _GNU_SOURCE
#include "jg_bpf.h"
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* r0 = imm; exit */
static void ret_insns(struct bpf_insn insns[2], int imm) {
    memset(insns, 0, 2 * sizeof(struct bpf_insn));
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; insns[0].dst_reg = BPF_REG_0; insns[0].imm = imm;
    insns[1].code = BPF_JMP | BPF_EXIT;
}

int jg_bpf_probe_lsm(void) {
    struct btf *vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux) return -errno;
    int id = btf__find_by_name_kind(vmlinux, "bpf_lsm_file_open", BTF_KIND_FUNC);
    btf__free(vmlinux);
    if (id < 0) return -ENOENT;
    struct bpf_insn insns[2];
    ret_insns(insns, 0);
    LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_LSM_MAC, .attach_btf_id = (unsigned)id);
    int fd = bpf_prog_load(BPF_PROG_TYPE_LSM, "jg_probe_lsm", "GPL", insns, 2, &o);
    if (fd < 0) return -errno;
    int link = bpf_link_create(fd, 0, BPF_LSM_MAC, NULL);
    int e = errno;
    close(fd);
    if (link < 0) return -e;
    close(link);
    return 0;
}

static int tracepoint_id(const char *cat, const char *name) {
    static const char *roots[] = { "/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events" };
    char p[256];
    for (unsigned i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s/%s/id", roots[i], cat, name);
        FILE *f = fopen(p, "re");
        if (!f) continue;
        int id = -1;
        if (fscanf(f, "%d", &id) != 1) id = -1;
        fclose(f);
        if (id >= 0) return id;
    }
    return -ENOENT;
}

int jg_bpf_probe_tracepoint(void) {
    /* A raw tracepoint on sys_enter needs no tracefs mount, only CAP_BPF and CAP_PERFMON. */
    struct bpf_insn insns[2];
    ret_insns(insns, 0);
    int fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "jg_probe_tp", "GPL", insns, 2, NULL);
    if (fd < 0) return -errno;
    int link = bpf_raw_tracepoint_open("sys_enter", fd);
    int e = errno;
    close(fd);
    if (link < 0) return -e;
    close(link);
    return 0;
}

int jg_bpf_probe_cgroup_connect4(const char *cgroup_dir) {
    struct bpf_insn insns[2];
    ret_insns(insns, 1);
    LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_CGROUP_INET4_CONNECT);
    int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "jg_probe_c4", "GPL", insns, 2, &o);
    if (fd < 0) return -errno;
    int cg = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) { int e = errno; close(fd); return -e; }
    int r = bpf_prog_attach(fd, cg, BPF_CGROUP_INET4_CONNECT, 0);
    int e = errno;
    if (r == 0) bpf_prog_detach2(fd, cg, BPF_CGROUP_INET4_CONNECT);
    close(cg);
    close(fd);
    return r < 0 ? -e : 0;
}
