#!/usr/bin/env bash
# Build the RelayAppliance disk image: Debian bookworm + the relayd .deb + kernel + systemd + cloud-init.
# No loop devices, no partitions: mke2fs -d turns the root folder into an ext4 file system image, which
# qemu boots with its direct kernel boot (vmlinuz and initrd next to the image; see packaging/README.md).
#
#   packaging/image/build-image.sh [--deb relayd_X_amd64.deb] [--size 2G] [--out build/image]
#
# Outputs in OUT: relayd-appliance.qcow2, vmlinuz, initrd.img, and seed.iso when genisoimage exists
# (cloud-init NoCloud seed made from user-data.example). Run as root; needs the network (apt-get). The
# debootstrap base is the chroot test's cached tarball.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
deb= size= out="$top/build/image"
while [ $# -gt 0 ]; do
    case $1 in
        --deb) deb=$(realpath "$2"); shift 2 ;;
        --size) size=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "build-image.sh: run as root" >&2; exit 1; }
for tool in debootstrap mke2fs qemu-img; do
    command -v $tool >/dev/null || { echo "build-image.sh: needs $tool (apt-get install debootstrap e2fsprogs qemu-utils)" >&2; exit 1; }
done
T0=$SECONDS
step() { echo "=== [$((SECONDS - T0)) s] $*"; }
if [ -z "$deb" ]; then
    deb=$("$top/packaging/build-deb.sh" --binary "$top/artifacts/relayd" | tail -1)
fi

# The base is the chroot test's debootstrap tarball (same suite and package list, so the same cache file;
# keep in sync with test-chroot.sh). The image's packages are added with apt-get inside the root: apt
# orders the configuration of cloud-init's python3 dependencies properly, which debootstrap --include did
# not (python3-cryptography failed to configure). Kernel, init, network (systemd-networkd: cloud-init
# renders to it when ifupdown is absent), cloud-init. No sshd: add openssh-server in user-data (packages:).
base_includes=adduser,ca-certificates,libssl3,openssl,procps,python3,systemd
image_packages="systemd-sysv udev kmod linux-image-amd64 initramfs-tools systemd-resolved iproute2 cloud-init less"
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${DEBOOTSTRAP_CACHE:-$top/build}
mkdir -p "$cache" "$out"
tarball="$cache/debootstrap-$suite-$(echo "$suite $base_includes" | sha256sum | cut -c1-12).tar"
find "$tarball" -mtime +7 -delete 2>/dev/null || true
if [ ! -f "$tarball" ]; then
    step "debootstrap $suite (cached as $tarball)"
    tmp=$(mktemp -d "$cache/debootstrap.XXXXXX")
    chmod 0755 "$tmp"   # the image's / (mktemp -d makes 0700)
    debootstrap --variant=minbase --include="$base_includes" "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1 \
        || { tail -30 "$tmp.log"; rm -rf --one-file-system "$tmp"; exit 1; }
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    tar -C "$tmp" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf --one-file-system "$tmp" "$tmp.log"
fi

root="$out/root"
rm -rf --one-file-system "$root"
mkdir -p "$root"
step "unpacking the base"
tar -C "$root" -xf "$tarball"
chmod 0755 "$root"

step "apt-get install $image_packages; dpkg -i $(basename "$deb"); the appliance files"
cp "$deb" "$root/tmp/relayd.deb"
# A private mount namespace: /proc for dpkg and update-initramfs, gone when it exits. policy-rc.d: start
# nothing in the image root.
unshare --mount --fork sh -eu -c '
    root=$1
    mount --make-rprivate /
    mount -t proc proc "$root/proc"
    printf "#!/bin/sh\nexit 101\n" >"$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    printf "deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n" "$3" "$3" "$4" \
        >"$root/etc/apt/sources.list"
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $2 </dev/null
    chroot "$root" apt-get clean
    chroot "$root" dpkg -i /tmp/relayd.deb </dev/null
    rm -f "$root/usr/sbin/policy-rc.d" "$root/tmp/relayd.deb"
'  sh "$root" "$image_packages" "$mirror" "${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
install -m 0755 "$here/relayd-firstboot" "$root/usr/local/sbin/relayd-firstboot"
install -m 0644 "$here/relayd-firstboot.service" "$root/etc/systemd/system/relayd-firstboot.service"
install -d "$root/etc/systemd/system/relayd.service.d"
install -m 0644 "$here/relayd-tls.conf" "$root/etc/systemd/system/relayd.service.d/tls.conf"
chroot "$root" systemctl enable relayd-firstboot.service systemd-networkd.service systemd-resolved.service
# DHCP on any wired interface unless cloud-init wrote a network config (its 10-cloud-init-*.network wins).
cat >"$root/etc/systemd/network/90-dhcp-fallback.network" <<'EOF'
[Match]
Name=en* eth*
[Network]
DHCP=yes
EOF
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
echo relayd-appliance >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\trelayd-appliance\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
echo 'LABEL=relayd-root / ext4 errors=remount-ro 0 1' >"$root/etc/fstab"
# Root stays locked: log in with the user cloud-init creates (user-data.example). Each VM gets its own
# machine-id at first boot.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

step "kernel and initrd"
cp "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)" "$out/vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | sort -V | tail -1)" "$out/initrd.img"

step "ext4 image (mke2fs -d) and qcow2"
if [ -z "$size" ]; then   # what is used + 1 GiB for the spool, rounded to 256 MiB
    used=$(du -sm "$root" | cut -f1)
    size="$(( (used + 1024 + 255) / 256 * 256 ))M"
fi
rm -f "$out/relayd-appliance.raw"
mke2fs -q -t ext4 -L relayd-root -d "$root" "$out/relayd-appliance.raw" "$size"
qemu-img convert -f raw -O qcow2 "$out/relayd-appliance.raw" "$out/relayd-appliance.qcow2"
rm -f "$out/relayd-appliance.raw"
if command -v genisoimage >/dev/null; then
    seed=$(mktemp -d)
    cp "$here/user-data.example" "$seed/user-data"
    printf 'instance-id: relayd-appliance-1\nlocal-hostname: mx1\n' >"$seed/meta-data"
    genisoimage -quiet -output "$out/seed.iso" -volid cidata -joliet -rock "$seed/user-data" "$seed/meta-data"
    rm -rf "$seed"
fi
rm -rf --one-file-system "$root"
step "done: $(ls "$out" | tr '\n' ' ')"
qemu-img info "$out/relayd-appliance.qcow2" | grep -E 'virtual size|disk size'
