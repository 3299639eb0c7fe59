#!/usr/bin/env bash
# POP3 benchmark against the published relayd:
#   (1) RETR throughput (messages/s, MB/s) with 50 concurrent mailboxes, ~1 KiB and ~1 MiB messages: each client
#       logs in, STATs, RETRs every message and QUITs (no DELE, so runs repeat); median of $REPS runs;
#   (2) memory per open mailbox: relayd RSS with 0, 50 and 100 sessions logged in and holding their maildrop
#       (after STAT);
#   (3) a 100,000-message mailbox: client-side PASS -> STAT and PASS -> full UIDL (and LIST) times, median of
#       $OPEN_REPS; RSS with it open; relayd restart time (exec -> POP3 greeting, and -> first STAT) with it present.
# Mailboxes are filled over SMTP first (pop3load.py fill: one message with 50 RCPTs fills 50 mailboxes; smtp-source
# for the big one), and the queue must have drained into them (`relayd queue stats --json`) before measuring.
#
#   perf/scripts/pop3-bench.sh [path/to/relayd]      (root; default: artifacts/relayd)
#   env: REPS=3 USERS=50 SMALL_MSGS=400 LARGE_MSGS=10 BIG_MSGS=100000 FILL_CHUNKS=5 OPEN_REPS=7 RESTARTS=3 PROCS=2
#        PROFILE_DIR=DIR (with perf installed: a perf profile of extra, untimed opens of the big mailbox)
#        OUT=perf/RESULTS.md (the section between the pop3-bench markers is replaced; the rest is kept)
#
# Load client: perf/scripts/pop3load.py (Python asyncio, stdlib only), split over $PROCS processes; it reports
# its own CPU time so a client bottleneck is visible in the table. Runs itself inside a fresh network namespace
# (unshare -n): every target is on 127.0.0.x, nothing leaves the machine, no DNS. Every step has a timeout.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$REPO/perf/scripts/lib.sh"  # also resolves $PY once (a pyenv shim costs ~0.1-1 s per call under load)
RELAYD=$(readlink -f "${1:-$REPO/artifacts/relayd}")
REPS=${REPS:-3} USERS=${USERS:-50} SMALL_MSGS=${SMALL_MSGS:-400} LARGE_MSGS=${LARGE_MSGS:-10}
BIG_MSGS=${BIG_MSGS:-100000} FILL_CHUNKS=${FILL_CHUNKS:-5} OPEN_REPS=${OPEN_REPS:-7} RESTARTS=${RESTARTS:-3} PROCS=${PROCS:-2}
OUT=${OUT:-$REPO/perf/RESULTS.md}
LOAD=$REPO/perf/scripts/pop3load.py

if [ "${BENCH_IN_NETNS:-}" != 1 ]; then
    require_root "unshare -n"
    require_tools smtp-source python3 unshare ip curl
    require_relayd "$RELAYD"
    exec unshare -n env BENCH_IN_NETNS=1 PY="$PY" LOAD_BEFORE="$(loadavg)" bash "$0" "$@"
fi
ip link set lo up

W=$(mktemp -d /tmp/pop3-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT
log() { echo "[$(date +%T) load $(cut -d' ' -f1 /proc/loadavg)] $*" >&2; }

IP=127.0.0.60 SMTP_PORT=2525 POP_PORT=1110
SMTP=$IP:$SMTP_PORT POP=$IP:$POP_PORT
PW=bench-pw
DOMAIN=example.test

# --- relayd control ---------------------------------------------------------------------------------
RELAYD_PID=
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }  # seconds since $EPOCHREALTIME value
relayd_cmd() { local data=$1; shift; timeout 60 "$RELAYD" "$@" --Relay:DataDirectory="$data" --Log:Level=Warning; }
add_user() { printf '%s\n' "$PW" | relayd_cmd "$1" user add "$2" --Users:Pbkdf2Iterations=1000 >/dev/null; }

# pop_greets: one POP3 connection attempt; 0 when the server answered +OK.
pop_greets() {
    local line
    { exec 9<>"/dev/tcp/$IP/$POP_PORT"; } 2>/dev/null || return 1
    read -r -t 5 line <&9 || true
    exec 9>&-
    [[ $line == +OK* ]]
}
smtp_greets() {
    local line
    { exec 9<>"/dev/tcp/$IP/$SMTP_PORT"; } 2>/dev/null || return 1
    read -r -t 5 line <&9 || true
    exec 9>&-
    [[ $line == 220* ]]
}
# relayd_start DATA: start relayd; sets RELAYD_PID and READY_S (seconds from exec to POP3 and SMTP greetings,
# polled every 10 ms). Fails after 120 s.
relayd_start() {
    local t0 end
    t0=$EPOCHREALTIME
    "$RELAYD" run --Relay:DataDirectory="$1" --Smtp:Listen:0="$SMTP" --Pop3:Listen:0="$POP" \
        --Relay:Hostname=bench-relayd.example.test --Relay:LocalDomains:0=$DOMAIN --Delivery:Enabled=false \
        --Smtp:MaxConnectionsPerClient=200 --Pop3:MaxConnectionsPerClient=200 --Dns:Servers:0=127.0.0.1:53 \
        --Log:Level=Warning >>"$W/relayd.log" 2>&1 &
    RELAYD_PID=$!; PIDS+=("$RELAYD_PID"); disown "$RELAYD_PID"
    end=$((SECONDS + 120))
    until pop_greets; do
        [ $SECONDS -lt $end ] && kill -0 "$RELAYD_PID" 2>/dev/null || { echo "relayd did not start:"; tail -5 "$W/relayd.log"; exit 1; }
        sleep 0.01
    done
    until smtp_greets; do [ $SECONDS -lt $end ] || { echo "no SMTP greeting"; exit 1; }; sleep 0.01; done
    READY_S=$(elapsed "$t0")
}
# relayd_stop: SIGTERM and wait (60 s, then SIGKILL); sets STOP_S.
relayd_stop() {
    local t0=$EPOCHREALTIME
    kill -TERM "$RELAYD_PID"
    timeout 60 tail --pid="$RELAYD_PID" -f /dev/null || { log "relayd did not stop in 60 s: SIGKILL"; kill -9 "$RELAYD_PID"; }
    STOP_S=$(elapsed "$t0")
}
# wait_drained DATA SECONDS: until `queue stats` shows no message (local delivery done), else fail.
wait_drained() {
    local end=$((SECONDS + $2)) n
    while [ $SECONDS -lt "$end" ]; do
        n=$(relayd_cmd "$1" queue stats --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
        [ "$n" = 0 ] && return 0
        sleep 1
    done
    echo "queue not drained after $2 s ($n messages left)"; exit 1
}
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$RELAYD_PID/status"; }
# rss_settled: median of 5 RSS samples over ~1 s (after a 1 s pause), in kB.
rss_settled() {
    sleep 1
    for _ in 1 2 3 4 5; do rss_kb; sleep 0.2; done | sort -n | sed -n 3p
}
jget() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# ==== (A) 50 mailboxes of small and of large messages ===============================================
DA=$W/data-a
log "creating users s1..s$USERS, l1..l$USERS"
for ((i = 1; i <= USERS; i++)); do add_user "$DA" "s$i@$DOMAIN"; add_user "$DA" "l$i@$DOMAIN"; done
relayd_start "$DA"; START_EMPTY_S=$READY_S
log "relayd up in $READY_S s; filling $USERS x $SMALL_MSGS small and $USERS x $LARGE_MSGS large messages"
timeout 900 "$PY" "$LOAD" fill "$SMTP" --users "s%d@$DOMAIN" --count-users "$USERS" --messages "$SMALL_MSGS" --size 1024 --deadline 880 >/dev/null
timeout 900 "$PY" "$LOAD" fill "$SMTP" --users "l%d@$DOMAIN" --count-users "$USERS" --messages "$LARGE_MSGS" --size 1048576 --deadline 880 >/dev/null
wait_drained "$DA" 600
relayd_stop; relayd_start "$DA"; RESTART_A_S=$READY_S  # memory is measured on a fresh process
log "drained; restarted in $READY_S s"

# --- (2) memory per open mailbox ---------------------------------------------------------------------
rm -f "$W"/ready-* "$W"/release
RSS0=$(rss_settled)
hold() {  # FMT NAME: hold USERS sessions in the background until $W/release exists
    timeout 200 "$PY" "$LOAD" hold "$POP" --users "$1" --count-users "$USERS" --password "$PW" \
        --ready "$W/ready-$2" --release "$W/release" --max-hold 150 --deadline 60 &
    PIDS+=($!)
    local end=$((SECONDS + 60))
    until [ -s "$W/ready-$2" ]; do [ $SECONDS -lt $end ] || { echo "hold $2: sessions not ready"; exit 1; }; sleep 0.1; done
}
hold "s%d@$DOMAIN" s; RSS50=$(rss_settled)
hold "l%d@$DOMAIN" l; RSS100=$(rss_settled)
touch "$W/release"; wait; RSS_AFTER=$(rss_settled)
rm -f "$W"/ready-* "$W"/release
# again on the warm process: pools, threads and GC heap grown by the first round are already there
hold "s%d@$DOMAIN" s; RSS50W=$(rss_settled)
touch "$W/release"; wait
rm -f "$W"/ready-* "$W"/release
log "RSS kB: 0 sessions $RSS0, $USERS: $RSS50, $((2 * USERS)): $RSS100, after close: $RSS_AFTER, $USERS again: $RSS50W"

# --- (1) RETR throughput, runs interleaved small/large so that outside load hits both alike --------
declare -A RUNS
for ((r = 1; r <= REPS; r++)); do
    for kind in s l; do
        j=$(timeout 900 "$PY" "$LOAD" retr "$POP" --users "$kind%d@$DOMAIN" --count-users "$USERS" --password "$PW" \
            --procs "$PROCS" --server-pid "$RELAYD_PID" --deadline 880)
        log "retr $kind run $r: $j"
        RUNS[$kind]+="$j"$'\n'
    done
done
RSS_PEAK_A=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$RELAYD_PID/status")
relayd_stop

# ==== (B) one mailbox of $BIG_MSGS messages =============================================================
DB=$W/data-b
add_user "$DB" "big@$DOMAIN"; add_user "$DB" "one@$DOMAIN"
relayd_start "$DB"
log "filling big@ with $BIG_MSGS messages in $FILL_CHUNKS chunks"
FILL_T0=$EPOCHREALTIME FILL_RATES=
for ((c = 0; c < FILL_CHUNKS; c++)); do  # chunked, so the table shows how the fill rate depends on the mailbox's size
    t0=$EPOCHREALTIME
    timeout 1200 smtp-source -s 20 -m "$((BIG_MSGS / FILL_CHUNKS))" -l 256 -f bench@source.test -t "big@$DOMAIN" "$SMTP" >"$W/source.log" 2>&1 ||
        { echo "smtp-source failed: $(tail -3 "$W/source.log")"; exit 1; }
    wait_drained "$DB" 1200
    rate=$(awk -v n="$((BIG_MSGS / FILL_CHUNKS))" -v t="$(elapsed "$t0")" 'BEGIN { printf "%.0f", n / t }')
    FILL_RATES+=" $((c * BIG_MSGS / FILL_CHUNKS)):$rate"
    log "fill chunk $((c + 1))/$FILL_CHUNKS (mailbox held $((c * BIG_MSGS / FILL_CHUNKS))): $rate msgs/s accepted and delivered"
done
timeout 60 smtp-source -s 1 -m 1 -l 256 -f bench@source.test -t "one@$DOMAIN" "$SMTP" >/dev/null 2>&1
wait_drained "$DB" 900
FILL_S=$(elapsed "$FILL_T0")
log "filled and drained in $FILL_S s"
OPEN_ONE=$(timeout 300 "$PY" "$LOAD" open "$POP" --user "one@$DOMAIN" --password "$PW" --reps "$OPEN_REPS" --deadline 280)
OPEN_BIG=$(timeout 600 "$PY" "$LOAD" open "$POP" --user "big@$DOMAIN" --password "$PW" --reps "$OPEN_REPS" --deadline 580)
log "open one@: $OPEN_ONE"
log "open big@: $OPEN_BIG"
[ "$(jget "$OPEN_BIG" messages)" = "$BIG_MSGS" ] || { echo "big@ holds $(jget "$OPEN_BIG" messages), not $BIG_MSGS"; exit 1; }
if [ -n "${PROFILE_DIR:-}" ] && command -v perf >/dev/null; then
    # not timed: an extra round of opens of big@ under `perf record`, after the measured ones
    mkdir -p "$PROFILE_DIR"
    perf record -F 999 -g -p "$RELAYD_PID" -o "$W/open.perf.data" -- sleep 20 >/dev/null 2>&1 & PERF_PID=$!
    sleep 1
    timeout 60 "$PY" "$LOAD" open "$POP" --user "big@$DOMAIN" --password "$PW" --reps 15 --deadline 55 >/dev/null || true
    wait "$PERF_PID" || true
    perf report -i "$W/open.perf.data" --no-children --percent-limit 1 --stdio -g none 2>/dev/null >"$PROFILE_DIR/pop3-open-100k.txt" || true
    perf report -i "$W/open.perf.data" --children --percent-limit 3 --stdio -g none 2>/dev/null >"$PROFILE_DIR/pop3-open-100k-children.txt" || true
    log "profile of 15 x (STAT, UIDL, LIST) of big@ in $PROFILE_DIR"
fi

# restarts with the big mailbox present: exec -> greetings, and exec -> first PASS+STAT of big@ answered
RESTART_B= FIRST_OPEN= STOPS=
for ((r = 1; r <= RESTARTS; r++)); do
    relayd_stop; STOPS+=" $STOP_S"
    t0=$EPOCHREALTIME
    relayd_start "$DB"; RESTART_B+=" $READY_S"
    j=$(timeout 300 "$PY" "$LOAD" open "$POP" --user "big@$DOMAIN" --password "$PW" --reps 1 --deadline 280)
    f=$(elapsed "$t0"); FIRST_OPEN+=" $f"
    log "restart $r: ready in $READY_S s (stop took $STOP_S s); first STAT+UIDL+LIST done $f s after exec; $j"
done
RSSB0=$(rss_settled)
rm -f "$W/release"
USERS_SAVED=$USERS; USERS=1; hold "big@$DOMAIN" big; USERS=$USERS_SAVED
RSSB1=$(rss_settled)
touch "$W/release"; wait
RSS_PEAK_B=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$RELAYD_PID/status")
DISK_B=$(du -sm "$DB" | cut -f1)
relayd_stop
log "RSS with big@ open: $RSSB0 -> $RSSB1 kB"

# ==== report ===========================================================================================
export RUNS_S="${RUNS[s]}" RUNS_L="${RUNS[l]}" OPEN_ONE OPEN_BIG
export RSS0 RSS50 RSS100 RSS_AFTER RSS50W RSS_PEAK_A RSSB0 RSSB1 RSS_PEAK_B USERS REPS PROCS SMALL_MSGS LARGE_MSGS BIG_MSGS OPEN_REPS
export START_EMPTY_S RESTART_A_S RESTART_B FIRST_OPEN STOPS FILL_S FILL_RATES FILL_CHUNKS DISK_B
export DATE=$(date -u +%Y-%m-%dT%H:%MZ) LOAD_AFTER=$(loadavg)
export MACHINE="$(machine_facts "$W")"
export VERSION="$("$RELAYD" --version | awk '{print $2}') ($RELAYD, $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))"
export PYVER=$("$PY" -c 'import sys; print(sys.version.split()[0])')
"$PY" - <<'PYEOF' >"$W/section.md"
import json, os, statistics
e = os.environ
def runs(name):
    return [json.loads(l) for l in e[name].splitlines() if l.strip()]
def med(xs): return statistics.median(xs)
def mib(kb): return f"{int(kb) / 1024:.1f}"
users = int(e["USERS"])
print("<!-- pop3-bench:begin -->")
print("## POP3 benchmark (`perf/scripts/pop3-bench.sh`)")
print()
print("Written by `perf/scripts/pop3-bench.sh` (this section is replaced on each run; do not edit the numbers by hand).")
print()
print(f"- Date: {e['DATE']}")
print(f"- Command: `REPS={e['REPS']} USERS={users} SMALL_MSGS={e['SMALL_MSGS']} LARGE_MSGS={e['LARGE_MSGS']} "
      f"BIG_MSGS={e['BIG_MSGS']} FILL_CHUNKS={e['FILL_CHUNKS']} OPEN_REPS={e['OPEN_REPS']} PROCS={e['PROCS']} perf/scripts/pop3-bench.sh` (as root)")
print(f"- Machine: {e['MACHINE']}")
print(f"- Load average before the run: {e.get('LOAD_BEFORE', '?')}, after: {e['LOAD_AFTER']} (shared machine: medians are quoted)")
print(f"- relayd {e['VERSION']}; client `perf/scripts/pop3load.py` (Python {e['PYVER']} asyncio, "
      f"{e['PROCS']} processes, lock-step: one command in flight per session, as mail clients do); "
      "client, server and disk share the 2 cores; loopback in a private network namespace")
print()
print(f"### RETR throughput, {users} concurrent mailboxes (login, STAT, RETR all, QUIT; median of {e['REPS']})")
print()
print("| Messages | per mailbox | messages/run | avg octets (STAT) | messages/s | MB/s | relayd CPU µs/msg | client CPU / wall | all runs (msgs/s) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
for name, label in (("RUNS_S", "~1 KiB"), ("RUNS_L", "~1 MiB")):
    rs = runs(name)
    if not rs:
        continue
    m = sorted(rs, key=lambda r: r["msgs_per_s"])[len(rs) // 2]
    cpu = [r["server_cpu_s"] / r["messages"] * 1e6 for r in rs if r.get("server_cpu_s") is not None]
    print(f"| {label} | {m['messages'] // users} | {m['messages']} | {m['octets'] // m['messages']} | {m['msgs_per_s']:.0f} | "
          f"{m['mb_per_s']:.1f} | {med(cpu):.0f} | {m['client_cpu_s'] / m['wall_s']:.2f} cores | "
          + ", ".join("%.0f" % r["msgs_per_s"] for r in rs) + " |")
print()
print("MB = 10^6 octets of message data (un-stuffed, as STAT counts them); wall time from the common start (all "
      "sessions connected) to the last QUIT answered; relayd CPU = its utime+stime over the run / messages.")
print()
print(f"### Memory per open mailbox (relayd RSS, median of 5 samples; mailboxes of {e['SMALL_MSGS']} and {e['LARGE_MSGS']} messages)")
print()
r0, r50, r100 = int(e["RSS0"]), int(e["RSS50"]), int(e["RSS100"])
print("| Sessions logged in, maildrop open (after STAT) | RSS MiB | per session vs 0 |")
print("|---|---:|---:|")
print(f"| 0 (fresh process after restart) | {mib(r0)} | |")
print(f"| {users} (mailboxes of {e['SMALL_MSGS']} messages) | {mib(r50)} | {(r50 - r0) / users:.0f} KiB |")
print(f"| {2 * users} (+ {users} mailboxes of {e['LARGE_MSGS']} messages) | {mib(r100)} | {(r100 - r0) / (2 * users):.0f} KiB |")
print(f"| 0 again (all QUIT) | {mib(e['RSS_AFTER'])} | |")
print(f"| {users} again, on the warm process | {mib(e['RSS50W'])} | {(int(e['RSS50W']) - int(e['RSS_AFTER'])) / users:.0f} KiB (vs the row above) |")
print(f"| 1, the {int(e['BIG_MSGS']):,}-message mailbox (0 before: {mib(e['RSSB0'])} MiB) | {mib(e['RSSB1'])} | {int(e['RSSB1']) - int(e['RSSB0'])} KiB |")
print()
print(f"Peak RSS (VmHWM): {mib(e['RSS_PEAK_A'])} MiB over the throughput runs, {mib(e['RSS_PEAK_B'])} MiB in the big-mailbox part.")
print()
ob, oo = json.loads(e["OPEN_BIG"]), json.loads(e["OPEN_ONE"])
print(f"### A mailbox of {ob['messages']:,} messages (~{256} octets each + headers); target: opens (STAT/UIDL) in < 100 ms")
print()
print(f"Client-side times, each a fresh session (USER sent, then clock from PASS), median of {ob['reps']}:")
print()
print("| Mailbox | PASS answered | PASS → STAT answered | PASS → full UIDL received | PASS → full LIST received |")
print("|---|---:|---:|---:|---:|")
for label, o in ((f"{ob['messages']:,} messages", ob), (f"{oo['messages']} message (baseline)", oo)):
    print(f"| {label} | {o['pass_median_ms']:.1f} ms | {o['stat_median_ms']:.1f} ms | {o['uidl_median_ms']:.1f} ms | {o['list_median_ms']:.1f} ms |")
print()
print(f"All samples (ms), big mailbox: STAT {ob['stat_ms']}; UIDL {ob['uidl_ms']}; LIST {ob['list_ms']}. "
      f"[IN-USE] retries (lock not yet released after the previous QUIT): {ob['in_use_retries'] + oo['in_use_retries']}.")
t_stat, t_uidl = ob["stat_median_ms"], ob["uidl_median_ms"]
print()
print(f"Target: STAT {'met' if t_stat < 100 else '**missed**'} ({t_stat:.1f} ms), "
      f"UIDL {'met' if t_uidl < 100 else '**missed**'} ({t_uidl:.1f} ms).")
print()
rb = [float(x) for x in e["RESTART_B"].split()]
fo = [float(x) for x in e["FIRST_OPEN"].split()]
st = [float(x) for x in e["STOPS"].split()]
print("### Start and restart (exec → POP3 and SMTP greeting, polled every 10 ms)")
print()
print("| Data directory | seconds |")
print("|---|---:|")
print(f"| users only, empty spool | {float(e['START_EMPTY_S']):.2f} |")
print(f"| {users} × {e['SMALL_MSGS']} + {users} × {e['LARGE_MSGS']} messages (~{users * int(e['LARGE_MSGS'])} MiB in mailboxes) | {float(e['RESTART_A_S']):.2f} |")
print(f"| {ob['messages']:,}-message mailbox ({e['DISK_B']} MB on disk), median of {len(rb)} | {med(rb):.2f} (runs: {', '.join(f'{x:.2f}' for x in rb)}) |")
print(f"| same, exec → first STAT+UIDL+LIST of it done | {med(fo):.2f} (runs: {', '.join(f'{x:.2f}' for x in fo)}) |")
print()
print(f"SIGTERM → exit with the big mailbox: median {med(st):.2f} s.")
print()
print(f"Filling the big mailbox (smtp-source -s 20 -l 256, then waiting for local delivery to empty the queue) took "
      f"{float(e['FILL_S']):.0f} s, in {e['FILL_CHUNKS']} chunks:")
print()
print("| messages already in the mailbox | accepted + delivered msgs/s |")
print("|---:|---:|")
for pair in e["FILL_RATES"].split():
    held, rate = pair.split(":")
    print(f"| {int(held):,} | {rate} |")
print("<!-- pop3-bench:end -->")
PYEOF
results_replace pop3-bench "$W/section.md" "$OUT"
cat "$W/section.md"
