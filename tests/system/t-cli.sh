#!/usr/bin/env bash
# The relayd command line: exit codes, config errors, queue commands with the server stopped and running,
# graceful stop, restart on the same data dir, and the single-owner lock on a data dir.
source "$(dirname "$0")/lib.sh"
D=$T/data

timeout 10 "$RELAYD" --version >"$T/out" 2>&1
rc=$?; check "--version exits 0 ($(head -1 "$T/out"))" test $rc -eq 0
timeout 10 "$RELAYD" --help >"$T/out" 2>&1
rc=$?; check "--help exits 0 and prints usage" test $rc -eq 0 -a -s "$T/out"
for cmd in sink load; do  # their own option parsers must not take --help for an unknown option
    timeout 10 "$RELAYD" $cmd --help >"$T/out" 2>&1
    rc=$?; check "$cmd --help exits 0 and prints the $cmd options" test $rc -eq 0 -a "$(grep -c -- "--reply-mix\|--per-connection" "$T/out")" -ge 2
done

# expect_usage_error KEY SETTING: relayd must exit 2 and name the key on stderr (never start serving).
expect_usage_error() {
    local key=$1 rc
    timeout 10 "$RELAYD" run --Relay:DataDirectory="$T/bad" --Smtp:Listen:0="$IP:2599" "$2" >"$T/out" 2>&1
    rc=$?
    if [ $rc -eq 2 ] && grep -qF "$key" "$T/out"; then pass "$2 exits 2 naming $key"
    else fail "$2 exits 2 naming $key (got rc=$rc)"; info "$(head -2 "$T/out")"; fi
}
expect_usage_error Smtp:MaxRecipients --Smtp:MaxRecipients=abc
expect_usage_error Smtp:Listen:0 --Smtp:Listen:0=nonsense

# --- server running: queue commands go over the admin socket -----------------------------------------
start_relayd cli "$D" 2525 || { fail "relayd starts"; finish; }
first=$RELAYD_PID
for to in a b c; do swaks_to 2525 --from s@sender.test --to "$to@queue.test" >/dev/null 2>&1; done
threads=$(socket_threads "$first")
check "relayd run has one socket thread per two cores ($SERVER_SOCKET_THREADS here; got $threads)" test "$threads" = "$SERVER_SOCKET_THREADS"
ids=$(relayd_cmd "$D" queue list --json | $PY -c 'import json,sys; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')
read -r -a ID <<<"$ids"
check "queue list (running) shows the 3 messages" test "${#ID[@]}" -eq 3
check "admin socket exists while running" test -S "$D/relayd.sock"
relayd_cmd "$D" queue show "${ID[0]}" >"$T/out" 2>&1
check "queue show ID (running) exits 0 and prints the content" grep -q 'Message-Id\|Subject' "$T/out"
relayd_cmd "$D" queue show 0123456789abcdef >/dev/null 2>&1
rc=$?; check "queue show of an unknown id exits 1 (running)" test $rc -eq 1
relayd_cmd "$D" queue delete "${ID[0]}" >/dev/null 2>&1
rc=$?; check "queue delete ID (running) exits 0" test $rc -eq 0
check "queue stats (running) is 2 after the delete" \
    test "$(json_field "$(relayd_cmd "$D" queue stats --json)" messages)" = 2

# --- a second server on the same data dir must refuse, and leave the first one alone ----------------
timeout 30 "$RELAYD" run --Relay:DataDirectory="$D" --Smtp:Listen:0="$IP:2526" --Log:Level=Warning >"$T/second.log" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -qiE 'spool|lock|in use|running' "$T/second.log"; then pass "second relayd on the same data dir exits 1 with a clear message"
else fail "second relayd on the same data dir exits 1 with a clear message (rc=$rc)"; info "$(head -3 "$T/second.log")"; fi
check "the first relayd still serves" wait_banner "$IP" 2525 5

# --- SIGTERM: graceful stop with exit 0 -------------------------------------------------------------
stop_pid "$first" 30; rc=$STOP_RC
check "SIGTERM stops relayd with exit 0 (got $rc)" test "$rc" = 0

# --- server stopped: queue commands open the spool directly -----------------------------------------
check "queue stats (stopped) still 2" test "$(json_field "$(relayd_cmd "$D" queue stats --json)" messages)" = 2
relayd_cmd "$D" queue list --json >"$T/out" 2>&1
check "queue list (stopped) exits 0 and lists ${ID[1]}" grep -q "${ID[1]}" "$T/out"
check "the deleted message stays deleted" test -z "$(grep "${ID[0]}" "$T/out")"
relayd_cmd "$D" queue show "${ID[1]}" >/dev/null 2>&1
rc=$?; check "queue show ID (stopped) exits 0" test $rc -eq 0
relayd_cmd "$D" queue show 0123456789abcdef >/dev/null 2>&1
rc=$?; check "queue show of an unknown id exits 1 (stopped)" test $rc -eq 1
relayd_cmd "$D" queue delete "${ID[1]}" >/dev/null 2>&1
rc=$?; check "queue delete ID (stopped) exits 0" test $rc -eq 0
check "queue stats (stopped) is 1 after the delete" \
    test "$(json_field "$(relayd_cmd "$D" queue stats --json)" messages)" = 1

# --- restart on the same data dir: serves again and still has the remaining message -----------------
start_relayd cli2 "$D" 2525
rc=$?; check "a second start on the same data dir serves" test $rc -eq 0
relayd_cmd "$D" queue list --json >"$T/out" 2>&1
check "the remaining message ${ID[2]} survived the restart" grep -q "${ID[2]}" "$T/out"
stop_pid "$RELAYD_PID" 30; rc=$STOP_RC
check "SIGTERM after restart exits 0 (got $rc)" test "$rc" = 0

finish
