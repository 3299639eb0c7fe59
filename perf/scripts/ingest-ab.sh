#!/usr/bin/env bash
# A/B of durable ingest under the same load: for each round, every relayd variant in turn (fresh spool each run,
# delivery off), then Postfix's smtp-sink as the protocol ceiling of that round. Prints one line per run:
#   <label> <round> <mode> <msgs/s> <CPU s of the server>
# A variant is LABEL=BINARY[,VAR=VALUE...]: the VARs are set in that relayd's environment only, e.g.
#   perf/scripts/ingest-ab.sh base=/tmp/a/relayd spin=/tmp/a/relayd,DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=70
# The variant sink=BINARY runs that binary's `relayd sink` instead (the SMTP layer without the spool).
# Modes: "1conn" is `smtp-source -s SESSIONS` (one message per connection), "many" is
# `relayd load --per-connection PER_CONN` (the first variant's binary drives it); "rate1" and "ratemany" offer a fixed
# RATE msgs/s (open loop) with 1 and PER_CONN messages per connection: then msgs/s is the same for every variant and
# the server's CPU seconds are what to compare (far steadier on a shared machine than a saturated rate).
# Run as root; re-executes itself in a private network namespace (only loopback). Spools go below SPOOL_ROOT
# (/var/tmp, on the disk, by default; SPOOL_ROOT=/dev/shm takes the disk's cost out, to see what the software costs).
# Env: ROUNDS (3), MSGS (5000), SESSIONS (50), SIZE (1024), PER_CONN (100), RATE (2000), MODES ("1conn many").
set -euo pipefail
if [[ "${INGEST_AB_NETNS:-}" != 1 ]]; then
    exec unshare -n env INGEST_AB_NETNS=1 "$0" "$@"
fi
ip link set lo up
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3} MSGS=${MSGS:-5000} SESSIONS=${SESSIONS:-50} SIZE=${SIZE:-1024} PER_CONN=${PER_CONN:-100} RATE=${RATE:-2000}
MODES=${MODES:-"1conn many"}
W=$(mktemp -d "${SPOOL_ROOT:-/var/tmp}/ingest-ab.XXXXXX")
trap 'rm -rf "$W"' EXIT
LOADER=${1#*=}; LOADER=${LOADER%%,*}
port=3000
drive() { # mode port
    case $1 in
    1conn) timeout 300 "${SMTP_SOURCE[@]}" -s "$SESSIONS" -m "$MSGS" -l "$SIZE" -f a@source.test -t b@example.test "127.0.0.1:$2" ;;
    many) timeout 300 "$LOADER" load --target "127.0.0.1:$2" --messages "$MSGS" --concurrency "$SESSIONS" \
        --per-connection "$PER_CONN" --size "$SIZE" --from a@source.test --to b@example.test >/dev/null ;;
    rate1|ratemany) timeout 300 "$LOADER" load --target "127.0.0.1:$2" --messages "$MSGS" --concurrency "$SESSIONS" \
        --rate "$RATE" --per-connection "$([ "$1" = rate1 ] && echo 1 || echo "$PER_CONN")" --size "$SIZE" \
        --from a@source.test --to b@example.test >/dev/null ;;
    esac
}
run_one() { # label mode command...
    local label=$1 mode=$2; shift 2
    port=$((port + 1))
    "$@" "$port" >"$W/$label.log" 2>&1 &
    local pid=$!
    wait_banner 127.0.0.1 $port 10 || { echo "$label: no listener" >&2; cat "$W/$label.log" >&2; kill $pid; return 1; }
    local start end
    start=$(date +%s.%N)
    drive "$mode" "$port"
    end=$(date +%s.%N)
    local cpu; cpu=$(proc_cpu_s $pid)
    kill -TERM $pid; wait $pid 2>/dev/null || true
    echo "$label $round $mode $(echo "$MSGS / ($end - $start)" | bc -l | xargs printf '%.0f') $cpu"
}
relayd_variant() { # spec port
    local spec=$1 port=$2 bin envs=()
    bin=${spec%%,*}
    [[ $spec == *,* ]] && IFS=, read -r -a envs <<<"${spec#*,}"
    rm -rf "$W/spool"
    # The log level is an environment default, so that a variant can set RELAYD_Log__Level=Information.
    exec env RELAYD_Log__Level=Warning "${envs[@]}" "$bin" run --Relay:DataDirectory="$W/spool" --Smtp:Listen:0=127.0.0.1:"$port" \
        --Pop3:Listen:0=127.0.0.1:$((port + 1000)) --Relay:RelayDomains:0=example.test --Delivery:Enabled=false \
        --Smtp:MaxConnectionsPerClient=500 --Dns:Servers:0=127.0.0.1:53
}
relayd_sink() { # binary port: relayd's own sink, the same SMTP layer without the spool
    exec "$1" sink --listen 127.0.0.1:"$2"
}
postfix_sink() { exec smtp-sink -u nobody "127.0.0.1:$1" 1000; }
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) MSGS=$MSGS SESSIONS=$SESSIONS SIZE=$SIZE PER_CONN=$PER_CONN"
for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
        for variant in "$@"; do
            case $variant in
            sink=*) run_one relayd-sink "$mode" relayd_sink "${variant#*=}" ;;
            *) run_one "${variant%%=*}" "$mode" relayd_variant "${variant#*=}" ;;
            esac
        done
        run_one smtp-sink "$mode" postfix_sink
    done
done
echo "# end load $(cut -d' ' -f1-3 /proc/loadavg)"
