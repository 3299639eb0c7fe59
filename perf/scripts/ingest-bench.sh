#!/usr/bin/env bash
# Ingest benchmark: accepted messages per second for smtp-sink (protocol ceiling, no disk), a private stock
# Postfix (smtpd + cleanup fsync before 250, then discard) and relayd (FASTER commit before 250), all driven
# by Postfix's smtp-source over loopback; plus time-to-250 percentiles from tests/system/smtpclient.py.
#
#   perf/scripts/ingest-bench.sh [path/to/relayd]      (root; default: artifacts/relayd)
#   env: REPS=3 MSGS=20000 SIZE=1024 SESSIONS="50 20" LAT_MSGS=5000 OUT=perf/RESULTS.md
#
# Runs itself inside a fresh network namespace (unshare -n): every target is on 127.0.0.x, nothing leaves
# the machine, and no DNS is ever queried. Every run is bounded by a timeout. Writes $OUT (markdown).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$REPO/perf/scripts/lib.sh"
RELAYD=$(readlink -f "${1:-$REPO/artifacts/relayd}")
REPS=${REPS:-3} MSGS=${MSGS:-20000} SIZE=${SIZE:-1024} SESSIONS=${SESSIONS:-"50 20"} LAT_MSGS=${LAT_MSGS:-5000}
OUT=${OUT:-$REPO/perf/RESULTS.md}
RUN_TIMEOUT=300  # seconds for one smtp-source run

if [ "${BENCH_IN_NETNS:-}" != 1 ]; then
    require_root "unshare -n, Postfix instance"
    require_tools smtp-source smtp-sink postfix python3 unshare ip
    require_relayd "$RELAYD"
    exec unshare -n env BENCH_IN_NETNS=1 LOAD_BEFORE="$(loadavg)" bash "$0" "$@"
fi
ip link set lo up

W=$(mktemp -d /tmp/ingest-bench.XXXXXX)
chmod 755 "$W"  # the Postfix daemons (user postfix) must reach their queue below it
PIDS=()
PF=$W/postfix
cleanup() {
    pf_stop "$PF"
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

SINK=127.0.0.20:2525 POSTFIX=127.0.0.30:2525 RELAY=127.0.0.40:2525

# --- (i) smtp-sink: accepts everything, writes nothing ----------------------------------------------
smtp-sink -u nobody -m 1000 "$SINK" 1024 >"$W/sink.log" 2>&1 &
PIDS+=($!); disown $!  # killed at exit; disown keeps bash from reporting that
wait_banner ${SINK/:/ }

# --- (ii) a private stock Postfix: its own config and queue under $W, discard after queueing ---------
# Stock settings except what makes it a loopback-only acceptor (perf/scripts/lib.sh, pf_config): no DNS, no peer
# name lookups, no local recipient checks, every transport = discard (so the measured path is smtpd -> cleanup
# (fsync) -> queue).
pf_config "$PF" "$POSTFIX" discard
pf_start "$PF" "$POSTFIX" || { echo "postfix did not start:"; tail "$PF/maillog"; exit 1; }

postfix_drain() { pf_drain "$PF" 120 || true; }  # the discard agent emptied the queue, so runs do not overlap

# --- (iii) relayd: a fresh data directory per run -------------------------------------------------
RELAYD_PID=
relayd_start() {
    rm -rf "$W/relayd"
    "$RELAYD" run --Relay:DataDirectory="$W/relayd" --Smtp:Listen:0=$RELAY --Relay:Hostname=bench-relayd.example.test \
        --Relay:LocalDomains:0=localhost --Relay:RelayDomains:0=example.test --Delivery:Enabled=false --Smtp:MaxConnectionsPerClient=200 --Dns:Servers:0=127.0.0.1:53 --Log:Level=Warning >>"$W/relayd.log" 2>&1 &
    RELAYD_PID=$!; PIDS+=($RELAYD_PID); disown $RELAYD_PID
    wait_banner ${RELAY/:/ }
}
relayd_stop() { kill -TERM "$RELAYD_PID"; timeout 30 tail --pid="$RELAYD_PID" -f /dev/null || kill -9 "$RELAYD_PID"; }
relayd_queued() { timeout 60 "$RELAYD" queue stats --json --Relay:DataDirectory="$W/relayd" --Log:Level=Warning |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])'; }

# run_source TARGET SESSIONS: one timed smtp-source run; prints messages/s (or "fail").
run_source() {
    local t0 t1
    t0=$(date +%s.%N)
    if ! timeout "$RUN_TIMEOUT" smtp-source -s "$2" -m "$MSGS" -l "$SIZE" -f bench@source.test -t user@example.test "$1" \
        >"$W/source.log" 2>&1; then
        echo "smtp-source against $1 failed: $(tail -2 "$W/source.log")" >&2; echo fail; return
    fi
    t1=$(date +%s.%N)
    python3 -c "print(f'{$MSGS / ($t1 - $t0):.0f}')"
}

# Rounds interleave the targets (sink, postfix, relayd, sink, ...) so that load from other work on the
# machine hits all three alike instead of one block of runs.
declare -A RATE ALL
for s in $SESSIONS; do
    for ((r = 1; r <= REPS; r++)); do
        for target in sink postfix relayd; do
            case $target in
                sink) rate=$(run_source $SINK "$s") ;;
                postfix) postfix_drain; rate=$(run_source $POSTFIX "$s") ;;
                relayd)
                    relayd_start
                    rate=$(run_source $RELAY "$s")
                    queued=$(relayd_queued)
                    relayd_stop
                    # a rate only counts if every message really is in the spool
                    [ "$queued" = "$MSGS" ] || { echo "relayd queued $queued of $MSGS" >&2; rate=fail; } ;;
            esac
            echo "  $target -s $s run $r: $rate msgs/s (load $(cut -d' ' -f1 /proc/loadavg))" >&2
            ALL[$target,$s]="${ALL[$target,$s]:-}${ALL[$target,$s]:+ }$rate"
        done
    done
    for target in sink postfix relayd; do
        # shellcheck disable=SC2086  # word splitting of the run list is intended
        RATE[$target,$s]=$(median ${ALL[$target,$s]})
    done
done

# --- time-to-250 (end of data sent -> 250 received), 20 sessions, python client --------------------
latency() {  # TARGET: prints "p50 p99" in ms
    rm -f "$W/lat"
    python3 "$REPO/tests/system/smtpclient.py" send "$1" -n "$LAT_MSGS" -k 20 --size "$SIZE" --deadline 240 \
        --latency "$W/lat" >"$W/lat.log" 2>&1 || { echo "fail fail"; return; }
    sort -n "$W/lat" | awk '{v[NR]=$1} END {printf "%.2f %.2f\n", v[int(NR*0.5)]*1000, v[int(NR*0.99)]*1000}'
}
relayd_start; read -r RL50 RL99 < <(latency $RELAY); relayd_stop
postfix_drain; read -r PL50 PL99 < <(latency $POSTFIX)
read -r SL50 SL99 < <(latency $SINK)

SECTION=$W/section.md
{
    echo "<!-- ingest-bench:begin -->"
    echo "# Ingest benchmark results"
    echo
    echo "Written by \`perf/scripts/ingest-bench.sh\` (do not edit the numbers by hand)."
    echo
    echo "- Date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "- Command: \`REPS=$REPS MSGS=$MSGS SIZE=$SIZE perf/scripts/ingest-bench.sh\` (as root); each rate is"
    echo "  \`smtp-source -s S -m $MSGS -l $SIZE\` wall time, median of $REPS runs (all runs listed)"
    echo "- Machine: $(machine_facts "$W")"
    echo "- Load average before the run: ${LOAD_BEFORE:-?}, after: $(loadavg) (the machine is shared with other"
    echo "  builds; runs are interleaved sink/postfix/relayd so such load hits the three alike)"
    echo "- relayd $("$RELAYD" --version | awk '{print $2}') ($RELAYD); Postfix $(postconf -d -h mail_version) (private instance, discard transport); smtp-sink from the same package"
    echo "- Client, servers and disk share the machine's cores; all traffic is on loopback inside one network namespace."
    echo
    echo "| Sessions | smtp-sink msgs/s | Postfix msgs/s | relayd msgs/s | relayd / Postfix | relayd / smtp-sink |"
    echo "|---|---|---|---|---|---|"
    for s in $SESSIONS; do
        echo "| $s | ${RATE[sink,$s]} | ${RATE[postfix,$s]} | ${RATE[relayd,$s]} | $(ratio "${RATE[relayd,$s]}" "${RATE[postfix,$s]}") | $(ratio "${RATE[relayd,$s]}" "${RATE[sink,$s]}") |"
    done
    echo
    echo "All runs (msgs/s): $(for s in $SESSIONS; do for t in sink postfix relayd; do printf '%s -s %s: %s; ' "$t" "$s" "${ALL[$t,$s]}"; done; done)"
    echo
    echo "Time to 250 after the end of DATA ($LAT_MSGS messages of $SIZE bytes, 20 sessions, tests/system/smtpclient.py):"
    echo
    echo "| Server | p50 ms | p99 ms |"
    echo "|---|---|---|"
    echo "| smtp-sink | $SL50 | $SL99 |"
    echo "| Postfix | $PL50 | $PL99 |"
    echo "| relayd | $RL50 | $RL99 |"
    echo
    s1=${SESSIONS%% *}
    echo "Targets (issue): relayd >= 3x Postfix: $(ratio "${RATE[relayd,$s1]}" "${RATE[postfix,$s1]}")x at -s $s1;" \
        "relayd >= 50 % of smtp-sink: $(python3 -c "a, b = '${RATE[relayd,$s1]}', '${RATE[sink,$s1]}'; print('n/a' if 'fail' in (a, b) else f'{100 * float(a) / float(b):.0f} %')") at -s $s1."
    echo "<!-- ingest-bench:end -->"
} >"$SECTION"
# Replace only this script's section of $OUT: the other benchmarks' sections and the hand notes stay.
results_replace ingest-bench "$SECTION" "$OUT" top
cat "$SECTION"
