"""Helpers of the end-to-end suite: start the real daemon, talk to it raw, as root or as another uid."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "clients" / "python"))

import jinnguard  # noqa: E402
from jinnguard import JinnGuardClient, compact_json, frame, sign  # noqa: E402

JINNGUARD_BIN = os.environ.get("JINNGUARD_BIN", str(REPO / ".build" / "debug" / "jinnguard"))
CHILD_PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
CHILD_SRC = (Path(__file__).resolve().parent / "_child.py").read_text()
NONROOT = 10001
COMPONENTS = ("jg-gate", "jg-prover", "jg-kernel", "jg-broker")
MAX_BODY = 4 * 1024 * 1024
CANARY = "canary_decoy_a91f"

DEFAULT_POLICY = """\
global_safety_ceiling: 90.0
deny_anonymous_agents: true
canary_resources: ["canary_decoy_a91f"]
enforcement_scope: {governed_path_prefixes: []}
runtime_policy: {deny_root_peers: false, allowed_peer_uids: [], require_brokered_execution: false, require_sandbox_namespace: false}
agent_nodes:
  - id: claims_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: [read_customer_record, summarize_claim, list_claims]
    allowed_executables: []
    max_sequence_quota: 0
    invariants: []
  - id: billing_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: []
    allowed_executables: []
    max_sequence_quota: 0
    invariants:
      - "spending_ceiling_usd <= 150.00"
  - id: quota_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: []
    allowed_executables: []
    max_sequence_quota: 3
    invariants: []
  - id: exec_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: [run_echo, run_tool, write_temp]
    allowed_executables: [echo]
    max_sequence_quota: 0
    invariants: []
  - id: bound_agent
    privilege_tier: 1
    allowed_peer_uids: [10001]
    allowed_intents: []
    allowed_executables: []
    max_sequence_quota: 0
    invariants: []
  - id: authority_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: []
    allowed_executables: []
    max_sequence_quota: 0
    invariants:
      - "fused_risk <= 40.0"
  - id: stream_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: []
    allowed_executables: []
    max_sequence_quota: 0
    invariants: []
"""

ALLOWED = ("ALLOW", "CONSTRAIN")


def policy_with(**replacements) -> str:
    text = DEFAULT_POLICY
    for old, new in replacements.items():
        assert old in text or old.replace("_", " ") in text, old
        text = text.replace(old, new)
    return text


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def short_dir(prefix="jge2e-") -> Path:
    """A short, world-traversable directory (pytest's tmp_path is 0700 root and may be too long for
    AF_UNIX paths; non-root clients must reach the socket)."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(d, 0o755)
    return d


def token_of(body: bytes | None) -> str | None:
    if body is None:
        return None
    first = body.split(b"\n", 1)[0].decode("utf-8", "replace")
    return first[len("SIGNAL: "):] if first.startswith("SIGNAL: ") else "?" + first


# --------------------------------------------------------------------------- raw transport

def recv_reply(sock: socket.socket, strict: bool = False) -> bytes | None:
    """One reply body, or None if the peer closed before sending anything. In strict mode the
    header must arrive in one recv(5) and the body in one recv (the single-write rule)."""
    header = b""
    while len(header) < 5:
        chunk = sock.recv(5 - len(header))
        if not chunk:
            if not header:
                return None
            raise AssertionError(f"connection closed after {len(header)} header bytes")
        header += chunk
        if strict and len(header) != 5:
            raise AssertionError(f"header arrived in pieces: first recv(5) gave {len(header)} bytes")
    length, version = struct.unpack(">IB", header)
    assert version == 1, f"reply version {version}"
    assert length <= MAX_BODY, f"reply length {length}"
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise AssertionError(f"closed mid-body after {len(body)}/{length} bytes")
        body += chunk
        if strict and len(body) != length:
            raise AssertionError(f"body arrived in pieces: first recv gave {len(body)}/{length} bytes")
    return body


def connect(path, timeout=5.0) -> socket.socket:
    """Connect with a timeout. AF_UNIX connect on a socket with a timeout fails with EAGAIN while
    the listen backlog is full; retry that until the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def exchange(path, data: bytes, timeout=5.0) -> bytes | None:
    """Connect, send raw bytes, return the reply body (None: closed without reply)."""
    with connect(path, timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            return recv_reply(s)
        except ConnectionResetError:
            return None


def wait_closed(sock: socket.socket, limit: float) -> tuple[bytes, bool]:
    """Read until EOF or `limit` seconds; returns (bytes read, closed?)."""
    sock.settimeout(limit)
    data = b""
    deadline = time.monotonic() + limit
    while True:
        try:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def payload_str(d: dict) -> str:
    return compact_json(d)


def envelope_bytes(payload: str, key: bytes, signature: str | None = None) -> bytes:
    sig = sign(key, payload) if signature is None else signature
    return compact_json({"payload": payload, "signature": sig}).encode()


def proposal(agent, intent, seq, **fields) -> dict:
    d = {"intent_name": intent}
    if agent is not None:
        d["agent_id"] = agent
    d["sequence_counter"] = seq
    d.update(fields)
    return d


# --------------------------------------------------------------------------- other uids

def _run_child(uid, cfg, timeout):
    kwargs = {}
    if uid != 0:
        kwargs = dict(user=uid, group=uid, extra_groups=[])
    proc = subprocess.run([CHILD_PY, "-c", CHILD_SRC], input=json.dumps(cfg) + "\n",
                          capture_output=True, text=True, timeout=timeout, cwd="/", **kwargs)
    assert proc.returncode == 0, f"child failed rc={proc.returncode}: {proc.stderr}"
    return json.loads(proc.stdout)


def send_as(uid: int, socket_path, frames, same_connection=False, timeout=5.0):
    """Send frames from a process running as `uid` (one process: one lineage session).
    Returns the list of reply bodies (None where the connection closed without a reply)."""
    if isinstance(frames, (bytes, bytearray)):
        frames = [frames]
    cfg = {"mode": "frames", "socket": str(socket_path), "timeout": timeout,
           "frames": [bytes(f).hex() for f in frames], "same_connection": same_connection}
    out = _run_child(uid, cfg, timeout * (len(frames) + 2) + 10)
    assert out["uid"] == uid
    return [bytes.fromhex(r["body"]) if r["body"] is not None else None for r in out["replies"]]


def tokens_as(uid, socket_path, frames, **kw):
    return [token_of(b) for b in send_as(uid, socket_path, frames, **kw)]


class Stream:
    """A non-root child process sending a steady stream of requests, one JSON line each."""

    def __init__(self, uid, socket_path, secret: bytes, agent, intent, start_seq, interval=0.02):
        cfg = {"mode": "stream", "socket": str(socket_path), "secret": secret.hex(), "agent": agent,
               "intent": intent, "start_seq": start_seq, "interval": interval, "timeout": 5}
        self.proc = subprocess.Popen([CHILD_PY, "-c", CHILD_SRC], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd="/", user=uid, group=uid, extra_groups=[])
        self.proc.stdin.write(json.dumps(cfg) + "\n")
        self.proc.stdin.flush()
        self.records: list[dict] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.records.append(rec)

    def snapshot(self):
        with self._lock:
            return list(self.records)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._thread.join(5)
        return self.snapshot()


# --------------------------------------------------------------------------- /proc

def children_of(ppid: int) -> dict[str, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            found[comm] = int(entry)
    return found


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def pid_alive(pid: int) -> bool:
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return st[st.rindex(")") + 2] != "Z"


# --------------------------------------------------------------------------- the daemon

class Daemon:
    """A running `jinnguard run` with its own temp paths."""

    def __init__(self, root: Path, policy: str = DEFAULT_POLICY, secret: bytes | None = None,
                 extra_args=(), env=None, secret_arg=True):
        self.root = Path(root)
        self.sockdir = short_dir()
        self.socket = self.sockdir / "jg.sock"
        self.lineage = self.root / "lineage.json"
        # The audit log lives where its writer, jg-broker (its own non-root user), can create files next
        # to it: in the state directory (pytest's tmp_path is root's 0700).
        self.audit = self.sockdir / "state" / "audit.jsonl"
        self.policy = self.root / "policy.yaml"
        self.secret_file = self.root / "secret"
        self.secret = secret or ("e2e-" + os.urandom(16).hex()).encode()
        self.policy.write_text(policy)
        self.secret_file.write_bytes(self.secret + b"\n")
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.secret_arg = secret_arg
        self.socket_mode = "0666"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []
        self._out_lock = threading.Lock()
        self._seq = int(time.time() * 1000) * 1000
        self._last_components: dict[str, int] = {}

    # -- lifecycle -------------------------------------------------------------
    def argv(self):
        args = [JINNGUARD_BIN, "run", "--socket-path", str(self.socket), "--lineage-file",
                str(self.lineage), "--audit-log", str(self.audit), "--policy-file", str(self.policy),
                "--socket-mode", self.socket_mode]
        if self.secret_arg:
            args += ["--secret-file", str(self.secret_file)]
        # state (the broker's workspace) where the unprivileged components can reach it
        args += ["--state-dir", str(self.sockdir / "state")]
        return args + self.extra_args

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("JINN_GUARD_SECRET", "JINNGUARD_SECRET_FILE", "JINN_GUARD_SECRET_FILE")}
        env["JINNGUARD_METRICS_PORT"] = str(self.port)
        env.update(self.extra_env)
        return env

    def _reader(self, stream):
        for line in stream:
            with self._out_lock:
                self.output.append(line.rstrip("\n"))

    def start(self, timeout=60.0):
        with self._out_lock:
            start_index = len(self.output)
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, errors="replace",
                                     env=self.env(), cwd=str(self.root))
        self._reader_thread = threading.Thread(target=self._reader, args=(self.proc.stdout,), daemon=True)
        self._reader_thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._out_lock:
                if any(l.startswith("jinnguard: ready") for l in self.output[start_index:]):
                    break
            if self.proc.poll() is not None:
                self._reader_thread.join(5)
                raise AssertionError(f"daemon exited with {self.proc.returncode} before ready:\n"
                                     + self.output_text())
            time.sleep(0.05)
        else:
            self.kill()
            raise AssertionError("daemon not ready within %.0f s:\n%s" % (timeout, self.output_text()))
        self._last_components = self.components()
        return self

    def output_text(self, last=80):
        with self._out_lock:
            return "\n".join(self.output[-last:])

    def output_since(self, index):
        with self._out_lock:
            return "\n".join(self.output[index:])

    def output_len(self):
        with self._out_lock:
            return len(self.output)

    def stop(self, check=True):
        """SIGTERM, wait ≤ 15 s, exit code must be 0 (SIGKILL if still alive)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        comps = self.components() or self._last_components
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            rc = None
        if rc is None:
            self.kill()
        for pid in comps.values():
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if check:
            assert rc is not None, "daemon still running 15 s after SIGTERM:\n" + self.output_text()
            assert rc == 0, f"daemon exited {rc} after SIGTERM:\n" + self.output_text()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            comps = self.components()
            self.proc.kill()
            self.proc.wait(10)
            for pid in comps.values():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def expect_refusal(self, timeout=30.0):
        """Start; the daemon must exit non-zero without becoming ready. Returns its output."""
        try:
            self.start(timeout=timeout)
        except AssertionError:
            if self.proc.poll() is None:
                raise AssertionError("daemon neither ready nor exited within %.0f s" % timeout)
            assert self.proc.returncode != 0, "daemon exited 0:\n" + self.output_text()
            return self.output_since(0)
        raise AssertionError("daemon started although it should have refused:\n" + self.output_text())

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        shutil.rmtree(self.sockdir, ignore_errors=True)

    # -- processes ---------------------------------------------------------------
    def components(self) -> dict[str, int]:
        if self.proc is None:
            return {}
        return {k: v for k, v in children_of(self.proc.pid).items() if k in COMPONENTS}

    def wait_components(self, names=COMPONENTS, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = self.components()
            if all(n in c for n in names):
                return c
            time.sleep(0.05)
        raise AssertionError(f"components missing after {timeout}s: {self.components()}\n"
                             + self.output_text())

    # -- requests ------------------------------------------------------------------
    def seq(self) -> int:
        self._seq += 1
        return self._seq

    def client(self, timeout=5.0) -> JinnGuardClient:
        return JinnGuardClient(str(self.socket), self.secret, timeout)

    def frame_for(self, agent="claims_agent", intent="read_customer_record", seq=None, key=None,
                  signature=None, **fields) -> bytes:
        p = payload_str(proposal(agent, intent, self.seq() if seq is None else seq, **fields))
        return frame(envelope_bytes(p, key or self.secret, signature))

    def raw(self, data: bytes, timeout=5.0) -> bytes | None:
        return exchange(self.socket, data, timeout)

    def raw_token(self, data: bytes, timeout=5.0) -> str | None:
        return token_of(self.raw(data, timeout))

    def token(self, agent="claims_agent", intent="read_customer_record", **kw) -> str | None:
        """Send one crafted request as root (this process); return the token."""
        return self.raw_token(self.frame_for(agent, intent, **kw))

    def token_as(self, uid, agent="claims_agent", intent="read_customer_record", **kw):
        return token_of(send_as(uid, self.socket, [self.frame_for(agent, intent, **kw)])[0])

    # -- metrics / audit -------------------------------------------------------------
    def http(self, path, timeout=5.0):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def metrics(self) -> dict[str, float]:
        status, text = self.http("/metrics")
        assert status == 200, f"/metrics {status}: {text[:500]}"
        return parse_metrics(text)

    def audit_lines(self) -> list[str]:
        try:
            return [l for l in self.audit.read_text().splitlines() if l.strip()]
        except FileNotFoundError:
            return []

    def wait_audit_count(self, n, timeout=5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        lines = self.audit_lines()
        while len(lines) < n and time.monotonic() < deadline:
            time.sleep(0.05)
            lines = self.audit_lines()
        return lines

    def cli(self, *args, timeout=60, env=None):
        return subprocess.run([JINNGUARD_BIN, *args], capture_output=True, text=True,
                              timeout=timeout, env=env)


_METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')


def parse_metrics(text: str) -> dict[str, float]:
    """{'name{k="v",...}': value} with labels sorted, plus the bare name for unlabelled samples."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_RE.match(line)
        if not m:
            continue
        name, labels, value = m.groups()
        key = name
        if labels:
            pairs = sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
            key = name + "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}"
        try:
            out[key] = float(value)
        except ValueError:
            pass
    return out


def audit_hash_ok(line: str) -> tuple[bool, str]:
    """Independent §8 verifier for one line: returns (ok, computed hash)."""
    import hashlib
    entry = json.loads(line)
    parts = []
    pos = line.index('"prev_hash":')
    for key in ("observation", "intent", "assessment", "decision"):
        text, pos = extract_object(line, key, pos)
        parts.append(text.encode())
    data = (entry["index"].to_bytes(8, "big") + entry["timestamp_secs"].to_bytes(8, "big")
            + entry["prev_hash"].encode("ascii") + b"".join(parts))
    h = hashlib.sha256(data).hexdigest()
    return h == entry["hash"], h


def extract_object(line: str, key: str, start: int = 0) -> tuple[str, int]:
    """The exact text of the object value of top-level `key` (searched from `start`, keys in §8
    order), by brace matching; returns (text, end offset)."""
    marker = f'"{key}":'
    i = line.index(marker, start) + len(marker)
    while line[i] == " ":
        i += 1
    assert line[i] == "{", f"{key} is not an object"
    depth = 0
    in_str = esc = False
    for j in range(i, len(line)):
        c = line[j]
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return line[i:j + 1], j + 1
    raise AssertionError(f"unbalanced object for {key}")


def stop_all(made):
    """Fixture teardown: every daemon made is stopped with SIGTERM and must exit 0; its files are removed."""
    import pytest
    errors = []
    for d in made:
        try:
            d.stop(check=True)
        except AssertionError as e:
            errors.append(str(e))
        finally:
            d.cleanup()
    if errors:
        pytest.fail("daemon teardown: " + "\n\n".join(errors), pytrace=False)


# Issue 14: the SDK's counters (JinnGuardClient.next_sequence, Guard, the original SDK's names) are
# nanoseconds since the epoch, the original SDK's scale; the helpers' own counters follow, so a test
# mixing both for one agent never sends a counter below one already accepted.
def _nanosecond_counters(init):
    def wrapped(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._seq = max(self._seq, time.time_ns())
    return wrapped


Daemon.__init__ = _nanosecond_counters(Daemon.__init__)
