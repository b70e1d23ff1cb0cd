#!/bin/sh
# Benchmark (not a test): check a generated 2,000 x 20 HTTP_GET configuration (~212k lines)
# with `rampart check-config` (release build) and `keepalived -t` in the same run.
# Usage: benches/config_bench.sh [VS] [RS]    (needs hyperfine; keepalived optional)
set -eu
cd "$(dirname "$0")/.."
VS=${1:-2000}
RS=${2:-20}
CONF=${TMPDIR:-/tmp}/rampart-bench-$VS-$RS.conf
python3 benches/config_gen.py "$VS" "$RS" > "$CONF"
wc -l "$CONF"
cargo build --release --bin rampart
BIN=target/release/rampart
"$BIN" check-config "$CONF"
/usr/bin/time -f "rampart: %e s wall, %U s user, %S s sys, %M KiB max RSS" "$BIN" check-config "$CONF" 2>&1 | tail -1
set -- "$BIN check-config $CONF"
if command -v keepalived >/dev/null; then
    /usr/bin/time -f "keepalived: %e s wall, %U s user, %S s sys, %M KiB max RSS" keepalived -t -f "$CONF" 2>&1 | tail -1
    set -- "$@" "keepalived -t -f $CONF"
fi
hyperfine --warmup 2 --runs 10 --export-markdown "${TMPDIR:-/tmp}/rampart-config-bench.md" "$@"
cat "${TMPDIR:-/tmp}/rampart-config-bench.md"
