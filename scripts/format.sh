#!/usr/bin/env bash
# Formats the project's C++ sources with .clang-format, or checks them (--check).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
listing=$(git ls-files -co --exclude-standard -- '*.cpp' '*.hpp')
mapfile -t files <<<"$listing"
if [[ ${#files[@]} -eq 0 || -z ${files[0]} ]]; then
  echo "format: no C++ sources found (is this a git checkout?)" >&2
  exit 1
fi
if [[ ${1:-} == --check ]]; then
  clang-format --dry-run --Werror "${files[@]}"
  echo "format: ${#files[@]} files formatted as .clang-format says"
else
  clang-format -i "${files[@]}"
fi
