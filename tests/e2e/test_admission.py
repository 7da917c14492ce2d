"""Issue 11 item 8: fair admission under floods.

One uid holding many thousands of connections (more than the gate's per-uid cap, and more than its
total) must not starve another uid's requests; a slowloris connection is closed on its deadline.
"""
import resource
import subprocess
import time

from e2e_helpers import CHILD_PY, ALLOWED, token_of, NONROOT, connect, wait_closed

FLOOD = 17500

# Runs as the flooding uid: opens FLOOD connections and keeps that many open (reopening the ones the
# gate closes) until stdin closes. Prints "holding N" once it first held them all (or gave up trying).
FLOODER = r"""
import os, select, socket, sys, time, errno
path, want = sys.argv[1], int(sys.argv[2])
socks = {}
ep = select.epoll()
def open_one():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        return False
    socks[s.fileno()] = s
    ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
    return True
announced = False
start = time.monotonic()
sel = select.poll(); sel.register(0, select.POLLIN | select.POLLHUP)
while True:
    for fd, ev in ep.poll(0):
        s = socks.pop(fd, None)
        if s is not None:
            ep.unregister(fd); s.close()
    tries = 0
    while len(socks) < want and tries < 2000:
        tries += 1
        if not open_one():
            break
    if not announced and (len(socks) >= want or time.monotonic() - start > 20):
        print("holding", len(socks), flush=True); announced = True
    if sel.poll(10):
        break
"""


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < n:
        hard = n
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n), hard))


def flood_while_serving(d, flood):
    """uid NONROOT holds `flood` connections while root sends 10 requests; returns (normal, tokens)."""
    normal = d.token()
    assert normal is not None and normal != "DENY_COMPONENT_UNAVAILABLE", normal
    fl = subprocess.Popen([CHILD_PY, "-c", FLOODER, str(d.socket), str(flood)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
                          user=NONROOT, group=NONROOT, extra_groups=[],
                          preexec_fn=lambda: raise_nofile(flood + 1000))
    try:
        line = fl.stdout.readline()
        assert line.startswith("holding"), f"flooder: {line!r}"
        tokens = []
        for _ in range(10):
            try:
                tokens.append(token_of(d.raw(d.frame_for(), timeout=5)))
            except OSError as e:
                tokens.append(f"error {e}")
        assert fl.poll() is None, "the flooder must still be holding its connections"
    finally:
        fl.stdin.close()
        fl.wait(30)
    return normal, tokens


def test_full_gate_takes_slots_from_the_uid_holding_the_most(daemon_factory):
    # per-uid cap as large as the total: only the total cap and its eviction order protect root
    d = daemon_factory(extra_args=["--max-connections", "300", "--max-connections-per-uid", "300"])
    normal, tokens = flood_while_serving(d, 1000)
    assert tokens == [normal] * 10, f"root's requests with the gate full of uid {NONROOT}: {tokens}"
    gate = d.components()["jg-gate"]
    assert d.token_as(NONROOT) in ALLOWED, gate


def test_one_uids_flood_does_not_starve_another_uid(daemon_factory):
    d = daemon_factory()
    normal = d.token()
    assert normal is not None and normal != "DENY_COMPONENT_UNAVAILABLE", normal
    fl = subprocess.Popen([CHILD_PY, "-c", FLOODER, str(d.socket), str(FLOOD)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
                          user=NONROOT, group=NONROOT, extra_groups=[],
                          preexec_fn=lambda: raise_nofile(FLOOD + 1000))
    try:
        line = fl.stdout.readline()
        assert line.startswith("holding"), f"flooder: {line!r} {fl.stderr.read() if fl.poll() is not None else ''}"
        # root's 10 requests, one connection each, while the flood goes on
        tokens = []
        for _ in range(10):
            try:
                tokens.append(token_of(d.raw(d.frame_for(), timeout=5)))
            except OSError as e:
                tokens.append(f"error {e}")
        assert fl.poll() is None, "the flooder must still be holding its connections"
    finally:
        fl.stdin.close()
        fl.wait(30)
    assert tokens == [normal] * 10, f"another uid's requests under a flood (normal answer {normal}): {tokens}"
    # the gate still decides normally once the flood is gone
    assert d.token_as(NONROOT) in ALLOWED


def test_slowloris_header_is_closed_on_its_deadline(daemon):
    s = connect(daemon.socket)
    req = daemon.frame_for()
    closed = False
    start = time.monotonic()
    # one byte of the header every half second; the gate must hang up on its own deadline (and long
    # before the whole frame could have arrived this way)
    for b in req[:40]:
        try:
            s.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        data, eof = wait_closed(s, 0.5)
        if eof:
            closed = True
            break
    s.close()
    assert closed, "a header trickled byte by byte kept its slot for %.0f s" % (time.monotonic() - start)
    # and others are served
    assert daemon.token_as(NONROOT) in ALLOWED


def test_slowloris_body_is_closed_on_its_deadline(daemon):
    s = connect(daemon.socket)
    req = daemon.frame_for()
    s.send(req[:5])  # a complete header
    closed = False
    for b in req[5:45]:
        try:
            s.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        data, eof = wait_closed(s, 0.5)
        if eof:
            closed = True
            break
    s.close()
    assert closed, "a body trickled byte by byte kept its slot"
