#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a while, from the seed corpus kept in
# the repository (fuzz/corpus/<target>/).
#
#   scripts/fuzz.sh            every target, 20 s each (scripts/test.sh runs this)
#   scripts/fuzz.sh 0          only build them
#   scripts/fuzz.sh 600 ike_responder l2tp_lns    those targets, 10 minutes each
#
# Environment: FUZZ_JOBS targets run side by side (default: the number of CPUs, so the
# wall time is about targets × seconds / CPUs); FUZZ_TARGET_DIR the build directory
# (default fuzz/target); FUZZ_KEEP_CORPUS=1 adds what the fuzzer finds to
# fuzz/corpus/<target>/ (by default it works on a temporary copy, so the checkout stays
# clean). A target that does not build, or that crashes, times out or runs out of
# memory, fails the script; the input is left under fuzz/artifacts/<target>/ and its
# log is printed.
#
# Works on a stable toolchain through RUSTC_BOOTSTRAP, since cargo-fuzz needs -Z flags.
# Installs cargo-fuzz when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
shift || true

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
# What `cargo fuzz run` sets too (the binaries run directly below).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}
# Fuzz builds are kept apart from the workspace's target dir (other RUSTFLAGS).
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets" >&2; exit 1; }
echo "==> building ${#targets[@]} fuzz targets"
if [ $# -gt 0 ]; then
  for t in "${targets[@]}"; do cargo fuzz build -O --debug-assertions "$t"; done
else
  cargo fuzz build -O --debug-assertions
fi
[ "$seconds" = 0 ] && exit 0

jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
work=$(mktemp -d "${TMPDIR:-/tmp}/l2tpgw-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
bin_dir="$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"

# One target: the seeds are copied (new inputs land in the copy), the binary runs
# directly (already built above), and the exit status says whether it crashed.
run_one() {
  local t=$1
  local dir=$work/corpus/$t log=$work/$t.log rc=0
  mkdir -p "$dir" "artifacts/$t"
  if [ -d "corpus/$t" ]; then
    cp -R "corpus/$t/." "$dir/"
  fi
  local seeds
  seeds=$(find "$dir" -type f | wc -l)
  "$bin_dir/$t" "$dir" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
    mkdir -p "corpus/$t"
    cp -R "$dir/." "corpus/$t/"
  fi
  local runs new
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
  if [ "$rc" != 0 ]; then
    echo "FAIL  $t: exit $rc after ${runs:-?} runs (log below, input under fuzz/artifacts/$t/)"
    grep -v '^#[0-9]' "$log" | tail -60
    return 1
  fi
  printf 'ok    %-24s %10s runs in %ss, %s seeds, %s new inputs\n' "$t" "${runs:-?}" "$seconds" "$seeds" "${new:-?}"
}
export -f run_one
export work seconds bin_dir

echo "==> running each target for ${seconds}s, $jobs at a time"
start=$SECONDS
status=0
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {} || status=$?
echo "==> fuzzing took $((SECONDS - start))s"
if [ "$status" != 0 ]; then
  echo "a fuzz target failed (see above)" >&2
  exit 1
fi
