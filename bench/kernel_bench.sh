#!/usr/bin/env bash
# jg-kernel overhead in one run: connect() and execve() from a governed cgroup, from an ungoverned cgroup
# below jinnguard/ (the programs run, the lookup misses) and from outside jinnguard/ (no program runs).
# Starts its own daemon; needs root, cgroup v2 and the BPF objects. Prints a Markdown section.
#   JINNGUARD_BIN (default .build/debug/jinnguard)  JINNGUARD_BPF_DIR (default <bin dir>/bpf)  N (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${JINNGUARD_BIN:-$PWD/.build/debug/jinnguard}
export JINNGUARD_BPF_DIR=${JINNGUARD_BPF_DIR:-$(dirname "$(readlink -f "$BIN")")/bpf}
N=${N:-2000}
CC=${CC:-$(command -v cc || echo /opt/swift/usr/bin/clang)}
work=$(mktemp -d /tmp/jgkbench.XXXXXX)
chmod 755 "$work"
daemon=""
cleanup() {
  [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
  for d in "${cgs[@]:-}"; do [ -n "$d" ] && rmdir "$d" 2>/dev/null || true; done
  [ -n "${lpid:-}" ] && kill "$lpid" 2>/dev/null || true
  rm -rf "$work"
}
cgs=()
trap cleanup EXIT
"$CC" -O2 -o "$work/kernel_bench" bench/kernel_bench.c

python3 - "$work/policy.yaml" <<'PY'
import sys
sys.path.insert(0, "tests/e2e")
from e2e_helpers import DEFAULT_POLICY
open(sys.argv[1], "w").write(DEFAULT_POLICY.replace(
    "  - id: claims_agent\n    privilege_tier: 1\n",
    '  - id: claims_agent\n    privilege_tier: 1\n    denied_destinations: ["127.0.0.2", "10.0.0.0/8", "fd00::/8"]\n'))
PY
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/secret"
"$BIN" run --socket-path "$work/s.sock" --policy-file "$work/policy.yaml" --secret-file "$work/secret" \
  --state-dir "$work/state" --audit-log "$work/state/audit.jsonl" --lineage-file "$work/lineage" > "$work/out" 2>&1 &
daemon=$!
for _ in $(seq 1 300); do grep -q '^jinnguard: ready' "$work/out" && break; sleep 0.1; done
grep -q '^jinnguard: ready' "$work/out" || { cat "$work/out" >&2; exit 1; }
agents=$(sed -n 's/.*jg-kernel: info: instance [^ ]*: .* agents \([^ ]*\)$/\1/p' "$work/out" | head -1)
planes=$(grep -o 'plane [a-z_]*: [a-z]*' "$work/out" | sed 's/^plane //' | paste -sd ';' | sed 's/;/; /g')
base=$(dirname "$(dirname "$agents")")
gov="$agents/claims_agent/bench-$$"; ungov="$base/bench-ungoverned-$$"
mkdir "$gov" "$ungov"; cgs=("$gov" "$ungov")

python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",0)); s.listen(4096); print(s.getsockname()[1], flush=True)
while True:
    c,_=s.accept(); c.close()' > "$work/port" &
lpid=$!
for _ in $(seq 1 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")

run_in() { # cgroup-or-empty op
  if [ -n "$1" ]; then sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" "$3" "$4" "$5"' _ "$1" "$work/kernel_bench" "$2" "$N" "$port"
  else "$work/kernel_bench" "$2" "$N" "$port"; fi | awk '{print $3}'
}
declare -A r
for op in connect exec; do
  "$work/kernel_bench" "$op" 200 "$port" >/dev/null # warm-up
  r[$op,out]=$(run_in "" $op); r[$op,ung]=$(run_in "$ungov" $op); r[$op,gov]=$(run_in "$gov" $op)
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "## jg-kernel overhead (connect, execve)"
echo
echo "Kernel $(uname -r); planes: $planes. $N calls each, one run; ns per call (connect: TCP to 127.0.0.1, allowed;"
echo "exec: posix_spawn + wait of /bin/true). Governed = an agent cgroup with 3 denied-destination rules, whose"
echo "tracepoint telemetry is on (one ring-buffer record per call)."
echo
echo "| call | outside jinnguard/ | ungoverned below jinnguard/ | governed | governed / outside |"
echo "|---|---:|---:|---:|---:|"
for op in connect exec; do
  echo "| $op | ${r[$op,out]} | ${r[$op,ung]} | ${r[$op,gov]} | $(ratio "${r[$op,gov]}" "${r[$op,out]}") |"
done
