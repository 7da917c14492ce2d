"""Runs INSIDE `jinnguard agent run` (test_locked_agent.py): the original system's seven locked-agent probes
and the escape suite. Prints one JSON object: what each attempt did. Only the standard library and the SDK
(shown read-only at its host path) are used; nothing here decides pass or fail."""

import ctypes
import errno
import json
import mmap
import os
import signal
import socket
import subprocess
import sys

# What the runtime handed over, before this script opens anything of its own.
def open_fds():
    """fd → what it names; the descriptor listdir itself used is closed again by then and left out."""
    fds = {}
    for x in os.listdir("/proc/self/fd"):
        try:
            fds[int(x)] = os.readlink("/proc/self/fd/" + x)
        except OSError:
            pass
    return fds


INHERITED = open_fds()
args = json.loads(sys.argv[1])
sys.path.insert(0, args["sdk"])
from jinnguard import JinnGuardClient  # noqa: E402

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {}


def attempt(name, fn):
    """Records ("ok", value) when fn returned, ("error", errno name) when it raised OSError."""
    try:
        out[name] = ["ok", fn()]
    except OSError as e:
        out[name] = ["error", errno.errorcode.get(e.errno, str(e.errno))]


def raw_syscall(nr, *a):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(x) for x in a])
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def status_field(name):
    for line in open("/proc/self/status"):
        if line.startswith(name + ":"):
            return line.split()[1]


client = JinnGuardClient()  # JINN_GUARD_SOCKET and JINN_GUARD_SECRET_FILE, as the runtime sets them
agent = os.environ["JINN_AGENT_ID"]

# ---- the seven probes -----------------------------------------------------------------------------------
sock = os.environ["JINN_GUARD_SOCKET"]
out["attestation"] = {
    "uid": os.getuid(), "cap_eff": status_field("CapEff"), "cap_bnd": status_field("CapBnd"),
    "cap_prm": status_field("CapPrm"), "cap_amb": status_field("CapAmb"), "no_new_privs": status_field("NoNewPrivs"),
    "interfaces": sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]),
    "socket_present": os.path.exists(sock) and __import__("stat").S_ISSOCK(os.stat(sock).st_mode),
}


def tcp():
    s = socket.create_connection(("127.0.0.1", args["tcp_port"]), timeout=2)
    s.close()
    return "connected"


attempt("direct_tcp", tcp)


def etc_write():
    with open("/etc/jg-locked-probe", "w") as f:
        f.write("x")
    return "written"


attempt("direct_etc_write", etc_write)
# A shell of its own: it runs, but reaches nothing outside (no network, read-only system, hidden state).
sh = subprocess.run(["/bin/sh", "-c", "echo x > /usr/jg-probe; echo $?; cat %s/secret; echo $?; "
                     "( : 3<>/dev/tcp/127.0.0.1/%d ); echo $?" % (args["state"], args["tcp_port"])],
                    capture_output=True, text=True)
out["direct_shell"] = {"stdout": sh.stdout, "stderr": sh.stderr[-400:]}
bash = "/bin/bash" if os.path.exists("/bin/bash") else None
if bash:
    b = subprocess.run([bash, "-c", "echo x > /dev/tcp/127.0.0.1/%d && echo connected" % args["tcp_port"]],
                       capture_output=True, text=True)
    out["direct_bash_tcp"] = {"stdout": b.stdout, "rc": b.returncode}
act = {"kind": "shell_command", "command": "echo verdict-only"}
out["unbrokered"] = client.propose(agent, "run_echo", client.next_sequence(), proposed_action=act).token
r = client.propose(agent, "run_echo", client.next_sequence(),
                   proposed_action={"kind": "shell_command", "command": "echo hello-from-broker"}, execute=True)
out["brokered_shell"] = {"token": r.token, "result": r.result}
r = client.propose(agent, "write_temp", client.next_sequence(),
                   proposed_action={"kind": "file_write", "path": "probe.txt", "contents": "brokered"}, execute=True)
seen = open("probe.txt").read() if os.path.exists("probe.txt") else None
out["brokered_write"] = {"token": r.token, "result": r.result, "seen_in_workspace": seen}
target = args["writable"] + "/sdk.txt"
r = client.propose(agent, "write_temp", client.next_sequence(),
                   proposed_action={"kind": "file_write", "path": target, "contents": "absolute"}, execute=True)
out["brokered_write_absolute"] = {"token": r.token, "result": r.result,
                                  "seen": open(target).read() if os.path.exists(target) else None}
attempt("direct_write_writable_path", lambda: open(args["writable"] + "/direct.txt", "w").write("x"))
# Identity from the runtime: the shared key signs for another agent, the gate knows better.
out["as_other_agent"] = client.propose(args["other_agent"], "read_customer_record", client.next_sequence()).token

# ---- the escape suite ---------------------------------------------------------------------------------
attempt("af_inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).fileno())
attempt("af_inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM).fileno())
attempt("af_netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).fileno())
attempt("af_vsock", lambda: socket.socket(40, socket.SOCK_STREAM).fileno())
attempt("mptcp", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).fileno())
attempt("af_packet", lambda: socket.socket(17, socket.SOCK_RAW, 0).fileno())


def unix_connect(address):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(address)
    s.close()
    return "connected"


attempt("host_abstract_socket", lambda: unix_connect("\0" + args["abstract"]))
attempt("host_planted_socket", lambda: unix_connect(args["planted"]))
attempt("io_uring_setup", lambda: raw_syscall(425, 8, ctypes.addressof(ctypes.create_string_buffer(120))))
TIOCSTI = 0x5412
ch = ctypes.create_string_buffer(b"x")
attempt("tiocsti", lambda: raw_syscall(16, 0, TIOCSTI, ctypes.addressof(ch)))
attempt("tiocsti_high_bits", lambda: raw_syscall(16, 0, (1 << 32) | TIOCSTI, ctypes.addressof(ch)))


def socketcall_32():
    """socketcall(SYS_SOCKET, …) through the 32-bit int 0x80 entry, in a child (it is killed)."""
    pid = os.fork()
    if pid == 0:
        code = bytes([0xb8, 0x66, 0, 0, 0,   # mov eax, 102 (socketcall)
                      0xbb, 0x01, 0, 0, 0,   # mov ebx, 1 (SYS_SOCKET)
                      0x31, 0xc9,            # xor ecx, ecx
                      0xcd, 0x80,            # int 0x80
                      0xc3])                 # ret
        m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        m.write(code)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
        rc = ctypes.CFUNCTYPE(ctypes.c_int)(addr)()
        os._exit(0 if rc >= 0 else 3)
    _, st = os.waitpid(pid, 0)
    return {"signal": os.WTERMSIG(st) if os.WIFSIGNALED(st) else None,
            "exit": os.WEXITSTATUS(st) if os.WIFEXITED(st) else None}


out["socketcall_32"] = socketcall_32()
host_pid = args["host_pid"]
attempt("ptrace_host", lambda: raw_syscall(101, 16, host_pid, 0, 0))  # PTRACE_ATTACH
attempt("kill_host", lambda: os.kill(host_pid, 0))
attempt("unshare_user", lambda: raw_syscall(272, 0x10000000))  # unshare(CLONE_NEWUSER)
attempt("clone_newuser", lambda: raw_syscall(56, 0x10000000 | signal.SIGCHLD, 0, 0, 0, 0))
attempt("etc_shadow", lambda: open("/etc/shadow", "rb").read().decode(errors="replace"))
attempt("daemon_secret", lambda: open(args["state"] + "/secret", "rb").read().decode(errors="replace"))
attempt("daemon_audit", lambda: open(args["state"] + "/audit.jsonl", "rb").read(64).decode(errors="replace"))
bomb = subprocess.run([sys.executable, "-c", """
import os, signal, sys, time
n = 0
err = None
while n < 100000:
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    n += 1
print(n, err, flush=True)
os.killpg(0, signal.SIGKILL)
"""], capture_output=True, text=True, start_new_session=True, timeout=60)
fields = bomb.stdout.split()
out["fork_bomb"] = {"forked": int(fields[0]) if fields else None,
                    "errno": errno.errorcode.get(int(fields[1]), fields[1]) if len(fields) > 1 and fields[1] != "None" else None}
# After the bomb, the agent still works (the limit held, nothing else broke).
out["after_bomb"] = client.propose(agent, "run_echo", client.next_sequence()).token
found = subprocess.run(["find", "/", "-type", "s"], capture_output=True, text=True)
out["sockets"] = sorted(found.stdout.split())
out["fds"] = sorted(INHERITED)
out["fds_names"] = INHERITED
out["fds_at_end"] = open_fds()
print(json.dumps(out))
