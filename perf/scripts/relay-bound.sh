#!/usr/bin/env bash
# How fast can mail get into smtp-sink on this machine with something in between? One round runs, each with a fresh
# smtp-sink at the far end and the same generator (`relayd load`):
#   direct   generator → smtp-sink (nothing in between: the ceiling)
#   haproxy  generator → haproxy (TCP mode, splice: bytes move inside the kernel) → smtp-sink
#   socat    generator → socat (a byte copier, one process per connection) → smtp-sink
#   relayd   generator → relayd (durable spool, `250` after the commit) → Delivery:Transports → smtp-sink
# Prints one line per run: <mode> <round> <msgs/s> <sink CPU s> <middle CPU s> <generator CPU s>, then the medians.
# msgs/s = messages / (generator start → smtp-sink counted the last one). The proxies pass the sink's replies back, so
# the generator waits for the sink; relayd answers after its own commit and delivers on its own schedule.
# This says how much of end-to-end relay's distance to the ceiling is the relaying and how much is the machine: the
# generator, the middle and the sink share the same cores (perf/RESULTS.md item 28).
# Run as root; re-executes itself in a private network namespace (only loopback).
# Env: ROUNDS (3), MSGS (2000), SESSIONS (50), SIZE (102400), PER_CONN (10), MODES ("direct haproxy socat relayd"),
# RATE (unset: closed loop, as fast as the sessions go; N: offer N msgs/s, open loop).
# Usage: perf/scripts/relay-bound.sh [RELAYD (artifacts/relayd)]
set -euo pipefail
if [[ "${RELAY_BOUND_NETNS:-}" != 1 ]]; then
    exec unshare -n env RELAY_BOUND_NETNS=1 "$0" "$@"
fi
ip link set lo up
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
RELAYD=$(realpath "${1:-$REPO/artifacts/relayd}")
require_root "network namespace"
require_relayd "$RELAYD"
ROUNDS=${ROUNDS:-3} MSGS=${MSGS:-2000} SESSIONS=${SESSIONS:-50} SIZE=${SIZE:-102400} PER_CONN=${PER_CONN:-10}
MODES=${MODES:-"direct haproxy socat relayd"}
for mode in $MODES; do
    case $mode in
        direct) require_tools smtp-sink ;;
        haproxy) require_tools smtp-sink haproxy ;;
        socat) require_tools smtp-sink socat ;;
        relayd) require_tools smtp-sink ;;
        *) echo "unknown mode $mode (direct haproxy socat relayd)"; exit 2 ;;
    esac
done
W=$(mktemp -d /var/tmp/relay-bound.XXXXXX)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
SINK_IP=127.0.0.50 SINK_PORT=25 MIDDLE_IP=127.0.0.40 MIDDLE_PORT=2525
bg() { "$@" & LAST_PID=$!; PIDS+=("$LAST_PID"); }
# all_cpu_s PID: utime + stime of a process and of its reaped children (socat's per-connection processes).
all_cpu_s() { awk '{ printf "%.2f", ($14 + $15 + $16 + $17) / 100 }' "/proc/$1/stat"; }

cat >"$W/haproxy.cfg" <<EOF
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option splice-auto
listen relay
    bind $MIDDLE_IP:$MIDDLE_PORT
    server sink $SINK_IP:$SINK_PORT
EOF

run_one() { # mode round
    local mode=$1 round=$2 sink middle= t0 t_end= gen_user gen_sys sink_cpu middle_cpu=-
    bg smtp-sink -u nobody -c -m 1000 "$SINK_IP:$SINK_PORT" 1024 >"$W/sink.out" 2>&1; sink=$LAST_PID
    wait_banner "$SINK_IP" "$SINK_PORT" 10
    case $mode in
        haproxy) bg haproxy -f "$W/haproxy.cfg"; middle=$LAST_PID ;;
        socat) bg socat -b 131072 "TCP-LISTEN:$MIDDLE_PORT,bind=$MIDDLE_IP,fork,reuseaddr,backlog=1024" "TCP:$SINK_IP:$SINK_PORT"; middle=$LAST_PID ;;
        relayd)
            rm -rf "$W/relayd"
            bg "$RELAYD" run --Relay:DataDirectory="$W/relayd" --Smtp:Listen:0="$MIDDLE_IP:$MIDDLE_PORT" \
                --Pop3:Listen:0="$MIDDLE_IP:1110" --Relay:RelayDomains:0=remote.test \
                --Delivery:Transports:remote.test="$SINK_IP:$SINK_PORT" --Smtp:MaxConnectionsPerClient=200 \
                --Dns:Servers:0=127.0.0.1:53 --Log:Level=Warning >"$W/relayd.log" 2>&1
            middle=$LAST_PID ;;
    esac
    local target=$SINK_IP:$SINK_PORT
    if [ -n "$middle" ]; then target=$MIDDLE_IP:$MIDDLE_PORT; wait_banner "$MIDDLE_IP" "$MIDDLE_PORT" 10; fi
    sink_watch "$W/sink.out" "$MSGS" 330 "$W/t_end"
    sleep 1  # let start-up settle
    local TIMEFORMAT='%U %S'
    t0=$(now)
    { time timeout 300 "$RELAYD" load --target "$target" --messages "$MSGS" --concurrency "$SESSIONS" \
        --per-connection "$PER_CONN" --size "$SIZE" ${RATE:+--rate "$RATE"} --from bench@source.test --to user@remote.test \
        >"$W/gen.log" 2>&1; } 2>"$W/gen.time" || echo "    $mode: relayd load failed: $(tail -2 "$W/gen.log" | tr '\n' ' ')" >&2
    if sink_watch_wait; then t_end=$(<"$W/t_end"); fi
    sink_cpu=$(proc_cpu_s "$sink")
    [ -z "$middle" ] || middle_cpu=$(all_cpu_s "$middle")
    kill "$sink" ${middle:+"$middle"} 2>/dev/null || true
    wait "$sink" ${middle:+"$middle"} 2>/dev/null || true
    read -r gen_user gen_sys <"$W/gen.time"
    if [ -n "$t_end" ]; then
        echo "$mode $round $(calc "f'{$MSGS / ($t_end - $t0):.0f}'") $sink_cpu $middle_cpu $(calc "f'{$gen_user + $gen_sys:.2f}'")"
    else
        echo "$mode $round fail - - -"
    fi
}

echo "# $(date -u +%FT%TZ) relay-bound: MSGS=$MSGS SIZE=$SIZE PER_CONN=$PER_CONN SESSIONS=$SESSIONS; load $(loadavg)"
echo "# mode round msgs/s sink-CPU-s middle-CPU-s generator-CPU-s"
for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
        run_one "$mode" "$round" | tee -a "$W/runs"
    done
done
echo "# medians (msgs/s, sink CPU s, middle CPU s); load $(loadavg)"
for mode in $MODES; do
    mapfile -t rates < <(awk -v m="$mode" '$1 == m {print $3}' "$W/runs")
    mapfile -t sinks < <(awk -v m="$mode" '$1 == m {print $4}' "$W/runs")
    mapfile -t middles < <(awk -v m="$mode" '$1 == m {print $5}' "$W/runs")
    # median prints "fail" and returns non-zero (pipefail) where it finds no number, as in direct's middle column.
    middle=$(median "${middles[@]}" || true)
    echo "$mode $(median "${rates[@]}" || true) $(median "${sinks[@]}" || true) ${middle/fail/-}"
done
