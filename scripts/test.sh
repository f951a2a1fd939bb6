#!/usr/bin/env bash
# The one command that runs every test of l2tpgw, on a fresh Debian 12 machine too:
# it installs what the tests need (apt-get, cargo components), then runs the format
# check, clippy with -D warnings and the whole workspace's tests. Suites that need root,
# network namespaces or qemu skip themselves with a clear message when those are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# System packages the test suites use. Installed only when missing, so a warm machine
# spends no time here.
need_pkgs=()
want() { dpkg -s "$1" >/dev/null 2>&1 || need_pkgs+=("$1"); }
if command -v dpkg >/dev/null 2>&1; then
  want iproute2
  want nftables
  want iperf3
  want openssl
  want qemu-system-x86
  want debootstrap
  want cpio
  want tshark
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      log "installing ${need_pkgs[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    else
      echo "note: not root, cannot install ${need_pkgs[*]}; suites that need them will skip" >&2
    fi
  fi
fi

if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo test --workspace"
cargo test --workspace

log "all tests passed"
