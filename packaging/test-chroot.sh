#!/usr/bin/env bash
# Install test of the .deb in a minimal Debian bookworm chroot, as root.
#
#   packaging/test-chroot.sh [--deb NEW.deb] [--old-deb OLD.deb]
#
#   --deb      the package under test (default: build it from artifacts/relayd with build-deb.sh)
#   --old-deb  an older version for the upgrade test (default: artifacts/relayd packaged as <new>~old)
#
# The debootstrap root is cached as build/debootstrap-bookworm-<hash>.tar (hash of the suite and package
# list; DEBOOTSTRAP_CACHE=DIR puts it elsewhere), so only the first run in a week downloads. Everything runs in a private mount and network namespace
# (unshare -mn, loopback only): the chroot's mounts die with it, and relayd can reach no DNS server.
#
# 1. install: dpkg -i, dpkg -s, user relayd, modes, systemd-analyze verify, --version
# 2. smoke: relayd as user relayd (setpriv, CAP_NET_BIND_SERVICE like the unit) with the packaged config
#    on its real ports 25/587/110; user add; SMTP with STARTTLS (libssl3 dlopen) to a local mailbox;
#    POP3 RETR; the body must come back byte for byte
# 3. remove keeps /etc/relayd and /var/lib/relayd; purge deletes both
# 4. upgrade: old version installed, operator edits the conffile (relay domain + transport to a port
#    where nothing listens), mail queued and deferred; relayd stopped; new version dpkg -i'ed; the edit
#    and the queued mail survive; a sink on the transport port; new relayd delivers it (queue flush)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
deb= old_deb=
while [ $# -gt 0 ]; do
    case $1 in
        --deb) deb=$(realpath "$2"); shift 2 ;;
        --old-deb) old_deb=$(realpath "$2"); shift 2 ;;
        --inner) shift; break ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "test-chroot.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "test-chroot.sh: run as root" >&2; exit 1; }
T0=$SECONDS
step() { echo "=== [$((SECONDS - T0)) s] $*"; }

if [ "${INNER:-}" != 1 ]; then
    # ---- outside the namespaces: build what is missing, prepare the root, re-run inside unshare -mn ----
    mkdir -p "$top/build"
    if [ -z "$deb" ]; then
        step "building the .deb from artifacts/relayd"
        [ -x "$top/artifacts/relayd" ] || { echo "no artifacts/relayd: publish first or pass --deb" >&2; exit 1; }
        deb=$("$here/build-deb.sh" --binary "$top/artifacts/relayd" | tail -1)
    fi
    if [ -z "$old_deb" ]; then
        # The same binary as an older package version: the upgrade path (conffile, spool, restart) is what
        # is tested, and a second AOT publish would cost CI minutes. For a real old binary:
        #   VERSION=0.0.1 packaging/build-deb.sh --out build && packaging/test-chroot.sh --old-deb build/relayd_0.0.1_amd64.deb
        new_version=$(dpkg-deb -f "$deb" Version)
        step "building ${new_version}~old from the same binary for the upgrade test"
        old_deb=$(ALLOW_VERSION_MISMATCH=1 DEB_COMPRESS=gzip VERSION="${new_version}~old" "$here/build-deb.sh" \
            --binary "$top/artifacts/relayd" --out "$top/build" | tail -1)
    fi
    includes=adduser,ca-certificates,libssl3,openssl,procps,python3,systemd
    suite=bookworm
    mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    cache=${DEBOOTSTRAP_CACHE:-$top/build}
    mkdir -p "$cache"
    tarball="$cache/debootstrap-$suite-$(echo "$suite $includes" | sha256sum | cut -c1-12).tar"
    # A week old: rebuild, so the chroot gets Debian's updates (libssl3 above all).
    find "$tarball" -mtime +7 -delete 2>/dev/null || true
    if [ ! -f "$tarball" ]; then
        command -v debootstrap >/dev/null || { echo "test-chroot.sh: debootstrap is not installed" >&2; exit 1; }
        step "debootstrap $suite (minbase + $includes), cached as $tarball"
        tmp=$(mktemp -d "$cache/debootstrap.XXXXXX")
        chmod 0755 "$tmp"   # it becomes the chroot's / (mktemp -d makes 0700: relayd could not read /usr)
        debootstrap --variant=minbase --include="$includes" "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1 \
            || { tail -20 "$tmp.log"; rm -rf --one-file-system "$tmp"; exit 1; }
        rm -f "$tmp"/var/cache/apt/archives/*.deb
        tar -C "$tmp" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
        rm -rf --one-file-system "$tmp" "$tmp.log"
    else
        step "reusing $tarball"
    fi
    root=$(mktemp -d "$top/build/chroot.XXXXXX")
    trap 'rm -rf --one-file-system "$root"' EXIT
    tar -C "$root" -xf "$tarball"
    chmod 0755 "$root"
    cp "$deb" "$root/tmp/new.deb"
    cp "$old_deb" "$root/tmp/old.deb"
    cp "$here/test-clients.py" "$root/tmp/clients.py"
    step "entering unshare -mn"
    INNER=1 ROOT=$root T0=$T0 unshare --mount --net --fork "$0" --inner
    step "chroot test passed (new $(basename "$deb"), old $(basename "$old_deb"))"
    exit 0
fi

# ---- inside the private mount + network namespace ------------------------------------------------------
T0=${T0:-0}
root=$ROOT
mount --make-rprivate /
ip link set lo up
cleanup() {
    [ -z "${relayd_pid:-}" ] || kill -TERM "$relayd_pid" 2>/dev/null || true
    [ -z "${sink_pid:-}" ] || kill -TERM "$sink_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    for m in dev/shm proc sys; do umount -l "$root/$m" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys" 2>/dev/null || mount --rbind /sys "$root/sys"
mkdir -p "$root/dev/shm" && mount -t tmpfs tmpfs "$root/dev/shm"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
CONF=/etc/relayd/relayd.json
# relayd as the unit runs it: user relayd, CAP_NET_BIND_SERVICE only, in /var/lib/relayd. DNS goes to a
# loopback port where nothing answers (the namespace has no other network anyway).
start_relayd() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin LANG=C.UTF-8 RELAYD_Dns__Servers__0=127.0.0.1:5353 "$@" \
        sh -c 'cd /var/lib/relayd && exec setpriv --reuid relayd --regid relayd --init-groups \
            --inh-caps +net_bind_service --ambient-caps +net_bind_service \
            /usr/sbin/relayd run --config /etc/relayd/relayd.json' >>"$root/tmp/relayd.log" 2>&1 &
    relayd_pid=$!
    in_root python3 /tmp/clients.py wait 25 110 || { cat "$root/tmp/relayd.log"; fail "relayd did not open 25 and 110"; }
}
stop_relayd() {
    kill -TERM "$relayd_pid"; wait "$relayd_pid" || fail "relayd exited $? on SIGTERM"; relayd_pid=
}
as_relayd() { in_root setpriv --reuid relayd --regid relayd --init-groups /usr/sbin/relayd --config $CONF "$@"; }
version_of() { dpkg-deb -f "$1" Version; }
new_version=$(version_of "$root/tmp/new.deb")
old_version=$(version_of "$root/tmp/old.deb")

# ---- 1. install --------------------------------------------------------------------------------------
step "1. dpkg -i relayd $new_version"
in_root dpkg -i /tmp/new.deb </dev/null
in_root dpkg -s relayd | grep -qx 'Status: install ok installed' || fail "dpkg -s: not installed"
in_root getent passwd relayd >/dev/null || fail "no relayd user"
in_root getent group relayd >/dev/null || fail "no relayd group"
[ "$(in_root stat -c '%a %U %G' /var/lib/relayd)" = "700 relayd relayd" ] || fail "/var/lib/relayd: $(in_root stat -c '%a %U %G' /var/lib/relayd)"
[ "$(in_root stat -c '%a %U %G' $CONF)" = "640 root relayd" ] || fail "$CONF: $(in_root stat -c '%a %U %G' $CONF)"
[ -L "$root/etc/systemd/system/multi-user.target.wants/relayd.service" ] || fail "relayd.service not enabled"
in_root systemd-analyze verify --man=no /lib/systemd/system/relayd.service || fail "systemd-analyze verify"
[ "$(in_root /usr/sbin/relayd --version)" = "relayd $new_version" ] || fail "relayd --version: $(in_root /usr/sbin/relayd --version)"
# idempotent: configuring again (as dpkg-reconfigure or a re-run after a failure would) changes nothing
in_root find /etc /var/lib/relayd -newer /tmp/new.deb -printf '%p %m %u\n' 2>/dev/null | sort >"$root/tmp/before"
in_root /var/lib/dpkg/info/relayd.postinst configure "$new_version" </dev/null || fail "postinst configure twice"
in_root find /etc /var/lib/relayd -newer /tmp/new.deb -printf '%p %m %u\n' 2>/dev/null | sort >"$root/tmp/after"
diff "$root/tmp/before" "$root/tmp/after" || fail "a second postinst configure changed files"
in_root man -w relayd >/dev/null 2>&1 || [ -f "$root/usr/share/man/man8/relayd.8.gz" ] || fail "no man page"

# ---- 2. smoke test on the real ports -----------------------------------------------------------------
step "2. relayd as user relayd on :25/:587/:110 with STARTTLS"
in_root openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=relay.test -days 2 \
    -keyout /etc/relayd/key.pem -out /etc/relayd/cert.pem 2>/dev/null
in_root chgrp relayd /etc/relayd/key.pem && in_root chmod 0640 /etc/relayd/key.pem
printf 's3cret\n' | as_relayd user add alice@localhost
start_relayd RELAYD_Tls__CertificateFile=/etc/relayd/cert.pem RELAYD_Tls__KeyFile=/etc/relayd/key.pem
in_root python3 /tmp/clients.py roundtrip 25 110 alice@localhost s3cret starttls || { cat "$root/tmp/relayd.log"; fail "SMTP to POP3 round trip"; }
in_root python3 /tmp/clients.py roundtrip 587 110 alice@localhost s3cret plain || { cat "$root/tmp/relayd.log"; fail "submission port round trip"; }
stop_relayd
# the spool and mailbox files belong to relayd (nothing was written as root)
[ -z "$(in_root find /var/lib/relayd ! -user relayd)" ] || fail "files not owned by relayd: $(in_root find /var/lib/relayd ! -user relayd)"

# ---- 3. remove / purge -------------------------------------------------------------------------------
step "3. dpkg -r keeps config and spool; dpkg -P deletes them"
in_root dpkg -r relayd </dev/null
[ ! -e "$root/usr/sbin/relayd" ] || fail "dpkg -r left /usr/sbin/relayd"
[ -f "$root$CONF" ] || fail "dpkg -r removed the conffile"
[ -f "$root/var/lib/relayd/users" ] || fail "dpkg -r removed /var/lib/relayd"
in_root dpkg -P relayd </dev/null 2>"$root/tmp/purge.err" || { cat "$root/tmp/purge.err"; fail "dpkg -P"; }
cat "$root/tmp/purge.err"
grep -q 'deleting /var/lib/relayd' "$root/tmp/purge.err" || fail "purge did not say what it deletes"
[ ! -e "$root/etc/relayd" ] || fail "dpkg -P left /etc/relayd"
[ ! -e "$root/var/lib/relayd" ] || fail "dpkg -P left /var/lib/relayd"
! in_root dpkg-statoverride --list /etc/relayd/relayd.json >/dev/null || fail "purge left the statoverride"

# ---- 4. upgrade with queued mail and an edited conffile ----------------------------------------------
step "4. upgrade $old_version -> $new_version with queued mail"
in_root dpkg -i /tmp/old.deb </dev/null
in_root dpkg -s relayd | grep -qx "Version: $old_version" || fail "dpkg -s: old version not installed"
echo "  old package $old_version: $(in_root /usr/sbin/relayd --version)"
# The operator's edit: relay.test goes to 127.0.0.1:2526, where nothing listens yet.
in_root python3 - <<'EOF'
p = "/etc/relayd/relayd.json"
t = open(p).read()
t = t.replace('"DataDirectory": "/var/lib/relayd"',
              '"DataDirectory": "/var/lib/relayd",\n    "RelayDomains": [ "relay.test" ]  // operator edit', 1)
t = t.replace('"Delivery": {', '"Delivery": {\n    "Transports": { "relay.test": "127.0.0.1:2526" },  // operator edit', 1)
open(p, "w").write(t)
EOF
[ "$(grep -c 'operator edit' "$root$CONF")" = 2 ] || fail "could not edit the conffile"
start_relayd
in_root python3 /tmp/clients.py send 25 bob@relay.test /tmp/upgrade-body.eml
for _ in $(seq 50); do   # the first attempt is refused and the recipient deferred
    as_relayd queue list >"$root/tmp/q1" 2>&1 || true
    grep -qi 'refused\|defer\|4\.4\.' "$root/tmp/q1" && break; sleep 0.2
done
cat "$root/tmp/q1"
grep -q 'bob@relay.test' "$root/tmp/q1" || fail "mail not queued before the upgrade"
stop_relayd
in_root dpkg -i /tmp/new.deb </dev/null
[ "$(in_root /usr/sbin/relayd --version)" = "relayd $new_version" ] || fail "relayd --version after upgrade"
in_root dpkg -s relayd | grep -qx "Version: $new_version" || fail "dpkg -s version after upgrade"
[ "$(grep -c 'operator edit' "$root$CONF")" = 2 ] || fail "the upgrade lost the operator's conffile edit"
[ ! -e "$root$CONF.dpkg-new" ] && [ ! -e "$root$CONF.dpkg-dist" ] || fail "conffile prompt leftovers"
as_relayd queue list >"$root/tmp/q2" 2>&1
grep -q 'bob@relay.test' "$root/tmp/q2" || { cat "$root/tmp/q2"; fail "queued mail lost by the upgrade"; }
mkdir -p "$root/tmp/sink" && chmod 1777 "$root/tmp/sink"
chroot "$root" setpriv --reuid nobody --regid nogroup --clear-groups \
    /usr/sbin/relayd sink --listen 127.0.0.1:2526 --dump /tmp/sink >"$root/tmp/sink.log" 2>&1 &
sink_pid=$!
start_relayd
as_relayd queue flush >/dev/null
for _ in $(seq 100); do [ -n "$(ls "$root/tmp/sink")" ] && break; sleep 0.2; done
[ -n "$(ls "$root/tmp/sink")" ] || { cat "$root/tmp/relayd.log" "$root/tmp/sink.log"; fail "queued mail not delivered after the upgrade"; }
in_root python3 /tmp/clients.py samebody /tmp/upgrade-body.eml /tmp/sink/"$(ls "$root/tmp/sink" | head -1)" \
    || fail "delivered body differs"
for _ in $(seq 50); do as_relayd queue list >"$root/tmp/q3" 2>&1; grep -q 'bob@relay.test' "$root/tmp/q3" || break; sleep 0.2; done
! grep -q 'bob@relay.test' "$root/tmp/q3" || fail "delivered mail still queued"
stop_relayd
kill -TERM "$sink_pid"; wait "$sink_pid" || true; sink_pid=
in_root dpkg -P relayd </dev/null 2>/dev/null
step "all chroot tests passed"
