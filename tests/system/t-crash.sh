#!/usr/bin/env bash
# Crash safety: kill -9 relayd repeatedly under load and restart it on the same data dir and port.
# A 250 "queued as ID" promises durability, so every id a client was given must be in the queue afterwards,
# exactly once. smtp-source provides the bulk load (it cannot tell which messages were acknowledged);
# smtpclient.py records every acknowledged id.
source "$(dirname "$0")/lib.sh"
D=$T/data
PORT=2525
KILLS=${CRASH_KILLS:-4}
# More sessions than the default per-client limit of 50 come from one address here.
SETTINGS=(--Smtp:MaxConnectionsPerClient=500)

start_relayd crash "$D" $PORT "${SETTINGS[@]}" || { fail "relayd starts"; finish; }

# Bulk load: 50 sessions, 20000 x 1 KB, counters on. smtp-source gives up ("lost connection") when relayd
# dies, so a loop starts it again until the stop file appears (each run and the loop are time-bounded).
(
    end=$((SECONDS + 120))
    while [ ! -e "$T/stop" ] && [ $SECONDS -lt $end ]; do
        timeout 60 smtp-source -c -C 1000 -s 50 -m 20000 -l 1024 -f load@source.test -t sink@queue.test \
            "$IP:$PORT" >>"$T/smtp-source.log" 2>&1 &
        echo $! >>"$T/pids"
        wait $!
        echo "exit $?" >>"$T/smtp-source.log"
        sleep 0.2
    done
) &
SRC=$!; track $SRC
# Acknowledged-id recorder: 10 sessions from other source addresses, reconnecting after each crash, until
# the stop file appears (at most 100000 messages / 120 s).
$CLIENT send "$IP:$PORT" -n 100000 -k 10 --sources 5 --deadline 120 --timeout 15 --stop-file "$T/stop" \
    --ids "$T/acked.ids" --rcpt acked@queue.test >"$T/client.log" 2>&1 &
CL=$!; track $CL

for ((i = 1; i <= KILLS; i++)); do
    sleep $((2 + RANDOM % 3))  # 2-4 s of load, then crash
    kill -9 "$RELAYD_PID"; wait "$RELAYD_PID" 2>/dev/null
    info "kill -9 #$i at $(wc -l <"$T/acked.ids" 2>/dev/null || echo 0) acknowledged ids"
    start_relayd crash "$D" $PORT "${SETTINGS[@]}"
    rc=$?; check "relayd restarts after kill -9 #$i (spool recovery)" test $rc -eq 0
done
sleep 3  # some load on the last incarnation too, then stop both load generators
touch "$T/stop"
wait $CL; rc=$?
info "client: $(tail -1 "$T/client.log")"
check "the client's load ended normally (no message refused)" test $rc -eq 0
wait $SRC
info "smtp-source: $(grep -c '^exit' "$T/smtp-source.log") runs, last: $(grep -v '^exit' "$T/smtp-source.log" | tr '\r' '\n' | grep . | tail -1)"
touch "$T/acked.ids"
stop_pid "$RELAYD_PID" 30; rc=$STOP_RC
check "relayd stops with exit 0 after the crash run (got $rc)" test "$rc" = 0

# Verify after one more (clean) restart, through the admin socket of the running server.
start_relayd crash-final "$D" $PORT "${SETTINGS[@]}" || fail "relayd starts after the final stop"
relayd_cmd "$D" queue list --json >"$T/list.json"
rc=$?; check "queue list --json succeeds after the crashes" test $rc -eq 0
stats=$(relayd_cmd "$D" queue stats --json)
acked=$(sort -u "$T/acked.ids" | wc -l)
info "acknowledged ids: $acked (lines $(wc -l <"$T/acked.ids")); queue: $stats"
check "the client got acknowledgements despite the crashes ($acked)" test "$acked" -gt 100
check "no acknowledged id was handed out twice" test "$acked" -eq "$(wc -l <"$T/acked.ids")"
$PY - "$T/list.json" "$T/acked.ids" "$stats" <<'EOF' >"$T/verify.out" 2>&1
import json, sys
ids = [json.loads(l)["id"].lower() for l in open(sys.argv[1]) if l.strip()]
acked = {l.strip() for l in open(sys.argv[2]) if l.strip()}
stats = json.loads(sys.argv[3])
dups = len(ids) - len(set(ids))
missing = acked - set(ids)
print(f"queued={len(ids)} duplicates={dups} acked={len(acked)} missing={len(missing)} stats={stats['messages']}")
for m in sorted(missing)[:10]:
    print("missing", m)
ok = not missing and dups == 0 and stats["messages"] >= len(acked) and stats["messages"] == len(ids)
sys.exit(0 if ok else 1)
EOF
rc=$?
info "$(head -1 "$T/verify.out")"
check "every acknowledged id is queued, no id twice, stats messages >= acknowledged" test $rc -eq 0
[ $rc -eq 0 ] || sed -n '2,11p' "$T/verify.out" | sed 's/^/      /'

finish
