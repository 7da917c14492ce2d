#!/usr/bin/env bash
# Installs the Debian packages Jinn Guard builds and tests with, only when one is missing.
set -euo pipefail
# bubblewrap: make bench compares locked-agent start-up against bwrap (bench/locked_bench.py).
# e2fsprogs and mount: the supervisor makes and loop-mounts each agent's workspace image (mkfs.ext4, mount -o loop).
# systemd-container: tests/e2e/test_systemd_units.py boots a real systemd in a throw-away systemd-nspawn container.
pkgs=(libz3-dev libbpf-dev bpftool libssl-dev libkeyutils-dev libseccomp-dev libcap-dev libcurl4-openssl-dev keyutils python3-pytest e2fsprogs mount bubblewrap systemd-container util-linux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# pytest may come from pip instead of Debian: either is fine.
if python3 -m pytest --version >/dev/null 2>&1; then
  missing=("${missing[@]/python3-pytest}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The official MCP SDK for Python (its client and MCPServer) is the real peer of the MCP gateway's tests.
if ! python3 -c 'import mcp.server.mcpserver' >/dev/null 2>&1; then
  echo "installing: mcp (PyPI)"
  python3 -m pip install -q 'mcp>=2.3,<3' || python3 -m pip install -q --break-system-packages 'mcp>=2.3,<3'
fi
# setuptools and wheel: the SDK test installs clients/python with pip, offline (--no-build-isolation).
if ! python3 -c 'import setuptools, wheel' >/dev/null 2>&1; then
  echo "installing: setuptools wheel (python3)"
  python3 -m pip install --quiet setuptools wheel >/dev/null 2>&1 || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-setuptools python3-wheel >/dev/null
  }
fi
command -v swift >/dev/null || { echo "swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
