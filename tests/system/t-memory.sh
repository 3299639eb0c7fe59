#!/usr/bin/env bash
# Memory: 1000 idle sessions must fit in 150 MB RSS, and a 50 MB message must be streamed to the spool,
# not buffered (peak RSS may rise by a few MB; the hard limit asserted here is 40 MB).
source "$(dirname "$0")/lib.sh"
SESSIONS=${MEMORY_SESSIONS:-1000}
ulimit -n 65536 2>/dev/null || ulimit -n 8192  # relayd (a child of this shell) needs > 1000 descriptors

# --- 1000 concurrent idle sessions ------------------------------------------------------------------
start_relayd idle "$T/idle" 2525 --Smtp:MaxConnectionsPerClient=2000 --Smtp:MaxConnections=5000 \
    || { fail "relayd starts"; finish; }
swaks_to 2525 --from s@sender.test --to warm@queue.test >/dev/null 2>&1  # warm up buffers and the spool
base=$(rss_kb "$RELAYD_PID")
# 10 source addresses x 100 sessions: relayd's per-client limit is raised anyway, this only mimics real clients.
$CLIENT idle "$IP:2525" -k "$SESSIONS" --sources 10 --hold 60 --timeout 20 --ready "$T/ready" >"$T/idle.log" 2>&1 &
IDLE=$!; track $IDLE
for ((i = 0; i < 600; i++)); do  # up to 60 s for the client to open all sessions
    [ -e "$T/ready" ] && break
    kill -0 $IDLE 2>/dev/null || break
    sleep 0.1
done
if [ -e "$T/ready" ]; then
    sleep 1  # let the server settle after the last EHLO
    rss=$(rss_kb "$RELAYD_PID")
    info "VmRSS: ${base} kB before, ${rss} kB with $SESSIONS idle sessions ($(( (rss - base) * 1024 / SESSIONS )) bytes/session)"
    check "RSS with $SESSIONS idle sessions is under 150 MB ($((rss / 1024)) MB)" test "$rss" -lt $((150 * 1024))
    kill -TERM $IDLE  # the client then checks every session still answers NOOP
    wait $IDLE
    rc=$?; check "all $SESSIONS idle sessions were still served ($(tail -1 "$T/idle.log"))" test $rc -eq 0
else
    fail "open $SESSIONS idle sessions"; info "$(tail -2 "$T/idle.log")"
fi
stop_pid "$RELAYD_PID" 30

# --- one 50 MB message ------------------------------------------------------------------------------
# A fresh process, so its VmHWM (peak RSS) covers only the warm-up and the big message.
start_relayd big "$T/big" 2526 --Smtp:MaxMessageSize=60000000 || { fail "relayd starts (big)"; finish; }
$CLIENT big "$IP:2526" --size 1000000 --timeout 60 >/dev/null 2>&1  # warm-up: 1 MB through the same path
peak0=$(rss_kb "$RELAYD_PID" VmHWM)
out=$($CLIENT big "$IP:2526" --size 50000000 --timeout 120 2>&1)
check "a 50 MB message is accepted ($out)" grep -q '^250' <<<"$out"
peak1=$(rss_kb "$RELAYD_PID" VmHWM)
delta=$((peak1 - peak0))
info "peak RSS (VmHWM): ${peak0} kB after 1 MB warm-up, ${peak1} kB after the 50 MB message: delta ${delta} kB"
info "now: $(grep -E '^(VmRSS|RssAnon|RssFile)' "/proc/$RELAYD_PID/status" | tr -s ' \t' ' ' | paste -sd' ')"
if grep -q '^250' <<<"$out"; then
    check "a 50 MB message raises peak RSS by less than 40 MB (delta $((delta / 1024)) MB)" test "$delta" -lt $((40 * 1024))
else  # a session that died early says nothing about streaming memory
    fail "a 50 MB message raises peak RSS by less than 40 MB (not measurable: the message was not accepted)"
fi
stats=$(relayd_cmd "$T/big" queue stats --json)
check "the spool holds both messages, > 50 MB ($stats)" $PY -c '
import json, sys; s = json.loads(sys.argv[1]); assert s["messages"] == 2 and s["bytes"] > 50_000_000, s' "$stats"
stop_pid "$RELAYD_PID" 30

finish
