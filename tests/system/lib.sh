# Shared helpers for the system tests; sourced by each t-*.sh (never run directly).
#
# Each test script runs as its own bash process with:
#   RELAYD   absolute path of the relayd binary under test
#   T        its private temp directory (data dirs, logs, certificates)
#   IP       its own loopback address 127.0.0.x (so tests never share ports)
# Every process a test starts is recorded in $T/pids; the EXIT trap (and run-all.sh after it) kills them.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-python3}
CLIENT="$PY $HERE/smtpclient.py"
FAILS=0

pass() { echo "PASS: $*"; echo "PASS" >>"$T/results"; }
fail() { echo "FAIL: $*"; echo "FAIL" >>"$T/results"; FAILS=$((FAILS + 1)); }
skip() { echo "SKIP: $*"; echo "SKIP" >>"$T/results"; }
info() { echo "      $*"; }

# check NAME COMMAND...: PASS if the command exits 0.
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }

track() { echo "$1" >>"$T/pids"; }

# Kill everything this test started (relayd instances, clients). Safe to call twice.
cleanup() {
    local pid
    [ -f "$T/pids" ] || return 0
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$T/pids"
    : >"$T/pids"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# relayd_cmd DATA ARGS...: run a relayd command (queue/user) against data dir DATA, bounded in time.
relayd_cmd() { local data=$1; shift; timeout 60 "$RELAYD" "$@" --Relay:DataDirectory="$data" --Log:Level=Warning; }

# start_relayd NAME DATA PORT [EXTRA SETTINGS...]: start relayd in the background and wait for its banner.
# Mail to @queue.test (a relay domain, remote delivery off unless a test passes --Delivery:Enabled=true)
# stays queued: tests that count the queue send there. example.test is local (mailboxes).
# POP3 listens on the SMTP port + 10000 (a test may override it).
# DNS goes to 127.0.0.1:53 in the test's own network namespace (a test that needs answers runs dnsmasq there):
# never to this machine's resolver.
# Sets RELAYD_PID. Log in $T/NAME.log. Returns 1 if it is not serving within 30 s.
start_relayd() {
    local name=$1 data=$2 port=$3; shift 3
    "$RELAYD" run --Relay:DataDirectory="$data" --Smtp:Listen:0="$IP:$port" \
        --Relay:Hostname=mx.example.test --Relay:LocalDomains:0=example.test --Relay:RelayDomains:0=queue.test \
        --Delivery:Enabled=false --Pop3:Listen:0="$IP:$((port + 10000))" --Dns:Servers:0=127.0.0.1:53 --Log:Level=Warning "$@" >>"$T/$name.log" 2>&1 &
    RELAYD_PID=$!
    track "$RELAYD_PID"
    wait_banner "$IP" "$port" 30 || { info "relayd $name did not come up; log:"; tail -5 "$T/$name.log" | sed 's/^/      | /'; return 1; }
}

# wait_banner HOST PORT SECONDS: poll until the server greets with 220.
wait_banner() {
    local host=$1 port=$2 end=$((SECONDS + $3)) line
    while [ $SECONDS -lt $end ]; do
        # (the braces keep 2>/dev/null from sticking to the shell: exec's redirections are permanent)
        if { exec 9<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
            line=$(timeout 5 head -c 3 <&9 || true)
            exec 9>&-
            [ "$line" = "220" ] && return 0
        fi
        sleep 0.1
    done
    return 1
}

# stop_pid PID SECONDS: SIGTERM, wait; sets STOP_RC to the exit status (or "timeout" after a SIGKILL).
# Must run in the shell that started PID (not in $(...)): only the parent can collect the exit status.
stop_pid() {
    local pid=$1 secs=$2 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null; STOP_RC=$?; return 0; fi
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; STOP_RC=timeout
}

# socket_threads PID: .NET socket engine threads of a process; relayd's servers run one per two cores, at least one.
socket_threads() { cat /proc/"$1"/task/*/comm 2>/dev/null | grep -c '^\.NET Sockets$'; }
SERVER_SOCKET_THREADS=$(( $(nproc) / 2 > 1 ? $(nproc) / 2 : 1 ))

# rss_kb PID [FIELD]: VmRSS (or VmHWM, the peak) of a process in kB.
rss_kb() { awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/$1/status"; }

# json_field JSONLINE KEY: print one top-level field of a JSON object.
json_field() { $PY -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# swaks with our defaults: bounded, no DNS (server given explicitly), output kept for grep.
swaks_to() { timeout 60 swaks --server "$IP:$1" --helo client.test --timeout 10 "${@:2}"; }

finish() { exit $((FAILS > 0 ? 1 : 0)); }
