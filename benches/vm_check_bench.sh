#!/bin/bash
# Benchmark (not a test): keepalived 2.2.7 and rampart side by side in the IPVS test VM
# (tests/vm/): N real servers (half TCP_CHECK, half HTTP_GET with an MD5 digest) served by one
# backend process (benches/check_backend.rs) in a namespace of the VM, the same keepalived.conf run
# by `keepalived -n -l -C` and by `rampart -n -C` (both really programming IPVS), one after the
# other, at each delay_loop. Per daemon: CPU time (utime+stime of all its processes, from /proc)
# over the same window, RSS, the check rate the backend saw, whether both programmed the same
# table, and the time from stopping VICTIMS real servers to their removal from IPVS.
# Figures go to docs/benchmarks/check.md by hand.
#
# Usage: benches/vm_check_bench.sh [N [DELAY_LOOPS [SECONDS]]]     (defaults: 1000 "1 6" 60)
# Env:   RAMPART_BIN  binary to measure (default: a release build, made here with cargo)
#        BACKEND_BIN  check_backend binary (default: the release bench build, made here)
#        VICTIMS (10), DAEMONS ("keepalived rampart"), REPS (1; 2 runs K R K R per delay_loop),
#        WIRE (1: also measure how long checks last on the wire, with tcpdump in the VM),
#        SIMULTANEOUS (1: both daemons in the same window, each in its own namespaces and IPVS
#        table: benches/vm_check_bench_pair_scenario.sh; robust to a loaded host)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
N=${1:-1000}
LOOPS=${2:-"1 6"}
SECS=${3:-60}

if [[ -z ${RAMPART_BIN:-} ]]; then
    (cd "$REPO" && cargo build --release --bin rampart)
    export RAMPART_BIN=$TARGET/release/rampart
fi
if [[ -z ${BACKEND_BIN:-} ]]; then
    (cd "$REPO" && cargo build --release --bench check_backend)
    BACKEND_BIN=$(ls -t "$TARGET"/release/deps/check_backend-* | grep -v '\.d$' | head -1)
fi
n_loops=$(wc -w <<<"$LOOPS")
n_daemons=$(($(wc -w <<<"${DAEMONS:-keepalived rampart}") * ${REPS:-1}))
# Per run: start-up and settling (up to ~60 s under TCG), the window, the victims' removal.
LIMIT=$((120 + n_loops * n_daemons * (SECS + 140)))

echo "binary: $RAMPART_BIN ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')); keepalived: $(keepalived -v 2>&1 | head -1)"
echo "host: $(nproc) CPUs, $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg); VM: qemu TCG, 1 vCPU, 1024 MB"
# The host's load average every 10 s during the run (the VM's vCPU competes with everything else).
LOADS=$(mktemp)
(while sleep 10; do cut -d' ' -f1 /proc/loadavg; done) >"$LOADS" &
SAMPLER=$!
trap 'kill $SAMPLER 2>/dev/null; rm -f "$LOADS"' EXIT
SCENARIO=$HERE/vm_check_bench_scenario.sh
if [[ -n ${SIMULTANEOUS:-} ]]; then
    SCENARIO=$HERE/vm_check_bench_pair_scenario.sh
    n_daemons=${REPS:-1}
    LIMIT=$((120 + n_loops * n_daemons * (SECS + 200)))
fi
rc=0
"$REPO/tests/vm/run-vm.sh" -t "$LIMIT" -m 1024 -e N="$N" -e LOOPS="$LOOPS" -e SECS="$SECS" \
    -e VICTIMS="${VICTIMS:-10}" -e DAEMONS="${DAEMONS:-keepalived rampart}" -e REPS="${REPS:-1}" -e WIRE="${WIRE:-}" \
    "$SCENARIO" "$REPO/tests/vm/scenarios/check_vm_lib.sh" \
    "$BACKEND_BIN:/files/check_backend" || rc=$?
echo "host load average (1 min) during the run, sampled every 10 s: $(sort -n "$LOADS" | awk '{a[NR] = $1; s += $1} END {if (NR) printf "min %s, mean %.2f, max %s (n=%d)", a[1], s / NR, a[NR], NR}')"
echo "samples in order: $(tr '\n' ' ' <"$LOADS")"
exit $rc
