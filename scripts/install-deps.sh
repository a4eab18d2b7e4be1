#!/usr/bin/env bash
# Installs the Debian (bookworm) packages needed to build, test and run the
# project locally. Idempotent: packages already installed are skipped, and
# `apt-get update` runs only when something is missing.
#
# Usage: scripts/install-deps.sh [GROUP...]
#   all         (default) everything below but containers: build, test, run the local stack
#   build       the compiler and the C++ libraries only (what the container image's build stage uses)
#   containers  podman, runc, podman-compose and debootstrap (scripts/images.sh, deploy/compose)
#   fuzz        clang 16 and its sanitizer/libFuzzer runtimes (scripts/fuzz.sh, fuzz/)
set -euo pipefail

BUILD_PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache
  # C++ libraries
  libboost1.81-dev librdkafka-dev libpq-dev nlohmann-json3-dev
  prometheus-cpp-dev libssl-dev libhowardhinnant-date-dev
)
TEST_PACKAGES=(
  clang-format
  # tests
  googletest libgtest-dev libgmock-dev valgrind wrk
  # loadgen's plots
  gnuplot-nox
  # Prometheus's promtool: the alert rules' checks and unit tests, services' /metrics lints
  prometheus
  # the reverse proxy in front of ingest replicas (loadtest/replicas, deploy/compose)
  haproxy
  # local stack (deploy/local/stack.sh): PostgreSQL, Kafka runs on the JVM
  postgresql-15 postgresql-client-15 openjdk-17-jdk-headless maven python3
)
# crun cannot start containers on a host whose cgroups are hybrid v1 without CAP_SYS_RESOURCE;
# runc can (deploy/container/containers.conf selects it).
CONTAINER_PACKAGES=(podman runc catatonit golang-github-containernetworking-plugin-dnsname dnsmasq-base
  podman-compose debootstrap uidmap slirp4netns curl)
# libFuzzer ships with clang's runtimes (libclang-rt-16-dev); llvm-16 has the symbolizer for
# the sanitizers' reports. GCC has no equivalent.
FUZZ_PACKAGES=(clang-16 libclang-rt-16-dev llvm-16)

groups=("$@")
[[ ${#groups[@]} -gt 0 ]] || groups=(all)
PACKAGES=()
with_build=0
for group in "${groups[@]}"; do
  case $group in
    all) PACKAGES+=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"); with_build=1 ;;
    build) PACKAGES+=("${BUILD_PACKAGES[@]}"); with_build=1 ;;
    containers) PACKAGES+=("${CONTAINER_PACKAGES[@]}") ;;
    fuzz) PACKAGES+=("${FUZZ_PACKAGES[@]}") ;;
    *) printf 'install-deps: unknown group %s (all, build, containers or fuzz)\n' "$group" >&2; exit 2 ;;
  esac
done

log() { printf 'install-deps: %s\n' "$*" >&2; }

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "not root and sudo is not available"
    exit 1
  fi
fi

is_installed() {
  local status
  status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
  [[ $status == installed ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#PACKAGES[@]} packages present"
  exit 0
fi

log "missing: ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q

# A package a given mirror does not carry is reported and skipped rather than
# failing the whole install.
installable=()
for pkg in "${missing[@]}"; do
  if apt-cache show "$pkg" >/dev/null 2>&1; then
    installable+=("$pkg")
  else
    log "not available from the configured sources, skipped: $pkg"
  fi
done

if [[ ${#installable[@]} -gt 0 ]]; then
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${installable[@]}"
fi

# The compiler and every header the build reads at the archive's current versions, as the
# container image's build stage gets them (deploy/container/Containerfile): the two builds then
# compile identical inputs, and the image build reuses what the host build put in ccache.
if [[ $with_build -eq 1 ]]; then
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --only-upgrade \
    --no-install-recommends "${BUILD_PACKAGES[@]}" libc6-dev linux-libc-dev libstdc++-12-dev \
    >/dev/null
fi

still=()
for pkg in "${installable[@]}"; do
  is_installed "$pkg" || still+=("$pkg")
done
if [[ ${#still[@]} -gt 0 ]]; then
  log "failed to install: ${still[*]}"
  exit 1
fi
log "installed: ${installable[*]}"
