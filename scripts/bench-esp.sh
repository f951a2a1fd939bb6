#!/usr/bin/env bash
# ESP seal/open per suite and payload size (cargo bench -p esp), side by side with
# `openssl speed -evp` for the same cipher and HMAC, measured on this machine in this run.
#
#   scripts/bench-esp.sh                      # every suite
#   ESP_BENCH_SUITES=aes128-sha1,gcm128 scripts/bench-esp.sh
#
# Times are per packet on one core, in thread CPU time (openssl speed counts user CPU
# time too), so other jobs on a shared machine inflate them less. "openssl" is the cost
# of the same primitives on the same bytes: cipher over the padded payload plus HMAC over
# header, IV and ciphertext (for GCM, the AEAD over the payload).
# Do not add -C target-cpu=native to RUSTFLAGS: on this CPU it makes RustCrypto's
# SHA-1/SHA-256 ~100x slower.
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== cargo bench -p esp (criterion, bencher format) ==" >&2
cargo bench -p esp --bench esp -- --output-format bencher 2>/dev/null | tee "$out/rust.txt" >&2

sizes="64 512 1400"
speed() { # algorithm-args... ; prints "<bytes> <bytes per second>" per size
    for s in $sizes; do
        # -bytes fixes the buffer size; the last line holds "<name> <rate>k".
        rate=$(openssl speed -seconds 1 -bytes "$s" "$@" 2>/dev/null | tail -1 | awk '{print $NF}')
        echo "$s $rate"
    done
}
echo "== openssl speed ($(openssl version)) ==" >&2
for c in aes-128-cbc aes-192-cbc aes-256-cbc des-ede3-cbc aes-128-gcm aes-256-gcm; do
    speed -evp "$c" | sed "s/^/$c /" >> "$out/openssl.txt"
done
for d in sha1 sha256 sha384 sha512 md5; do
    speed -hmac "$d" | sed "s/^/hmac-$d /" >> "$out/openssl.txt"
done
cat "$out/openssl.txt" >&2

python3 - "$out/rust.txt" "$out/openssl.txt" <<'PY'
import re, sys

rust = {}
for line in open(sys.argv[1]):
    m = re.match(r"test (\S+)/(seal|open)/(\d+) \.\.\. bench:\s+([\d,]+) ns/iter", line)
    if m:
        rust[(m[1], m[2], int(m[3]))] = int(m[4].replace(",", ""))

ossl = {}
for line in open(sys.argv[2]):
    name, size, rate = line.split()
    rate = rate.rstrip("k")
    if rate:
        ossl[(name, int(size))] = float(rate) * 1000  # bytes per second

def ns(name, size):
    # openssl measured at the listed sizes; scale linearly to the bytes actually processed
    base = min((s for (n, s) in ossl if n == name), key=lambda s: abs(s - size), default=None)
    if base is None:
        return None
    return size / ossl[(name, base)] * 1e9

cipher = {"aes128": "aes-128-cbc", "aes192": "aes-192-cbc", "aes256": "aes-256-cbc",
          "3des": "des-ede3-cbc", "gcm128": "aes-128-gcm", "gcm256": "aes-256-gcm"}
ivlen = {"aes128": 16, "aes192": 16, "aes256": 16, "3des": 8}
block = {"aes128": 16, "aes192": 16, "aes256": 16, "3des": 8}

print(f"{'suite':<24}{'bytes':>6}{'seal ns':>10}{'open ns':>10}{'seal Gb/s':>11}{'open Gb/s':>11}{'openssl ns':>12}")
for (suite, op, size) in sorted({(s, "x", z) for (s, _, z) in rust}):
    seal = rust.get((suite, "seal", size))
    open_ = rust.get((suite, "open", size))
    base = suite.split("-")[0]
    ref = None
    if base in cipher:
        if base.startswith("gcm"):
            ref = ns(cipher[base], size)
        else:
            padded = size + 2 + (-(size + 2)) % block[base]
            mac = "hmac-" + suite.split("-")[1]
            c, m = ns(cipher[base], padded), ns(mac, 8 + ivlen[base] + padded)
            ref = c + m if c and m else None
    gb = lambda t: size * 8 / t if t else float("nan")
    print(f"{suite:<24}{size:>6}{seal or 0:>10}{open_ or 0:>10}{gb(seal):>11.2f}{gb(open_):>11.2f}"
          f"{(f'{ref:.0f}' if ref else '-'):>12}")

print("\nraw primitives in the same run (no ESP framing):")
for line in open(sys.argv[1]):
    m = re.match(r"test raw/(\S+)/(\d+) \.\.\. bench:\s+([\d,]+) ns/iter", line)
    if m:
        print(f"  {m[1]:<28}{m[2]:>6}{m[3]:>10} ns")
PY
