#!/usr/bin/env bash
# The main job, on a fresh Debian bookworm machine or an existing checkout: installs what is
# missing, builds, starts the local Kafka + PostgreSQL stack, applies the database migrations,
# then runs one day of a study channel through all five services (scripts/main_job.py): signed
# Slack events into ingest, study logs in PostgreSQL, the daily summaries triggered, written and
# posted to Slack (the Slack and OpenAI simulators stand in unless SLACK_BOT_TOKEN with
# SLACK_API_BASE_URL, or OPENAI_API_KEY, name real ones).
#
# Everything it starts is stopped when it ends or is interrupted: the services and simulators,
# and the stack too if it was not running before (TRACKER_KEEP_STACK=1 leaves it up).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
bash scripts/build.sh release

stack_was_up=0
if bash deploy/local/stack.sh status >/dev/null 2>&1; then stack_was_up=1; fi
if [[ $stack_was_up -eq 0 && ${TRACKER_KEEP_STACK:-0} != 1 ]]; then
  trap 'echo; echo "== stopping the local stack (it was not running before)";
        bash deploy/local/stack.sh down' EXIT
fi
bash deploy/local/stack.sh up
stack_env=$(bash deploy/local/stack.sh env)
eval "$stack_env"
export KAFKA_BROKERS DATABASE_URL

echo
echo "== migrations"
build/tools/tracker-migrate
echo
echo "== the day"
python3 scripts/main_job.py --build build
