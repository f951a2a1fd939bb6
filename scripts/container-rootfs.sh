#!/usr/bin/env bash
# Assembles the root file system of the l2tpgw image in ROOTFS (used by the Containerfile's
# build stage and by scripts/container-test.sh, so both images hold the same files):
#   usr/local/bin/l2tpgw   the static binary, cap_net_admin,cap_net_bind_service=ep
#   usr/sbin/nft + libs    Debian's nft and the shared libraries ldd names, cap_net_admin=ep
#                          (only for masquerade = true; skipped with a note when absent)
#   run/                   for the status socket: mode 1777 like /tmp, because COPY resets
#                          ownership to root and any --user must be able to serve
#   etc/l2tpgw/            where a config, PSK and users file are mounted read-only
# Usage: container-rootfs.sh ROOTFS STATIC_L2TPGW_BINARY
set -euo pipefail
rootfs=${1:?rootfs directory}
bin=${2:?static l2tpgw binary}
uid=65532

# The binary must not need a dynamic loader (FROM scratch has none for it).
if readelf -lW "$bin" | grep -q 'INTERP'; then
  echo "container-rootfs: $bin is dynamically linked; build it with RUSTFLAGS=\"-C target-feature=+crt-static\" --target x86_64-unknown-linux-gnu" >&2
  exit 1
fi
# Stripped: the debug line tables are most of the file (backtraces keep function names
# only as far as the symbols go, which is none).
install -D -m 0755 -s "$bin" "$rootfs/usr/local/bin/l2tpgw"

if nft_bin=$(command -v nft); then
  install -D -m 0755 "$nft_bin" "$rootfs/usr/sbin/nft"
  # Every library ldd resolves, and the dynamic loader, at the same paths.
  ldd "$nft_bin" | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
  setcap cap_net_admin=ep "$rootfs/usr/sbin/nft"
else
  echo "container-rootfs: no nft here; the image cannot use masquerade = true" >&2
fi

install -d -m 0755 "$rootfs/etc/l2tpgw"
install -d -m 1777 "$rootfs/run"
# For readable `ps`/`id` output and a home for nobody-like users; never for logins.
printf 'root:x:0:0:root:/:/nonexistent\nl2tpgw:x:%s:%s:l2tpgw:/:/nonexistent\n' "$uid" "$uid" >"$rootfs/etc/passwd"
printf 'root:x:0:\nl2tpgw:x:%s:\n' "$uid" >"$rootfs/etc/group"
setcap cap_net_admin,cap_net_bind_service=ep "$rootfs/usr/local/bin/l2tpgw"
