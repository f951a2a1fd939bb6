#!/usr/bin/env bash
# ESP seal/open per suite and payload size (cargo bench -p esp), side by side with
# `openssl speed -evp` for the same cipher and HMAC, measured on this machine in this run.
#
#   scripts/bench-esp.sh                                   # every suite, once
#   ESP_BENCH_SUITES=aes128-sha1,gcm128 ESP_BENCH_REPEAT=5 scripts/bench-esp.sh
#
# Times are per packet on one core, in thread CPU time (openssl speed counts user CPU
# time too), so other jobs on a shared machine inflate them less; ESP_BENCH_REPEAT=N runs
# everything N times and prints the median and the minimum of each figure. "openssl" is
# the cost of the same primitives on the same bytes: cipher over the padded payload plus
# HMAC over header, IV and ciphertext (for GCM, the AEAD over the payload); encryption
# for seal, decryption for open; once per call as `openssl speed -bytes N` runs it (which
# includes OpenSSL's per-call set-up) and once from its 16384-byte rate ("bulk", without
# it). With ESP_BENCH_SUITES set, openssl measures only the ciphers and HMACs those
# suites use ("raw" adds the bare primitives at 1400 bytes, see esp/benches/esp.rs).
# Do not add -C target-cpu=native to RUSTFLAGS: on this CPU it makes RustCrypto's
# SHA-1/SHA-256 ~100x slower.
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
repeat=${ESP_BENCH_REPEAT:-1}

echo "== load before: $(uptime)" >&2
cargo bench -p esp --bench esp --no-run >&2

sizes="64 512 1400 16384"
speed() { # algorithm-args... ; prints "<bytes> <bytes per second>" per size
    for s in $sizes; do
        # -bytes fixes the buffer size; the last line holds "<name> <rate>k".
        rate=$(openssl speed -seconds 1 -bytes "$s" "$@" 2>/dev/null | tail -1 | awk '{print $NF}')
        echo "$s $rate"
    done
}
# needed <suite pattern>: true if a requested suite matches (all when none is named).
needed() {
    [ -z "${ESP_BENCH_SUITES:-}" ] && return 0
    local s
    for s in ${ESP_BENCH_SUITES//,/ }; do
        # shellcheck disable=SC2053 # $1 is a glob on purpose
        [[ $s == $1 ]] && return 0
    done
    return 1
}

for run in $(seq "$repeat"); do
    echo "== run $run/$repeat: cargo bench -p esp (criterion, bencher format) ==" >&2
    cargo bench -p esp --bench esp -- --output-format bencher 2>/dev/null |
        tee -a "$out/rust.txt" >&2
    echo "== run $run/$repeat: openssl speed ($(openssl version)) ==" >&2
    for pair in aes128:aes-128-cbc aes192:aes-192-cbc aes256:aes-256-cbc 3des:des-ede3-cbc \
        gcm128:aes-128-gcm gcm256:aes-256-gcm; do
        needed "${pair%%:*}*" || continue
        c=${pair#*:}
        speed -evp "$c" | sed "s/^/$c /" | tee -a "$out/openssl.txt" >&2
        speed -evp "$c" -decrypt | sed "s/^/$c-dec /" | tee -a "$out/openssl.txt" >&2
    done
    for d in sha1 sha256 sha384 sha512 md5; do
        needed "*-$d" || continue
        speed -hmac "$d" | sed "s/^/hmac-$d /" | tee -a "$out/openssl.txt" >&2
    done
done
echo "== load after: $(uptime)" >&2

python3 - "$out/rust.txt" "$out/openssl.txt" "$repeat" <<'PY'
import re, statistics, sys

rust, raw = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"test (\S+)/(\S+)/(\d+) \.\.\. bench:\s+([\d,]+) ns/iter", line)
    if m:
        table = raw if m[1] == "raw" else rust
        table.setdefault((m[1] if m[1] != "raw" else m[2], m[2], int(m[3])), []).append(
            int(m[4].replace(",", "")))

ossl = {}  # (name, size) -> [bytes per second]
for line in open(sys.argv[2]):
    name, size, rate = line.split()
    rate = rate.rstrip("k")
    if rate:
        ossl.setdefault((name, int(size)), []).append(float(rate) * 1000)

med = lambda v: statistics.median(v) if v else None

def ns(name, size, bulk=False):
    # openssl measured at the listed sizes; scale linearly to the bytes actually
    # processed, at the median rate. bulk: from the 16384-byte rate, i.e. without the
    # per-call set-up `openssl speed` pays on every buffer (EVP re-init, tag, HMAC init:
    # ~0.3-0.6 us with OpenSSL 3.0, most of its 64-byte and much of its 1400-byte cost).
    sizes = [s for (n, s) in ossl if n == name]
    if not sizes:
        return None
    base = max(sizes) if bulk else min((s for s in sizes if s < 16384), key=lambda s: abs(s - size))
    return size / med(ossl[(name, base)]) * 1e9

cipher = {"aes128": "aes-128-cbc", "aes192": "aes-192-cbc", "aes256": "aes-256-cbc",
          "3des": "des-ede3-cbc", "gcm128": "aes-128-gcm", "gcm256": "aes-256-gcm"}
ivlen = {"aes128": 16, "aes192": 16, "aes256": 16, "3des": 8}
block = {"aes128": 16, "aes192": 16, "aes256": 16, "3des": 8}

def ref(suite, size, decrypt, bulk):
    base = suite.split("-")[0]
    if base not in cipher:
        return None
    c = cipher[base] + ("-dec" if decrypt else "")
    if base.startswith("gcm"):
        return ns(c, size, bulk)
    padded = size + 2 + (-(size + 2)) % block[base]
    mac = "hmac-" + suite.split("-")[1]
    c, m = ns(c, padded, bulk), ns(mac, 8 + ivlen[base] + padded, bulk)
    return c + m if c and m else None

fmt = lambda v: f"{v:.0f}" if v else "-"
print(f"ns per packet (thread CPU time), median and minimum of {sys.argv[3]} run(s); Gb/s of")
print("payload per core at the median; openssl: the same cipher (+ HMAC over header, IV and")
print("ciphertext) on the same bytes, per call as `openssl speed -bytes N` measures it, and")
print("from its 16384-byte (bulk) rate\n")
print(f"{'suite':<22}{'bytes':>6}{'seal med':>9}{'min':>6}{'open med':>9}{'min':>6}"
      f"{'seal Gb/s':>10}{'open Gb/s':>10}{'ossl seal':>10}{'ossl open':>10}"
      f"{'bulk seal':>10}{'bulk open':>10}")
for (suite, size) in sorted({(s, z) for (s, _, z) in rust}):
    seal, open_ = rust.get((suite, "seal", size), []), rust.get((suite, "open", size), [])
    gb = lambda v: size * 8 / med(v) if v else float("nan")
    print(f"{suite:<22}{size:>6}{fmt(med(seal)):>9}{fmt(min(seal, default=0)):>6}"
          f"{fmt(med(open_)):>9}{fmt(min(open_, default=0)):>6}{gb(seal):>10.2f}{gb(open_):>10.2f}"
          f"{fmt(ref(suite, size, False, False)):>10}{fmt(ref(suite, size, True, False)):>10}"
          f"{fmt(ref(suite, size, False, True)):>10}{fmt(ref(suite, size, True, True)):>10}")

if raw:
    print("\nraw primitives in the same run(s), no ESP framing (median / min ns):")
    for (_, name, size), v in raw.items():
        print(f"  {name:<30}{size:>6}{fmt(med(v)):>8}{min(v):>8}")
PY
