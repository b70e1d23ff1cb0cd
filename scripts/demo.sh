#!/bin/bash
# The README's first command: a self-contained rampart lab (seed 004's LVS-NAT director pair,
# a client and two web servers in network namespaces) with a live view.
#
# On a host whose kernel has IPVS the lab runs here, interactively (keys: 1/2 kill or restart a
# director, a/b stop or start a web server, q quit). On a kernel without IPVS (like the CI
# machine) it runs inside the test VM (Debian's kernel under QEMU) as a scripted story: the
# master director is killed, a web server stops and comes back, the director returns.
# Either way everything is created in network namespaces and removed on exit or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) == 0 ]] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }
for t in ip busybox; do
    command -v "$t" >/dev/null || { echo "demo: needs '$t' (apt-get install iproute2 busybox-static)" >&2; exit 1; }
done

echo "building rampart..."
cargo build --quiet --bin rampart
export RAMPART=$PWD/target/debug/rampart

if [[ -e /proc/net/ip_vs ]] || modprobe -q ip_vs 2>/dev/null; then
    exec bash scripts/demo/lab.sh "$@"
fi

echo "this kernel has no IPVS: running the lab inside the test VM (Debian kernel under QEMU)."
echo "a scripted story of about 60 s follows; the view refreshes every second."
command -v qemu-system-x86_64 >/dev/null || {
    echo "demo: needs qemu-system-x86_64 (apt-get install qemu-system-x86 busybox-static cpio kmod)" >&2; exit 1; }
scenario=$(mktemp /tmp/rampart-demo-scenario.XXXXXX.sh)
trap 'rm -f "$scenario"' EXIT
cat >"$scenario" <<'SCEN'
#!/bin/bash
RAMPART=/usr/local/bin/rampart DEMO_CONF=/files/demo.conf bash /files/lab.sh --scripted 58
SCEN
VM_STREAM=1 tests/vm/run-vm.sh -m 1024 -t 240 "$scenario" scripts/demo/lab.sh scripts/demo/demo.conf >/dev/null
