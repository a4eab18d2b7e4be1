#!/bin/bash
# The image's HEALTHCHECK: GET /healthz on the running service's ops port, 200 or fail. The port
# is TRACKER_OPS_PORT when set, otherwise the default of whichever service runs here (found by
# process name). Plain bash (/dev/tcp), so that the image needs no HTTP client.
set -u
declare -A default_port=([ingest]=9464 [worker]=9465 [scheduler]=9466 [summarizer]=9467
  [notifier]=9468)
port=${TRACKER_OPS_PORT:-}
if [[ -z $port ]]; then
  for comm in /proc/[0-9]*/comm; do
    name=$(<"$comm") 2>/dev/null || continue
    if [[ -n ${default_port[$name]:-} ]]; then
      port=${default_port[$name]}
      break
    fi
  done
fi
if [[ -z $port ]]; then
  echo "healthcheck: no service running and TRACKER_OPS_PORT is not set" >&2
  exit 1
fi
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 3 status <&3 || { echo "healthcheck: no answer on :$port" >&2; exit 1; }
[[ $status == "HTTP/1.1 200"* ]] || { echo "healthcheck: ${status%$'\r'} on :$port" >&2; exit 1; }
