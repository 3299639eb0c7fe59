#!/usr/bin/env bash
# Black-box system tests for relayd.
#
#   unshare -n bash tests/system/run-all.sh /path/to/relayd [t-smtp t-cli ...]
#
# Meant to run inside a fresh network namespace (unshare -n, as root): it brings lo up itself and every
# test only talks to its own 127.0.0.x address, so nothing leaves the machine. Each test script runs as
# its own process with its own temp dir and address, under a time limit; whatever it started is killed
# afterwards even if it failed or hung. Prints PASS/FAIL/SKIP per check and a closing
# "N passed, N failed, N skipped" line; exits 1 on any failure.
set -uo pipefail

RELAYD=${1:?usage: run-all.sh /path/to/relayd [test ...]}
shift
RELAYD=$(readlink -f "$RELAYD")
HERE=$(cd "$(dirname "$0")" && pwd)
TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=(t-cli t-smtp t-deliver t-pop3 t-systemd t-load t-deliver-crash t-crash t-memory)
TEST_TIMEOUT=${TEST_TIMEOUT:-300}  # seconds per test script

[ -x "$RELAYD" ] || { echo "FAIL: relayd binary $RELAYD not found or not executable"; exit 1; }
for tool in swaks smtp-source openssl ip timeout; do
    command -v "$tool" >/dev/null || { echo "FAIL: required tool '$tool' is missing"; exit 1; }
done
export PYTHON=${PYTHON:-$(command -v python3)}

# Refuse to run in the host's network namespace: the tests open thousands of connections and kill servers.
if ip -o link show | grep -qv ': lo:'; then
    echo "FAIL: not in a private network namespace (found non-loopback interfaces); run under 'unshare -n'"
    exit 1
fi
ip link set lo up

ROOT=$(mktemp -d /tmp/relayd-systest.XXXXXX)
kill_leftovers() {
    local f pid
    for f in "$ROOT"/*/pids; do
        [ -f "$f" ] || continue
        while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$f"
    done
}
trap 'kill_leftovers' EXIT
trap 'exit 143' TERM INT

echo "relayd under test: $RELAYD ($("$RELAYD" --version 2>&1 | head -1))"
n=0
for t in "${TESTS[@]}"; do
    n=$((n + 1))
    dir=$ROOT/$t
    mkdir -p "$dir"
    : >"$dir/results"
    echo "=== $t (127.0.0.$((10 + n)), $dir)"
    start=$SECONDS
    RELAYD=$RELAYD T=$dir IP=127.0.0.$((10 + n)) timeout -k 10 "$TEST_TIMEOUT" bash "$HERE/$t.sh"
    rc=$?
    kill_leftovers
    if [ $rc -eq 124 ] || [ $rc -eq 137 ] || { [ $rc -ne 0 ] && ! grep -q FAIL "$dir/results"; }; then
        # the script died (timeout, crash) without reporting a failure itself
        echo "FAIL: $t exited with status $rc$([ $rc -eq 124 ] && echo " (timed out after ${TEST_TIMEOUT}s)")"
        echo FAIL >>"$dir/results"
    fi
    echo "--- $t: $((SECONDS - start)) s"
done

passed=$(cat "$ROOT"/*/results | grep -c '^PASS$')
failed=$(cat "$ROOT"/*/results | grep -c '^FAIL$')
skipped=$(cat "$ROOT"/*/results | grep -c '^SKIP$')
if [ "$failed" -gt 0 ]; then
    echo "Logs and data kept in $ROOT"
else
    rm -rf "$ROOT"
fi
echo "system: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
