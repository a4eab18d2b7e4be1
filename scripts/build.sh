#!/usr/bin/env bash
# Configures and builds one build tree.
#   scripts/build.sh [release|asan] [extra cmake arguments...]
# release -> build/       (RelWithDebInfo, warnings are errors)
# asan    -> build-asan/  (Debug with AddressSanitizer + UndefinedBehaviorSanitizer, tests only)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
shift || true

case $flavour in
  release)
    dir=$root/build
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRACKER_WERROR=ON) ;;
  asan)
    dir=$root/build-asan
    args=(-DCMAKE_BUILD_TYPE=Debug -DTRACKER_WERROR=ON -DTRACKER_SANITIZE=ON) ;;
  *)
    echo "build: unknown flavour '$flavour' (release or asan)" >&2
    exit 2 ;;
esac

cmake -S "$root" -B "$dir" -G Ninja "${args[@]}" "$@" >/dev/null
# Two cores and plenty of memory: a couple of extra jobs keep both busy during linking.
ninja -C "$dir" -j "$(( $(nproc) + 1 ))"
