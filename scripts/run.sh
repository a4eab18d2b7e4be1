#!/usr/bin/env bash
# Sets everything up on a fresh Debian bookworm machine (or an existing checkout) and runs the
# main job: build, start the local Kafka + PostgreSQL stack, apply the database migrations, and
# send one event through the pipeline (produce -> consume -> row in PostgreSQL).
# Idempotent; leaves the stack running (deploy/local/stack.sh down stops it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
bash scripts/build.sh release
bash deploy/local/stack.sh up
stack_env=$(bash deploy/local/stack.sh env)
eval "$stack_env"
export KAFKA_BROKERS DATABASE_URL

echo
echo "== migrations"
build/tools/tracker-migrate
echo
echo "== smoke round trip"
build/tools/tracker-smoke
echo
echo "The stack keeps running: deploy/local/stack.sh status | logs | down"
