#!/usr/bin/env bash
# Installs the Debian (bookworm) packages needed to build, test and run the
# project locally. Idempotent: packages already installed are skipped, and
# `apt-get update` runs only when something is missing.
#
# Usage: scripts/install-deps.sh
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang-format ccache
  # C++ libraries
  libboost1.81-dev librdkafka-dev libpq-dev nlohmann-json3-dev
  prometheus-cpp-dev libssl-dev libhowardhinnant-date-dev
  # tests
  googletest libgtest-dev libgmock-dev valgrind wrk
  # loadgen's plots
  gnuplot-nox
  # Prometheus's promtool: the alert rules' checks and unit tests, services' /metrics lints
  prometheus
  # local stack (deploy/local/stack.sh): PostgreSQL, Kafka runs on the JVM
  postgresql-15 postgresql-client-15 openjdk-17-jdk-headless maven python3
)

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

still=()
for pkg in "${installable[@]}"; do
  is_installed "$pkg" || still+=("$pkg")
done
if [[ ${#still[@]} -gt 0 ]]; then
  log "failed to install: ${still[*]}"
  exit 1
fi
log "installed: ${installable[*]}"
