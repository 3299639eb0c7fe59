#!/usr/bin/env bash
# systemd integration without systemd: notify-manager.py binds NOTIFY_SOCKET and checks READY (only once listening),
# WATCHDOG pings, RELOADING/READY around SIGHUP (new local domain for new sessions, open session unharmed, a broken
# file refused), STOPPING at SIGTERM and the journal log format (JOURNAL_STREAM).
source "$(dirname "$0")/lib.sh"

out=$($PY "$HERE/notify-manager.py" "$RELAYD" "$T" "$IP" 2525 2>&1)
while IFS= read -r line; do
    case $line in
        "PASS: "*) pass "${line#PASS: }" ;;
        "FAIL: "*) fail "${line#FAIL: }" ;;
        *) echo "$line" ;;
    esac
done <<<"$out"
grep -q '^PASS: ' <<<"$out" || fail "notify-manager.py ran (output: $(tail -3 <<<"$out"))"
finish
