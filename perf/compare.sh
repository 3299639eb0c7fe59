#!/usr/bin/env bash
# The side-by-side benchmark (issue 5): one machine, one run, the same load generators against
#   ceiling  smtp-sink and `relayd sink` (protocol only, nothing written);
#   ingest   relayd (durable before 250, delivery off) and a private stock Postfix (cleanup fsync, then discard);
#   e2e      relay (relayd / Postfix) -> MX of remote.test from dnsmasq on 127.0.0.1:53 -> smtp-sink on 127.0.0.50:25,
#            clock stopped when the sink has counted every message;
# for 1 KiB and 100 KiB messages, one message per connection (`smtp-source -s SESSIONS`) and many per connection
# (`relayd load --per-connection PER_CONN --concurrency SESSIONS`, for every system alike: smtp-source cannot reuse a
# connection for a new message). p99 time-to-250 comes from `relayd load` (its JSON): the many-per-connection runs,
# and for the one-per-connection scenarios one extra `relayd load --per-connection 1` pass per system.
#
#   perf/compare.sh [path/to/relayd]        (root; default: artifacts/relayd)
#   env: REPS=3 MESSAGES=5000 LARGE_MESSAGES=MESSAGES/10 SESSIONS=50 PER_CONN=100 PER_CONN_LARGE=10 P99_MESSAGES=MESSAGES/2
#        POSTFIX_MESSAGES=MESSAGES POSTFIX_LARGE_MESSAGES=LARGE_MESSAGES (Postfix is 5-40 times slower: fewer messages
#        keep its runs as long as the others' instead of many times longer; a rate is a rate once a run lasts seconds)
#        (relayd load opens messages/per-connection connections in all, at most SESSIONS at once: 2000 messages of
#        100 KiB at 10 per connection keep 50 sessions busy, at 100 per connection only 20)
#        P99_PASS=1 (0: no extra relayd load pass for the p99 of the 1/conn scenarios) SETTLE=1 (s after start-up)
#        RELAYD_LOG=Information RUN_TIMEOUT=300 OUT=perf/RESULTS.md
#        SMTP_SOURCE_TUNABLES=glibc.malloc.trim_threshold=67108864 (perf/scripts/lib.sh; empty: smtp-source as shipped)
#        QUICK=1: smoke test, 200 / 40 messages, 1 rep, no p99 pass (each can still be set), about 2-3 minutes
#
# Isolation: runs itself in fresh network and mount namespaces (unshare -n -m): only lo, every address 127.0.0.x;
# /etc/resolv.conf is bind-mounted (in the private mount namespace only) to "nameserver 127.0.0.1" where dnsmasq
# answers, and relayd is always given --Dns:Servers:0=127.0.0.1:53. Every run is bounded by RUN_TIMEOUT; every
# process started is killed on exit (trap), also on failure. Writes the <!-- compare --> section of $OUT.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/perf/scripts/lib.sh"
RELAYD=$(readlink -f "${1:-$REPO/artifacts/relayd}")
if [ "${QUICK:-0}" = 1 ]; then
    REPS=${REPS:-1} MESSAGES=${MESSAGES:-200} LARGE_MESSAGES=${LARGE_MESSAGES:-40} P99_PASS=${P99_PASS:-0} RUN_TIMEOUT=${RUN_TIMEOUT:-60} SETTLE=${SETTLE:-0.2}
fi
REPS=${REPS:-3} MESSAGES=${MESSAGES:-5000} SESSIONS=${SESSIONS:-50} PER_CONN=${PER_CONN:-100} PER_CONN_LARGE=${PER_CONN_LARGE:-10}
LARGE_MESSAGES=${LARGE_MESSAGES:-$((MESSAGES / 10))} P99_MESSAGES=${P99_MESSAGES:-$((MESSAGES / 2))}
POSTFIX_MESSAGES=${POSTFIX_MESSAGES:-$MESSAGES} POSTFIX_LARGE_MESSAGES=${POSTFIX_LARGE_MESSAGES:-$LARGE_MESSAGES}
RELAYD_LOG=${RELAYD_LOG:-Information} RUN_TIMEOUT=${RUN_TIMEOUT:-300} P99_PASS=${P99_PASS:-1} SETTLE=${SETTLE:-1}
OUT=${OUT:-$REPO/perf/RESULTS.md}

if [ "${BENCH_IN_NETNS:-}" != 1 ]; then
    require_root "namespaces, Postfix instance"
    require_tools smtp-source smtp-sink postfix postconf dnsmasq python3 unshare ip mount dd timeout
    require_relayd "$RELAYD"
    CMDLINE="$(env | grep -E '^(SMTP_SOURCE_TUNABLES|QUICK|REPS|MESSAGES|LARGE_MESSAGES|POSTFIX_MESSAGES|POSTFIX_LARGE_MESSAGES|SESSIONS|PER_CONN|PER_CONN_LARGE|P99_MESSAGES|P99_PASS|SETTLE|RELAYD_LOG|RUN_TIMEOUT)=' | sort | tr '\n' ' ' || true)perf/compare.sh${1:+ $1}"
    exec unshare -n -m env BENCH_IN_NETNS=1 CMDLINE="$CMDLINE" LOAD_BEFORE="$(loadavg)" bash "$0" "$@"
fi
ip link set lo up
[ -z "${TRACE:-}" ] || { PS4='+ $(date +%T.%N | cut -c1-12) '; set -x; }  # TRACE=1: timestamped xtrace
ip addr add 127.0.0.30/32 dev lo  # Postfix wants inet_interfaces to be an interface address

W=$(mktemp -d /tmp/compare.XXXXXX)
chmod 755 "$W"  # the Postfix daemons (user postfix) must reach their queue below it
PIDS=()
PF=$W/postfix
cleanup() {
    pf_stop "$PF" 2>/dev/null || true
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    sleep 0.3
    rm -rf "$W"
}
trap cleanup EXIT
trap 'echo "compare.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
log() { echo "[$(date +%T) load $(cut -d' ' -f1 /proc/loadavg)] $*" >&2; }
T_START=$SECONDS

SINK=127.0.0.20:2525 RSINK=127.0.0.21:2525 POSTFIX=127.0.0.30:2525 RELAY=127.0.0.40:2525
MX_IP=127.0.0.50 DOMAIN=remote.test
DNS=127.0.0.1:53

private_resolv_conf "$W"
dnsmasq_start "$W" "$DOMAIN" "$MX_IP"
PIDS+=("$DNSMASQ_PID"); disown "$DNSMASQ_PID"

DISK_BEFORE=$(disk_bw "$W")
log "disk: $DISK_BEFORE MB/s sequential O_DIRECT|O_DSYNC 1 MiB writes in $W"

# --- the systems under test: start_SYSTEM sets ROOT (the process tree to measure) and ADDR ---------------------
bg() { "$@" & local p=$!; PIDS+=("$p"); disown "$p"; LAST_PID=$p; }
E2E_SINK_PID=
e2e_sink_start() {
    bg smtp-sink -u nobody -c -m 1000 "$MX_IP:25" 1024 >"$W/e2e-sink.out" 2>"$W/e2e-sink.err"
    E2E_SINK_PID=$LAST_PID
    wait_banner "$MX_IP" 25
}
relayd_run() {  # ADDR extra args...: fresh data directory
    local addr=$1; shift
    rm -rf "$W/relayd"
    bg "$RELAYD" run --Relay:DataDirectory="$W/relayd" --Smtp:Listen:0="$addr" --Relay:Hostname=bench-relayd.example.test \
        --Smtp:MaxConnectionsPerClient=200 --Dns:Servers:0=$DNS --Log:Level="$RELAYD_LOG" "$@" >"$W/relayd.log" 2>&1
    ROOT=$LAST_PID ADDR=$addr
    wait_banner "${addr%:*}" "${addr#*:}"
}
start_system() {  # SYSTEM PATH
    case $1/$2 in
        smtp-sink/ceiling) bg smtp-sink -u nobody -m 1000 "$SINK" 1024 >"$W/sink.log" 2>&1; ROOT=$LAST_PID ADDR=$SINK; wait_banner ${SINK/:/ } ;;
        relayd-sink/ceiling) bg "$RELAYD" sink --listen "$RSINK" >"$W/rsink.out" 2>"$W/rsink.err"; ROOT=$LAST_PID ADDR=$RSINK; wait_banner ${RSINK/:/ } ;;
        relayd/ingest) relayd_run "$RELAY" --Relay:LocalDomains:0=localhost --Relay:RelayDomains:0=example.test --Delivery:Enabled=false ;;
        relayd/e2e) e2e_sink_start; relayd_run "$RELAY" --Relay:LocalDomains:0=example.test --Delivery:MxPort=25 ;;
        postfix/ingest | postfix/e2e)
            rm -rf "$PF"
            [ "$2" = e2e ] && { e2e_sink_start; pf_config "$PF" "$POSTFIX" smtp "${POSTFIX%:*}"; } || pf_config "$PF" "$POSTFIX" discard "${POSTFIX%:*}"
            pf_start "$PF" "$POSTFIX"; ROOT=$PF_MASTER ADDR=$POSTFIX ;;
    esac
}
stop_system() {  # SYSTEM PATH
    case $1 in
        postfix) pf_stop "$PF" ;;
        *) kill -TERM "$ROOT" 2>/dev/null || true; timeout 30 tail --pid="$ROOT" -f /dev/null || kill -9 "$ROOT" 2>/dev/null || true ;;
    esac
    [ -z "$E2E_SINK_PID" ] || { kill "$E2E_SINK_PID" 2>/dev/null || true; E2E_SINK_PID=; }
}
relayd_queued() {
    timeout 60 "$RELAYD" queue stats --json --Relay:DataDirectory="$W/relayd" --Log:Level=Warning 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])' 2>/dev/null || echo "?"
}
jfield() { python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d = d[k]
print(d)' "$1" "$2" 2>/dev/null || echo fail; }

# run_case SYSTEM PATH SIZE GEN MSGS: one fresh system, one generator run. GEN = source (smtp-source -s SESSIONS,
# one message per connection) | loadN (relayd load, N messages per connection). Prints
# "msgs_per_s cpu_s_per_1000 peak_rss_mib peak_pss_mib p99_ms gen_cpu_s_per_1000" (fields "fail" when not measurable).
# The generator's CPU (user + system, from bash's `time`) is reported because it shares the cores with the system under
# test: at one message per connection the rate follows the CPU of both (perf/RESULTS.md item 19).
run_case() {
    local system=$1 path=$2 size=$3 gen=$4 msgs=$5 to=user@example.test t0 t1 t_end= cpu0 cpu1 n ok=1 p99=- rss pss mem
    local TIMEFORMAT='%U %S' gen_user gen_sys
    [ "$path" = e2e ] && to=user@$DOMAIN
    start_system "$system" "$path"
    [ "$path" != e2e ] || sink_watch "$W/e2e-sink.out" "$msgs" $((RUN_TIMEOUT + 30)) "$W/t_end"
    sleep "$SETTLE"  # let start-up settle before the CPU baseline
    read -r cpu0 _ < <(tree_stat "$ROOT")
    tree_sample "$ROOT" "$W/mem" $((RUN_TIMEOUT + 60))
    t0=$(now)
    if [ "$gen" = source ]; then
        { time timeout "$RUN_TIMEOUT" "${SMTP_SOURCE[@]}" -s "$SESSIONS" -m "$msgs" -l "$size" -f bench@source.test -t "$to" \
            "$ADDR" >"$W/gen.log" 2>&1; } 2>"$W/gen.time" || { ok=0; echo "    smtp-source failed: $(tail -2 "$W/gen.log" | tr '\n' ' ')" >&2; }
        t1=$(now)
    else
        rm -f "$W/load.json"
        { time timeout $((RUN_TIMEOUT + 30)) "$RELAYD" load --target "$ADDR" --messages "$msgs" --duration "${RUN_TIMEOUT}s" \
            --concurrency "$SESSIONS" --per-connection "${gen#load}" --size "$size" --from bench@source.test --to "$to" \
            --json "$W/load.json" >"$W/gen.log" 2>&1; } 2>"$W/gen.time" || { ok=0; echo "    relayd load failed: $(tail -3 "$W/gen.log" | tr '\n' ' ')" >&2; }
        t1=$(now)
        n=$(jfield "$W/load.json" totals.accepted)
        [ "$n" = "$msgs" ] || { ok=0; echo "    relayd load: $n of $msgs accepted ($(grep -m1 errors "$W/gen.log" || true))" >&2; }
        p99=$(jfield "$W/load.json" latency_ms.time_to_250.p99)
    fi
    if [ "$path" = e2e ]; then  # completion = the sink counted every message
        if sink_watch_wait; then
            t_end=$(<"$W/t_end")
        else
            ok=0; echo "    $system e2e: sink has $(sink_count "$W/e2e-sink.out") of $msgs after ${RUN_TIMEOUT}s" >&2
        fi
    else
        t_end=$t1
    fi
    read -r cpu1 _ < <(tree_stat "$ROOT")
    tree_sample_stop
    read -r rss pss <"$W/mem" || true
    if [ "$system" != postfix ]; then rss=$(vm_hwm_kb "$ROOT"); fi
    if [ "$system/$path" = relayd/ingest ]; then  # a rate only counts if every message really is in the spool
        n=$(relayd_queued)
        [ "$n" = "$msgs" ] || { ok=0; echo "    relayd queued $n of $msgs" >&2; }
    fi
    stop_system "$system" "$path"
    if [ $ok = 1 ]; then
        read -r gen_user gen_sys <"$W/gen.time"
        calc "f'{$msgs / ($t_end - $t0):.0f} {($cpu1 - $cpu0) * 1000 / $msgs:.2f} {${rss:-0} / 1024:.0f} {${pss:-0} / 1024:.0f} $p99 {($gen_user + $gen_sys) * 1000 / $msgs:.2f}'"
    else
        echo "fail fail fail fail $p99 fail"
    fi
}

# --- the runs: per scenario, rounds over all systems (so outside load hits them alike), REPS rounds -----------
# ONLY=REGEX runs just the cases whose "system path size generator" matches (e.g. ONLY='e2e 102400 source'), and
# then leaves $OUT alone: a partial table is for iterating, not for the record.
selected() { [ -z "${ONLY:-}" ] || [[ $1 =~ $ONLY ]]; }
[ -z "${ONLY:-}" ] || OUT=/dev/null
SYSTEMS=("smtp-sink ceiling" "relayd-sink ceiling" "postfix ingest" "relayd ingest" "postfix e2e" "relayd e2e")
RUNS=$W/runs.tsv; : >"$RUNS"
for size in 1024 102400; do
    msgs=$MESSAGES; [ $size = 1024 ] || msgs=$LARGE_MESSAGES
    pc=$PER_CONN; [ $size = 1024 ] || pc=$PER_CONN_LARGE
    for gen in source load$pc; do
        for ((r = 1; r <= REPS; r++)); do
            for sp in "${SYSTEMS[@]}"; do
                read -r system path <<<"$sp"
                selected "$system $path $size $gen" || continue
                n=$msgs; [ "$system" != postfix ] || { n=$POSTFIX_MESSAGES; [ $size = 1024 ] || n=$POSTFIX_LARGE_MESSAGES; }
                line=$(run_case "$system" "$path" $size $gen "$n")
                log "$system $path $size B $gen $n msgs run $r: $line"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$path" $size $gen "$n" "$r" "$line" >>"$RUNS"
            done
        done
        if [ $gen = source ] && [ "$P99_PASS" = 1 ]; then  # p99 time-to-250 for the one-per-connection scenario: one relayd load pass
            p99msgs=$P99_MESSAGES; [ $size = 1024 ] || p99msgs=$(( (P99_MESSAGES + 9) / 10 ))
            for sp in "${SYSTEMS[@]}"; do
                read -r system path <<<"$sp"
                selected "$system $path $size p99" || continue
                line=$(run_case "$system" "$path" $size load1 "$p99msgs")
                log "$system $path $size B p99 pass (relayd load --per-connection 1, $p99msgs msgs): $line"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$path" $size p99 "$p99msgs" 1 "$line" >>"$RUNS"
            done
        fi
    done
done
DISK_AFTER=$(disk_bw "$W")
LOAD_AFTER=$(loadavg)
ELAPSED=$((SECONDS - T_START))

# --- the table ----------------------------------------------------------------------------------------------
export RUNS REPS SESSIONS PER_CONN PER_CONN_LARGE DISK_BEFORE DISK_AFTER CMDLINE LOAD_BEFORE LOAD_AFTER ELAPSED RELAYD_LOG SMTP_SOURCE_TUNABLES
export DATE=$(date -u +%Y-%m-%dT%H:%MZ) MACHINE="$(machine_facts "$W")"
export VERSION="$("$RELAYD" --version | awk '{print $2}') ($RELAYD, $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))"
export PFVER=$(postconf -d -h mail_version)
python3 - >"$W/section.md" <<'PYEOF'
import os, statistics
e = os.environ
rows = [l.rstrip("\n").split("\t") for l in open(e["RUNS"]) if l.strip()]
runs = {}   # (system, path, size, gen) -> list of [rate, cpu, rss, pss, p99]
msgs = {}
for system, path, size, gen, n, rep, line in rows:
    runs.setdefault((system, path, int(size), gen), []).append(line.split())
    msgs[(system, path, int(size), gen)] = int(n)
def num(v):
    try: return float(v)
    except ValueError: return None
def med(key, col):
    vals = [num(r[col]) for r in runs.get(key, []) if num(r[col]) is not None]
    return statistics.median(vals) if vals else None
def fmt(v, d=0):
    return "fail" if v is None else f"{v:.{d}f}"
def rat(a, b):
    return "n/a" if a is None or not b else f"{a / b:.2f}"
label = {"smtp-sink": "smtp-sink", "relayd-sink": "relayd sink", "postfix": "Postfix", "relayd": "relayd"}
pathl = {"ceiling": "ceiling (no disk)", "ingest": "durable ingest", "e2e": "end-to-end relay"}
systems = [("smtp-sink", "ceiling"), ("relayd-sink", "ceiling"), ("postfix", "ingest"), ("relayd", "ingest"), ("postfix", "e2e"), ("relayd", "e2e")]
per, perl = e["PER_CONN"], e["PER_CONN_LARGE"]
def gens_of(size):
    pc = per if size == 1024 else perl
    return [("source", "1", "smtp-source"), (f"load{pc}", pc, "relayd load")]
gens = gens_of(1024)
out = []
P = out.append
P("<!-- compare:begin -->")
P("# Side by side: relayd, Postfix, smtp-sink (`perf/compare.sh`)")
P("")
P("Written by `perf/compare.sh` (this section is replaced on each run; do not edit the numbers by hand).")
P("")
P(f"- Date: {e['DATE']}; the whole run took {int(e['ELAPSED']) // 60} min {int(e['ELAPSED']) % 60} s")
P(f"- Command: `{e['CMDLINE']}` (as root)")
P(f"- Machine: {e['MACHINE']}")
P(f"- Load average before: {e['LOAD_BEFORE']}, after: {e['LOAD_AFTER']} (shared machine: other engineers' builds run alongside;"
  " load generator, system under test, sink and dnsmasq share the same cores; systems are interleaved in rounds)")
P(f"- Disk: sequential durable write (`dd bs=1M count=256 oflag=direct,dsync`, in the spools' directory): {e['DISK_BEFORE']} MB/s before, {e['DISK_AFTER']} MB/s after")
P(f"- relayd {e['VERSION']}, `Log:Level={e['RELAYD_LOG']}`; Postfix {e['PFVER']} private instance, stock settings (fsync; ingest: discard transport;"
  " end-to-end: `default_transport = smtp` with DNS MX lookups); fresh process, spool and queue for every run")
tun = e.get("SMTP_SOURCE_TUNABLES", "")
P(f"- Generators: **1/conn** = `smtp-source -s {e['SESSIONS']} -m N -l SIZE` (one message per connection"
  + (f"; `GLIBC_TUNABLES={tun}`: heap trimming off, perf/scripts/lib.sh" if tun else "; glibc's malloc as shipped") + "); **many/conn** = "
  f"`relayd load --concurrency {e['SESSIONS']} --per-connection {per}` (1 KiB) or `{perl}` (100 KiB, so that {e['SESSIONS']} sessions stay busy) for every system alike"
  " (smtp-source cannot send several messages per connection);"
  " p99 time-to-250 (end of DATA → 250) from `relayd load`'s JSON: the many/conn runs, and for 1/conn one extra `relayd load --per-connection 1` pass per system")
P("")
P("| System | Path | Size | msgs/conn | messages | msgs/s (median) | CPU s / 1000 msgs | generator CPU s / 1000 msgs | peak RSS MiB | p99 time-to-250 ms | relayd / Postfix | relayd / smtp-sink | all runs msgs/s |")
P("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for size in (1024, 102400):
    for gen, pc, gname in gens_of(size):
        for system, path in systems:
            key = (system, path, size, gen)
            if key not in runs:
                continue
            rate, cpu, rss, pss, gen_cpu = med(key, 0), med(key, 1), med(key, 2), med(key, 3), med(key, 5)
            p99_key = (system, path, size, "p99") if gen == "source" else key
            p99 = fmt(med(p99_key, 4), 2) if p99_key in runs else "-"  # P99_PASS=0: no pass, nothing to show
            sink = med(("smtp-sink", "ceiling", size, gen), 0)
            pf = med(("postfix", path, size, gen), 0)
            r_pf = rat(rate, pf) if system == "relayd" else ""
            r_sink = rat(rate, sink) if system in ("relayd", "relayd-sink") else ""
            rss_s = fmt(rss) + (f" (PSS {fmt(pss)})" if system == "postfix" else "")
            allr = " ".join(r[0] for r in runs[key])
            P(f"| {label[system]} | {pathl[path]} | {size // 1024} KiB | {pc} | {msgs[key]} | **{fmt(rate)}** | {fmt(cpu, 2)} | {fmt(gen_cpu, 2)} | {rss_s} | {p99} | {r_pf} | {r_sink} | {allr} |")
P("")
P("Columns: *msgs/s* = messages / (generator start → generator done; end-to-end: → smtp-sink counted the last message),"
  f" median of {e['REPS']}; *CPU* = utime+stime of the whole process tree of the system under test from /proc"
  " (Postfix: master + all daemons incl. reaped ones; not the generator, not the end-to-end sink), from after start-up until the"
  " generator finished (end-to-end: until the last message reached the sink); *generator CPU* = user+system CPU of the load generator"
  " itself (smtp-source or relayd load, from bash's `time`), which shares the two cores with the system under test (perf/RESULTS.md item 19); *peak RSS* = VmHWM for one-process systems,"
  " Postfix: peak of the summed VmRSS over its processes sampled every 0.5 s (shared pages counted per process; PSS beside it);"
  " medians of the runs. *relayd / Postfix* and *relayd / smtp-sink* compare msgs/s of the same size and generator in this run.")
# targets
def g(system, path, size, gen, col=0): return med((system, path, size, gen), col)
P("")
P("Targets of issue 5 (medians above; ✔ held, ✘ missed):")
P("")
def mark(ok): return "✘ (n/a)" if ok is None else ("✔" if ok else "✘")
lines = []
for gen, pc, _ in gens:
    ri, si, pi = g("relayd", "ingest", 1024, gen), g("smtp-sink", "ceiling", 1024, gen), g("postfix", "ingest", 1024, gen)
    ok = None if None in (ri, si, pi) else (ri >= 0.8 * si and ri >= 5 * pi)
    P(f"- durable ingest 1 KiB, {e['SESSIONS']} sessions, {pc}/conn: relayd {fmt(ri)} msgs/s = {rat(ri, si)} × smtp-sink (≥ 0.80) and {rat(ri, pi)} × Postfix (≥ 5): {mark(ok)}")
for size in (1024, 102400):
    for gen, pc, _ in gens_of(size):
        re_, pe = g("relayd", "e2e", size, gen), g("postfix", "e2e", size, gen)
        P(f"- end-to-end {size // 1024} KiB, {pc}/conn: relayd {fmt(re_)} vs Postfix {fmt(pe)} msgs/s = {rat(re_, pe)} × (≥ 5): {mark(None if None in (re_, pe) else re_ >= 5 * pe)}")
disk = min(float(e["DISK_BEFORE"] or 0), float(e["DISK_AFTER"] or 0)) or None
for gen, pc, _ in gens_of(102400):
    ri, si = g("relayd", "ingest", 102400, gen), g("smtp-sink", "ceiling", 102400, gen)
    mbs = None if ri is None else ri * 102400 / 1e6
    ok = None if mbs is None else (disk is not None and mbs >= 0.8 * disk) or (si is not None and ri >= 0.8 * si)
    P(f"- durable ingest 100 KiB, {pc}/conn: relayd {fmt(mbs, 1)} MB/s = {rat(mbs, disk)} × the disk's durable sequential write (lower of {e['DISK_BEFORE']}/{e['DISK_AFTER']} MB/s) and {rat(ri, si)} × smtp-sink (≥ 0.80 of either): {mark(ok)}")
for path in ("ingest", "e2e"):
    for size in (1024, 102400):
        for gen, pc, _ in gens_of(size):
            rc, pc_ = g("relayd", path, size, gen, 1), g("postfix", path, size, gen, 1)
            P(f"- CPU per message, {pathl[path]} {size // 1024} KiB {pc}/conn: Postfix {fmt(pc_, 2)} / relayd {fmt(rc, 2)} s per 1000 = {rat(pc_, rc)} × lower (≥ 5): {mark(None if None in (rc, pc_) else pc_ >= 5 * rc)}")
peak = max([v for v in (g("relayd", p, s, gn, 2) for p in ("ingest", "e2e") for s in (1024, 102400) for gn, _, _ in gens_of(s)) if v is not None], default=None)
P(f"- relayd peak RSS under load (largest median VmHWM over its rows): {fmt(peak)} MiB (< 200): {mark(None if peak is None else peak < 200)}")
P("<!-- compare:end -->")
print("\n".join(out))
PYEOF
results_replace compare "$W/section.md" "$OUT"
cat "$W/section.md"
log "done in $ELAPSED s; all runs: $(wc -l <"$RUNS") (raw lines below)"
cat "$RUNS" >&2
