#!/usr/bin/env bash
# Builds the project's container images with podman:
#   study-tracker             the five services and the operator tools (deploy/container/Containerfile)
#   study-tracker-simulators  the Slack and OpenAI simulators (same file, target simulators)
#   study-tracker-kafka       Apache Kafka (KRaft) from Maven Central's jars on Debian's JRE
#   study-tracker-postgres    PostgreSQL 15 from Debian
#   study-tracker-haproxy     HAProxy from Debian (the reverse proxy of deploy/compose)
#   study-tracker-prometheus  Prometheus from Debian with the rules of deploy/prometheus
# each tagged :latest and :<commit>. When the base image (docker.io/library/debian:bookworm-slim
# unless --base says otherwise) is not in local storage and cannot be pulled, it is made from
# Debian's archive with debootstrap and imported under that name.
#
# Usage: scripts/images.sh [--base IMAGE] [--only NAME]... [--no-cache]
# Environment: DEBIAN_MIRROR (http://deb.debian.org/debian), CCACHE_DIR (the host's compiler
# cache, mounted into the build stage so that a host build and an image build share it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

base=docker.io/library/debian:bookworm-slim
only=()
cache_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --base) base=$2; shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    --no-cache) cache_args=(--no-cache); shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "images: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { printf 'images: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

bash scripts/install-deps.sh containers
export CONTAINERS_CONF=$root/deploy/container/containers.conf

# ---- the base image ----
make_base() {
  local mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian} dir started=$SECONDS
  dir=$(mktemp -d /var/tmp/study-tracker-base.XXXXXX)
  # shellcheck disable=SC2064 # expand now: the folder of this call
  trap "rm -rf '$dir'" EXIT
  log "making $base from Debian's archive ($mirror, debootstrap --variant=minbase bookworm)"
  if ! debootstrap --variant=minbase bookworm "$dir/root" "$mirror" >"$dir/debootstrap.log" 2>&1; then
    tail -n 20 "$dir/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  fi
  # The sources and the trimming of Debian's published slim image: updates and security, no
  # documentation or package lists kept.
  rm -f "$dir/root/etc/apt/sources.list"
  cat >"$dir/root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  cat >"$dir/root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
  cat >"$dir/root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  # Hosts that reach Debian through a snapshot mirror need the same tolerance of old Release files.
  if [[ -f /etc/apt/apt.conf.d/99artifact-registry ]]; then
    cp /etc/apt/apt.conf.d/99artifact-registry "$dir/root/etc/apt/apt.conf.d/"
  fi
  rm -rf "$dir/root/var/lib/apt/lists/"* "$dir/root/var/cache/apt/"*.bin "$dir/root/usr/share/doc/"* \
    "$dir/root/usr/share/man/"* "$dir/root/usr/share/info/"*
  tar --numeric-owner -C "$dir/root" -c . |
    podman import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$base" >/dev/null
  rm -rf "$dir"
  trap - EXIT
  log "$base made in $((SECONDS - started)) s"
}

if ! podman image exists "$base"; then
  if ! podman pull -q "$base" >/dev/null 2>&1; then
    [[ $base == docker.io/library/debian:bookworm-slim ]] ||
      die "$base is not in local storage and cannot be pulled; only Debian bookworm slim can be made here"
    make_base
  fi
fi

# ---- the images ----
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo local)
ccache_dir=${CCACHE_DIR:-$HOME/.cache/ccache}
mkdir -p "$ccache_dir" "$HOME/.m2"

wanted() {
  [[ ${#only[@]} -eq 0 ]] && return 0
  local name
  for name in "${only[@]}"; do [[ $name == "$1" ]] && return 0; done
  return 1
}

build() {
  local name=$1 file=$2 started=$SECONDS
  shift 2
  wanted "$name" || return 0
  log "building $name:$commit ($file $*)"
  podman build --format docker --ignorefile deploy/container/containerignore \
    --build-arg "BASE=$base" "${cache_args[@]}" -f "$file" -t "$name:latest" -t "$name:$commit" \
    "$@" . || die "building $name failed"
  log "$name built in $((SECONDS - started)) s ($(podman image inspect --format '{{.Size}}' "$name:latest" |
    awk '{printf "%.0f MB", $1 / 1e6}'))"
}

build study-tracker deploy/container/Containerfile --target runtime \
  --build-arg CCACHE_DIR=/ccache -v "$ccache_dir:/ccache"
build study-tracker-simulators deploy/container/Containerfile --target simulators \
  --build-arg CCACHE_DIR=/ccache -v "$ccache_dir:/ccache"
build study-tracker-kafka deploy/container/kafka.Containerfile -v "$HOME/.m2:/root/.m2"
build study-tracker-postgres deploy/container/postgres.Containerfile
build study-tracker-haproxy deploy/container/haproxy.Containerfile
build study-tracker-prometheus deploy/container/prometheus.Containerfile

podman images --filter reference='study-tracker*' --format '{{.Repository}}:{{.Tag}} {{.Size}}' | sort >&2
