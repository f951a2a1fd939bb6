#!/usr/bin/env bash
# Builds the interop guest: a stock Debian bookworm kernel and a minbase rootfs with the
# stock Linux L2TP/IPsec client (strongSwan's starter/charon with ipsec.conf, xl2tpd, pppd)
# packed as one uncompressed initramfs, so booting it needs no disk image and no mount
# privileges on the host. Needs root, debootstrap, apt-get, dpkg, cpio, xz.
#
#   build.sh OUT_DIR DEB_CACHE_DIR
#
# OUT_DIR receives vmlinux (and vmlinuz), rootfs.cpio and manifest.txt; it appears
# atomically (built in a temporary directory beside it, then renamed), so a half-built
# guest is never used.
# DEB_CACHE_DIR keeps the downloaded .deb files between builds ("fetch packages once").
# The kernel package is unpacked with dpkg -x and never installed on the host.
# The caller (the Rust harness, tests/src/interop/guest.rs) keys OUT_DIR by a hash of this
# file, init and modules.txt.
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR DEB_CACHE_DIR}
cache=${2:?usage: build.sh OUT_DIR DEB_CACHE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${L2TPGW_INTEROP_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
packages=strongswan-starter,strongswan-charon,libstrongswan-standard-plugins,xl2tpd,ppp,iperf3,iproute2,iputils-ping,kmod,procps

log() { printf '[guest-build %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

mkdir -p "$(dirname "$out")" "$cache/debootstrap" "$cache/kernel"
# One builder at a time (two test processes may ask for the same guest).
exec 9>"$(dirname "$out")/.build.lock"
flock 9
if [ -f "$out/manifest.txt" ]; then
  log "already built by another process: $out"
  exit 0
fi

start=$(date +%s)
work=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

# --- kernel: linux-image-amd64 resolved to the real image package, unpacked only -------
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  log "apt-get update (no package lists yet)"
  apt-get update -qq
fi
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kpkg" ] || { log "cannot resolve linux-image-amd64"; exit 1; }
kdeb=$(ls "$cache/kernel/${kpkg}_"*.deb 2>/dev/null | head -n1 || true)
if [ -z "$kdeb" ]; then
  log "downloading $kpkg"
  (cd "$cache/kernel" && apt-get download -q "$kpkg" 2>&1 | grep -v 'unsandboxed' >&2 || true)
  kdeb=$(ls "$cache/kernel/${kpkg}_"*.deb | head -n1)
fi
log "unpacking $(basename "$kdeb")"
dpkg -x "$kdeb" "$work/kernel"
kver=$(ls "$work/kernel/lib/modules" | head -n1)
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
# The uncompressed ELF kernel: qemu boots it through its PVH entry point (CONFIG_PVH), so
# the emulated CPU never runs the xz decompressor (that alone took ~10 s under TCG).
xz_at=$(grep -abo $'\xfd7zXZ\x00' "$work/vmlinuz" | head -n1 | cut -d: -f1 || true)
if [ -n "$xz_at" ]; then
  # xz complains about the bytes after the stream; the ELF check below is what counts.
  tail -c +"$((xz_at + 1))" "$work/vmlinuz" | xz -dc >"$work/vmlinux" 2>/dev/null || true
fi
if [ "$(head -c 4 "$work/vmlinux" 2>/dev/null | od -An -tx1 | tr -d ' ')" != 7f454c46 ]; then
  log "no ELF kernel inside vmlinuz; the guest will boot the compressed one (slower)"
  rm -f "$work/vmlinux"
fi

# --- rootfs -----------------------------------------------------------------------------
log "debootstrap --variant=minbase $suite ($packages)"
debootstrap --variant=minbase --cache-dir="$cache/debootstrap" --include="$packages" \
  "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 40 "$work/debootstrap.log" >&2
    tail -n 40 "$root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    exit 1
  }

# --- kernel modules: the listed ones and everything they depend on ----------------------
log "modules for $kver"
mdir="$root/lib/modules/$kver"
mkdir -p "$mdir"
cp -a "$work/kernel/lib/modules/$kver/kernel" "$mdir/"
cp -a "$work/kernel/lib/modules/$kver/"modules.{order,builtin,builtin.modinfo} "$mdir/" 2>/dev/null || true
chroot "$root" depmod "$kver"
wanted=$(grep -v '^\s*#' "$here/modules.txt" | awk 'NF { print $1 }')
# modprobe prints "insmod /lib/modules/.../x.ko" for each module to load and "builtin x"
# for those compiled in; keep exactly the insmod set.
chroot "$root" sh -c "for m in $(echo $wanted); do modprobe -S $kver --show-depends \$m || exit 1; done" \
  | awk '$1 == "insmod" { print $2 }' | sort -u >"$work/keep.txt"
# Every crypto module too (about 4 MB): the kernel loads algorithm implementations on
# demand (crypto-* aliases), and a missing one only shows as ENOENT when an SA is added.
find "$mdir/kernel/crypto" "$mdir/kernel/arch/x86/crypto" "$mdir/kernel/lib/crypto" -type f 2>/dev/null \
  | sed "s|^$root||" >>"$work/keep.txt"
sort -u -o "$work/keep.txt" "$work/keep.txt"
find "$mdir/kernel" -type f | sed "s|^$root||" | sort >"$work/all.txt"
comm -23 "$work/all.txt" "$work/keep.txt" | sed "s|^|$root|" | xargs -r rm -f
find "$mdir/kernel" -type d -empty -delete
chroot "$root" depmod "$kver"
printf '%s\n' $wanted >"$root/etc/interop-modules"

# --- manifest, then trim what a guest never reads (the initramfs is unpacked at every
# boot, under emulation: each megabyte costs boot time) and install /init ----------------
{
  echo "kernel $kpkg $kver"
  for p in strongswan-charon strongswan-starter xl2tpd ppp iperf3; do
    chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' "$p"
  done
  echo "modules $(wc -l <"$work/keep.txt")"
} >"$work/manifest.part"
rm -rf "$root"/usr/share/{doc,man,info,locale,i18n,lintian,linda,bug,zoneinfo,perl5,debconf} \
  "$root"/usr/lib/x86_64-linux-gnu/{gconv,perl-base,perl} "$root"/usr/bin/perl* \
  "$root"/usr/lib/locale "$root"/usr/bin/localedef "$root"/usr/lib/apt "$root"/usr/bin/apt* \
  "$root"/var/cache/* "$root"/var/lib/apt "$root"/var/lib/dpkg "$root"/var/log/*
mkdir -p "$root/ctl" "$root/etc/ppp/peers"
# No default client configuration: each scenario supplies its own through the share.
: >"$root/etc/ipsec.secrets"
install -m 0755 "$here/init" "$root/init"

# --- image -----------------------------------------------------------------------------
log "packing rootfs.cpio"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) >"$work/rootfs.cpio"
{
  cat "$work/manifest.part"
  echo "rootfs_cpio_bytes $(stat -c %s "$work/rootfs.cpio")"
  echo "build_seconds $(($(date +%s) - start))"
} >"$work/manifest.txt"
rm -rf "$root" "$work/kernel" "$work/manifest.part"
trap - EXIT
rm -rf "$out"
mv "$work" "$out"
log "built $out in $(($(date +%s) - start)) s"
cat "$out/manifest.txt" >&2
