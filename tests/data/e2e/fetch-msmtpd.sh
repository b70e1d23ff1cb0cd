#!/bin/bash
# fetch-msmtpd.sh OUT: a real SMTP server for the test VM: msmtpd from Debian's msmtp-mta.
#
# msmtpd is a small SMTP server (43 kB of C) that hands each accepted message to a command; the
# scenarios store messages as files with it (store-mail.sh) and check what arrived. It starts
# at once under the VM's emulated CPU, where Debian's python3 + aiosmtpd takes ~15 s to import.
# Uses the host's /usr/bin/msmtpd if installed; else the package is fetched with
# `apt-get download` and unpacked with `dpkg -x` (not installed: msmtp-mta would replace the
# host's sendmail), like tests/vm/build-image.sh fetches the VM's kernel.
set -euo pipefail
out=$1
[[ -x $out ]] && exit 0
mkdir -p "$(dirname "$out")"
if command -v msmtpd >/dev/null; then
    cp "$(command -v msmtpd)" "$out"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download msmtp-mta >/dev/null 2>"$work/err") || {
    echo "fetch-msmtpd: apt-get download msmtp-mta failed:" >&2; cat "$work/err" >&2; exit 1; }
dpkg -x "$work"/msmtp-mta_*.deb "$work/x"
cp "$work/x/usr/bin/msmtpd" "$out.tmp"
mv "$out.tmp" "$out"
