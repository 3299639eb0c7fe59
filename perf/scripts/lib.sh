# shellcheck shell=bash
# Shared pieces of the perf scripts (sourced, not run): readiness of an SMTP server, a private Postfix
# instance, dnsmasq as the MX of a test domain, CPU/RSS of a process tree, machine facts, and replacing one
# script's <!-- name:begin --> ... <!-- name:end --> section of perf/RESULTS.md.
#
#   . "$(dirname "$0")/lib.sh"          (REPO and LIB_DIR are set; nothing is started by sourcing)
#
# Every wait here is bounded. Nothing here picks addresses: callers pass 127.0.0.x addresses and run inside
# their own network namespace (unshare -n), see the scripts.

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${REPO:-$(cd "$LIB_DIR/../.." && pwd)}

# python3 through pyenv's shim costs 0.2-1.5 s per call on a loaded machine: resolve the interpreter once (exported,
# so a script that re-executes itself in a namespace does not resolve it again) and call it directly.
PY=${PY:-$(python3 -c 'import sys; print(sys.executable)')}
export PY
python3() { "$PY" "$@"; }

# smtp-source as the benchmarks run it: with glibc's heap trimming off. Its stock malloc shrinks and regrows the heap's
# top as sessions end (+/-256 KiB `brk` pairs), and on this VM the page faults that follow cost smtp-source up to
# 50-70 thousand faults and a third more CPU per 10,000 messages, in some runs and not others, against any server
# (perf/RESULTS.md item 19). The generator shares the cores with the server, so that is noise in every 1/conn figure.
# SMTP_SOURCE_TUNABLES= (empty) runs it as shipped.
SMTP_SOURCE_TUNABLES=${SMTP_SOURCE_TUNABLES-glibc.malloc.trim_threshold=67108864}
SMTP_SOURCE=(env "GLIBC_TUNABLES=$SMTP_SOURCE_TUNABLES" smtp-source)

now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
# median V...: the median of the numeric values ("fail" and other words are skipped); "fail" when none.
median() { printf '%s\n' "$@" | grep -E '^-?[0-9.]+(e[-+]?[0-9]+)?$' | sort -g | awk '{v[NR]=$1} END {print NR ? v[int((NR+1)/2)] : "fail"}'; }
# ratio A B: A / B with 2 decimals, "n/a" when either is not a number or B is 0.
ratio() {
    python3 -c "
import sys
try:
    a, b = float(sys.argv[1]), float(sys.argv[2]); print('n/a' if b == 0 else f'{a / b:.2f}')
except ValueError:
    print('n/a')" "$1" "$2"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# require_root WHY; require_tools TOOL... (with the apt hint); require_relayd PATH
require_root() { [ "$(id -u)" = 0 ] || { echo "needs root ($1)"; exit 1; }; }
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install postfix dnsmasq-base iproute2 python3)"; exit 1; }
    done
}
require_relayd() {
    [ -x "$1" ] || { echo "relayd binary $1 not found: dotnet publish src/RelayAppliance.Host -c Release -o artifacts"; exit 1; }
}

# wait_banner HOST PORT [SECONDS=30]: poll every 0.1 s for a 220 greeting; fails after SECONDS.
wait_banner() {
    local end=$((SECONDS + ${3:-30})) line
    while [ $SECONDS -lt $end ]; do
        if { exec 9<>"/dev/tcp/$1/$2"; } 2>/dev/null; then
            line=$(timeout 5 head -c 3 <&9 || true); exec 9>&-
            [ "$line" = 220 ] && return 0
        fi
        sleep 0.1
    done
    echo "no SMTP banner from $1:$2" >&2; return 1
}

# --- machine facts ------------------------------------------------------------------------------------
# machine_facts DIR: "2 cores (CPU), N GiB RAM, kernel, disk DEV (fs)" for the disk that holds DIR.
machine_facts() {
    echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr), disk $(df -h "$1" | awk 'NR==2 {print $1}') ($(findmnt -no FSTYPE -T "$1"))"
}
# disk_bw DIR: MB/s of 256 MiB written sequentially with O_DIRECT|O_DSYNC in 1 MiB blocks (dd), in DIR.
disk_bw() {
    local out
    out=$(timeout 300 dd if=/dev/zero of="$1/dd.test" bs=1M count=256 oflag=direct,dsync 2>&1 | tail -1)
    rm -f "$1/dd.test"
    awk '{for (i = 1; i <= NF; i++) if ($i == "s,") {print int(256 * 1048576 / $(i - 1) / 1e6); exit}}' <<<"$out"
}

# --- CPU / memory of a process tree (perf/scripts/proctree.py) -----------------------------------------
# tree_stat PID: "cpu_seconds write_bytes nprocs" of PID and its descendants (+ the children PID reaped).
tree_stat() { python3 "$LIB_DIR/proctree.py" stat "$1"; }
# tree_sample PID FILE SECONDS [INTERVAL=0.5]: in the background, keeps "peak_rss_kb peak_pss_kb" of the tree
# in FILE until SECONDS pass or PID exits; sets SAMPLER_PID (stop it with tree_sample_stop).
tree_sample() {
    python3 "$LIB_DIR/proctree.py" sample "$1" "$2" "$3" "${4:-0.5}" &
    SAMPLER_PID=$!
}
tree_sample_stop() { kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null || true; }
proc_cpu_s() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }  # utime + stime of one process, USER_HZ = 100
vm_hwm_kb() { awk '$1 == "VmHWM:" {print $2}' "/proc/$1/status"; }

# --- results: replace one section of a markdown file ----------------------------------------------------
# results_replace NAME SECTION_FILE OUT [top|bottom]: replaces what lies between <!-- NAME:begin --> and
# <!-- NAME:end --> in OUT with SECTION_FILE (which carries the two markers); when OUT has no such section,
# the section is added at the top or (default) the bottom. The rest of OUT is left as it is.
results_replace() {
    python3 - "$1" "$2" "$3" "${4:-bottom}" <<'PYEOF'
import sys
name, section, out, where = sys.argv[1], open(sys.argv[2]).read().rstrip("\n"), sys.argv[3], sys.argv[4]
try:
    text = open(out).read()
except FileNotFoundError:
    text = ""
b, e = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
if b in text and e in text[text.index(b):]:
    i = text.index(b)
    text = text[:i] + section + text[text.index(e, i) + len(e):]
elif where == "top":
    text = section + "\n\n" + text.lstrip("\n")
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(out, "w").write(text if text.endswith("\n") else text + "\n")
PYEOF
}

# --- DNS: dnsmasq answering an MX on 127.0.0.1:53, and /etc/resolv.conf pointing at it ---------------------
# private_resolv_conf DIR: bind-mounts "nameserver 127.0.0.1" over /etc/resolv.conf. Only inside a private
# mount namespace (unshare -m): the host's file is untouched. Postfix's resolver reads that file.
private_resolv_conf() {
    echo "nameserver 127.0.0.1" >"$1/resolv.conf"
    chmod 644 "$1/resolv.conf"
    mount --bind "$1/resolv.conf" /etc/resolv.conf
    grep -q '^nameserver 127.0.0.1$' /etc/resolv.conf || { echo "private resolv.conf not in place"; exit 1; }
}
# dnsmasq_start DIR DOMAIN MX_IP [TTL=300] [PORT=53]: DOMAIN MX 10 mx1.DOMAIN, mx1.DOMAIN A MX_IP, nothing
# else (no upstream, no /etc/hosts); listens on 127.0.0.1 only. Sets DNSMASQ_PID (the caller kills it).
dnsmasq_start() {
    dnsmasq --no-daemon --keep-in-foreground --port="${5:-53}" --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
        --local-ttl="${4:-300}" --mx-host="$2,mx1.$2,10" --host-record="mx1.$2,$3" \
        --log-facility="$1/dnsmasq.log" >/dev/null 2>&1 &
    DNSMASQ_PID=$!
    sleep 0.5
    kill -0 "$DNSMASQ_PID" || { echo "dnsmasq did not start: $(cat "$1/dnsmasq.log")"; exit 1; }
}

# --- a private stock Postfix instance -------------------------------------------------------------------
# pf_config DIR ADDR:PORT TRANSPORT [INTERFACES]: writes DIR/etc/{main,master}.cf, queue in DIR/queue.
#   TRANSPORT=discard: smtpd -> cleanup (fsync) -> queue -> discard (ingest measurements);
#   TRANSPORT=smtp: default_transport smtp, the real SMTP client with DNS MX lookups (relay measurements).
# Stock settings except what makes it a private loopback instance: its own queue and config (no chroot: the
# queue is not under /var/spool/postfix), no reverse lookups of clients, relaying for 127.0.0.0/8, no local
# recipient checks, log to DIR/maillog. INTERFACES defaults to loopback-only; for TRANSPORT=smtp pass the
# listening address (it must be on lo: `ip addr add A/32 dev lo`) so that an MX on 127.0.0.x is not "myself".
# DIR must be reachable by user postfix (chmod 755 on its parents).
pf_config() {
    local pf=$1 addr=$2 transport=$3 interfaces=${4:-loopback-only}
    mkdir -p "$pf/etc" "$pf/queue" "$pf/data"
    chown postfix "$pf/data"
    {
        cat <<EOF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
inet_protocols = ipv4
inet_interfaces = $interfaces
myhostname = bench-postfix.example.test
mydestination = example.test
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
EOF
        if [ "$transport" = discard ]; then
            cat <<EOF
local_transport = discard
default_transport = discard
relay_transport = discard
smtp_dns_support_level = disabled
EOF
        fi
        cat <<EOF
smtpd_peername_lookup = no
smtputf8_enable = no
biff = no
append_dot_mydomain = no
maillog_file = $pf/maillog
maillog_file_prefixes = /tmp
EOF
    } >"$pf/etc/main.cf"
    {
        cat <<EOF
$addr  inet  n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
EOF
        [ "$transport" = discard ] || echo "verify    unix  - - n - 1 verify"
        echo "flush     unix  n - n 1000? 0 flush"
        echo "proxymap  unix  - - n - - proxymap"
        [ "$transport" = discard ] || printf '%s\n' "smtp      unix  - - n - - smtp" "relay     unix  - - n - - smtp"
        cat <<EOF
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
    } >"$pf/etc/master.cf"
}
# pf_start DIR ADDR:PORT: `postfix check` (creates the queue directories with Postfix's owners), start, wait
# for the banner; sets PF_MASTER (master's PID).
pf_start() {
    postfix -c "$1/etc" check >/dev/null 2>&1 || true
    postfix -c "$1/etc" start >"$1/start.log" 2>&1 || { echo "postfix did not start: $(tail -3 "$1/start.log") $(tail -3 "$1/maillog" 2>/dev/null)" >&2; return 1; }
    wait_banner "${2%:*}" "${2#*:}"
    PF_MASTER=$(tr -d ' ' <"$1/queue/pid/master.pid")
}
# pf_stop DIR: `postfix stop`, wait (30 s) for master to exit, else SIGKILL. Safe to call twice.
pf_stop() {
    [ -f "$1/etc/main.cf" ] || return 0
    local master
    master=$(tr -d ' ' <"$1/queue/pid/master.pid" 2>/dev/null || true)
    postfix -c "$1/etc" stop >/dev/null 2>&1 || true
    [ -z "$master" ] || timeout 30 tail --pid="$master" -f /dev/null || kill -9 "$master" 2>/dev/null || true
}
# pf_queued DIR: files left in incoming/active/deferred/hold/maildrop (0 = empty).
pf_queued() {
    find "$1/queue/incoming" "$1/queue/active" "$1/queue/deferred" "$1/queue/hold" "$1/queue/maildrop" \
        -type f 2>/dev/null | wc -l
}
# pf_drain DIR [SECONDS=120]: wait until the queue is empty (so runs do not overlap); 1 on timeout.
pf_drain() {
    local end=$((SECONDS + ${2:-120}))
    while [ $SECONDS -lt $end ]; do
        [ "$(pf_queued "$1")" = 0 ] && return 0
        sleep 0.5
    done
    return 1
}

# --- smtp-sink counting messages (smtp-sink -c writes "mesg=N" counters to stdout) ------------------------
# sink_count FILE: the last message count smtp-sink -c wrote to FILE (empty before the first message).
sink_count() { tail -c 200 "$1" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 || true; }
# sink_watch FILE COUNT SECONDS OUT: in the background (SINK_WATCH_PID), waits until smtp-sink -c's counter in FILE shows
# COUNT and writes that moment to OUT (epoch seconds, as `now`); start it before the load (sinkwait.py says why).
# sink_watch_wait: waits for it; fails when the count was not reached in time.
sink_watch() { "$PY" "$LIB_DIR/sinkwait.py" "$1" "$2" "$3" >"$4" & SINK_WATCH_PID=$!; }
sink_watch_wait() { wait "$SINK_WATCH_PID"; }
