#!/usr/bin/env bash
# Restart time of relayd on an existing data directory: process start -> SMTP banner, and -> the "ready" log line
# (delivery scheduling running), plus RSS; then SIGTERM. Runs in its own network namespace (loopback only).
#   perf/scripts/restart-time.sh RELAYD DATA [extra relayd args]       (root)
# With a spool from spool-fill.cs, the first run defers everything to deferred.test (a closed port, 2-4 h backoff);
# later runs then restart on a fully deferred queue. HOLD=SECONDS keeps relayd up before stopping it.
set -euo pipefail
if [ "${IN_NETNS:-}" != 1 ]; then exec unshare -n env IN_NETNS=1 bash "$0" "$@"; fi
ip link set lo up
R=$1 DATA=$2; shift 2
LOG=$(mktemp)
start=$(date +%s.%N)
"$R" run --Relay:DataDirectory="$DATA" --Smtp:Listen:0=127.0.0.9:2525 --Pop3:Listen:0=127.0.0.9:2110 \
    --Delivery:Transports:deferred.test=127.0.0.9:9 --Delivery:MinimumBackoff=02:00:00 --Delivery:MaximumBackoff=04:00:00 \
    --Dns:Servers:0=127.0.0.1:53 --Log:Level=Information "$@" >"$LOG" 2>&1 &
pid=$!
for _ in $(seq 1 1500); do
    if { exec 9<>/dev/tcp/127.0.0.9/2525; } 2>/dev/null; then
        read -r -t 10 line <&9 || true; exec 9>&-; [[ ${line:-} == 220* ]] && break
    fi
    sleep 0.02
done
banner=$(date +%s.%N)
for _ in $(seq 1 600); do grep -q "ready" "$LOG" && break; sleep 0.05; done
ready=$(date +%s.%N)
python3 -c "import sys; s, b, r = map(float, sys.argv[1:4]); print(f'banner {b - s:.2f} s, ready {r - s:.2f} s, rss {sys.argv[4]} kB')" \
    "$start" "$banner" "$ready" "$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
sleep "${HOLD:-0}"
kill -TERM "$pid"; wait "$pid" || true
rm -f "$LOG"
