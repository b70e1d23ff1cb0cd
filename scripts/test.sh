#!/usr/bin/env bash
# The whole rampart test suite, from a fresh Debian machine: installs what it needs (apt packages,
# cargo tools; the test VM's kernel is fetched by the VM harness), builds, runs every test.
# Usage: scripts/test.sh            (what .ci/run calls)
#        RAMPART_SKIP_PACKAGE_TEST=1 scripts/test.sh   (skip the .deb build/install test)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n=== %s: %s\n' "$(date +%H:%M:%S)" "$*"; }

# Debian packages the tests use as real peers and tools.
APT_PACKAGES=(
  keepalived ipvsadm            # VRRP peer, genhash, keepalived -t, real ipvsadm (in the VM)
  qemu-system-x86 busybox-static cpio kmod   # the IPVS test VM
  iproute2 iptables nftables tcpdump arping  # namespaces, firewalls, captures, ARP probes
  python3-aiosmtpd python3-prometheus-client  # real SMTP server; Prometheus text parser
  nginx-light                   # real HTTP backend for checker tests
  openssl                       # self-signed certificates for SSL_GET tests
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

log "build"
cargo build --all-targets

if [[ "${RAMPART_SKIP_PACKAGE_TEST:-0}" != 1 ]]; then
  if ! command -v cargo-deb >/dev/null 2>&1; then
    log "installing cargo-deb"
    cargo install --locked cargo-deb >/dev/null 2>&1 || cargo install cargo-deb
  fi
  export RAMPART_PACKAGE_TEST=1
fi

log "tests"
# Namespace and VM tests create their own hosts; nothing is sent on this machine's interfaces.
cargo test --no-fail-fast --lib --bins --tests -- --test-threads=2
log "done"
