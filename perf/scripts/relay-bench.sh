#!/usr/bin/env bash
# End-to-end relay benchmark: smtp-source -> relay -> (MX from dnsmasq) -> smtp-sink, for relayd and for a
# private stock Postfix (fsync as shipped, its real smtp client doing DNS MX lookups), same sink, same run.
#
#   perf/scripts/relay-bench.sh [path/to/relayd]      (root; default: artifacts/relayd)
#   env: REPS=3 SESSIONS=50 SMALL_MSGS=20000 SMALL_SIZE=1024 LARGE_MSGS=2000 LARGE_SIZE=102400
#        RELAYD_LOG=Information DNS_TTL=300 DRAIN_TIMEOUT=900 OUT=perf/RESULTS.md
#
# One run = fresh sink + fresh relay (new spool/queue); the clock starts right before smtp-source and stops
# when the sink has counted every message AND the relay's queue is empty (relayd: `relayd queue stats --json`
# over the admin socket; Postfix: no file left in incoming/active/deferred/hold/maildrop). Runs alternate
# relayd/Postfix so that load from other work on the machine hits both alike; figures are medians of REPS.
#
# Isolation: runs itself in fresh network + mount namespaces (unshare -n -m). Every address is 127.0.0.x,
# /etc/resolv.conf is bind-mounted (in the private mount namespace only) to "nameserver 127.0.0.1" where
# dnsmasq answers, so neither relay can reach this machine's real resolver (there is no route off lo either).
# Every load step is bounded by a timeout. Writes a section between relay-bench markers in $OUT.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$REPO/perf/scripts/lib.sh"
RELAYD=$(readlink -f "${1:-$REPO/artifacts/relayd}")
REPS=${REPS:-3} SESSIONS=${SESSIONS:-50}
SMALL_MSGS=${SMALL_MSGS:-20000} SMALL_SIZE=${SMALL_SIZE:-1024}
LARGE_MSGS=${LARGE_MSGS:-2000} LARGE_SIZE=${LARGE_SIZE:-102400}
RELAYD_LOG=${RELAYD_LOG:-Information} DNS_TTL=${DNS_TTL:-300}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-900}   # seconds from first injection until everything must be at the sink
OUT=${OUT:-$REPO/perf/RESULTS.md}

if [ "${BENCH_IN_NETNS:-}" != 1 ]; then
    require_root "namespaces, Postfix instance"
    require_tools smtp-source smtp-sink postfix postconf dnsmasq python3 unshare ip mount dd
    require_relayd "$RELAYD"
    CMDLINE="$(env | grep -E '^(REPS|SESSIONS|SMALL_MSGS|SMALL_SIZE|LARGE_MSGS|LARGE_SIZE|RELAYD_LOG|DNS_TTL)=' | sort | tr '\n' ' ' || true)perf/scripts/relay-bench.sh${1:+ $1}"
    exec unshare -n -m env BENCH_IN_NETNS=1 CMDLINE="$CMDLINE" LOAD_BEFORE="$(loadavg)" bash "$0" "$@"
fi
ip link set lo up
ip addr add 127.0.0.30/32 dev lo  # Postfix insists that inet_interfaces is an interface address

W=$(mktemp -d /tmp/relay-bench.XXXXXX)
chmod 755 "$W"  # the Postfix daemons (user postfix) must reach their queue below it
PIDS=()
PF=$W/postfix
cleanup() {
    pf_stop "$PF"
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    sleep 0.5
    rm -rf "$W"
}
trap cleanup EXIT

SINK_IP=127.0.0.50 POSTFIX=127.0.0.30:2525 RELAY=127.0.0.40:2525 DOMAIN=remote.test

# --- DNS: private resolv.conf (this mount namespace only) and dnsmasq on 127.0.0.1:53 -----------------
private_resolv_conf "$W"
dnsmasq_start "$W" $DOMAIN $SINK_IP "$DNS_TTL"
PIDS+=("$DNSMASQ_PID"); disown "$DNSMASQ_PID"

# --- the sink: smtp-sink on port 25 (the MX port), counting messages ("mesg=N") on stdout --------------
SINK_PID=
sink_start() {
    smtp-sink -u nobody -c -m 1000 "$SINK_IP:25" 1024 >"$W/sink.out" 2>"$W/sink.err" &
    SINK_PID=$!; PIDS+=("$SINK_PID"); disown "$SINK_PID"
    wait_banner $SINK_IP 25
}
sink_stop() { kill "$SINK_PID" 2>/dev/null || true; }

# --- relayd -------------------------------------------------------------------------------------------
RELAYD_PID=
relayd_start() {
    rm -rf "$W/relayd"
    "$RELAYD" run --Relay:DataDirectory="$W/relayd" --Smtp:Listen:0=$RELAY --Relay:Hostname=bench-relayd.example.test \
        --Relay:LocalDomains:0=example.test --Smtp:MaxConnectionsPerClient=200 \
        --Dns:Servers:0=127.0.0.1:53 --Delivery:MxPort=25 --Log:Level="$RELAYD_LOG" >"$W/relayd.log" 2>&1 &
    RELAYD_PID=$!; PIDS+=("$RELAYD_PID"); disown "$RELAYD_PID"
    wait_banner ${RELAY/:/ }
}
relayd_stop() { kill -TERM "$RELAYD_PID"; timeout 30 tail --pid="$RELAYD_PID" -f /dev/null || kill -9 "$RELAYD_PID"; }
relayd_queued() {
    timeout 20 "$RELAYD" queue stats --json --Relay:DataDirectory="$W/relayd" --Log:Level=Warning 2>/dev/null |
        grep -o '"messages":[0-9]*' | cut -d: -f2 || true
}

# --- a private stock Postfix: own config and queue under $W, default_transport smtp (DNS MX) ------------
# Stock settings except what makes it a private loopback instance (perf/scripts/lib.sh, pf_config): its own queue,
# inet_interfaces on one loopback address (so the MX host 127.0.0.50 is not "myself"), no reverse lookups of clients
# (as in ingest-bench.sh), relaying allowed for 127.0.0.0/8 (default mynetworks behaviour), log to a file;
# default_transport smtp = the real SMTP client with DNS MX lookups.
postfix_start() {
    rm -rf "$PF"
    pf_config "$PF" "$POSTFIX" smtp "${POSTFIX%:*}"
    pf_start "$PF" "$POSTFIX" || exit 1
}
postfix_stop() { pf_stop "$PF"; }
postfix_queued() { pf_queued "$PF"; }  # files left in any queue (0 = empty)

# run_one TARGET MSGS SIZE: one end-to-end run; prints
#   "e2e_msgs_per_s inject_msgs_per_s cpu_s_per_1000 peak_rss_mb peak_pss_mb disk_kib_per_msg dns_cpu_s sink_to_empty_s"
# or "fail ..." (reason on stderr).
run_one() {
    local target=$1 msgs=$2 size=$3 root queued t0 t_inj t_sink= t_end= n end cpu0 cpu1 w0 w1 dns0 dns1 mem
    sink_start
    if [ "$target" = relayd ]; then relayd_start; root=$RELAYD_PID; addr=$RELAY
    else postfix_start; root=$PF_MASTER; addr=$POSTFIX; fi
    sleep 1  # let start-up work settle before the CPU baseline
    tree_sample "$root" "$W/mem" "$DRAIN_TIMEOUT" 0.5
    read -r cpu0 w0 _ < <(tree_stat "$root")
    read -r dns0 _ < <(tree_stat "$DNSMASQ_PID")
    sink_watch "$W/sink.out" "$msgs" "$DRAIN_TIMEOUT" "$W/t_sink"
    t0=$(now)
    end=$((SECONDS + DRAIN_TIMEOUT))
    if ! timeout "$DRAIN_TIMEOUT" smtp-source -s "$SESSIONS" -m "$msgs" -l "$size" -f bench@source.test \
        -t user@$DOMAIN "$addr" >"$W/source.log" 2>&1; then
        echo "smtp-source against $target failed: $(tail -2 "$W/source.log")" >&2
    fi
    t_inj=$(now)
    while [ $SECONDS -lt $end ]; do
        [ -n "$t_sink" ] || [ ! -s "$W/t_sink" ] || t_sink=$(<"$W/t_sink")  # the moment sinkwait.py saw the count
        if [ -n "$t_sink" ]; then
            if [ "$target" = relayd ]; then queued=$(relayd_queued); else queued=$(postfix_queued); fi
            [ "$queued" = 0 ] && { t_end=$(now); break; }
        fi
        sleep 0.1
    done
    kill "$SINK_WATCH_PID" 2>/dev/null || true  # still waiting only when the sink never got every message
    read -r cpu1 w1 _ < <(tree_stat "$root")
    read -r dns1 _ < <(tree_stat "$DNSMASQ_PID")
    tree_sample_stop
    if [ "$target" = relayd ]; then
        mem="$(awk '$1 == "VmHWM:" {print $2}' "/proc/$RELAYD_PID/status") $(cut -d' ' -f2 "$W/mem")"
        relayd_stop
    else
        mem=$(cat "$W/mem")
        postfix_stop
    fi
    sleep 0.3
    n=$(sink_count "$W/sink.out")
    sink_stop
    if [ -z "$t_end" ]; then
        echo "$target: not drained within ${DRAIN_TIMEOUT}s: sink has ${n:-0} of $msgs, queue ${queued:-?}" >&2
        echo fail; return
    fi
    [ "$n" = "$msgs" ] || echo "$target: sink counted $n messages for $msgs sent (duplicates?)" >&2
    # Evidence from the relay's own log that mail went out through the MX (Information level only).
    if [ "$target" = postfix ]; then
        echo "    postfix log: $(grep -c "relay=mx1.$DOMAIN\[$SINK_IP\]:25,.*status=sent" "$PF/maillog" || true) sent via mx1.$DOMAIN[$SINK_IP]:25" >&2
    elif [ "$RELAYD_LOG" = Information ]; then
        echo "    relayd log: $(grep -c 'status=sent' "$W/relayd.log" || true) delivered; e.g. $(grep -m1 'status=sent' "$W/relayd.log" | cut -c1-160)" >&2
    fi
    read -r rss pss <<<"$mem"
    calc "f'{$msgs / ($t_end - $t0):.0f} {$msgs / ($t_inj - $t0):.0f} {($cpu1 - $cpu0) * 1000 / $msgs:.2f} {$rss / 1024:.0f} {$pss / 1024:.0f} {($w1 - $w0) / 1024 / $msgs:.1f} {$dns1 - $dns0:.2f} {$t_end - $t_sink:.1f}'"
}


# --- disk: sequential durable-write bandwidth in the directory the spools live in (lib.sh, disk_bw) ------------
DISK_BEFORE=$(disk_bw "$W")
echo "disk: $DISK_BEFORE MB/s sequential O_DIRECT|O_DSYNC (1 MiB writes) in $W" >&2

declare -A ALL
COLS=(e2e inject cpu rss pss disk dns lag)
for size_class in small large; do
    if [ $size_class = small ]; then msgs=$SMALL_MSGS size=$SMALL_SIZE; else msgs=$LARGE_MSGS size=$LARGE_SIZE; fi
    for ((r = 1; r <= REPS; r++)); do
        for target in relayd postfix; do
            line=$(run_one $target "$msgs" "$size")
            echo "  $target $msgs x $size B run $r: $line (load $(cut -d' ' -f1 /proc/loadavg))" >&2
            ALL[$target,$size_class,runs]="${ALL[$target,$size_class,runs]:-}${ALL[$target,$size_class,runs]:+; }$line"
            read -r -a vals <<<"$line"
            for i in "${!COLS[@]}"; do
                ALL[$target,$size_class,${COLS[$i]}]="${ALL[$target,$size_class,${COLS[$i]}]:-} ${vals[$i]:-fail}"
            done
        done
    done
done
DISK_AFTER=$(disk_bw "$W")

med() { median ${ALL[$1,$2,$3]}; }  # shellcheck disable=SC2086
mbps() { python3 -c "r = '$1'; print('fail' if r == 'fail' else f'{float(r) * $2 / 1e6:.1f}')"; }
SECTION=$W/section.md
{
    echo "<!-- relay-bench:begin -->"
    echo "# End-to-end relay benchmark (relay-bench.sh)"
    echo
    echo "Written by \`perf/scripts/relay-bench.sh\` (this section is replaced on each run; do not edit the numbers by hand)."
    echo
    echo "- Date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "- Command: \`$CMDLINE\` (as root)"
    echo "- Path: \`smtp-source -s $SESSIONS\` → relay → MX of $DOMAIN from dnsmasq on 127.0.0.1:53 (TTL $DNS_TTL s) →"
    echo "  \`smtp-sink\` on $SINK_IP:25; fresh sink, spool and queue per run; clock from the first injection until the sink"
    echo "  counted every message and the relay's queue was empty. Runs alternate relayd / Postfix; medians of $REPS."
    echo "- Machine: $(machine_facts "$W"); load average before: ${LOAD_BEFORE:-?}, after: $(loadavg)"
    echo "  (shared machine: other builds run alongside; sink, relay, injector and dnsmasq share the same cores)"
    echo "- relayd $("$RELAYD" --version | awk '{print $2}') ($RELAYD), defaults (20 connections per destination, slow start), \`Log:Level=$RELAYD_LOG\`;"
    echo "  Postfix $(postconf -d -h mail_version) private instance, stock settings (fsync, \`default_transport = smtp\` with DNS MX lookups"
    echo "  through the namespace's /etc/resolv.conf → 127.0.0.1, 20 per destination, connection cache on demand, logging to a file)"
    echo "- Disk: sequential durable write (\`dd bs=1M count=256 oflag=direct,dsync\` in the spool's directory): $DISK_BEFORE MB/s before, $DISK_AFTER MB/s after"
    echo
    echo "| Messages | Relay | end-to-end msgs/s | payload MB/s | injection msgs/s | CPU s / 1000 msgs | peak RSS MiB | peak PSS MiB | disk written KiB/msg | dnsmasq CPU s |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for size_class in small large; do
        if [ $size_class = small ]; then msgs=$SMALL_MSGS size=$SMALL_SIZE; else msgs=$LARGE_MSGS size=$LARGE_SIZE; fi
        for target in relayd postfix; do
            e2e=$(med $target $size_class e2e)
            echo "| $msgs × $size B | $target | $e2e | $(mbps "$e2e" "$size") | $(med $target $size_class inject) | $(med $target $size_class cpu) | $(med $target $size_class rss) | $(med $target $size_class pss) | $(med $target $size_class disk) | $(med $target $size_class dns) |"
        done
        echo "| | **relayd / Postfix** | **$(ratio "$(med relayd $size_class e2e)" "$(med postfix $size_class e2e)")** | | $(ratio "$(med relayd $size_class inject)" "$(med postfix $size_class inject)") | $(ratio "$(med relayd $size_class cpu)" "$(med postfix $size_class cpu)") | $(ratio "$(med relayd $size_class rss)" "$(med postfix $size_class rss)") | $(ratio "$(med relayd $size_class pss)" "$(med postfix $size_class pss)") | $(ratio "$(med relayd $size_class disk)" "$(med postfix $size_class disk)") | |"
    done
    echo
    echo "Columns: *end-to-end* = messages / (queue empty and all at the sink − first injection); *payload MB/s* = that ×"
    echo "message size; *injection* = messages / smtp-source wall time (acceptance while also relaying); *CPU* = utime+stime"
    echo "of the relay from /proc (relayd: its process; Postfix: master + every daemon, including the ones master reaped),"
    echo "per 1000 messages; *peak RSS* = relayd's VmHWM, Postfix's peak of the summed VmRSS of its processes (sampled every"
    echo "0.5 s; shared pages counted once per process); *peak PSS* = peak of summed Pss (sampled, shared pages split);"
    echo "*disk written* = /proc/PID/io write_bytes − cancelled_write_bytes of the relay per message; *dnsmasq CPU* = the DNS"
    echo "server's CPU during the run (the relays' lookups)."
    echo
    echo "All runs (e2e inject cpu rss pss disk dns sink→queue-empty-s):"
    echo
    for size_class in small large; do
        for target in relayd postfix; do
            echo "- $target $size_class: ${ALL[$target,$size_class,runs]}"
        done
    done
    echo
    echo "Disk bandwidth used by the 100 KiB runs (payload MB/s) against the disk's measured durable sequential write: relayd"
    echo "$(mbps "$(med relayd large e2e)" "$LARGE_SIZE") MB/s, Postfix $(mbps "$(med postfix large e2e)" "$LARGE_SIZE") MB/s, disk $DISK_BEFORE / $DISK_AFTER MB/s (before / after)."
    echo "<!-- relay-bench:end -->"
} >"$SECTION"
results_replace relay-bench "$SECTION" "$OUT"
cat "$SECTION"
