#!/bin/sh
# study-tracker SERVICE [ARGS...]: runs one of the image's programs in the foreground, as the
# container's main process (start the container with --init, or tini in Kubernetes' place, so
# that SIGTERM reaches it and the grace period is used).
set -eu
dir=/usr/local/lib/study-tracker
usage() {
  echo "usage: study-tracker SERVICE [ARGS...]" >&2
  printf 'programs in this image:' >&2
  for program in "$dir"/*; do printf ' %s' "$(basename "$program" | sed 's/^tracker-//')" >&2; done
  echo >&2
}
if [ $# -eq 0 ] || [ "$1" = help ] || [ "$1" = --help ]; then
  usage
  exit 0
fi
name=$1
shift
for candidate in "$dir/$name" "$dir/tracker-$name"; do
  if [ -x "$candidate" ]; then
    exec "$candidate" "$@"
  fi
done
echo "study-tracker: no program named '$name' in this image" >&2
usage
exit 64
