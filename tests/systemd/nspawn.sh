# Sourced helper (from the shared recipe, measured ~2 s a cycle): boot a throw-away systemd as PID 1 of a
# systemd-nspawn container made from the host's own tree (read-only lower layer, tmpfs upper layer: nothing
# written inside reaches the host). Used by tests/e2e/test_systemd_units.py.
# usage: sp_start NAME MODE [extra nspawn args...]   MODE = host (host tree via bind+overlay) | rootfs (mmdebstrap tree)
SP_BASE=${SP_BASE:-/tmp/jg-systemd}

sp_cg_layout() {  # unified | hybrid | legacy
  case "$(stat -fc %T /sys/fs/cgroup)" in
    cgroup2fs) echo unified ;;
    tmpfs) [ -d /sys/fs/cgroup/unified ] && [ "$(stat -fc %T /sys/fs/cgroup/unified)" = cgroup2fs ] && echo hybrid || echo legacy ;;
    *) echo unknown ;;
  esac
}

sp_cg_dirs() {  # host cgroup dirs that will hold nspawn's payload/ + supervisor/
  case "$(sp_cg_layout)" in
    unified) echo /sys/fs/cgroup/sysd-probe-$1 ;;
    hybrid)  echo /sys/fs/cgroup/systemd/sysd-probe-$1 /sys/fs/cgroup/unified/sysd-probe-$1 ;;
    legacy)  echo /sys/fs/cgroup/systemd/sysd-probe-$1 ;;
  esac
}

sp_start() {
  local name=$1 mode=$2; shift 2
  local st=$SP_BASE/run/$name; mkdir -p "$st"
  local dirs; dirs=$(sp_cg_dirs "$name")
  local d; for d in $dirs; do mkdir -p "$d"; done
  local root
  case $mode in
    host)   root=$SP_BASE/run/$name/hostroot; mkdir -p "$root" ;;
    rootfs) root=$SP_BASE/rootfs ;;
  esac
  date +%s.%N > "$st/t0"
  # own mount ns (private) so the bind of / disappears with the process tree; own cgroup so rmdir cleans up
  ( for d in $dirs; do echo $BASHPID > "$d/cgroup.procs"; done
    [ "${SP_CGROUP:-}" = unified ] && export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
    exec unshare --mount --propagation private sh -c '
      if [ "$0" = host ]; then mount --bind / "$1"; fi
      shift; exec systemd-nspawn "$@"' "$mode" "$root" \
        -D "$root" --volatile=overlay -b -M "$name" --register=no --keep-unit \
        --private-network --console=passive "$@" \
        -- systemd.mask=postgresql.service systemd.mask=timers.target \
           systemd.mask=e2scrub_reap.service systemd.mask=console-getty.service
  ) </dev/null >"$st/nspawn.log" 2>&1 &
  echo $! > "$st/launcher.pid"
  # container PID 1 = the process whose NSpid ends in "1" inside our cgroup
  local i p L=
  for i in $(seq 1 300); do
    for p in $(cat $(echo $dirs | awk '{print $1}')/payload/cgroup.procs $(echo $dirs | awk '{print $1}')/payload/init.scope/cgroup.procs 2>/dev/null); do
      grep -qE '^NSpid:.*[[:space:]]1$' /proc/$p/status 2>/dev/null && L=$p
    done
    [ -n "$L" ] && break
    kill -0 "$(cat $st/launcher.pid)" 2>/dev/null || { echo "nspawn died:"; cat "$st/nspawn.log"; return 1; }
    sleep 0.05
  done
  [ -n "$L" ] || { echo "no leader"; cat "$st/nspawn.log"; return 1; }
  echo "$L" > "$st/leader"
  local s; for i in $(seq 1 600); do
    s=$(nsenter -t "$L" -a systemctl is-system-running --wait 2>/dev/null) && break
    case "$s" in degraded|running) break ;; esac
    sleep 0.1
  done
  date +%s.%N > "$st/t1"
  echo "manager $name leader=$L state=$s ready_in=$(awk "BEGIN{print $(cat $st/t1) - $(cat $st/t0)}")s"
}

sp_exec() { local name=$1; shift; nsenter -t "$(cat $SP_BASE/run/$name/leader)" -a "$@"; }
sp_ctl()  { local name=$1; shift; sp_exec "$name" systemctl --no-pager "$@"; }
# copy unit files into the container's /etc/systemd/system (overlay: discarded at stop)
sp_install_units() { local name=$1; shift; local L; L=$(cat $SP_BASE/run/$name/leader)
  cp "$@" /proc/$L/root/etc/systemd/system/ && sp_ctl "$name" daemon-reload; }

sp_stop() {
  local name=$1 st=$SP_BASE/run/$1 i
  local lp; lp=$(cat "$st/launcher.pid" 2>/dev/null)
  if [ -n "$lp" ] && kill -0 "$lp" 2>/dev/null; then
    kill -TERM "$lp"            # nspawn forwards SIGRTMIN+3 -> clean halt of the container
    for i in $(seq 1 200); do kill -0 "$lp" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$lp" 2>/dev/null && { echo "force kill"; kill -KILL "$lp"; }
  fi
  wait "$lp" 2>/dev/null
  local d; for d in $(sp_cg_dirs "$name"); do
    [ -d "$d" ] || continue
    # anything still alive in our cgroup tree is ours: kill it by pid, then rmdir depth-first
    for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    sleep 0.2; find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    [ -d "$d" ] && echo "WARN: $d still present"
  done
  rm -rf "$st"
  rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/locks /run/systemd/nspawn/unix-export /run/systemd/nspawn 2>/dev/null
  true
}

sp_leader() { cat "$SP_BASE/run/$1/leader"; }
# host pid of a unit's main process (the container's MainPID is in its own pid namespace)
sp_hostpids() { local d; for d in $(sp_cg_dirs "$1"); do
  [ -e "$d/payload/system.slice/$2/cgroup.procs" ] && { find "$d/payload/system.slice/$2" -name cgroup.procs -exec cat {} +; return; }
done; }
