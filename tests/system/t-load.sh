#!/usr/bin/env bash
# The load generator of the published binary: `relayd load` against relayd itself (every message counted once in
# the queue, the JSON report agrees) and against a refusing target (errors counted, exit 1); non-loopback refused.
source "$(dirname "$0")/lib.sh"
D=$T/target
start_relayd target "$D" 2525 || { fail "relayd starts"; finish; }

timeout 120 "$RELAYD" load --target "$IP:2525" --messages 500 --concurrency 10 --per-connection 25 --pipelining \
    --to load@queue.test --json "$T/load.json" >"$T/load.out" 2>"$T/load.err"
rc=$?
check "relayd load of 500 messages exits 0 (got $rc)" test "$rc" = 0
check "the JSON report counts 500 accepted over 20 connections" $PY -c '
import json, sys; r = json.load(open(sys.argv[1]))
t = r["totals"]; assert t["accepted"] == 500 and t["connections"] == 20, t' "$T/load.json"
check "the target queued exactly 500 messages" test "$(json_field "$(relayd_cmd "$D" queue stats --json)" messages)" = 500
check "the summary shows time-to-250 percentiles" grep -qi "time_to_250\|time to 250" "$T/load.out"

timeout 60 "$RELAYD" load --target "$IP:2599" --messages 5 --concurrency 1 --duration 5s >/dev/null 2>&1
rc=$?
check "a target that refuses connections makes relayd load exit 1 (got $rc)" test "$rc" = 1
timeout 30 "$RELAYD" load --target 192.0.2.1:25 --messages 1 >/dev/null 2>"$T/remote.err"
rc=$?
check "a non-loopback target is refused with exit 2 (got $rc)" test "$rc" = 2
finish
