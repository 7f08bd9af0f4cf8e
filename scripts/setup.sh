#!/usr/bin/env bash
# Set up memfail on this machine: QEMU (Debian's qemu-system-x86), the npm
# dependencies, and the build. With --test it also fetches QEMU's source parts
# that the interop tests and benchmarks compare against (.cache/qemu-src).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
want_source=0
for arg in "$@"; do
  case "$arg" in
    --test) want_source=1 ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done
say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  say "installing QEMU (qemu-system-x86) with apt-get"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      say "not root and no sudo: install qemu-system-x86 yourself; memfail will use its simulator meanwhile"
    fi
  fi
  if [[ $(id -u) -eq 0 || -n "$sudo" ]]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
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
