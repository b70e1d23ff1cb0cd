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

target_dir=${CARGO_TARGET_DIR:-target}
staging=
# Whatever happens below, leave the machine as we found it.
cleanup() {
    dpkg -P rampart >/dev/null 2>&1 || true
    [[ -z $staging ]] || rm -rf "$staging"
}
trap cleanup EXIT

# The suite packages the dev-profile binary it has already built (a cold release build costs
# minutes on 2 cores); what is tested is the packaging, not the optimiser. cargo-deb refuses
# `--profile dev` (a warning now, an error in a future version), and a custom profile inheriting
# dev would rebuild every dependency in its own target directory. So the dev binary
# (RAMPART_DEB_BINARY, which tests/ops_package.rs sets, else target/debug/rampart, built here if
# needed) is copied to release/ of a staging target directory and packaged from there with
# `--no-build`: the same assets, no rebuild, no warning. Release packages: `cargo deb` (or
# RAMPART_DEB_PROFILE=release here).
if [[ ${RAMPART_DEB_PROFILE:-dev} == release ]]; then
    log "building the package (release profile)"
    # -a: a plain tee would truncate a log file that stderr points to.
    deb=$(cargo deb 2>&1 | tee -a /dev/stderr | tail -n 1)
else
    bin=${RAMPART_DEB_BINARY:-}
    if [[ -z $bin ]]; then
        cargo build --bin rampart
        bin=$target_dir/debug/rampart
    fi
    [[ -x $bin ]] || { log "no rampart binary at $bin"; exit 1; }
    staging=$(mktemp -d "$target_dir/deb-staging.XXXXXX")
    mkdir "$staging/release"
    cp "$bin" "$staging/release/rampart"
    log "packaging $bin (dev build, cargo deb --no-build --fast)"
    mkdir -p "$target_dir/debian"
    deb=$(CARGO_TARGET_DIR=$staging cargo deb --no-build --fast -o "$target_dir/debian/" 2>&1 |
        tee -a /dev/stderr | tail -n 1)
fi
[[ -f "$deb" ]] || { log "cargo deb did not report a .deb file (got: $deb)"; exit 1; }
log "package: $deb"

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
[[ -z $staging ]] || rm -rf "$staging"
test ! -e /usr/sbin/rampart
test ! -e /etc/rampart/rampart.conf
log "OK: built, installed, ran and purged $deb"
