#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang 16 (ASan + UBSan) into build-fuzz/ and runs
# each one, bounded by time or by executions, then prints a table per target.
#
#   scripts/fuzz.sh [--seconds N] [--runs N] [TARGET...]
#     --seconds N   run each target N seconds (default 10: the short run CI uses)
#     --runs N      run each target N executions (the long run: --runs 10000000); with
#                   --seconds too, whichever comes first ends the target's run
#     TARGET        http_server form slack_request ingest_handler worker_event worker_hints
#                   messages slack_web_api llm_response replay_options (default: all)
#   FUZZ_JOBS=N     compile jobs (default 2); the runs themselves use one core each, one at a time
#
# Exit status: 0 when no target crashed, leaked, hung, or reported undefined behaviour; 1 when one
# did (its input is in build-fuzz/artifacts/<target>/, its log in build-fuzz/logs/<target>.log);
# 2 for a usage or build error. Corpora grow in build-fuzz/corpus/<target>/ (seeded from
# fuzz/corpus/<target>/ and tests/data); nothing is written into the source tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build-fuzz

all_targets=(http_server form slack_request ingest_handler worker_event worker_hints messages
  slack_web_api llm_response replay_options)
seconds=
runs=
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ -n $seconds || -n $runs ]] || seconds=10
for amount in $seconds $runs; do
  [[ $amount =~ ^[0-9]+$ && $amount -gt 0 ]] || { echo "fuzz: expected a positive number, not '$amount'" >&2; exit 2; }
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $target "* ]] || { echo "fuzz: unknown target $target" >&2; exit 2; }
done

started=$(date +%s)
bash "$root/scripts/install-deps.sh" build fuzz

# As scripts/build.sh: one locale for the compiler, ccache keyed on paths relative to the checkout.
export LANG=C.UTF-8
unset LC_ALL LC_CTYPE LC_MESSAGES
args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1"
  -DTRACKER_BUILD_FUZZ=ON -DTRACKER_BUILD_TESTS=OFF -DTRACKER_BUILD_LOADTEST=OFF
  -DTRACKER_SANITIZE=OFF)
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
  ccache --max-size=5G >/dev/null
  args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# clang's own warnings differ from GCC's, which the project's -Werror is tuned to: the fuzz tree
# is built without TRACKER_WERROR (the GCC builds keep it).
CC=clang-16 CXX=clang++-16 cmake -S "$root" -B "$dir" -G Ninja "${args[@]}" >/dev/null ||
  { echo "fuzz: cmake failed" >&2; exit 2; }
nice -n 10 ninja -C "$dir" -j "${FUZZ_JOBS:-2}" "${targets[@]/#/fuzz_}" ||
  { echo "fuzz: build failed" >&2; exit 2; }
built=$(date +%s)

# llvm-16's symbolizer first on the PATH: the sanitizers' stacks name functions and lines.
export PATH=/usr/lib/llvm-16/bin:$PATH
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Which dictionary each target reads: HTTP text, JSON, or both.
dictionary() {
  case $1 in
    http_server|form|replay_options) echo http ;;
    messages|worker_event|worker_hints) echo json ;;
    *) echo both ;;
  esac
}
mkdir -p "$dir/dict" "$dir/logs"
cat "$root/fuzz/dict/json.dict" "$root/fuzz/dict/http.dict" >"$dir/dict/both.dict"
cp "$root/fuzz/dict/json.dict" "$root/fuzz/dict/http.dict" "$dir/dict/"

failed=0
rows=()
for target in "${targets[@]}"; do
  corpus=$dir/corpus/$target
  artifacts=$dir/artifacts/$target
  log=$dir/logs/$target.log
  mkdir -p "$corpus" "$artifacts"
  seeds=("$root/fuzz/corpus/$target")
  # The Slack payloads are bodies as they arrive: seeds for the readers of bodies.
  case $target in
    slack_request|slack_web_api|llm_response) seeds+=("$root/tests/data/slack") ;;
  esac
  limit=()
  [[ -n $seconds ]] && limit+=(-max_total_time="$seconds")
  [[ -n $runs ]] && limit+=(-runs="$runs")
  t0=$(date +%s)
  status=0
  nice -n 15 "$dir/fuzz/fuzz_$target" "${limit[@]}" -print_final_stats=1 -timeout=10 \
    -dict="$dir/dict/$(dictionary "$target").dict" -artifact_prefix="$artifacts/" \
    "$corpus" "${seeds[@]}" >"$log" 2>&1 || status=$?
  t1=$(date +%s)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  outcome=ok
  if grep -q 'ERROR: LeakSanitizer' "$log"; then outcome=LEAK
  elif grep -q 'runtime error:' "$log"; then outcome=UB
  elif grep -q 'ERROR: AddressSanitizer' "$log"; then outcome=ASAN
  elif grep -q 'fuzz invariant failed' "$log"; then outcome=INVARIANT
  elif grep -q 'ERROR: libFuzzer: timeout' "$log"; then outcome=TIMEOUT
  elif grep -q -e 'ERROR: libFuzzer' -e 'deadly signal' "$log"; then outcome=CRASH
  elif [[ $status -ne 0 ]]; then outcome="EXIT_$status"
  fi
  [[ $outcome == ok ]] || failed=1
  rows+=("$(printf '%-15s %12s %9s %6s %7s %14s %6s  %s' "$target" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$((t1 - t0))s" "$outcome")")
  if [[ $outcome != ok ]]; then
    echo "fuzz: $target: $outcome; log $log; inputs in $artifacts/" >&2
    grep -m1 -E 'runtime error:|ERROR: (Address|Leak)Sanitizer|fuzz invariant failed|ERROR: libFuzzer' "$log" >&2 || true
  fi
done

echo
echo "fuzz: per target${runs:+ $runs runs}${seconds:+ $seconds s at most}; build $((built - started))s, total $(( $(date +%s) - started ))s"
printf '%-15s %12s %9s %6s %7s %14s %6s  %s\n' target executions exec/s cov ft corpus time outcome
printf '%s\n' "${rows[@]}"
exit "$failed"
