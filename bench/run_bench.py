#!/usr/bin/env python3
"""Runs every Jinn Guard benchmark once and writes BENCHMARKS.md (called by scripts/bench.sh).

Everything comes from this one run: the floor (bench/floor.c) is measured on the same machine, in
the same minute, on the same file system as the daemon's audit log, so the ratios stay honest even
when the absolute numbers are noisy. No timed assertions: this reports, it never fails on a figure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMPONENTS = ("jg-gate", "jg-prover", "jg-broker", "jg-kernel")
NONROOT = 10001
NAGENTS = 256

# The e2e test policy (imported, not copied, so the two cannot drift apart) plus 256 agents of the same
# shape, one per concurrent client, so that no two clients race on one agent's sequence counter.
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from e2e_helpers import DEFAULT_POLICY as POLICY_HEAD, children_of  # noqa: E402
AGENT = """\
  - id: bench_agent_{i:03d}
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: [read_customer_record, summarize_claim, list_claims]
    allowed_executables: []
    max_sequence_quota: 0
    # These agents never run tools: the smallest workspace image (each agent's image is reserved on disk).
    tool_limits: {{workspace_mb: 8}}
    invariants: []
"""


# Agents whose tools are slow (`sleep 2`), run while another agent's plain decisions are measured.
NSLOW = 4
SLOW_AGENT = """\
  - id: bench_slow_{i}
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: [run_tool]
    allowed_executables: []
    max_sequence_quota: 0
    tool_limits: {{timeout_seconds: 10, max_concurrent_runs: 2}}
    invariants: []
"""


class SlowTools:
    """NSLOW threads, each an agent executing `sleep 2` back to back until stopped; counts the replies."""

    def __init__(self, d: "Daemon"):
        from jinnguard import JinnGuardClient
        secret = d.secret_file.read_bytes().strip()
        self.stop_flag = threading.Event()
        self.tokens: dict[str, int] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(JinnGuardClient(str(d.socket), secret, 30.0), i), daemon=True)
                        for i in range(NSLOW)]

    def _run(self, client, i):
        seq = int(time.time() * 1000) * 1000
        while not self.stop_flag.is_set():
            seq += 1
            try:
                tok = client.propose(f"bench_slow_{i}", "run_tool", seq, execute=True,
                                     proposed_action={"kind": "shell_command", "command": "sleep 2"}).token
            except Exception as e:  # noqa: BLE001 - a transport failure is counted, not fatal
                tok = f"error: {type(e).__name__}"
            with self.lock:
                self.tokens[tok] = self.tokens.get(tok, 0) + 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def sh(cmd, **kw) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, **kw).stdout.strip()


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[:3].__str__().replace("'", "")


def proc_kib(pid: int, file: str, key: str) -> int | None:
    """The kB figure of one `Key:` line of /proc/PID/<file>, or None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def vmrss_kib(pid: int) -> int | None:
    return proc_kib(pid, "status", "VmRSS:")


def cpu_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        f = stat[stat.rindex(")") + 2:].split()
        return int(f[11]) + int(f[12])
    except OSError:
        return 0


class Daemon:
    def __init__(self, bindir: Path, root: Path):
        self.bin = bindir / "jinnguard"
        self.root = root
        self.socket = root / "jg.sock"
        self.audit = root / "state" / "audit.jsonl"  # jg-broker (non-root) writes beside it: the state dir
        self.secret_file = root / "secret"
        self.policy = root / "policy.yaml"
        self.policy.write_text(POLICY_HEAD + "".join(AGENT.format(i=i) for i in range(NAGENTS))
                               + "".join(SLOW_AGENT.format(i=i) for i in range(NSLOW)))
        self.secret_file.write_bytes(("bench-" + os.urandom(16).hex()).encode() + b"\n")
        os.chmod(self.secret_file, 0o644)  # the non-root load generator signs with it (bench only)
        self.output: list[str] = []
        self.proc = None

    def start(self, timeout=90):
        argv = [str(self.bin), "run", "--socket-path", str(self.socket), "--lineage-file", str(self.root / "lineage.json"),
                "--audit-log", str(self.audit), "--policy-file", str(self.policy), "--socket-mode", "0666",
                "--secret-file", str(self.secret_file), "--state-dir", str(self.root / "state")]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JINN_GUARD_", "JINNGUARD_"))}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     text=True, errors="replace", env=env, cwd=str(self.root))
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(timeout):
            self.stop()
            raise RuntimeError("daemon not ready:\n" + "\n".join(self.output[-40:]))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all(c in self.components() for c in COMPONENTS):
                break
            time.sleep(0.05)

    def _read(self):
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))
            if line.startswith("jinnguard: ready"):
                self.ready.set()

    def components(self) -> dict[str, int]:
        return {k: v for k, v in children_of(self.proc.pid).items() if k in COMPONENTS}

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        comps = self.components()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            for pid in comps.values():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            return None


def pss_kib(pid: int) -> int | None:
    """Proportional set size: each shared page (libswiftCore, libcrypto, libc...) split between the processes
    that map it, so the sum over processes counts it once."""
    return proc_kib(pid, "smaps_rollup", "Pss:")


def rss_snapshot(d: Daemon, reader=vmrss_kib) -> dict[str, int]:
    out = {c: reader(p) or 0 for c, p in d.components().items()}
    out["jinnguard (supervisor)"] = reader(d.proc.pid) or 0
    return out


def pss_snapshot(d: Daemon) -> dict[str, int]:
    return rss_snapshot(d, pss_kib)


class RssSampler:
    """Peak VmRSS and PSS per component while a load runs."""

    def __init__(self, d: Daemon):
        self.d = d
        self.peak: dict[str, int] = {}
        self.peak_pss: dict[str, int] = {}
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_ev.is_set():
            for k, v in rss_snapshot(self.d).items():
                self.peak[k] = max(self.peak.get(k, 0), v)
            for k, v in pss_snapshot(self.d).items():
                self.peak_pss[k] = max(self.peak_pss.get(k, 0), v)
            self.stop_ev.wait(0.1)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop_ev.set()
        self.t.join()


def as_nonroot(argv):
    if os.geteuid() != 0:
        return argv
    return ["setpriv", f"--reuid={NONROOT}", f"--regid={NONROOT}", "--clear-groups", *argv]


def loadgen(args, d: Daemon, *extra, timeout=180) -> dict:
    argv = as_nonroot([str(args.loadgen), "--socket", str(d.socket), "--secret-file", str(d.secret_file), *map(str, extra)])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/")
    if p.returncode != 0:
        raise RuntimeError(f"loadgen {extra} failed rc={p.returncode}: {p.stderr}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    log(f"{r['label']}: {r['measured']} req, {r['rate_per_s']}/s, p50 {r['latency'].get('p50_us')} µs, "
        f"errors {r['errors']}, fail-opens {r['failopens']}, tokens {r['tokens']}")
    return r


def floor(args, root: Path, durable: bool, n: int) -> dict:
    argv = [str(args.floor), "-n", str(n)]
    if durable:
        argv += ["--fsync", str(root / "floor-audit.bin")]
    out = sh(argv, timeout=300)
    kv = dict(x.split("=") for x in out.split()[2:])
    log(out)
    return {k: float(v) for k, v in kv.items()}


def profile(args, d: Daemon, seconds: float) -> dict[str, str]:
    """perf (cpu-clock: this VM has no hardware counters) on gate and broker during a 64-client load."""
    if not shutil.which("perf"):
        return {}
    comps = d.components()
    outs = {}
    procs = []
    for name in ("jg-gate", "jg-broker", "jg-prover"):
        data = d.root / f"perf-{name}.data"
        procs.append((name, data, subprocess.Popen(
            ["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g", "-o", str(data), "-p", str(comps[name]),
             "--", "sleep", str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    time.sleep(0.3)
    try:
        loadgen(args, d, "-c", 64, "-n", 10_000_000, "-w", 0, "-t", seconds - 0.5, "--deny-every", 10,
                "--label", "profiled-64")
    except Exception as e:  # noqa: BLE001
        log(f"profile load: {e}")
    for name, data, p in procs:
        p.wait(60)
        rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,symbol",
                              "--percent-limit", "1.5", "-g", "none"], capture_output=True, text=True, timeout=120)
        text = rep.stdout
        if shutil.which("swift"):
            dem = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input=text, capture_output=True,
                                 text=True, timeout=60)
            if dem.returncode == 0:
                text = dem.stdout
        lines = [l for l in text.splitlines() if l.strip() and not l.startswith("#")]
        outs[name] = "\n".join(l[:160] for l in lines[:22])
        kernel = sum(float(l.split("%")[0]) for l in lines if "[kernel" in l and "%" in l)
        outs[name + ":kernel_pct_listed"] = f"{kernel:.1f}"
    return outs


def stages(args, root: Path) -> dict:
    out = {}
    p = subprocess.run([str(args.stages), str(root / "stage-audit.bin")], capture_output=True, text=True, timeout=300)
    out["c"] = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    p = subprocess.run([sys.executable, str(REPO / "bench" / "stages_py.py")], capture_output=True, text=True, timeout=300)
    out["py"] = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    if args.swift_stages and Path(args.swift_stages).exists():
        env = dict(os.environ, JG_STAGE_AUDIT_FILE=str(root / "swift-stage-audit.jsonl"))
        p = subprocess.run([str(args.swift_stages), "--format", "json", "--time-unit", "ns",
                            "--columns", "name,median,p99,avg,iterations"], capture_output=True, text=True,
                           timeout=600, env=env)
        out["swift"] = swift_stage_records(p.stdout, p.stderr)
        if p.returncode != 0 or not out["swift"]:
            out["swift_error"] = p.stderr[-2000:]
    return out


def swift_stage_records(stdout: str, stderr: str) -> list[dict]:
    """google/swift-benchmark's JSON (one measurement per iteration; "… [×N]" stages time N calls per iteration)
    into per-call records, plus the facts the bench printed on stderr (line sizes, errors)."""
    records = []
    facts = [json.loads(l) for l in stderr.splitlines() if l.startswith("{")]
    try:
        doc = json.loads(stdout)
    except ValueError:
        return facts
    for b in doc.get("benchmarks", []):
        name, calls = b["name"], 1
        m = re.search(r" \[×(\d+)\]$", name)
        if m:
            calls = int(m.group(1))
            name = name[:m.start()]
        records.append({"stage": name, "n": int(b["iterations"]) * calls, "p50_ns": b["median"] / calls,
                        "p99_ns": b["p99"] / calls, "mean_ns": b["avg"] / calls,
                        "note": ""})
    # Line sizes right after the stage they belong to; errors at the end.
    for f in facts:
        base = f["stage"].removesuffix(": line size")
        at = next((i for i, r in enumerate(records) if r["stage"] == base), None)
        if at is None:
            records.append(f)
        else:
            records.insert(at + 1, f)
    return records


def prover_bench(bindir: Path) -> str:
    exe = bindir / "jg-bench-prover"
    if not exe.exists():
        return None
    p = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    return p.stdout + (f"\n(exit status {p.returncode}; stderr: {p.stderr.strip()[:500]})" if p.returncode else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True, type=Path)
    ap.add_argument("--floor", required=True, type=Path)
    ap.add_argument("--loadgen", required=True, type=Path)
    ap.add_argument("--stages", required=True, type=Path)
    ap.add_argument("--swift-stages", default=None)
    ap.add_argument("--out", default=str(REPO / "BENCHMARKS.md"))
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--render-only", default=None, help="render BENCHMARKS.md from a saved results JSON")
    args = ap.parse_args()
    if args.render_only:
        sys.path.insert(0, str(REPO / "bench"))
        import report  # noqa: E402
        R = json.loads(Path(args.render_only).read_text())
        Path(args.out).write_text(report.render(R))
        return

    R: dict = {"started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    R["commit"] = os.environ.get("BENCH_COMMIT") or sh(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"])
    R["dirty"] = False if os.environ.get("BENCH_COMMIT") else bool(
        sh(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"]))
    R["machine"] = {
        "cpu": next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                     if l.startswith("model name")), platform.processor()),
        "cores": os.cpu_count(),
        "mem": next(l.split(":", 1)[1].strip() for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")),
        "kernel": platform.release(),
        "fs": sh(["findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", "-T", tempfile.gettempdir()]),
        "swift": sh(["swift", "--version"]).splitlines()[0] if shutil.which("swift") else "?",
        "gcc": sh(["gcc", "--version"]).splitlines()[0],
        "virt": sh(["systemd-detect-virt"]) if shutil.which("systemd-detect-virt") else "?",
    }
    R["loadavg_before"] = loadavg()
    root = Path(tempfile.mkdtemp(prefix="jgbench-", dir="/tmp"))
    os.chmod(root, 0o755)
    n = args.requests
    d = Daemon(args.bindir, root)
    try:
        log(f"floor, in {root}")
        R["floor_ipc"] = floor(args, root, False, n)
        R["floor_durable"] = floor(args, root, True, n)

        log("starting the release daemon")
        d.start()
        time.sleep(1.0)
        R["rss_idle"] = rss_snapshot(d)
        R["pss_idle"] = pss_snapshot(d)

        L = R["latency"] = {}
        L["allow_persistent"] = loadgen(args, d, "-c", 1, "-n", n, "--agents", 1, "--label", "allow-persistent")
        L["allow_per_request"] = loadgen(args, d, "-c", 1, "-n", n, "--agents", 1, "--per-request", "--label", "allow-per-request")
        L["deny_unknown"] = loadgen(args, d, "-c", 1, "-n", n, "--agents", 1, "--kind", "unknown", "--label", "deny-unknown-agent")
        L["deny_badsig"] = loadgen(args, d, "-c", 1, "-n", n, "--agents", 1, "--kind", "badsig", "--label", "deny-bad-signature")
        # One agent's slow tools must not slow the others: plain decisions measured while NSLOW agents
        # run `sleep 2` back to back.
        with SlowTools(d) as slow:
            L["allow_during_slow_tools"] = loadgen(args, d, "-c", 1, "-n", n // 2, "--agents", 1,
                                                   "--label", "allow-during-slow-tools")
        R["slow_tools"] = {"agents": NSLOW, "command": "sleep 2", "tokens": slow.tokens}
        log(f"slow tools meanwhile: {slow.tokens}")
        # the floor again, now that the daemon is idle-but-running: shows drift in machine load
        R["floor_durable_after"] = floor(args, root, True, n // 2)
        # This VM's speed drifts within minutes: three more (floor, ALLOW) pairs, each measured back to back,
        # show how much of the ratio above is the machine's mood.
        R["pairs"] = []
        for i in range(3):
            fl = floor(args, root, True, n // 2)
            al = loadgen(args, d, "-c", 1, "-n", n // 2, "--agents", 1, "--label", f"allow-persistent-pair-{i + 1}")
            R["pairs"].append({"floor_p50_us": fl["p50_us"], "allow_p50_us": al["latency"]["p50_us"],
                               "allow_p99_us": al["latency"]["p99_us"], "n": al["measured"]})

        T = R["throughput"] = {}
        R["rss_load"] = {}
        ticks0 = {c: cpu_ticks(p) for c, p in d.components().items()}
        with RssSampler(d) as s:
            for c in (1, 8, 64, 256):
                total = max(n, 20_000 if c == 1 else 50_000)
                T[c] = loadgen(args, d, "-c", c, "-n", total, "-w", min(2000, 10 * c), "-t", 40, "--deny-every", 10,
                               "--label", f"throughput-{c}")
        R["rss_load"] = s.peak
        R["pss_load"] = s.peak_pss
        hz = os.sysconf("SC_CLK_TCK")
        R["cpu_s_throughput"] = {c: (cpu_ticks(p) - ticks0.get(c, 0)) / hz for c, p in d.components().items()}
        time.sleep(1.0)
        R["rss_after"] = rss_snapshot(d)
        R["pss_after"] = pss_snapshot(d)

        log("profiling gate, prover and broker under 64 clients")
        try:
            R["profile"] = profile(args, d, 8.0)
        except Exception as e:  # noqa: BLE001
            R["profile"] = {"error": str(e)}
    finally:
        rc = d.stop()
        R["stop_rc"] = rc
        R["daemon_tail"] = d.output[-15:]
    try:
        lines = [l for l in d.audit.read_text().splitlines() if l.strip()]
        R["audit_entries"] = len(lines)
        verify = REPO / "scripts" / "verify_audit.py"
        if verify.exists():
            p = subprocess.run([sys.executable, str(verify), str(d.audit)], capture_output=True, text=True, timeout=600)
            R["audit_verify"] = {"rc": p.returncode, "out": (p.stdout + p.stderr).strip()[-400:]}
    except OSError as e:
        R["audit_entries"] = f"unreadable: {e}"

    log("stage microbenchmarks")
    R["stages"] = stages(args, root)
    log("jg-bench-prover")
    R["prover"] = prover_bench(args.bindir)
    R["loadavg_after"] = loadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(R, indent=1, default=str))
    sys.path.insert(0, str(REPO / "bench"))
    import report  # noqa: E402
    Path(args.out).write_text(report.render(R))
    log(f"wrote {args.out}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
