#!/usr/bin/env bash
# Crash safety of delivery: relayd relays to a second relayd (the "remote MTA", which only queues) while it is
# kill -9ed and restarted mid-delivery. Afterwards its queue must drain, and the sink must hold at least every
# message a client was given a 250 for (a few more are allowed: a crash between the sink's 250 and our journal
# commit re-delivers, as SMTP cannot avoid).
source "$(dirname "$0")/lib.sh"
RELAY=$T/relay
SINK=$T/sink
KILLS=${DELIVER_CRASH_KILLS:-3}

start_relayd sink "$SINK" 2600 --Relay:LocalDomains:0=sink.test --Relay:RelayDomains:0=partner.test || { fail "sink relayd starts"; finish; }
SINK_PID=$RELAYD_PID
ROUTE=(--Delivery:Enabled=true --Delivery:Transports:partner.test="$IP:2600")
start_relayd relay "$RELAY" 2525 "${ROUTE[@]}" || { fail "relayd starts"; finish; }

$CLIENT send "$IP:2525" -n 100000 -k 10 --rcpt bob@partner.test --ids "$T/acked" --deadline 60 --stop-file "$T/stop" \
    >"$T/client.log" 2>&1 &
CLIENT_PID=$!; track $CLIENT_PID
for i in $(seq 1 "$KILLS"); do
    sleep "$(( (RANDOM % 3) + 2 ))"
    queued=$(relayd_cmd "$RELAY" queue stats --json 2>/dev/null)
    kill -9 "$RELAYD_PID" 2>/dev/null; wait "$RELAYD_PID" 2>/dev/null
    info "kill -9 #$i at $(wc -l <"$T/acked" 2>/dev/null || echo 0) acknowledged messages, queue before: $queued"
    start_relayd relay "$RELAY" 2525 "${ROUTE[@]}" || { fail "relayd restarts after kill -9 #$i"; finish; }
done
touch "$T/stop"
wait "$CLIENT_PID"
acked=$(sort -u "$T/acked" 2>/dev/null | wc -l)
info "client: $(tail -1 "$T/client.log")"
check "the client got acknowledgements despite the crashes ($acked)" test "$acked" -gt 0

drained() { [ "$(json_field "$(relayd_cmd "$RELAY" queue stats --json)" messages)" = 0 ]; }
for _ in $(seq 1 200); do drained && break; sleep 0.3; done
check "the relay's queue drains after the crashes (every remote recipient delivered)" drained
sunk=$(json_field "$(relayd_cmd "$SINK" queue stats --json)" messages)
info "acknowledged: $acked, at the sink: $sunk"
check "the sink holds at least every acknowledged message ($sunk >= $acked)" test "$sunk" -ge "$acked"
stop_pid "$RELAYD_PID" 20
check "relayd stops with exit 0 (got $STOP_RC)" test "$STOP_RC" = 0
stop_pid "$SINK_PID" 20
finish
