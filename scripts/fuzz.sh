#!/usr/bin/env bash
# `make fuzz` / `make fuzz-smoke` (docs/fuzzing.md): builds the fuzz package (fuzzing/) with libFuzzer and
# AddressSanitizer, then runs every target for FUZZ_SECONDS (default 60) — or FUZZ_RUNS executions — each,
# on its seeds plus the corpus kept in fuzzing/corpus/<target>. Exits non-zero on the first crash, leak,
# timeout or broken property, leaving the input in fuzzing/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_RUNS=${FUZZ_RUNS:-}
ALL="frame envelope json proposal link policy policy-canonical invariant audit url"
TARGETS=${FUZZ_TARGETS:-$ALL}
NICE=${FUZZ_NICE:-0}

mkdir -p fuzzing/logs
# The main package is a path dependency whose files change under it (a merge adds one): SwiftPM kept
# planning with the old file list, so the cached plan goes and is made again (seconds).
rm -f fuzzing/.build/workspace-state.json fuzzing/.build/*/debug/description.json
# (gold warns once per ASan symbol it cannot export: thousands of lines, kept out of the way in the log)
if ! swift build --package-path fuzzing --scratch-path fuzzing/.build -Xswiftc -sanitize=fuzzer,address > fuzzing/logs/build.log 2>&1; then
  grep -v "ld.gold: warning" fuzzing/logs/build.log | tail -40 >&2
  echo "fuzz: the build failed (fuzzing/logs/build.log)" >&2
  exit 1
fi
BIN=fuzzing/.build/debug/jg-fuzz
summary=fuzzing/logs/summary.txt
: > "$summary"
for t in $TARGETS; do
  corpus=fuzzing/corpus/$t
  mkdir -p "$corpus" "fuzzing/artifacts/$t"
  dict=()
  case $t in
    json|envelope|proposal|policy-canonical) dict=(-dict=fuzzing/dict/json.dict) ;;
    invariant) dict=(-dict=fuzzing/dict/invariant.dict) ;;
  esac
  limit=(-max_total_time="$FUZZ_SECONDS")
  [ -n "$FUZZ_RUNS" ] && limit=(-runs="$FUZZ_RUNS")
  log=fuzzing/logs/$t.log
  echo "fuzz $t: ${FUZZ_RUNS:+$FUZZ_RUNS runs}${FUZZ_RUNS:-$FUZZ_SECONDS s}"
  # Swift's backtracer would hold a crashing run for minutes; libFuzzer reports the crash itself.
  rc=0
  JG_FUZZ_TARGET=$t SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    nice -n "$NICE" "$BIN" "$corpus" "fuzzing/seeds/$t" "${limit[@]}" "${dict[@]}" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -artifact_prefix="fuzzing/artifacts/$t/" -print_final_stats=1 > "$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | tr -dc 0-9 || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | tr -dc 0-9 || true)
  units=$(find "$corpus" -type f | wc -l)
  line="$t: executions ${execs:-?}, coverage ${cov:-?} edges, ${ft:-?} features, corpus $units, exit $rc"
  echo "  $line"
  echo "$line" >> "$summary"
  if [ "$rc" -ne 0 ]; then
    grep -E "ERROR|Fatal error|fuzz property|SUMMARY|Test unit written" "$log" | head -20 >&2
    echo "fuzz $t FAILED (log $log, input in fuzzing/artifacts/$t/)" >&2
    exit 1
  fi
done
