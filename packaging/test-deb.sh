#!/bin/bash
# Build the Debian package with cargo-deb, install it on this machine, check that the installed
# daemon runs and accepts the installed default configuration, then purge it.
# Run as root. Invoked by tests/ops_package.rs when RAMPART_PACKAGE_TEST=1.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "test-deb: $*" >&2; }

if ! cargo deb --version >/dev/null 2>&1; then
    log "installing cargo-deb (cargo install cargo-deb --locked)"
    cargo install cargo-deb --locked
fi

# The suite packages the dev-profile binary it has already built (a cold release build costs
# minutes on 2 cores); what is tested is the packaging, not the optimiser. Release packages:
# `cargo deb` (or RAMPART_DEB_PROFILE=release here).
profile=${RAMPART_DEB_PROFILE:-dev}
log "building the package (profile $profile)"
deb=$(cargo deb --profile "$profile" 2>&1 | tee -a /dev/stderr | tail -n 1)  # -a: a plain tee would truncate a log file that stderr points to
[[ -f "$deb" ]] || { log "cargo deb did not report a .deb file (got: $deb)"; exit 1; }
log "package: $deb"

# Whatever happens below, leave the machine as we found it.
cleanup() { dpkg -P rampart >/dev/null 2>&1 || true; }
trap cleanup EXIT

dpkg-deb --info "$deb" >&2
dpkg -i "$deb"

log "installed files"
test -x /usr/sbin/rampart
test -f /lib/systemd/system/rampart.service
test -f /etc/rampart/rampart.conf
test -f /etc/default/rampart
ls /usr/share/man/man8/rampart.8* /usr/share/man/man5/rampart.conf.5* >/dev/null
ls /usr/share/doc/rampart/examples/ >/dev/null
dpkg-query -W -f='${Conffiles}\n' rampart | grep -q ' /etc/rampart/rampart.conf '
[[ $(stat -c %a /etc/rampart/rampart.conf) == 640 ]]

version=$(/usr/sbin/rampart --version)
log "rampart --version: $version"
[[ $version == "rampart $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)" ]]

/usr/sbin/rampart check-config /etc/rampart/rampart.conf
/usr/sbin/rampart -t -f /etc/rampart/rampart.conf

if command -v systemd-analyze >/dev/null; then
    out=$(systemd-analyze verify --man=no /lib/systemd/system/rampart.service 2>&1 || true)
    if grep -qi 'unknown\|invalid\|failed to' <<<"$out"; then
        log "systemd-analyze verify: $out"
        exit 1
    fi
fi

dpkg -P rampart
trap - EXIT
test ! -e /usr/sbin/rampart
test ! -e /etc/rampart/rampart.conf
log "OK: built, installed, ran and purged $deb"
