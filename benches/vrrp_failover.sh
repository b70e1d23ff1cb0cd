#!/bin/sh
# VRRP failover and footprint benchmark, rampart vs keepalived, in network namespaces.
# What is measured and how: benches/vrrp_failover.py. Figures: docs/benchmarks/vrrp.md.
# Usage (root): benches/vrrp_failover.sh [--trials 20] [--out FILE]
set -e
cd "$(dirname "$0")/.."
cargo build --release --bin rampart
RAMPART="${RAMPART:-target/release/rampart}" exec python3 benches/vrrp_failover.py "$@"
