"""file_write never blocks the broker and writes only regular files (issue 11, item 4)."""

import json
import os
import re
import time
from pathlib import Path

import pytest

from e2e_helpers import ALLOWED, DEFAULT_POLICY, NONROOT, Daemon, send_as, token_of
from jinnguard import parse_reply

POLICY = DEFAULT_POLICY + """\
  - id: fifo_agent
    privilege_tier: 1
    allowed_intents: [run_tool, write_temp]
    allowed_executables: []
    invariants: []
"""


@pytest.fixture(scope="module")
def fw(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("fw"), policy=POLICY)
    d.start()
    yield d
    d.stop(check=True)
    d.cleanup()


def workspace(d, agent):
    m = re.search(r"^jinnguard: ready.*\bworkspace=(\S+)", d.output_since(0), re.M)
    return Path(m.group(1)) / agent


def propose(d, intent, action):
    fr = d.frame_for(agent="fifo_agent", intent=intent, execute=True, proposed_action=action)
    return send_as(NONROOT, d.socket, [fr], timeout=10)[0]


def test_file_write_to_a_fifo_is_refused_without_blocking(fw):
    name = f"pipe-{fw.seq()}"
    body = propose(fw, "run_tool", {"kind": "shell_command", "command": f"mkfifo {name} && echo made"})
    assert parse_reply(body).result["stdout"] == "made\n", body
    fifo = workspace(fw, "fifo_agent") / name
    body = propose(fw, "write_temp", {"kind": "file_write", "path": str(fifo), "contents": "secret"})
    assert token_of(body) == "DENY_VIOLATION", body
    # Nothing waits to write into it later: a reader opened now gets no data.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        time.sleep(0.5)
        try:
            data = os.read(fd, 100)
        except BlockingIOError:
            data = b""
    finally:
        os.close(fd)
    assert data == b"", data
    # The other agents were served all along, and the refusal is in the chain with its reason.
    assert fw.token(agent="claims_agent", intent="read_customer_record") in ALLOWED
    outcomes = [json.loads(l)["decision"] for l in fw.audit_lines()]
    refused = [o for o in outcomes if o.get("reply_token") == "DENY_VIOLATION"]
    assert refused and "regular file" in refused[-1].get("error", ""), outcomes[-3:]


def test_file_write_to_a_regular_file_still_works(fw):
    target = workspace(fw, "fifo_agent") / f"plain-{fw.seq()}.txt"
    body = propose(fw, "write_temp", {"kind": "file_write", "path": str(target), "contents": "ok"})
    r = parse_reply(body)
    assert r.allowed and r.result == {"bytes_written": 2, "executed": True, "path": str(target)}, body
    assert target.read_text() == "ok"


def test_file_write_to_a_symlink_or_directory_is_refused(fw):
    ws = workspace(fw, "fifo_agent")
    n = fw.seq()
    body = propose(fw, "run_tool", {"kind": "shell_command",
                                    "command": f"echo keep > real-{n}; ln -s real-{n} link-{n}; mkdir dir-{n}; echo made"})
    assert parse_reply(body).result["stdout"] == "made\n", body
    for name in (f"link-{n}", f"dir-{n}"):
        body = propose(fw, "write_temp", {"kind": "file_write", "path": str(ws / name), "contents": "pwned"})
        assert token_of(body) == "DENY_VIOLATION", (name, body)
    assert (ws / f"real-{n}").read_text() == "keep\n"
