"""MCP gateway overhead (issue 15), one run: the same `tools/call` of a real MCP client (the official `mcp`
package) to the same MCPServer upstream, directly and through `jinnguard mcp`, and, in the same run, the
daemon's own decision time for that call's proposal on its socket. Prints a Markdown section.
  JINNGUARD_BIN (default .build/debug/jinnguard)   MCP_BENCH_CALLS (default 400)
  MCP_BENCH_ROUNDS (default 2)   MCP_BENCH_AB="old=/path/jinnguard,new=/path/jinnguard": A/B of gateway
  binaries against the same daemon, interleaved round by round (each unconfined, as the older gateway was)."""

import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import e2e_helpers as H  # noqa: E402
from test_mcp_gateway import MCP_POLICY, UPSTREAM  # noqa: E402

from mcp import StdioServerParameters  # noqa: E402
from mcp.client.client import Client  # noqa: E402

N = int(os.environ.get("MCP_BENCH_CALLS", "400"))
WARM = 30


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def calls(params) -> list[float]:
    out = []
    async with Client(params) as c:
        for i in range(WARM + N):
            t = time.perf_counter()
            r = await c.call_tool("lookup_weather", {"city": "Paris"})
            dt = time.perf_counter() - t
            assert not r.is_error, r
            if i >= WARM:
                out.append(dt)
    return out


def decisions(d) -> list[float]:
    """The gateway's proposal for the same call, signed and sent on one kept connection."""
    import hashlib
    import hmac
    import json
    args = json.dumps({"city": "Paris"}, separators=(",", ":"))
    key = d.secret
    s = H.connect(d.socket)
    out = []
    seq = time.time_ns()
    for i in range(WARM + N):
        seq += 1
        payload = json.dumps({"sequence_counter": seq, "agent_id": "mcp_agent", "intent_name": "lookup_weather", "plan": args,
                              "proposed_action": {"kind": "mcp_tool_call", "url": "mcp://weather/lookup_weather",
                                                  "method": "lookup_weather", "contents": args}, "execute": False},
                             separators=(",", ":"))
        sig = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
        body = json.dumps({"payload": payload, "signature": sig}, separators=(",", ":")).encode()
        frame = len(body).to_bytes(4, "big") + b"\x01" + body
        t = time.perf_counter()
        s.sendall(frame)
        reply = H.recv_reply(s)
        dt = time.perf_counter() - t
        assert reply and (b"ALLOW" in reply or b"CONSTRAIN" in reply), reply
        if i >= WARM:
            out.append(dt)
    s.close()
    return out


ROUNDS = int(os.environ.get("MCP_BENCH_ROUNDS", "2"))


def knows(binary: str, flag: str) -> bool:
    import subprocess
    r = subprocess.run([binary, "mcp", "--help"], capture_output=True, text=True)
    return flag in r.stdout + r.stderr


def gateway(d, binary, env, confined=False):
    extra = []
    if confined:
        extra = ["--state-dir", str(d.sockdir / "state")]
    elif knows(binary, "--unconfined-upstream"):
        extra = ["--unconfined-upstream"]
    return StdioServerParameters(command=binary, args=[
        "mcp", "--agent", "mcp_agent", "--socket", str(d.socket), "--secret-file", str(d.secret_file),
        "--policy-file", str(d.policy), "--server-name", "weather", *extra, "--", sys.executable, UPSTREAM], env=env)


def ab(spec: str):
    """Interleaved A/B of gateway binaries: per round, direct then each gateway; medians of the rounds' P50."""
    pairs = [kv.split("=", 1) for kv in spec.split(",")]
    root = Path(tempfile.mkdtemp(prefix="jgmcpbench-"))
    d = H.Daemon(root, policy=MCP_POLICY)
    d.start()
    rows = {name: [] for name, _ in pairs}
    try:
        env = {**os.environ, "MCP_UPSTREAM_LOG": "/dev/null"}
        direct = StdioServerParameters(command=sys.executable, args=[UPSTREAM], env=env)
        for r in range(ROUNDS):
            base = pct(asyncio.run(calls(direct)), 50)
            order = pairs if r % 2 == 0 else list(reversed(pairs))
            for name, binary in order:
                xs = asyncio.run(calls(gateway(d, binary, env)))
                rows[name].append((pct(xs, 50) - base, pct(xs, 50), base))
            print(f"round {r}: " + ", ".join(f"{n} added P50 {rows[n][-1][0] * 1000:.3f} ms" for n, _ in pairs), file=sys.stderr)
    finally:
        d.stop()
        d.cleanup()
    print(f"| gateway | rounds | median added P50 ms | each round's added P50 ms |")
    print("|---|---|---|---|")
    for name, _ in pairs:
        added = [x[0] for x in rows[name]]
        print(f"| {name} | {len(added)} | {statistics.median(added) * 1000:.3f} | {' '.join(f'{x * 1000:.3f}' for x in added)} |")


def main():
    if os.environ.get("MCP_BENCH_AB"):
        return ab(os.environ["MCP_BENCH_AB"])
    root = Path(tempfile.mkdtemp(prefix="jgmcpbench-"))
    d = H.Daemon(root, policy=MCP_POLICY)
    d.start()
    confined_ok = os.geteuid() == 0 and knows(H.JINNGUARD_BIN, "--unconfined-upstream")
    try:
        env = {**os.environ, "MCP_UPSTREAM_LOG": "/dev/null"}
        direct = StdioServerParameters(command=sys.executable, args=[UPSTREAM], env=env)
        gw = gateway(d, H.JINNGUARD_BIN, env)
        gwc = gateway(d, H.JINNGUARD_BIN, env, confined=True)
        # Interleaved rounds, so drift of the shared machine hits every path alike.
        a, b, c, dec = [], [], [], []
        for _ in range(ROUNDS):
            a += asyncio.run(calls(direct))
            b += asyncio.run(calls(gw))
            if confined_ok:
                try:
                    c += asyncio.run(calls(gwc))
                except Exception as e:  # no kernel plane (cgroup) for a locked upstream here: row left out
                    print(f"confined upstream not measured: {e!r}", file=sys.stderr)
                    confined_ok, c = False, []
            dec += decisions(d)
    finally:
        d.stop()
        d.cleanup()
    ms = lambda x: f"{x * 1000:.3f}"  # noqa: E731
    p50a, p99a, p50b, p99b = pct(a, 50), pct(a, 99), pct(b, 50), pct(b, 99)
    p50d, p99d = pct(dec, 50), pct(dec, 99)
    added50 = p50b - p50a
    print("## MCP gateway overhead (`jinnguard mcp`)\n")
    print(f"{len(a)} sequential `tools/call` (`lookup_weather`) of the official Python `mcp` client to an MCPServer "
          "upstream over stdio, directly and through the gateway (which proposes each call to the daemon, forwards "
          "it, and records the result digest after answering), interleaved in one run; and the daemon's decision "
          "for that call's proposal alone on a kept socket connection (Python client, signing included).\n")
    print("| path | P50 ms | P99 ms |")
    print("|---|---|---|")
    print(f"| direct to upstream | {ms(p50a)} | {ms(p99a)} |")
    print(f"| through `jinnguard mcp --unconfined-upstream` | {ms(p50b)} | {ms(p99b)} |")
    print(f"| added by the gateway | {ms(p50b - p50a)} | {ms(p99b - p99a)} |")
    if c:
        print(f"| through `jinnguard mcp`, upstream confined (the default) | {ms(pct(c, 50))} | {ms(pct(c, 99))} |")
        print(f"| added by the gateway and the confinement | {ms(pct(c, 50) - p50a)} | {ms(pct(c, 99) - p99a)} |")
    print(f"| daemon decision alone | {ms(p50d)} | {ms(p99d)} |")
    verdict = "met" if added50 <= p50d + 0.0005 else "NOT met"
    print(f"\nTarget (added P50 ≤ decision P50 + 0.5 ms = {ms(p50d + 0.0005)} ms): **{verdict}** "
          f"(added P50 {ms(added50)} ms).")


if __name__ == "__main__":
    main()
