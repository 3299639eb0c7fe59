#!/usr/bin/env bash
# Repro (fixed since: MailboxStore keeps a running total): delivery rate into one mailbox fell as it grew with the
# default quota (MailboxStore.UsedBytes walked
# every message at each RCPT and each local delivery), and did not with --Mailboxes:QuotaMegabytes=0.
# usage (root): unshare -n bash perf/scripts/mailbox-fill-repro.sh artifacts/relayd   (env CHUNK=10000 CHUNKS=3)
# Found by perf/scripts/pop3-bench.sh; see the notes under the pop3-bench section of perf/RESULTS.md.
set -euo pipefail
ip link set lo up
RELAYD=$1 W=$(mktemp -d) CHUNK=${CHUNK:-10000} CHUNKS=${CHUNKS:-3}
trap 'kill -9 ${P:-} 2>/dev/null; rm -rf "$W"' EXIT
for quota in 1024 0; do
    D=$W/q$quota
    printf 'pw\n' | timeout 60 "$RELAYD" user add big@example.test --Relay:DataDirectory=$D --Users:Pbkdf2Iterations=1000 --Log:Level=Warning >/dev/null
    "$RELAYD" run --Relay:DataDirectory=$D --Smtp:Listen:0=127.0.0.61:2525 --Pop3:Listen:0=127.0.0.61:1110 --Relay:LocalDomains:0=example.test \
        --Delivery:Enabled=false --Smtp:MaxConnectionsPerClient=200 --Dns:Servers:0=127.0.0.1:53 --Log:Level=Warning --Mailboxes:QuotaMegabytes=$quota >$W/log 2>&1 &
    P=$!; sleep 1
    for ((c = 0; c < CHUNKS; c++)); do
        t0=$EPOCHREALTIME
        timeout 600 smtp-source -s 20 -m $CHUNK -l 256 -f a@source.test -t big@example.test 127.0.0.61:2525
        for _ in $(seq 600); do
            [ "$(timeout 60 "$RELAYD" queue stats --json --Relay:DataDirectory=$D --Log:Level=Warning | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')" = 0 ] && break; sleep 0.5
        done
        awk -v q=$quota -v h=$((c * CHUNK)) -v n=$CHUNK -v a=$t0 -v b=$EPOCHREALTIME 'BEGIN { printf "quota %s MB, mailbox held %6d: %4.0f msgs/s\n", q, h, n / (b - a) }'
    done
    kill -TERM $P; timeout 30 tail --pid=$P -f /dev/null || true
done
