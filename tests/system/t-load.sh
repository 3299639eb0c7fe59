#!/usr/bin/env bash
# The load generator of the published binary: `relayd load` against relayd itself (every message counted once in
# the queue, the JSON report agrees; --report, --size-dist, `load report` and `load compare`), against a refusing target (exit 1) and a 451-only `relayd sink` (counted by
# code); `relayd sink` counts what smtp-source sends; non-loopback targets refused.
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
check "the JSON is schema relayd-load/2 with a timeline that sums to the totals" $PY -c '
import json, sys; r = json.load(open(sys.argv[1]))
assert r["schema"] == "relayd-load/2", r["schema"]
assert sum(s["accepted"] for s in r["timeline"]) == r["totals"]["accepted"], r["timeline"]
assert len(r["latency_distribution_ms"]["time_to_250"]) >= 10' "$T/load.json"

# --report and compare: a second run with other sizes, then the two side by side.
timeout 120 "$RELAYD" load --target "$IP:2525" --messages 200 --concurrency 5 --per-connection 20 --to load@queue.test \
    --size-dist 1k:70,10k:25,100k:5 --json "$T/b.json" --report "$T/b.html" >/dev/null 2>&1
rc=$?
check "relayd load --size-dist --report exits 0 (got $rc)" test "$rc" = 0
check "the HTML report exists and has inline SVG charts" grep -q "<svg" "$T/b.html"
check "the HTML report loads nothing from the network" bash -c '! grep -qi "src=\"http" "$1"' _ "$T/b.html"
timeout 30 "$RELAYD" load compare "$T/load.json" "$T/b.json" >"$T/compare.out" 2>"$T/compare.err"
rc=$?
check "relayd load compare exits 0 (got $rc)" test "$rc" = 0
check "compare prints accepted msg/s for both runs" grep -q "^accepted msg/s" "$T/compare.out"
check "compare warns that concurrency and size_dist differ" bash -c 'grep -q "concurrency" "$1" && grep -q "size_dist" "$1"' _ "$T/compare.err"
timeout 30 "$RELAYD" load report "$T/load.json" --out "$T/load.html" >/dev/null 2>&1
check "relayd load report renders a saved run" grep -q "<svg" "$T/load.html"
echo '{"schema": "relayd-sink/1", "messages": 1}' >"$T/foreign.json"
timeout 30 "$RELAYD" load compare "$T/load.json" "$T/foreign.json" >/dev/null 2>&1
rc=$?
check "compare of a file that is not a load result exits 2 (got $rc)" test "$rc" = 2

timeout 60 "$RELAYD" load --target "$IP:2599" --messages 5 --concurrency 1 --duration 5s >/dev/null 2>&1
rc=$?
check "a target that refuses connections makes relayd load exit 1 (got $rc)" test "$rc" = 1
# relayd sink counts what smtp-source sends, and answers a 451 mix that relayd load counts by code.
"$RELAYD" sink --listen "$IP:2700" --duration 20s --json "$T/sink.json" >"$T/sink.out" 2>/dev/null &
SINK_PID=$!; track $SINK_PID
wait_banner "$IP" 2700 10 || fail "relayd sink starts"
timeout 60 smtp-source -s 10 -m 1000 -l 1024 -f a@source.test -t b@sink.test "$IP:2700" >/dev/null 2>&1
check "relayd sink runs one socket thread per two cores ($SERVER_SOCKET_THREADS here; got $(socket_threads $SINK_PID))" \
    test "$(socket_threads $SINK_PID)" = "$SERVER_SOCKET_THREADS"
DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT=2 "$RELAYD" sink --listen "$IP:2701" --reply-mix 451:100 --duration 20s >/dev/null 2>&1 &
REFUSING_PID=$!; track $REFUSING_PID
wait_banner "$IP" 2701 10 || fail "relayd sink (451) starts"
timeout 60 "$RELAYD" load --target "$IP:2701" --messages 50 --concurrency 5 --json "$T/refused.json" >/dev/null 2>&1
check "an explicit DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT=2 wins over the sink's default (got $(socket_threads $REFUSING_PID))" \
    test "$(socket_threads $REFUSING_PID)" = 2
check "relayd load counts 50 replies 451 from a sink that refuses everything" $PY -c '
import json, sys; r = json.load(open(sys.argv[1]))
assert r["totals"]["accepted"] == 0 and r["totals"]["failed"] == 50, r["totals"]
assert json.dumps(r["errors"]).count("451") >= 1, r["errors"]' "$T/refused.json"
kill -TERM $SINK_PID 2>/dev/null; wait $SINK_PID 2>/dev/null
check "relayd sink's JSON summary counts the 1000 messages smtp-source sent" $PY -c '
import json, sys; r = json.load(open(sys.argv[1])); assert r["messages"] == 1000, r' "$T/sink.json"

timeout 30 "$RELAYD" load --target 192.0.2.1:25 --messages 1 >/dev/null 2>"$T/remote.err"
rc=$?
check "a non-loopback target is refused with exit 2 (got $rc)" test "$rc" = 2
finish
