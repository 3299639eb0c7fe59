#!/usr/bin/env bash
# Large deferred queue: relayd with its only route (Delivery:Transports) pointing at a closed loopback port, so
# every attempt defers; fill it with smtp-source, then measure spool size, RSS, idle CPU (full queue vs a small
# one: scheduling must only touch due items), shutdown time, and restart time to the SMTP banner after a clean
# stop and after kill -9 (target < 5 s).
#
#   perf/scripts/queue-scale.sh [path/to/relayd]      (root; default: artifacts/relayd)
#   env: COUNT=1000000 SMALL_COUNT=1000 SIZE=1024 SESSIONS=50 BATCH=50000 RESTARTS=3 FILL_DEADLINE=3600 IDLE=60 SETTLE=30
#        PROFILE=auto (perf record a restart when the 5 s target is missed; 1 = always, 0 = never)
#        SCALE_DIR=/tmp OUT=perf/RESULTS.md
#
# Retry backoff is set to 2-4 h so that nothing becomes due while we measure: the idle figures are the cost of
# holding a queue, not of retrying it. Runs in a fresh network namespace (unshare -n): relayd listens on
# 127.0.0.40, the dead route is 127.0.0.60:2599, DNS is pointed at 127.0.0.1:53 (never asked: no MX routes).
# Every step is bounded by a timeout. Writes a section between queue-scale markers in $OUT.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$REPO/perf/scripts/lib.sh"
RELAYD=$(readlink -f "${1:-$REPO/artifacts/relayd}")
COUNT=${COUNT:-1000000} SMALL_COUNT=${SMALL_COUNT:-1000} SIZE=${SIZE:-1024} SESSIONS=${SESSIONS:-50}
BATCH=${BATCH:-50000} RESTARTS=${RESTARTS:-3} FILL_DEADLINE=${FILL_DEADLINE:-3600} IDLE=${IDLE:-60} SETTLE=${SETTLE:-30} PROFILE=${PROFILE:-auto}
SCALE_DIR=${SCALE_DIR:-/tmp} OUT=${OUT:-$REPO/perf/RESULTS.md}
TARGET_RESTART=5

if [ "${BENCH_IN_NETNS:-}" != 1 ]; then
    require_root "unshare -n"
    require_tools smtp-source python3 unshare ip du
    require_relayd "$RELAYD"
    need_kb=$(( (COUNT + SMALL_COUNT) * 4 + 1048576 ))  # ~4 KiB per message on disk at most, plus 1 GiB slack
    free_kb=$(df -Pk "$SCALE_DIR" | awk 'NR==2 {print $4}')
    [ "$free_kb" -gt "$need_kb" ] || { echo "not enough free disk in $SCALE_DIR: $free_kb kB free, want $need_kb kB"; exit 1; }
    CMDLINE="$(env | grep -E '^(COUNT|SMALL_COUNT|SIZE|SESSIONS|BATCH|RESTARTS|FILL_DEADLINE|IDLE|SETTLE|PROFILE)=' | sort | tr '\n' ' ' || true)perf/scripts/queue-scale.sh${1:+ $1}"
    exec unshare -n env BENCH_IN_NETNS=1 CMDLINE="$CMDLINE" DF_BEFORE="$(df -h "$SCALE_DIR" | awk 'NR==2 {print $4" free of "$2}')" \
        LOAD_BEFORE="$(loadavg)" bash "$0" "$@"
fi
ip link set lo up

W=$(mktemp -d "$SCALE_DIR/queue-scale.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'echo "queue-scale.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
RELAY_IP=127.0.0.40 RELAY_PORT=2525 DEAD=127.0.0.60:2599 DOMAIN=deferred.test
log() { echo "[$(date +%T)] $*" >&2; }

RELAYD_PID=
# relayd_start DATA LOGLEVEL: start in the background; sets RELAYD_PID and T_START (just before the exec).
relayd_start() {
    T_START=$(now)
    "$RELAYD" run --Relay:DataDirectory="$1" --Smtp:Listen:0=$RELAY_IP:$RELAY_PORT --Relay:Hostname=scale-relayd.example.test \
        --Relay:LocalDomains:0=example.test --Smtp:MaxConnectionsPerClient=200 --Dns:Servers:0=127.0.0.1:53 \
        --Delivery:Transports:$DOMAIN=$DEAD --Delivery:MinimumBackoff=02:00:00 --Delivery:MaximumBackoff=04:00:00 \
        --Log:Level="$2" >>"$W/relayd.log" 2>&1 &
    RELAYD_PID=$!; PIDS+=("$RELAYD_PID")
}
# banner_seconds SECONDS: poll every 50 ms for the 220 greeting; prints seconds since T_START, or "timeout".
# (Not lib.sh's wait_banner: this one times the start and watches the process.)
banner_seconds() {
    local end=$((SECONDS + $1)) line
    while [ $SECONDS -lt $end ]; do
        if { exec 9<>"/dev/tcp/$RELAY_IP/$RELAY_PORT"; } 2>/dev/null; then
            line=$(timeout 5 head -c 3 <&9 || true); exec 9>&-
            [ "$line" = 220 ] && { calc "f'{$(now) - $T_START:.2f}'"; return 0; }
        fi
        kill -0 "$RELAYD_PID" 2>/dev/null || { echo "exited"; return 1; }
        sleep 0.05
    done
    echo timeout; return 1
}
# relayd_stop: SIGTERM, wait (max 300 s); sets STOP_SECONDS and STOP_RC.
relayd_stop() {
    local t0; t0=$(now)
    kill -TERM "$RELAYD_PID"
    if timeout 300 tail --pid="$RELAYD_PID" -f /dev/null; then wait "$RELAYD_PID" 2>/dev/null && STOP_RC=0 || STOP_RC=$?
    else kill -9 "$RELAYD_PID"; STOP_RC=timeout; fi
    STOP_SECONDS=$(calc "f'{$(now) - $t0:.2f}'")
}
relayd_kill9() { kill -9 "$RELAYD_PID"; wait "$RELAYD_PID" 2>/dev/null || true; }
queue_stats() {  # DATA: the JSON of `relayd queue stats --json` (through the admin socket when running)
    timeout 300 "$RELAYD" queue stats --json --Relay:DataDirectory="$1" --Log:Level=Warning 2>/dev/null || echo '{}'
}
jget() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], "?"))' "$1" "$2"; }
cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }  # CLK_TCK 100 (checked at start)
[ "$(getconf CLK_TCK)" = 100 ] || { echo "CLK_TCK is not 100"; exit 1; }
rss_mb() { awk -v f="${2:-VmRSS}:" '$1 == f {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
threads() { awk '$1 == "Threads:" {print $2}' "/proc/$1/status"; }
# idle_cpu SECONDS: CPU seconds relayd used over that many seconds (nothing is due: backoff is hours).
idle_cpu() { local c0; c0=$(cpu_s "$RELAYD_PID"); sleep "$1"; calc "f'{$(cpu_s "$RELAYD_PID") - $c0:.2f}'"; }

# fill N: inject N messages in batches of BATCH with smtp-source (each bounded in time), stopping early when
# FILL_DEADLINE seconds have passed (the real count is taken from `queue stats` afterwards); prints msgs/s.
fill() {
    local left=$1 done_=0 n t0 per deadline
    t0=$(now) deadline=$((SECONDS + FILL_DEADLINE))
    while [ "$left" -gt 0 ] && [ $SECONDS -lt $deadline ]; do
        n=$((left < BATCH ? left : BATCH))
        per=$((n / 100 + 300))  # >= 100 msgs/s or give up
        [ $per -le $((deadline - SECONDS + 60)) ] || per=$((deadline - SECONDS + 60))
        if ! timeout "$per" smtp-source -s "$SESSIONS" -m "$n" -l "$SIZE" -f bench@source.test -t user@$DOMAIN \
            $RELAY_IP:$RELAY_PORT >"$W/source.log" 2>&1; then
            log "smtp-source batch of $n failed or timed out: $(tail -2 "$W/source.log")"
        fi
        left=$((left - n)) done_=$((done_ + n))
        log "  injected $done_ of $1 ($(calc "f'{$done_ / ($(now) - $t0):.0f}'") msgs/s so far, load $(cut -d' ' -f1 /proc/loadavg))"
    done
    [ "$left" -le 0 ] || log "  fill deadline of $FILL_DEADLINE s reached: stopped after $done_ of $1"
    calc "f'{$done_ / ($(now) - $t0):.0f}'"
}

# settle: wait until relayd's CPU use over 5 s drops below 0.5 s (the last deferrals journaled), at most SETTLE*4 s.
settle() {
    local end=$((SECONDS + SETTLE * 4)) c
    sleep "$SETTLE"
    while [ $SECONDS -lt $end ]; do
        c=$(idle_cpu 5)
        python3 -c "import sys; sys.exit(0 if $c < 0.5 else 1)" && return 0
        log "  still busy: $c s CPU in 5 s"
    done
}

# recovery_line: the spool's "opened" log line of the latest start (recovery timing from relayd itself).
# (|| true: under pipefail a line not written yet must not end the run)
opened_line() { { grep -i 'spool' "$W/relayd.log" | grep -iE 'open|recover' | tail -1 | cut -c1-300; } || true; }
ready_line() { { grep 'ready:' "$W/relayd.log" | tail -1 | cut -c1-24; } || true; }
# wait_ready SECONDS: the "relayd ... ready" line (logged once delivery scheduling and the admin socket have started,
# which is after the listener) of this start; prints seconds since T_START (from the log line's timestamp).
wait_ready() {
    local end=$((SECONDS + $1)) n0=$READY_LINES ts
    while [ $SECONDS -lt $end ]; do
        if [ "$(grep -c 'ready:' "$W/relayd.log" || true)" -gt "$n0" ]; then
            ts=$(ready_line)
            calc "f'{__import__(\"datetime\").datetime.fromisoformat(\"${ts%Z}+00:00\").timestamp() - $T_START:.2f}'"
            return 0
        fi
        sleep 0.1
    done
    echo timeout
}
ready_count() { READY_LINES=$(grep -c 'ready:' "$W/relayd.log" || true); }

# --- 1. small queue: the idle baseline ---------------------------------------------------------------
log "small queue: $SMALL_COUNT deferred messages"
SMALL=$W/small
relayd_start "$SMALL" Warning
banner_seconds 60 >/dev/null
SMALL_FILL_RATE=$(fill "$SMALL_COUNT")
settle
SMALL_STATS=$(queue_stats "$SMALL")
SMALL_RSS=$(rss_mb "$RELAYD_PID")
SMALL_IDLE=$(idle_cpu "$IDLE")
SMALL_THREADS=$(threads "$RELAYD_PID")
log "small: stats $SMALL_STATS, RSS $SMALL_RSS MiB, idle CPU $SMALL_IDLE s in $IDLE s"
relayd_stop
rm -rf "$SMALL"

# --- 2. the big queue ----------------------------------------------------------------------------------
log "big queue: $COUNT deferred messages"
BIG=$W/big
relayd_start "$BIG" Warning
banner_seconds 60 >/dev/null
FILL_T0=$(now)
FILL_RATE=$(fill "$COUNT")
settle
FILL_SECONDS=$(calc "f'{$(now) - $FILL_T0:.0f}'")
BIG_STATS=$(queue_stats "$BIG")
BIG_N=$(jget "$BIG_STATS" messages)
BIG_RSS=$(rss_mb "$RELAYD_PID") BIG_HWM=$(rss_mb "$RELAYD_PID" VmHWM) BIG_THREADS=$(threads "$RELAYD_PID")
BIG_IDLE=$(idle_cpu "$IDLE")
log "big: stats $BIG_STATS, RSS $BIG_RSS MiB (peak $BIG_HWM), idle CPU $BIG_IDLE s in $IDLE s, fill $FILL_RATE msgs/s"
IDLE_PROFILE_FILE=
if [ "$PROFILE" != 0 ] && command -v perf >/dev/null; then
    # Where the idle CPU of the full queue goes (after the measurement, so perf does not disturb it).
    timeout $((IDLE + 60)) perf record -F 999 -g -o "$W/idle.perf.data" -p "$RELAYD_PID" -- sleep "$IDLE" >/dev/null 2>&1 || true
    IDLE_PROFILE_FILE=$REPO/perf/queue-scale-idle-profile.txt
    {
        echo "# perf record -F 999 -g -p relayd for $IDLE s, idle with $BIG_N deferred messages (nothing due); $(date -u +%Y-%m-%dT%H:%MZ)"
        timeout 600 perf report -i "$W/idle.perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1 -g none 2>/dev/null |
            grep -v '^$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -60
        echo
        echo "# inclusive time (children view) of relayd's own functions, >= 2 %"
        timeout 600 perf report -i "$W/idle.perf.data" --stdio --children --sort symbol --percent-limit 2 -g none 2>/dev/null |
            grep -E '^#|RelayAppliance|FASTER|Tsavorite|gc_heap|GC' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -60
    } >"$IDLE_PROFILE_FILE" || true
    log "idle profile written to $IDLE_PROFILE_FILE"
fi
SPOOL_BYTES=$(du -sb "$BIG/spool" | cut -f1)
BODIES_BYTES=$(du -sb "$BIG/spool/bodies" | cut -f1)
JOURNAL_BYTES=$(du -sb "$BIG/spool/journal" | cut -f1)

# --- 3. clean stop, restart (RESTARTS times) ------------------------------------------------------------
# restart KIND: stop relayd (clean: SIGTERM, or kill9), start it again; appends to BANNERS_<kind> / READIES_<kind> / OPENED_<kind>.
declare -A BANNERS READIES OPENEDS
restart() {
    local kind=$1 b r
    if [ "$kind" = clean ]; then
        relayd_stop
        CLEAN_STOP_SECONDS="${CLEAN_STOP_SECONDS:-}${CLEAN_STOP_SECONDS:+ }$STOP_SECONDS" CLEAN_STOP_RC="${CLEAN_STOP_RC:-}${CLEAN_STOP_RC:+ }$STOP_RC"
    else
        relayd_kill9
    fi
    echo "=== restart after $kind" >>"$W/relayd.log"
    ready_count
    relayd_start "$BIG" Information
    b=$(banner_seconds 600 || true)
    r=$(wait_ready 600)
    BANNERS[$kind]="${BANNERS[$kind]:-}${BANNERS[$kind]:+ }$b"
    READIES[$kind]="${READIES[$kind]:-}${READIES[$kind]:+ }$r"
    OPENEDS[$kind]="${OPENEDS[$kind]:-}$(opened_line | grep -o 'in [0-9]* ms' | tr -d 'inms ' || true) "
    log "restart after $kind: banner $b s, ready line $r s; $(opened_line)"
}
for ((i = 1; i <= RESTARTS; i++)); do
    restart clean
    [ "$i" -gt 1 ] || {
        sleep 5
        CLEAN_STATS=$(queue_stats "$BIG")
        settle
        RESTART_RSS=$(rss_mb "$RELAYD_PID") RESTART_HWM=$(rss_mb "$RELAYD_PID" VmHWM)
        RESTART_IDLE=$(idle_cpu "$IDLE")
        log "after restart: stats $CLEAN_STATS, RSS $RESTART_RSS MiB (peak $RESTART_HWM), idle CPU $RESTART_IDLE s in $IDLE s"
    }
    sleep 5
done
# shellcheck disable=SC2086
CLEAN_BANNER=$(median ${BANNERS[clean]}) CLEAN_READY_S=$(median ${READIES[clean]}) CLEAN_OPENED_MS=$(median ${OPENEDS[clean]})
CLEAN_OPENED=$(opened_line) CLEAN_READY=$(ready_line)

# --- 4. kill -9, restart (RESTARTS times) ------------------------------------------------------------------
for ((i = 1; i <= RESTARTS; i++)); do
    restart kill9
    sleep 5
done
KILL_STATS=$(queue_stats "$BIG")
log "after kill -9 restarts: stats $KILL_STATS"
# shellcheck disable=SC2086
KILL_BANNER=$(median ${BANNERS[kill9]}) KILL_READY_S=$(median ${READIES[kill9]}) KILL_OPENED_MS=$(median ${OPENEDS[kill9]})
KILL_OPENED=$(opened_line) KILL_READY=$(ready_line)

# --- 5. where the restart time goes (perf record of one more restart) ------------------------------------------
PROFILE_FILE=
miss() { python3 -c "import sys; v = '$1'; sys.exit(0 if v in ('timeout', 'exited', '') or float(v) >= $TARGET_RESTART else 1)"; }
if [ "$PROFILE" = 1 ] || { [ "$PROFILE" = auto ] && { miss "$CLEAN_BANNER" || miss "$KILL_BANNER"; }; }; then
    if command -v perf >/dev/null; then
        relayd_kill9
        echo "=== profiled restart after kill -9" >>"$W/relayd.log"
        T_START=$(now)
        perf record -F 999 -g -o "$W/perf.data" -- "$RELAYD" run --Relay:DataDirectory="$BIG" --Smtp:Listen:0=$RELAY_IP:$RELAY_PORT \
            --Relay:Hostname=scale-relayd.example.test --Relay:LocalDomains:0=example.test --Dns:Servers:0=127.0.0.1:53 \
            --Delivery:Transports:$DOMAIN=$DEAD --Delivery:MinimumBackoff=02:00:00 --Delivery:MaximumBackoff=04:00:00 \
            --Log:Level=Information >>"$W/relayd.log" 2>"$W/perf-record.err" &
        PERF_PID=$!; PIDS+=("$PERF_PID")
        sleep 0.5
        RELAYD_PID=$(pgrep -P "$PERF_PID" | head -1)
        PROFILED_BANNER=$(banner_seconds 600 || true)
        sleep 5  # include the delivery start-up (pending list) that runs right after the listener
        relayd_stop
        timeout 120 tail --pid="$PERF_PID" -f /dev/null || true
        PROFILE_FILE=$REPO/perf/queue-scale-profile.txt
        {
            echo "# perf record -F 999 -g of a relayd restart (kill -9) on a queue of $COUNT deferred messages"
            echo "# banner after ${PROFILED_BANNER} s under perf (load $(cut -d' ' -f1 /proc/loadavg)); $(date -u +%Y-%m-%dT%H:%MZ); perf report --no-children"
            timeout 600 perf report -i "$W/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1 -g none 2>/dev/null |
                grep -v '^$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -60
            echo
            echo "# callers of memset / memmove (self time above)"
            timeout 600 perf report -i "$W/perf.data" --stdio --no-children --symbol-filter=mem -g caller,2,callee,function,percent 2>/dev/null |
                grep -v '^$' | grep -v '^#' | cut -c1-220 | head -70
            echo
            echo "# inclusive time (children view) of relayd's own functions, >= 2 %"
            timeout 600 perf report -i "$W/perf.data" --stdio --children --sort symbol --percent-limit 2 -g none 2>/dev/null |
                grep -E '^#|RelayAppliance|FASTER|Tsavorite' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -60
        } >"$PROFILE_FILE" || true
        log "profile written to $PROFILE_FILE (banner under perf: $PROFILED_BANNER s)"
    else
        log "perf not installed: no profile"
    fi
fi
relayd_kill9 2>/dev/null || true
grep -E 'opened|Opened|ready|Stopp|=== ' "$W/relayd.log" | cut -c1-400 >"$W/phases.txt" || true

# --- results ----------------------------------------------------------------------------------------------
verdict() { miss "$1" && echo "**missed**" || echo "met"; }
SECTION=$W/section.md
{
    echo "<!-- queue-scale:begin -->"
    echo "# Deferred queue at scale (queue-scale.sh)"
    echo
    echo "Written by \`perf/scripts/queue-scale.sh\` (this section is replaced on each run; do not edit the numbers by hand)."
    echo
    echo "- Date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "- Command: \`$CMDLINE\` (as root)"
    echo "- Setup: relayd with \`--Delivery:Transports:$DOMAIN=$DEAD\` (closed port: every attempt defers) and backoff"
    echo "  2–4 h (nothing becomes due while measuring); $SIZE-byte messages from \`smtp-source -s $SESSIONS\` in batches of $BATCH;"
    echo "  idle figures taken after the queue settled (≥ $SETTLE s and < 0.5 s CPU per 5 s)"
    echo "- Machine: $(machine_facts "$W"), ${DF_BEFORE:-?} before;"
    echo "  load average before: ${LOAD_BEFORE:-?}, after: $(loadavg) (shared machine)"
    echo "- relayd $("$RELAYD" --version | awk '{print $2}') ($RELAYD)"
    echo
    echo "| Measure | Small queue | Big queue |"
    echo "|---|---|---|"
    echo "| Messages queued (\`queue stats\`) | $(jget "$SMALL_STATS" messages) of $SMALL_COUNT | $BIG_N of $COUNT |"
    echo "| Fill rate (accept while deferring), msgs/s | $SMALL_FILL_RATE | $FILL_RATE (fill + settle: $FILL_SECONDS s) |"
    echo "| Spool on disk | | $(calc "f'{$SPOOL_BYTES / 2**20:.0f}'") MiB (bodies $(calc "f'{$BODIES_BYTES / 2**20:.0f}'"), journal $(calc "f'{$JOURNAL_BYTES / 2**20:.0f}'")) = $(calc "f'{$SPOOL_BYTES / max(1, $BIG_N):.0f}'") B/message |"
    echo "| RSS with the queue full (after fill) | $SMALL_RSS MiB | $BIG_RSS MiB (peak during fill $BIG_HWM MiB) = $(calc "f'{($BIG_RSS - $SMALL_RSS) * 2**20 / max(1, $BIG_N - $SMALL_COUNT):.0f}'") B/message above the small queue |"
    echo "| Threads | $SMALL_THREADS | $BIG_THREADS |"
    echo "| Idle CPU over $IDLE s, nothing due | $SMALL_IDLE s ($(calc "f'{100 * $SMALL_IDLE / $IDLE:.2f}'") % of a core) | $BIG_IDLE s ($(calc "f'{100 * $BIG_IDLE / $IDLE:.2f}'") % of a core) after fill; $RESTART_IDLE s after a restart |"
    echo "| RSS after a clean restart (recovered queue) | | $RESTART_RSS MiB (peak $RESTART_HWM MiB) |"
    echo "| Clean stop (SIGTERM → exit), each | | $CLEAN_STOP_SECONDS s, exit $CLEAN_STOP_RC |"
    echo "| Restart after clean stop: process start → 220 banner, median of $RESTARTS | | **$CLEAN_BANNER s** (target < $TARGET_RESTART s: $(verdict "$CLEAN_BANNER")); runs: ${BANNERS[clean]} s; spool open (relayd's log) median $CLEAN_OPENED_MS ms, runs ${OPENEDS[clean]}ms; \"ready\" logged at $CLEAN_READY_S s (runs ${READIES[clean]}); queue afterwards $(jget "$CLEAN_STATS" messages) |"
    echo "| Restart after kill -9: process start → 220 banner, median of $RESTARTS | | **$KILL_BANNER s** (target < $TARGET_RESTART s: $(verdict "$KILL_BANNER")); runs: ${BANNERS[kill9]} s; spool open median $KILL_OPENED_MS ms, runs ${OPENEDS[kill9]}ms; \"ready\" logged at $KILL_READY_S s (runs ${READIES[kill9]}); queue afterwards $(jget "$KILL_STATS" messages) |"
    echo
    echo "relayd's own recovery log lines (last restart after a clean stop, last after kill -9):"
    echo
    echo '```'
    echo "$CLEAN_OPENED"
    echo "ready at: $CLEAN_READY"
    echo "$KILL_OPENED"
    echo "ready at: $KILL_READY"
    echo '```'
    [ -z "$PROFILE_FILE" ] || echo "Profile of a further restart under \`perf record\`: \`perf/queue-scale-profile.txt\`."
    [ -z "$IDLE_PROFILE_FILE" ] || echo "Profile of $IDLE s idle with the full queue: \`perf/queue-scale-idle-profile.txt\`."
    echo "<!-- queue-scale:end -->"
} >"$SECTION"
results_replace queue-scale "$SECTION" "$OUT"
cat "$SECTION"
echo "--- relayd phases (log):" >&2
cat "$W/phases.txt" >&2
