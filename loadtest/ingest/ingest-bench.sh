#!/usr/bin/env bash
# ingest against a plain Go service doing the same job (loadtest/peers/go-ingest) and against the
# machine's ceiling (hello-server), in one run: closed model at 50, 1,000 and 5,000 connections,
# open model at 3,000/s and 8,000/s over 1,000 connections, each contender in alternation, on
# topics of the run's own. See loadtest/ingest/bench.py for the options; writes
# loadtest/results/ingest-vs-go.md.
#
#   bash deploy/local/stack.sh up
#   ninja -C build slack-load hello-server ingest
#   loadtest/ingest/ingest-bench.sh [--io-threads 1,2] [--rounds 2] [--quick]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exec python3 "$root/loadtest/ingest/bench.py" "$@"
