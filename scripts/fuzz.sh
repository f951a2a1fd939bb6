#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a while (default 20 s, first argument
# overrides; 0 only builds). Works on a stable toolchain through RUSTC_BOOTSTRAP, since
# cargo-fuzz needs -Z flags. A crash fails the script and leaves the input under
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
# Fuzz builds are kept apart from the workspace's target dir (other RUSTFLAGS).
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}

targets=$(cargo fuzz list)
cargo fuzz build -O --debug-assertions
[ "$seconds" = 0 ] && exit 0
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "==> fuzz $t for ${seconds}s"
  cargo fuzz run -O --debug-assertions "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
    grep -E 'stat::number_of_executed_units|stat::new_units_added|ERROR|panicked|SUMMARY' || true
  # cargo fuzz exits non-zero on a crash; the pipe above hides that, so check artifacts.
  if compgen -G "artifacts/$t/crash-*" >/dev/null || compgen -G "artifacts/$t/oom-*" >/dev/null; then
    echo "fuzz target $t found a crash: see fuzz/artifacts/$t" >&2
    exit 1
  fi
done
