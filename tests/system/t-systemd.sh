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

# --- the unit's seccomp sandbox (SystemCallFilter, RestrictAddressFamilies, MemoryDenyWriteExecute) ----------
# Emulated by unit-sandbox.py (python3-seccomp), since there is no systemd as PID 1 to apply it.
if /usr/bin/python3 -c 'import seccomp' 2>/dev/null && command -v systemd-analyze >/dev/null; then
    printf '#!/bin/sh\nexec /usr/bin/python3 %s %s "$@"\n' "$HERE/unit-sandbox.py" "$RELAYD" >"$T/relayd-sandboxed"
    chmod +x "$T/relayd-sandboxed"
    if RELAYD=$T/relayd-sandboxed start_relayd sandboxed "$T/sandboxed" 2526 --Log:Level=Information; then
        pass "relayd starts under the unit's seccomp filters"
        out=$(swaks_to 2526 --from alice@sender.test --to postmaster@example.test 2>&1)
        check "sandboxed: a message is queued" grep -qE '250 2\.0\.0 Ok: queued as' <<<"$out"
        for _ in $(seq 50); do grep -q 'status=sent' "$T/sandboxed.log" && break; sleep 0.1; done
        check "sandboxed: and delivered to the local mailbox" grep -q 'to=<postmaster@example.test>, relay=local.*status=sent' "$T/sandboxed.log"
        kill -HUP "$RELAYD_PID"
        for _ in $(seq 50); do grep -q 'Configuration reloaded' "$T/sandboxed.log" && break; sleep 0.1; done
        check "sandboxed: SIGHUP reloads" grep -q 'Configuration reloaded' "$T/sandboxed.log"
        stop_pid "$RELAYD_PID" 30
        check "sandboxed: SIGTERM exits 0 ($STOP_RC)" test "$STOP_RC" = 0
    else
        fail "relayd starts under the unit's seccomp filters"
    fi
else
    skip "seccomp sandbox check (needs /usr/bin/python3 with python3-seccomp and systemd-analyze)"
fi
finish
