#!/usr/bin/env bash
# Set up memfail on this machine: Debian's QEMU, libvirt, nats-server,
# PostgreSQL, Chromium and promtool, the npm dependencies, and the build.
# With --test it also fetches QEMU's source parts that the interop tests and
# benchmarks compare against (.cache/qemu-src).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
want_source=0
for arg in "$@"; do
  case "$arg" in
    --test) want_source=1 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done
say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

# Debian packages: QEMU for the guests; libvirt (daemon, QEMU driver, virsh and
# the Python binding the benchmarks compare against); nats-server and
# PostgreSQL 15 for the fleet; Chromium for the dashboard's browser tests;
# prometheus for promtool (checks the shipped alert rules). Nothing is started
# here: the tests and the demo start private instances themselves.
packages=(qemu-system-x86 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  python3-libvirt nats-server postgresql-15 chromium prometheus)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  say "installing with apt-get: ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      say "not root and no sudo: install ${missing[*]} yourself; memfail uses its simulator for missing QEMU meanwhile"
    fi
  fi
  if [[ $(id -u) -eq 0 || -n "$sudo" ]]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
command -v qemu-system-x86_64 >/dev/null 2>&1 && say "QEMU: $(qemu-system-x86_64 --version | head -n1)"

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "building"
npm run --silent build

if [[ $want_source -eq 1 ]]; then
  say "fetching QEMU's source parts for interop tests and benchmarks"
  bash scripts/fetch-qemu-source.sh >/dev/null
fi
say "ready"
