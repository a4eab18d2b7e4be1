#!/usr/bin/env bash
# Configures and builds one build tree.
#   scripts/build.sh [release|asan] [extra cmake arguments...]
#   BUILD_TARGETS="ingest worker" scripts/build.sh release ...   builds only those targets
# release -> build/       (RelWithDebInfo, warnings are errors)
# asan    -> build-asan/  (Debug with AddressSanitizer + UndefinedBehaviorSanitizer, tests only)
# Both keep line tables only (-g1): enough for perf, gdb backtraces and sanitizer reports, and
# the coroutine-heavy files compile about a quarter faster than with full debug information
# (libs/http/src/client.cpp: 47 s at -O2 -g, 34 s at -O2 -g1). Pass
# -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g -DNDEBUG" for variables in the debugger.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
shift || true

case $flavour in
  release)
    dir=$root/build
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRACKER_WERROR=ON
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG") ;;
  asan)
    dir=$root/build-asan
    args=(-DCMAKE_BUILD_TYPE=Debug -DTRACKER_WERROR=ON -DTRACKER_SANITIZE=ON
      "-DCMAKE_CXX_FLAGS_DEBUG=-g1") ;;
  *)
    echo "build: unknown flavour '$flavour' (release or asan)" >&2
    exit 2 ;;
esac

# One locale for the compiler everywhere: its messages read the same, and ccache (which hashes
# the locale variables) shares entries between hosts and the container image's build stage.
export LANG=C.UTF-8
unset LC_ALL LC_CTYPE LC_MESSAGES

# ccache, when installed, keyed on paths relative to the checkout: a fresh clone in another folder
# reuses what an earlier build compiled, and a new machine simply starts cold.
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
  ccache --max-size=5G >/dev/null
  args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

cmake -S "$root" -B "$dir" -G Ninja "${args[@]}" "$@" >/dev/null
# Two cores and plenty of memory: a couple of extra jobs keep both busy during linking.
# shellcheck disable=SC2086 # BUILD_TARGETS is a list of target names
ninja -C "$dir" -j "$(( $(nproc) + 1 ))" ${BUILD_TARGETS:-}
