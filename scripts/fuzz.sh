#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo-fuzz, libFuzzer, nightly Rust) one after another and
# prints, per target, the executions and crashes from libFuzzer's final stats.
#
#   scripts/fuzz.sh --runs N        each target for N executions (after its seed corpus)
#   scripts/fuzz.sh --seconds S     each target for S seconds
#   scripts/fuzz.sh ... TARGET...   only these targets
#
# New inputs go to a scratch corpus under the build directory, never into fuzz/corpus (the
# committed seeds). A crash leaves its input in fuzz/artifacts/TARGET/ and makes the script
# exit non-zero. Runs are single-job and niced, with a fixed seed (-seed=, env FUZZ_SEED) so a
# short smoke run is reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=()
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) limit=(-runs="$2"); shift 2 ;;
    --seconds) limit=(-max_total_time="$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#limit[@]} -eq 0 ]; then
  echo "usage: scripts/fuzz.sh --runs N | --seconds S [TARGET...]" >&2
  exit 3
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzzing needs a nightly Rust toolchain (libFuzzer's instrumentation):" >&2
  echo "  rustup toolchain install nightly --profile minimal" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzzing needs cargo-fuzz: cargo install cargo-fuzz --locked" >&2
  exit 1
fi

target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
scratch="$target_dir/corpus"
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

echo "==> building ${#targets[@]} fuzz targets"
cargo +nightly fuzz build --fuzz-dir fuzz --target-dir "$target_dir" -O

failed=0
printf '%-20s %12s %8s %10s\n' target executions crashes exec/s
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
  log="$target_dir/$t.log"
  status=0
  nice -n 10 cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$target_dir" -O "$t" \
    "$scratch/$t" "fuzz/corpus/$t" -- \
    -jobs=1 -workers=1 -seed="${FUZZ_SEED:-1}" -max_len=16384 -timeout=30 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" "${limit[@]}" >"$log" 2>&1 || status=$?
  execs=$(grep -m1 '^stat::number_of_executed_units:' "$log" | awk '{print $2}')
  speed=$(grep -m1 '^stat::average_exec_per_sec:' "$log" | awk '{print $2}')
  crashes=$(grep -cE '^(==[0-9]+== ERROR: libFuzzer|SUMMARY: libFuzzer)' "$log" || true)
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  printf '%-20s %12s %8s %10s\n' "$t" "${execs:-?}" "$crashes" "${speed:-?}"
  if [ "$status" -ne 0 ]; then
    failed=1
    echo "--- $t failed (exit $status); its log: $log" >&2
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20 >&2 || true
  fi
done
exit "$failed"
