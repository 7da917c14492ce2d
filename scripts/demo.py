#!/usr/bin/env python3
"""`make demo`: start the real Jinn Guard daemon in a temp dir and show what it does.

Narrates one legitimate request, each attack denied, a brokered `echo`, the metrics and the audit
chain verification. Exits non-zero if any outcome is not as expected.
Env: JINNGUARD_BIN (default <repo>/.build/debug/jinnguard). Must run as root (the legitimate request
is sent from a non-root child process, uid 10001, as an agent would be).
"""

import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "clients" / "python"))

from e2e_helpers import (JINNGUARD_BIN, MAX_BODY, NONROOT, Daemon, envelope_bytes,  # noqa: E402
                         payload_str, proposal, send_as, token_of)
from jinnguard import frame, parse_reply  # noqa: E402
import test_kernel as kernel_probe  # noqa: E402  (the same cgroup probe the kernel tests use)
import test_locked_agent as locked_docs  # noqa: E402  (the worked example of docs/locked-agents.md)

# The test policy, plus: claims_agent may never reach 127.0.0.2 (enforced in the kernel), and tool_agent
# may run any command (in the sandbox).
DEMO_POLICY = kernel_probe.POLICY + """\
  - id: tool_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    tool_limits: {timeout_seconds: 5}
    invariants: []
""" + locked_docs.docs_blocks()["yaml"]

failures = []


def say(text=""):
    print(text, flush=True)


def expect(what, got, want):
    ok = got in want if isinstance(want, (tuple, list, set)) else got == want
    mark = "ok  " if ok else "FAIL"
    shown = want if not isinstance(want, (tuple, list, set)) else " or ".join(want)
    say(f"  [{mark}] {what}: {got}" + ("" if ok else f"   (expected {shown})"))
    if not ok:
        failures.append(what)
    return ok


def main():
    if os.geteuid() != 0:
        say("demo: run as root (the legitimate agent is started as uid 10001)")
        return 2
    if not os.path.exists(JINNGUARD_BIN):
        say(f"demo: daemon binary not found: {JINNGUARD_BIN} (build it or set JINNGUARD_BIN)")
        return 2
    root = Path(tempfile.mkdtemp(prefix="jinnguard-demo-"))
    d = Daemon(root, policy=DEMO_POLICY, env={"JINNGUARD_BPF_DIR": kernel_probe.bpf_dir()})
    say(f"Starting Jinn Guard: {JINNGUARD_BIN}")
    say(f"  socket {d.socket}, audit log {d.audit}, metrics on 127.0.0.1:{d.port}")
    try:
        d.start()
        comps = d.components()
        say(f"  ready; components: " + ", ".join(f"{k} (pid {v})" for k, v in sorted(comps.items())))
        say()

        say("1. A legitimate agent (claims_agent, an unprivileged process) asks to read a customer record.")
        tok = d.token_as(NONROOT, action_risk_score=10)
        expect("legitimate request", tok, "ALLOW")
        say()

        say("2. Attacks. Each one is refused, and the daemon says why.")
        expect("forged signature (signed with a guessed key)", d.token(key=b"guessed-key"),
               "DENY_TAMPERED_TOKEN")
        s = d.seq()
        d.token(seq=s, action_risk_score=10)
        expect("replay of a request already accepted", d.token(seq=s, action_risk_score=10),
               "DENY_REPLAY_ATTACK")
        expect("agent the policy has never heard of", d.token(agent="mallory_agent"),
               "DENY_UNKNOWN_AGENT_ID")
        expect("claims_agent asking to delete the database", d.token(intent="delete_database"),
               "DENY_INTENT_NOT_ALLOWED")
        expect("touching the canary decoy resource", d.token(intent="read_canary_decoy_a91f"),
               "DENY_CANARY_TRIPWIRE")
        expect("declared risk 95 over the ceiling of 90", d.token(action_risk_score=95),
               "DENY_RISK_CEILING_EXCEEDED")
        expect("billing agent spending $500 (invariant spending_ceiling_usd <= 150)",
               d.token(agent="billing_agent", context_vars={"spending_ceiling_usd": 500}),
               "DENY_VIOLATION")
        expect("a frame of 4 MiB + 1 byte", d.raw_token(struct.pack(">IB", MAX_BODY + 1, 1)),
               "DENY_PAYLOAD_TOO_LARGE")
        say()

        say("3. A brokered execution: exec_agent asks the daemon to run `echo hello` for it.")
        fr = d.frame_for(agent="exec_agent", intent="run_echo",
                         proposed_action={"kind": "shell_command", "command": "echo hello"}, execute=True)
        body = send_as(NONROOT, d.socket, [fr])[0]
        if body is None:
            expect("brokered echo", None, "ALLOW")
        else:
            r = parse_reply(body)
            expect("brokered echo verdict", r.token, ("ALLOW", "CONSTRAIN"))
            out = (r.result or {}).get("stdout")
            expect("output of echo, as run by the broker", repr(out), repr("hello\n"))
            say(f"      the daemon's reply was: {body!r}")
        say()

        say("3b. A sandboxed agent tries to escape: write outside its workspace and read /etc/shadow.")
        fr = d.frame_for(agent="tool_agent", intent="run_tool", execute=True,
                         proposed_action={"kind": "shell_command",
                                          # Spelled so that the broker's text rules (which refuse /etc/shadow by
                                          # name) let it run: this shows what the sandbox itself stops.
                                          "command": "id -u; d=/etc; echo x > $d/jinnguard-escape; s=sha; cat $d/${s}dow | head -1; echo done"})
        body = send_as(NONROOT, d.socket, [fr])[0]
        r = parse_reply(body) if body else None
        res = (r.result or {}) if r else {}
        # Each agent's tools run as a uid of its own, from the daemon's reserved range (<state>/tool-uids).
        tool_uids = {n: u for u, n in (l.split() for l in (d.sockdir / "state" / "tool-uids").read_text().splitlines() if l.strip())}
        expect("the command ran (as tool_agent's own tool uid, in its own namespaces)", res.get("stdout", "").split("\n")[0],
               tool_uids.get("tool_agent", "?"))
        expect("nothing was written to /etc", os.path.exists("/etc/jinnguard-escape"), False)
        expect("/etc/shadow stayed unreadable", "root:" in res.get("stdout", ""), False)
        say(f"      stderr of the attempt: {res.get('stderr', '').strip()!r}")
        import json as _json
        outcome = _json.loads([l for l in Path(d.audit).read_text().splitlines() if '"class":"Execution"' in l][-1])
        say(f"      its audit record (index {outcome['index']}): sandbox layers {', '.join(outcome['decision'].get('sandbox', []))}; "
            f"exit code {outcome['decision'].get('exit_code')}")
        say()

        say("3c. An agent bypasses the socket and calls connect() itself; the kernel says no.")
        import re
        m = re.search(r"agents (\S+)", d.output_text(400))
        planes_ok = "plane cgroup_sock_addr: active" in d.output_text(400)
        if m and planes_ok:
            ls = kernel_probe.Listeners()
            try:
                with kernel_probe.Cgroup(Path(m.group(1)) / "claims_agent") as cg:
                    got = cg.run(connect=[[4, kernel_probe.DENIED4, ls.ports[kernel_probe.DENIED4]],
                                          [4, kernel_probe.ALLOWED4, ls.ports[kernel_probe.ALLOWED4]]])
                outside = kernel_probe.probe(connect=[[4, kernel_probe.DENIED4, ls.ports[kernel_probe.DENIED4]]])
            finally:
                ls.close()
            import errno as _errno
            expect("claims_agent's process connecting to 127.0.0.2 (denied in policy)", got["connect"][0], _errno.EPERM)
            expect("the same process connecting to 127.0.0.1", got["connect"][1], 0)
            expect("the same connect from outside the agent's cgroup", outside["connect"][0], 0)
            time.sleep(0.5)
            deadline = time.monotonic() + 5
            denials = []
            while not denials and time.monotonic() < deadline:
                denials = [l for l in Path(d.audit).read_text().splitlines() if "deny_connect" in l]
                time.sleep(0.2)
            expect("the kernel's denial is in the audit log", bool(denials), True)
        else:
            say("      the cgroup socket plane is not active on this machine: skipped (see `jinnguard status`)")
        say()

        say("3d. A locked agent (`jinnguard agent run`): its only way out is the Jinn Guard socket.")
        import subprocess
        blocks = locked_docs.docs_blocks()
        work = Path(tempfile.mkdtemp(prefix="jinnguard-demo-agent-"))
        try:
            os.chmod(work, 0o755)
            (work / "agent.py").write_text(blocks["python"])
            argv = [JINNGUARD_BIN, "agent", "run", "--agent", "notes_agent", "--state-dir", str(d.sockdir / "state"),
                    "--socket", str(d.socket), "--secret-file", str(d.secret_file),
                    "--read-only", str(REPO / "clients" / "python"), "--env", "PYTHONPATH=" + str(REPO / "clients" / "python"),
                    "--read-only", str(work / "agent.py"), "--", "python3", str(work / "agent.py")]
            say("      $ jinnguard agent run --agent notes_agent … -- python3 agent.py   (docs/locked-agents.md)")
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            for line in r.stdout.splitlines():
                say(f"      | {line}")
            got = dict(l.split(": ", 1) for l in r.stdout.splitlines() if ": " in l)
            expect("its direct connect() fails", got.get("direct connect"), "Address family not supported by protocol")
            expect("its direct write to /etc fails", got.get("direct write to /etc"), "Read-only file system")
            expect("its brokered shell command succeeds", got.get("brokered shell"), "ALLOW hello from the broker")
            expect("its brokered file write lands in its workspace", got.get("brokered write"), "ALLOW written for me")
            expect("jinnguard agent run exit code (the agent's)", r.returncode, 0)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        say()

        say("4. What the metrics endpoint says now.")
        deadline = time.monotonic() + 3
        while True:
            m = d.metrics()
            if m.get('jinnguard_decisions_total{verdict="allow"}', 0) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for key in sorted(m):
            if key.startswith(("jinnguard_proposals_total", "jinnguard_decisions_total",
                               "jinnguard_denials_total")):
                say(f"      {key} {m[key]:g}")
        expect("proposals counted", m.get("jinnguard_proposals_total", 0) >= 10, True)
        expect("allow decisions counted", m.get('jinnguard_decisions_total{verdict="allow"}', 0) >= 1, True)
        expect("tampered-token denials counted",
               m.get('jinnguard_denials_total{reason="DENY_TAMPERED_TOKEN"}', 0) >= 1, True)
        say()

        say("5. The audit chain: every decision above is a hash-linked record.")
        lines = d.wait_audit_count(10)
        say(f"      {len(lines)} records in {d.audit}")
        r = d.cli("audit", "verify", str(d.audit))
        for line in (r.stdout + r.stderr).strip().splitlines()[:5]:
            say(f"      | {line}")
        expect("jinnguard audit verify exit code", r.returncode, 0)
        say()
    except AssertionError as e:
        say(f"demo: {e}")
        failures.append("daemon")
    finally:
        try:
            rc = d.stop(check=False)
            say(f"Stopped the daemon (SIGTERM): exit code {rc}")
            if rc != 0:
                failures.append("clean shutdown")
        finally:
            d.cleanup()
            shutil.rmtree(root, ignore_errors=True)
    if failures:
        say(f"demo: {len(failures)} outcome(s) not as expected: {', '.join(failures)}")
        return 1
    say("demo: every outcome as expected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
