#!/bin/bash
# Benchmark (not a test): 1,000 services x 10 masq destinations programmed from empty by the real
# `ipvsadm -R` and by `rampart ipvs -R`, `-S -n`/`-Ln` of the full table by both, and one weight change,
# all in one run of the IPVS test VM (tests/vm/). Figures go to docs/benchmarks/ipvs.md by hand.
#
# Usage: benches/vm_ipvs_bench.sh [SERVICES [DESTS [REPS]]]
# Env:   RAMPART_BIN  binary to measure (default: a release build, made here with cargo)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SERVICES=${1:-1000}
DESTS=${2:-10}
REPS=${3:-3}

if [[ -z ${RAMPART_BIN:-} ]]; then
    (cd "$REPO" && cargo build --release --bin rampart)
    export RAMPART_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/rampart
fi
# strace in the VM gives the load-independent system-call counts.
export VM_EXTRA_BINARIES=${VM_EXTRA_BINARIES:-strace}
echo "binary: $RAMPART_BIN ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "host: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); VM: qemu TCG, 1 vCPU, 1024 MB"
exec "$REPO/tests/vm/run-vm.sh" -t 1800 -m 1024 -e SERVICES="$SERVICES" -e DESTS="$DESTS" -e REPS="$REPS" \
    "$HERE/vm_ipvs_bench_scenario.sh"
