#!/usr/bin/env bash
# Fetch the parts of QEMU's source that memfail's interop tests and benchmarks
# compare against: the full QAPI schema (qapi/), the QMP spec (docs/interop/),
# QEMU's own Python QAPI generator (scripts/qapi/) and QMP client
# (python/qemu/qmp/), and target/i386 where MEMORY_FAILURE is decided.
#
# It asks apt for Debian's `qemu` source package (the same version as the
# installed qemu-system-x86) using a private apt state directory, so the
# machine's apt configuration is left untouched. Nothing of it is committed.
#
# Usage: scripts/fetch-qemu-source.sh [DEST]   (default: .cache/qemu-src)
# Prints the unpacked tree's path (DEST/qemu-<version>) on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest="${1:-$here/.cache/qemu-src}"
mkdir -p "$dest"
found=$(ls -d "$dest"/qemu-*/ 2>/dev/null | head -n1 || true)
if [[ -n "$found" && -f "$found/qapi/qapi-schema.json" && -d "$found/python/qemu/qmp" && -d "$found/tests/qapi-schema" ]]; then
  echo "${found%/}"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mirror=$( { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; } \
  | grep -E '^(URIs:|deb )' | grep -vi security | head -n1 | awk '{print $2}')
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
if [[ -z "$mirror" || -z "$codename" ]]; then
  echo "fetch-qemu-source: cannot find this machine's Debian mirror in /etc/apt" >&2
  exit 1
fi
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$mirror" "$codename" > "$tmp/src.sources"
apt_opts=(-o "Dir::Etc::SourceList=$tmp/src.sources" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update >&2
(cd "$tmp" && apt-get "${apt_opts[@]}" source --download-only qemu >&2)
tarball=$(ls "$tmp"/qemu_*.orig.tar.* | head -n1)
tar -xf "$tarball" -C "$dest" --wildcards \
  '*/qapi/*.json' '*/scripts/qapi/*' '*/scripts/qapi-gen.py' '*/python/qemu/qmp/*' \
  '*/docs/interop/*' '*/tests/qapi-schema/*' '*/target/i386/helper.c' '*/target/i386/kvm/kvm.c' '*/target/i386/monitor.c' >&2
found=$(ls -d "$dest"/qemu-*/ | head -n1)
echo "${found%/}"
