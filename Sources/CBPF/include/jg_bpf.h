// Why: probing a BPF plane means loading and attaching a real program, which needs libbpf's
// raw load calls, instruction structs and perf_event_open (no libc wrapper).
// Each probe returns 0 when the plane loaded AND attached here, else -errno. Nothing stays attached.
#pragma once
/// BPF-LSM: load a `file_open` LSM program and attach it (detached again at once).
int jg_bpf_probe_lsm(void);
/// Tracepoint: load a raw tracepoint program and attach it to sys_enter.
int jg_bpf_probe_tracepoint(void);
/// cgroup socket: load a connect4 program and attach it to the cgroup directory `cgroup_dir`.
int jg_bpf_probe_cgroup_connect4(const char *cgroup_dir);
