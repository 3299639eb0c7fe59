#!/usr/bin/env bash
# Outbound delivery: relayd hands remote mail to smtp-sink, through a transport route and through MX records
# served by dnsmasq on this namespace's loopback; the queue drains once the sink said 250.
source "$(dirname "$0")/lib.sh"

SINK_IP=${IP%.*}.$(( ${IP##*.} + 100 ))   # a second loopback address for the "remote" MTA
SINK_PORT=2600
LATER_PORT=2601  # a site that is down at first and comes back

# wait_drained DATA SECONDS: until queue stats shows no message left.
wait_drained() {
    local data=$1 end=$((SECONDS + $2)) stats
    while [ $SECONDS -lt $end ]; do
        stats=$(relayd_cmd "$data" queue stats --json 2>/dev/null)
        [ -n "$stats" ] && [ "$(json_field "$stats" messages)" = 0 ] && return 0
        sleep 0.3
    done
    info "still queued: $stats"; return 1
}

smtp-sink -u nobody -c "$SINK_IP:$SINK_PORT" 100 >"$T/sink.log" 2>&1 &
track $!
wait_banner "$SINK_IP" "$SINK_PORT" 10 || { fail "smtp-sink starts"; finish; }

# --- transport route: partner.test → smtp-sink -------------------------------------------------------
D1=$T/transport
start_relayd transport "$D1" 2525 --Delivery:Enabled=true --Delivery:Transports:partner.test="$SINK_IP:$SINK_PORT" || { fail "relayd starts"; finish; }
for i in 1 2 3; do swaks_to 2525 --from alice@example.test --to "bob$i@partner.test" >/dev/null 2>&1; done
check "three messages to a transport route are delivered to smtp-sink and leave the queue" wait_drained "$D1" 30

# --- hold/release: a held message stays queued across a restart until it is released ------------------
D3=$T/hold
start_relayd hold "$D3" 2527 --Delivery:Enabled=false --Delivery:Transports:partner.test="$SINK_IP:$SINK_PORT" \
    || { fail "relayd starts (hold)"; finish; }
swaks_to 2527 --from alice@example.test --to held@partner.test >/dev/null 2>&1
HELD=$(relayd_cmd "$D3" queue list --json | $PY -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
check "queue hold ID answers through the running server" relayd_cmd "$D3" queue hold "$HELD"
swaks_to 2527 --from alice@example.test --to free@partner.test >/dev/null 2>&1
flush_says_off() { relayd_cmd "$D3" queue flush | grep -q 'remote delivery is off'; }
check "queue flush says that remote delivery is off" flush_says_off
stop_pid "$RELAYD_PID" 20
start_relayd hold "$D3" 2527 --Delivery:Enabled=true --Delivery:Transports:partner.test="$SINK_IP:$SINK_PORT" || { fail "relayd restarts (hold)"; finish; }
one_held_left() { [ "$(relayd_cmd "$D3" queue list | grep -c .)" = 1 ] && relayd_cmd "$D3" queue list | grep -q "^$HELD!"; }
for _ in $(seq 1 60); do one_held_left && break; sleep 0.3; done
sleep 1
check "after a restart the free message is delivered and only the held one (marked !) stays" one_held_left
check "queue release ID answers" relayd_cmd "$D3" queue release "$HELD"
check "the released message is delivered and leaves the queue" wait_drained "$D3" 30
stop_pid "$RELAYD_PID" 20

# --- MX route: dnsmasq answers MX for remote.test with the sink's address ---------------------------------
if ! command -v dnsmasq >/dev/null; then
    skip "MX delivery through dnsmasq (dnsmasq not installed)"
    finish
fi
dnsmasq --no-daemon --keep-in-foreground --port=53 --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
    --mx-host=remote.test,mx1.remote.test,10 --host-record=mx1.remote.test,"$SINK_IP" \
    --mx-host=nullmx.test,.,0 --log-facility="$T/dnsmasq.log" >/dev/null 2>&1 &
track $!
sleep 0.5
D2=$T/mx
mkdir -p "$D2"
printf 'pw-alice\n' | relayd_cmd "$D2" user add alice@example.test --Users:Pbkdf2Iterations=1000 >/dev/null
start_relayd mx "$D2" 2526 --Delivery:Enabled=true --Delivery:MxPort=$SINK_PORT --Log:Level=Information \
    --Delivery:Transports:stuck.test=127.0.0.1:9 --Delivery:Transports:later.test="$SINK_IP:$LATER_PORT" || { fail "relayd starts (mx)"; finish; }
swaks_to 2526 --from alice@example.test --to carol@remote.test >/dev/null 2>&1
check "mail to a domain with an MX record (dnsmasq) reaches smtp-sink and leaves the queue" wait_drained "$D2" 30

# A null MX (RFC 7505) bounces: the original leaves, the DSN goes to the local sender's mailbox.
swaks_to 2526 --from alice@example.test --to dave@nullmx.test >/dev/null 2>&1
check "a null MX bounces and the DSN is delivered to the local sender's mailbox" wait_drained "$D2" 30
check "the log shows the bounce (5.1.10) and the DSN's delivery to alice's mailbox" bash -c \
    "grep -q 'to=<dave@nullmx.test>, relay=.*status=bounced (556 5.1.10' '$T/mx.log' && grep -q 'Delivered to mailbox alice@example.test' '$T/mx.log'"

# A destination that refuses connections keeps its mail deferred: flush and summary see it.
swaks_to 2526 --from alice@example.test --to frank@stuck.test >/dev/null 2>&1
deferred() { relayd_cmd "$D2" queue list | grep -q 'frank@stuck.test (deferred'; }
for _ in $(seq 1 60); do deferred && break; sleep 0.3; done
check "mail to a destination that refuses connections is deferred" deferred
check "queue flush answers through the running server" relayd_cmd "$D2" queue flush stuck.test
check "queue summary lists the deferred domain" bash -c "relayd_out=\$(timeout 60 '$RELAYD' queue summary --Relay:DataDirectory='$D2' --Log:Level=Warning); grep -q 'stuck.test' <<<\"\$relayd_out\""

# A site that was down and is back: queue flush tries it at once, though it was marked dead for 5 minutes.
swaks_to 2526 --from alice@example.test --to gina@later.test >/dev/null 2>&1
later_deferred() { relayd_cmd "$D2" queue list | grep -q 'gina@later.test (deferred'; }
for _ in $(seq 1 60); do later_deferred && break; sleep 0.3; done
check "mail to a site that is down is deferred" later_deferred
smtp-sink -u nobody -c "$SINK_IP:$LATER_PORT" 100 >"$T/sink-later.log" 2>&1 &
track $!
wait_banner "$SINK_IP" "$LATER_PORT" 10 || fail "the second smtp-sink starts"
later_gone() {
    relayd_cmd "$D2" queue flush >/dev/null || return 1
    for _ in $(seq 1 30); do relayd_cmd "$D2" queue list | grep -q 'gina@later.test' || return 0; sleep 0.3; done
    return 1
}
check "once the site is back, queue flush delivers its mail within seconds" later_gone
stop_pid "$RELAYD_PID" 20
check "relayd stops with exit 0 while delivering (got $STOP_RC)" test "$STOP_RC" = 0
if relayd_cmd "$D2" queue flush >/dev/null 2>&1; then fail "queue flush without a running relayd exits non-zero"
else pass "queue flush without a running relayd exits non-zero"; fi
finish
