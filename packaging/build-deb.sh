#!/usr/bin/env bash
# Build artifacts/relayd_<version>_amd64.deb from a native-AOT relayd, with plain dpkg-deb (no debhelper).
#
#   packaging/build-deb.sh [--binary PATH] [--out DIR]
#
#   --binary PATH   package this relayd (default: dotnet publish src/RelayAppliance.Host to artifacts/)
#   --out DIR       where the .deb goes (default: artifacts/)
#   DEB_COMPRESS=C  dpkg-deb compressor (default xz; gzip is 10x faster for throw-away test packages)
#   VERSION=X       package version; when publishing, the binary is built with -p:Version=X. The package
#                   version must equal `relayd --version` (checked), so what dpkg shows is what runs.
#
# Prints the path of the .deb on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
binary= out="$top/artifacts"
while [ $# -gt 0 ]; do
    case $1 in
        --binary) binary=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ -z "$binary" ]; then
    publish_dir="$top/artifacts"
    [ -z "${VERSION:-}" ] || publish_dir="$top/build/publish-$VERSION"
    echo "publishing relayd${VERSION:+ $VERSION} to $publish_dir" >&2
    dotnet publish "$top/src/RelayAppliance.Host" -c Release -o "$publish_dir" ${VERSION:+-p:Version=$VERSION} >&2
    binary="$publish_dir/relayd"
fi
[ -x "$binary" ] || { echo "build-deb.sh: $binary is not an executable" >&2; exit 1; }
binary_version=$("$binary" --version | awk '{print $NF}')
version=${VERSION:-$binary_version}
# ALLOW_VERSION_MISMATCH=1: test-chroot.sh's stand-in for an older release (same binary, lower package
# version), so CI need not publish twice. Never for a package that leaves build/.
if [ "$version" != "$binary_version" ] && [ "${ALLOW_VERSION_MISMATCH:-}" != 1 ]; then
    echo "build-deb.sh: package version $version but $binary says $binary_version (publish with -p:Version=$version)" >&2
    exit 1
fi
arch=amd64
[ "$(uname -m)" = x86_64 ] || { echo "build-deb.sh: only amd64 (linux-x64) is packaged" >&2; exit 1; }

mkdir -p "$top/build" "$out"
root=$(mktemp -d "$top/build/deb-root.XXXXXX")
trap 'rm -rf "$root"' EXIT
umask 022

# --- files ----------------------------------------------------------------------------------------
install -d "$root/usr/sbin" "$root/etc/relayd" "$root/lib/systemd/system" "$root/usr/lib/sysusers.d" \
    "$root/usr/lib/tmpfiles.d" "$root/usr/share/man/man8" "$root/usr/share/doc/relayd" \
    "$root/DEBIAN"
# The AOT publish strips already (StripSymbols: the symbols go to relayd.dbg); strip again in case a
# binary from elsewhere was passed. Safe for native AOT: the managed metadata lives in data sections.
install -m 0755 "$binary" "$root/usr/sbin/relayd"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/sbin/relayd"
"$root/usr/sbin/relayd" --version >/dev/null   # still runs after strip
install -m 0644 "$here/relayd.json" "$root/etc/relayd/relayd.json"
install -m 0644 "$top/systemd/relayd.service" "$root/lib/systemd/system/relayd.service"
install -m 0644 "$top/systemd/relayd.sysusers" "$root/usr/lib/sysusers.d/relayd.conf"
install -m 0644 "$top/systemd/relayd.tmpfiles" "$root/usr/lib/tmpfiles.d/relayd.conf"
gzip -9n <"$here/relayd.8" >"$root/usr/share/man/man8/relayd.8.gz"
install -m 0644 "$here/debian/copyright" "$root/usr/share/doc/relayd/copyright"
# Native package (no Debian revision: the package version is the binary's version), so the changelog
# is changelog.gz as Debian policy 12.7 wants for native packages.
sed "s/@VERSION@/$version/" "$here/debian/changelog" | gzip -9n >"$root/usr/share/doc/relayd/changelog.gz"
if grep -qvE '^[[:space:]]*(#|$)' "$here/lintian-overrides"; then
    install -d "$root/usr/share/lintian/overrides"
    install -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/relayd"
fi
chmod 0644 "$root/usr/share/man/man8/relayd.8.gz" "$root/usr/share/doc/relayd/changelog.gz"

# --- control --------------------------------------------------------------------------------------
# libc6: the newest GLIBC_x.y symbol version the binary imports. libssl3: System.Security.Cryptography
# dlopen()s libssl.so.3 and libcrypto.so.3 for TLS and PBKDF2 (not in ldd; see packaging/README.md). No libicu:
# InvariantGlobalization. adduser: postinst without systemd-sysusers. procps: the unit's ExecReload=/bin/kill.
glibc=$(objdump -T "$root/usr/sbin/relayd" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
needed=$(objdump -p "$root/usr/sbin/relayd" | awk '/NEEDED/ {print $2}' | tr '\n' ' ')
for lib in $needed; do
    case $lib in
        libc.so.6|libm.so.6|libdl.so.2|libpthread.so.0|librt.so.1|ld-linux-x86-64.so.2) ;;
        *) echo "build-deb.sh: $binary needs $lib, which Depends: does not cover yet" >&2; exit 1 ;;
    esac
done
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: relayd
Version: $version
Architecture: $arch
Maintainer: RelayAppliance maintainers <maintainers@users.noreply.r-seed-e5958cbd.example>
Installed-Size: $installed_size
Depends: libc6 (>= $glibc), libssl3, adduser, procps
Section: mail
Priority: optional
Description: RelayAppliance mail relay (SMTP relay, spool and POP3 drop)
 relayd accepts mail over SMTP (PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
 CHUNKING, STARTTLS, AUTH), makes every message durable on a FASTER spool
 before it answers 250, and delivers it: to local mailboxes read over POP3,
 or onward by MX, transport routes or a smarthost, with retries and DSNs.
 .
 One native binary, /usr/sbin/relayd, run by systemd as the relayd user
 with /etc/relayd/relayd.json; mail lives in /var/lib/relayd. It does not
 provide /usr/sbin/sendmail and so is not a mail-transport-agent.
EOF
echo /etc/relayd/relayd.json >"$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$here/debian/$s" "$root/DEBIAN/$s"; done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort \
    | xargs md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

deb="$out/relayd_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$root" "$deb" >&2
echo "$deb"
