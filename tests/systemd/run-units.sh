#!/bin/bash
# tests/systemd/run-units.sh ACTION NAME [args]: the steps tests/e2e/test_systemd_units.py drives.
#   start NAME          boot the container (cgroup v2 at /sys/fs/cgroup, as a production host), print the leader pid
#   install NAME POLICY make install-files into it, policy, sysusers, tmpfiles, daemon-reload
#   stop NAME           tear it down
#   exec NAME CMD...    run CMD inside
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/nspawn.sh"
action=$1 name=$2; shift 2
case $action in
  start)
    # nspawn's own seccomp allow-list (systemd 252) lacks BPF and Landlock: the kernel plane and the tool
    # sandbox's Landlock layers need them, as on a host.
    # Loop devices: the rendezvous loop-mounts each agent's workspace image (cgroup v2 nspawn keeps no
    # device policy of its own here, so the nodes are all it needs).
    # The container sees only the nodes bound at its start, while mount(8) inside takes whichever device
    # the kernel says is free: make sure a free one exists first (losetup -f adds one when none is free),
    # and bind every node there is then; the rendezvous tries another device when one is taken meanwhile.
    [ -e /dev/loop-control ] || { echo "no /dev/loop-control: the host has no loop devices" >&2; exit 1; }
    losetup -f >/dev/null 2>&1 || true
    boot() {
      loops=(); for d in /dev/loop-control /dev/loop[0-9]*; do [ -b "$d" ] || [ -c "$d" ] && loops+=("--bind=$d"); done
      SP_CGROUP=unified sp_start "$name" host "${loops[@]}" --bind=/sys/fs/bpf --capability=CAP_BPF,CAP_PERFMON \
        --system-call-filter='bpf perf_event_open landlock_create_ruleset landlock_add_rule landlock_restrict_self' >&2
    }
    # A loop node that went away between the glob and nspawn's bind fails the boot: once more, afresh.
    if ! boot; then echo "boot failed; once more" >&2; sp_stop "$name" >&2; boot || exit 1; fi
    # A bpffs of the container's own on top of the host's: jg-kernel under systemd keeps its pins across a
    # stop (a restart adopts them), and those of a container must neither reach the host nor be adopted by
    # the next container (same state directory, same instance name). It goes away with the container.
    sp_exec "$name" mount -t bpf -o mode=0711 bpf /sys/fs/bpf >&2 || { sp_stop "$name" >&2; exit 1; }
    sp_leader "$name" ;;
  install)
    L=$(sp_leader "$name") || exit 1
    make -s -C "$REPO" install-files DESTDIR=/proc/$L/root INSTALL_BIN="${INSTALL_BIN:-$REPO/.build/debug}" >&2 || exit 1
    if [ -n "${1:-}" ]; then install -m 0600 "$1" /proc/$L/root/etc/jinnguard/policy.yaml; fi
    sp_exec "$name" systemd-sysusers >&2 && sp_exec "$name" systemd-tmpfiles --create >&2 && sp_ctl "$name" daemon-reload ;;
  stop) sp_stop "$name" ;;
  exec) sp_exec "$name" "$@" ;;
  hostpids) sp_hostpids "$name" "$1" ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
