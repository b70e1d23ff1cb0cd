#!/bin/bash
# Builds (once) the pieces of the IPVS test VM under $VM_DIR (default: <repo>/target/vm):
#   kernel/vmlinuz        Debian's cloud kernel (it ships ip_vs*.ko; this machine's kernel has no IPVS)
#   kernel/version        its version string (uname -r inside the VM)
#   base.cpio             the base initramfs: busybox, modules, /init, ipvsadm, keepalived, ip, iptables...
#   base.stamp            hash of the inputs base.cpio was built from; a different hash rebuilds it
# Everything is rebuilt only when missing or when this script / init.sh change. Downloads are idempotent and
# come only from Debian's package registry through apt-get. Safe to run concurrently (flock).
#
# Usage: tests/vm/build-image.sh            prints the VM_DIR on success
# Env:   VM_DIR            where the cache lives
#        VM_KERNEL_PACKAGE force a versioned image package (default: what linux-image-cloud-amd64 depends on)
#        VM_EXTRA_BINARIES space-separated host binaries to add to the base image (with their libraries)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VM_DIR=${VM_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/vm}
mkdir -p "$VM_DIR"

log() { echo "build-image: $*" >&2; }
die() { echo "build-image: error: $*" >&2; exit 1; }

exec 9>"$VM_DIR/.build.lock"
flock 9

# ---------------------------------------------------------------------------------------------- kernel
resolve_kernel_package() {
    if [[ -n ${VM_KERNEL_PACKAGE:-} ]]; then echo "$VM_KERNEL_PACKAGE"; return; fi
    local dep
    dep=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    if [[ -z $dep ]]; then
        log "apt lists do not know linux-image-cloud-amd64; running apt-get update"
        apt-get update -qq >&2 || die "apt-get update failed"
        dep=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    fi
    [[ -n $dep ]] || die "cannot resolve the versioned package linux-image-cloud-amd64 depends on"
    echo "$dep"
}

if [[ ! -s $VM_DIR/kernel/vmlinuz || ! -s $VM_DIR/kernel/version ]]; then
    pkg=$(resolve_kernel_package)
    log "downloading $pkg from Debian"
    rm -rf "$VM_DIR/kernel.tmp" && mkdir -p "$VM_DIR/kernel.tmp/deb"
    (cd "$VM_DIR/kernel.tmp/deb" && apt-get download -q "$pkg" >&2 2>&1) || die "apt-get download $pkg failed"
    dpkg -x "$VM_DIR"/kernel.tmp/deb/*.deb "$VM_DIR/kernel.tmp/root"
    version=$(ls "$VM_DIR/kernel.tmp/root/lib/modules" | head -1)
    [[ -n $version ]] || die "$pkg has no lib/modules"
    depmod -b "$VM_DIR/kernel.tmp/root" "$version"
    cp "$VM_DIR/kernel.tmp/root/boot/vmlinuz-$version" "$VM_DIR/kernel.tmp/vmlinuz"
    echo "$version" >"$VM_DIR/kernel.tmp/version"
    rm -rf "$VM_DIR/kernel.tmp/deb"
    rm -rf "$VM_DIR/kernel" && mv "$VM_DIR/kernel.tmp" "$VM_DIR/kernel"
fi
KVER=$(cat "$VM_DIR/kernel/version")
KROOT=$VM_DIR/kernel/root
MODDIR=$KROOT/lib/modules/$KVER

# ------------------------------------------------------------------------------------- base initramfs
# Host tools copied into the image (with their libraries). Missing optional ones are skipped with a note.
REQUIRED_BINARIES="busybox bash kmod ipvsadm ip iptables"
OPTIONAL_BINARIES="keepalived genhash nft tc ss tcpdump ${VM_EXTRA_BINARIES:-}"
# Module directories whose every module (plus dependencies) goes into the image; busybox modprobe loads
# them on demand, and the kernel autoloads through /sbin/modprobe (e.g. `ip link add type veth`).
MODULE_DIRS="net/netfilter net/ipv4 net/ipv6 net/bridge net/8021q net/802 net/llc net/sched net/core
  net/packet net/sctp net/xfrm drivers/net/veth.ko drivers/net/macvlan.ko drivers/net/dummy.ko
  drivers/net/ipvlan drivers/net/vxlan drivers/net/vrf.ko drivers/net/ifb.ko drivers/net/tun.ko
  drivers/net/geneve.ko"

inputs_hash() {
    {
        cat "$HERE/build-image.sh" "$HERE/init.sh"
        echo "$KVER $REQUIRED_BINARIES $OPTIONAL_BINARIES"
        for b in $REQUIRED_BINARIES $OPTIONAL_BINARIES; do
            p=$(command -v "$b" 2>/dev/null) && stat -Lc '%n %s %Y' "$p"
        done
    } | sha256sum | cut -d' ' -f1
}
HASH=$(inputs_hash)
if [[ -s $VM_DIR/base.cpio && "$(cat "$VM_DIR/base.stamp" 2>/dev/null)" == "$HASH" ]]; then
    echo "$VM_DIR"
    exit 0
fi

log "building base initramfs for kernel $KVER"
ROOT=$VM_DIR/base.root
rm -rf "$ROOT"
mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/lib64,usr/local/bin,etc,proc,sys,dev,run,tmp,root,files,var}
ln -s usr/bin "$ROOT/bin"
ln -s usr/sbin "$ROOT/sbin"
ln -s usr/lib "$ROOT/lib"
ln -s usr/lib64 "$ROOT/lib64"
ln -s ../run "$ROOT/var/run"
mkdir -p "$ROOT/var/lib" "$ROOT/var/log" "$ROOT/var/tmp"

# add_file HOSTPATH [DEST]: copy a file (dereferenced) to the same path (or DEST) inside the image.
add_file() {
    local src=$1 dst=${2:-$1}
    mkdir -p "$ROOT$(dirname "$dst")"
    cp -L "$src" "$ROOT$dst"
}
# add_elf PATH: copy an executable and every library ldd lists (plus the dynamic loader).
add_elf() {
    local bin=$1 lib
    add_file "$bin"
    while read -r lib; do
        [[ -e $ROOT$lib ]] || add_file "$lib"
    done < <(ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+' || true)
}

for b in $REQUIRED_BINARIES; do
    command -v "$b" >/dev/null || die "required host binary '$b' is missing (install it with apt-get)"
done
add_file "$(command -v busybox)" /usr/bin/busybox
# bash is /bin/sh: Debian's busybox-static shell runs its own applets before PATH (so `ip` would be
# busybox's, without netns); bash runs the real tools.
add_elf "$(readlink -f "$(command -v bash)")"
ln -sf bash "$ROOT/usr/bin/sh"
# kmod's modprobe resolves the aliases the kernel asks for (nfnetlink-subsys-10, rtnl-link-veth...).
add_elf "$(readlink -f "$(command -v kmod)")"
for name in modprobe insmod rmmod lsmod modinfo depmod; do ln -sf ../bin/kmod "$ROOT/usr/sbin/$name"; done
add_elf /usr/sbin/ipvsadm
add_elf "$(readlink -f "$(command -v ip)")"
ln -sf ../bin/ip "$ROOT/usr/sbin/ip"
# iptables: the nft-based multi-call binary, its names, and the extension plugins it dlopen()s.
XT_MULTI=$(readlink -f "$(command -v iptables)")
add_elf "$XT_MULTI"
for name in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore \
    iptables-nft ip6tables-nft ebtables arptables; do
    ln -sf "$(basename "$XT_MULTI")" "$ROOT/usr/sbin/$name"
done
if [[ -d /usr/lib/x86_64-linux-gnu/xtables ]]; then
    for so in /usr/lib/x86_64-linux-gnu/xtables/*.so; do add_elf "$so"; done
fi
for b in $OPTIONAL_BINARIES; do
    p=$(command -v "$b" 2>/dev/null) || { log "note: optional host binary '$b' not found, skipped"; continue; }
    if [[ $b == genhash ]]; then
        # Debian's genhash is keepalived itself (argv[0] dispatch): keep it a link to the same binary.
        add_elf /usr/sbin/keepalived
        ln -sf ../sbin/keepalived "$ROOT/usr/bin/genhash"
        continue
    fi
    add_elf "$(readlink -f "$p")"
    [[ $(readlink -f "$p") == "$p" ]] || { mkdir -p "$ROOT$(dirname "$p")"; ln -sf "$(readlink -f "$p")" "$ROOT$p"; }
done
# Busybox applets for every name not already provided by a real tool.
for applet in $("$ROOT/usr/bin/busybox" --list); do
    [[ -e $ROOT/usr/bin/$applet || -e $ROOT/usr/sbin/$applet ]] || ln -s busybox "$ROOT/usr/bin/$applet"
done

# Files glibc and the tools read.
for f in /etc/protocols /etc/services /etc/ethertypes; do [[ -e $f ]] && add_file "$f"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nkeepalived_script:x:999:999::/nonexistent:/bin/false\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\nkeepalived_script:x:999:\n' >"$ROOT/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files\nservices: files\nprotocols: files\n' >"$ROOT/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$ROOT/etc/hosts"
echo rampart-vm >"$ROOT/etc/hostname"
# Modules that would create devices on load (dummy0, ifb0...) create none: scenarios name their own.
mkdir -p "$ROOT/etc/modprobe.d"
printf 'options dummy numdummies=0\noptions ifb numifbs=0\n' >"$ROOT/etc/modprobe.d/rampart-vm.conf"

# Kernel modules: the closure (modules.dep) of everything under MODULE_DIRS.
mods=()
for d in $MODULE_DIRS; do
    if [[ -d $MODDIR/kernel/$d ]]; then
        while IFS= read -r m; do mods+=("kernel/${m#"$MODDIR"/kernel/}"); done < <(find "$MODDIR/kernel/$d" -name '*.ko*')
    elif [[ -e $MODDIR/kernel/$d ]]; then
        mods+=("kernel/$d")
    fi
done
declare -A want=()
for m in "${mods[@]}"; do
    want[$m]=1
    for dep in $(awk -F: -v m="$m" '$1 == m {print $2}' "$MODDIR/modules.dep"); do want[$dep]=1; done
done
mkdir -p "$ROOT/lib/modules/$KVER"
for m in "${!want[@]}"; do
    mkdir -p "$ROOT/lib/modules/$KVER/$(dirname "$m")"
    cp "$MODDIR/$m" "$ROOT/lib/modules/$KVER/$m"
done
cp "$MODDIR"/modules.{order,builtin,builtin.modinfo} "$ROOT/lib/modules/$KVER/"
depmod -b "$ROOT" "$KVER"
log "${#want[@]} kernel modules"

install -m 0755 "$HERE/init.sh" "$ROOT/init"

# The base archive stays uncompressed: the kernel unpacks it far faster than it gunzips under TCG.
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$VM_DIR/base.cpio.tmp"
mv "$VM_DIR/base.cpio.tmp" "$VM_DIR/base.cpio"
echo "$HASH" >"$VM_DIR/base.stamp"
rm -rf "$ROOT"
log "base initramfs: $(du -h "$VM_DIR/base.cpio" | cut -f1)"
echo "$VM_DIR"
