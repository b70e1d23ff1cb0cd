#!/bin/sh
# /init of the IPVS test VM (see tests/vm/README.md). Runs /scenario.sh once and powers off.
# Kernel messages go to ttyS0 (the console log); the scenario's stdout+stderr go to ttyS1 in raw mode,
# framed by @@VM-BEGIN@@ and "@@VM-END rc=N@@", which run-vm.sh extracts byte for byte.
export PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin:/files
export HOME=/root TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns /run/lock /var/lib/keepalived
echo /sbin/modprobe >/proc/sys/kernel/modprobe
hostname rampart-vm
# Keep the console quiet (only emergencies); scenarios read `dmesg` when they want the kernel's words.
dmesg -n 1

OUT=/dev/console
if [ -c /dev/ttyS1 ]; then
    OUT=/dev/ttyS1
    stty -F "$OUT" raw -echo 2>/dev/null
fi

# Modules every scenario wants; VM_MODULES (from /scenario.env) adds more. Others load on demand with
# modprobe, or by the kernel itself through /sbin/modprobe.
[ -f /scenario.env ] && . /scenario.env
BOOT_MODULES="ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_fo ip_vs_ovf ip_vs_lblc ip_vs_lblcr ip_vs_dh
  ip_vs_sh ip_vs_mh ip_vs_sed ip_vs_nq nf_conntrack veth bridge dummy ${VM_MODULES:-}"
for m in $BOOT_MODULES; do
    modprobe "$m" 2>/tmp/modprobe.err || echo "init: modprobe $m failed: $(cat /tmp/modprobe.err)" >/dev/console
done
ip link set lo up

cd /root
{
    echo "@@VM-BEGIN@@"
    sh /scenario.sh </dev/null 2>&1
    echo "@@VM-END rc=$?@@"
} >"$OUT"
sync
poweroff -f
# poweroff should not return; if it does, make the kernel stop (panic=-1 and -no-reboot end qemu).
echo o >/proc/sysrq-trigger
exit 1
