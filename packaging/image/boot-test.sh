#!/usr/bin/env bash
# Boot build/image (first boot, snapshot=on leaves the image untouched) with the NoCloud seed under qemu,
# inside unshare -n (loopback only), and check relayd end to end with boot-probe.py: EHLO shows the
# cloud-init host name and STARTTLS, mail to the cloud-init user arrives over POP3 STLS. TCG when there is
# no /dev/kvm (about 3 minutes here). Not part of CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
img=${1:-$here/../../build/image}
kvm=; [ -w /dev/kvm ] && kvm="-enable-kvm -cpu host"
cd "$img"
exec timeout 600 unshare -n sh -c '
ip link set lo up
qemu-system-x86_64 -m 1024 -smp 2 -nographic -no-reboot '"$kvm"' \
  -kernel vmlinuz -initrd initrd.img -append "root=/dev/vda rw console=ttyS0" \
  -drive file=relayd-appliance.qcow2,if=virtio,format=qcow2,snapshot=on \
  -drive file=seed.iso,if=virtio,format=raw,readonly=on \
  -nic user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:2525-:25,hostfwd=tcp:127.0.0.1:1110-:110 \
  </dev/null >console.log 2>&1 & q=$!
python3 "$1/boot-probe.py"; rc=$?
kill $q; wait $q 2>/dev/null; echo "serial console: $PWD/console.log"; exit $rc' sh "$here"
