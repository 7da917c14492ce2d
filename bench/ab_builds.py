#!/usr/bin/env python3
"""Interleaved A/B of release builds: what a "no worse than before" claim needs on this noisy VM.

Each round starts a daemon of every build in turn (the order alternates between rounds), warms it up, and
runs 64 clients (one request in ten tampered, as in `make bench`), recording decisions/s and the CPU each
component spent per request. Medians over the rounds are printed at the end.

    bench/ab_builds.py ROUNDS LOADGEN NAME:BINDIR:BENCHDIR [NAME:BINDIR:BENCHDIR ...]

BINDIR holds jinnguard, jg-* and bpf/; BENCHDIR is the bench/ of the same commit (its run_bench.py writes a
policy that build accepts). LOADGEN is bench/loadgen.c built with `gcc -O2 ... -lcrypto`.
"""
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def bench_module(benchdir: str, name: str):
    spec = importlib.util.spec_from_file_location(name, f"{benchdir}/run_bench.py")
    m = importlib.util.module_from_spec(spec)
    sys.path.insert(0, benchdir)
    spec.loader.exec_module(m)
    sys.path.pop(0)
    m.NSLOW = 0
    m.log = lambda *a: None
    return m


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    rounds, loadgen = int(sys.argv[1]), Path(sys.argv[2])
    builds = []
    for spec in sys.argv[3:]:
        name, bindir, benchdir = spec.split(":")
        builds.append((name, Path(bindir), bench_module(benchdir, "rb_" + name)))

    class Args:
        pass
    args = Args()
    args.loadgen = loadgen
    results: dict[str, list] = {n: [] for n, _, _ in builds}
    for rnd in range(rounds):
        for name, bindir, rb in (builds if rnd % 2 == 0 else builds[::-1]):
            root = Path(tempfile.mkdtemp(prefix="jgab-", dir="/tmp"))
            os.chmod(root, 0o755)
            d = rb.Daemon(bindir, root)
            try:
                d.start()
                time.sleep(0.5)
                rb.loadgen(args, d, "-c", 64, "-n", 5000, "-w", 640, "-t", 40, "--deny-every", 10, "--label", "warm")
                comps = d.components()
                t0 = {k: rb.cpu_ticks(v) for k, v in comps.items()}
                r = rb.loadgen(args, d, "-c", 64, "-n", 40000, "-w", 640, "-t", 60, "--deny-every", 10, "--label", "ab")
                t1 = {k: rb.cpu_ticks(v) for k, v in comps.items()}
                n = r["measured"] + 640
                hz = os.sysconf("SC_CLK_TCK")
                cpu = {k: round((t1[k] - t0[k]) / hz * 1e6 / n, 1) for k in t0 if k != "jg-kernel"}
                results[name].append((r["rate_per_s"], r["latency"].get("p50_us"), cpu))
                print(rnd, name, f"{r['rate_per_s']}/s", "p50", r["latency"].get("p50_us"), "µs; CPU µs/request", cpu, flush=True)
            finally:
                d.stop()
                shutil.rmtree(root, ignore_errors=True)  # workspace images are reserved on disk
    for name, rows in results.items():
        cpu = {k: statistics.median(x[2][k] for x in rows) for k in rows[0][2]}
        print(f"{name}: median {statistics.median(x[0] for x in rows)}/s, p50 {statistics.median(x[1] for x in rows)} µs, "
              f"CPU µs/request {cpu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
