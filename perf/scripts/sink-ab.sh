#!/usr/bin/env bash
# A/B of SMTP sinks under smtp-source: for each round, every sink in turn (relayd sink binaries given as arguments,
# then Postfix's smtp-sink), each freshly started on its own loopback port. Prints one line per run:
#   <label> <round> <msgs/s> <sink CPU s>
# Run as root; re-executes itself inside a private network namespace (only loopback exists there).
# Env: ROUNDS (3), MSGS (20000), SESSIONS (50), SIZE (1024), SMTP_SOURCE_ARGS (extra, e.g. -d for many per connection).
set -euo pipefail
if [[ "${SINK_AB_NETNS:-}" != 1 ]]; then
    exec unshare -n env SINK_AB_NETNS=1 "$0" "$@"
fi
ip link set lo up
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3} MSGS=${MSGS:-20000} SESSIONS=${SESSIONS:-50} SIZE=${SIZE:-1024}
port=3000
run_one() { # label command...
    local label=$1; shift
    port=$((port + 1))
    "$@" 127.0.0.1:$port >/dev/null 2>&1 &
    local pid=$!
    wait_banner 127.0.0.1 $port 10 || { echo "$label: no listener" >&2; kill $pid; return 1; }
    local start end
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" ${SMTP_SOURCE_ARGS:-} -f a@source.test -t b@sink.test 127.0.0.1:$port
    end=$(date +%s.%N)
    local cpu; cpu=$(proc_cpu_s $pid)
    kill -TERM $pid; wait $pid 2>/dev/null || true
    echo "$label $round $(echo "$MSGS / ($end - $start)" | bc -l | xargs printf '%.0f') $cpu"
}
relayd_sink() { exec "$1" sink --listen "$2"; }
postfix_sink() { exec smtp-sink -u nobody "$1" 1000; }
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) MSGS=$MSGS SESSIONS=$SESSIONS SIZE=$SIZE ${SMTP_SOURCE_ARGS:-}"
for round in $(seq "$ROUNDS"); do
    i=0
    for bin in "$@"; do
        i=$((i + 1))
        run_one "relayd$i" relayd_sink "$bin"
    done
    run_one smtp-sink postfix_sink
done
echo "# end load $(cut -d' ' -f1-3 /proc/loadavg)"
