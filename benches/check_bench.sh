#!/usr/bin/env bash
# Checker benchmark (not a test): N real servers (half TCP_CHECK, half HTTP_GET) on loopback
# addresses across 127.0.0.0/8, rampart in --dry-run -C mode, at each delay_loop given.
# Measures rampart's CPU (% of one core, from /proc/PID/stat utime+stime over the window),
# RSS (VmRSS at the end, VmHWM peak), the check rate (connections the backend accepted), the
# backend's own CPU, and for VICTIMS real servers whose backend is stopped: time from the stop
# and from the first failed check to the DOWN decision, against the retry budget
# (retry x delay_before_retry).
#
# usage: benches/check_bench.sh [N] [DELAY_LOOPS] [SECONDS]
#   defaults: N=10000 DELAY_LOOPS="1 6" SECONDS=60
# Output: a markdown table on stdout; work files in $WORK (default /tmp/check_bench.$$).
set -euo pipefail
N=${1:-10000}
LOOPS=${2:-"1 6"}
SECS=${3:-60}
VICTIMS=${VICTIMS:-10}
RETRY=2
DBR=0.5
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/check_bench.$$}
mkdir -p "$WORK"
cd "$ROOT"

# PROFILE=debug runs the unoptimised build (to try the script quickly; figures meaningless).
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then REL=--release; else REL=; fi
cargo build $REL --bin rampart >&2
cargo build $REL --bench check_backend >&2
RAMPART=$ROOT/target/$PROFILE/rampart
BACKEND=$(ls -t "$ROOT"/target/$PROFILE/deps/check_backend-* | grep -v '\.d$' | head -1)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
status_kib() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

# Backends: one wildcard listener on :8080 answers for every 127/8 address; the victims get
# their own listeners on :9090 in a separate process, so stopping it refuses exactly them.
"$BACKEND" --port 8080 > "$WORK/backend.out" &
BPID=$!; PIDS+=("$BPID")
VICTIM_ARGS=()
for v in $(seq 1 "$VICTIMS"); do VICTIM_ARGS+=(--listen "127.200.0.$v:9090"); done
"$BACKEND" "${VICTIM_ARGS[@]}" > "$WORK/victims.out" &
VPID=$!; PIDS+=("$VPID")
sleep 1

echo "| delay_loop | real servers | checks/s (measured) | rampart CPU % of one core | rampart RSS end / peak (MiB) | backend CPU % | victims: first failure -> DOWN (budget ${RETRY}x${DBR}s) | victims: stop -> DOWN |"
echo "|---|---|---|---|---|---|---|---|"
for DL in $LOOPS; do
  CONF=$WORK/bench_$DL.conf
  python3 - "$N" "$DL" "$VICTIMS" "$RETRY" "$DBR" > "$CONF" <<'PY'
import sys
n, dl, victims, retry, dbr = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
per_vs = 100
def addr(i):
    return "127.%d.%d.%d" % (1 + i // 62500, (i // 250) % 250, 1 + i % 250)
out = []
for v in range((n + per_vs - 1) // per_vs):
    out.append("virtual_server 10.%d.%d.1 80 {\n  delay_loop %s\n  lb_algo rr\n  lb_kind DR\n" % (v // 250, v % 250, dl))
    for i in range(v * per_vs, min(n, (v + 1) * per_vs)):
        out.append("  real_server %s 8080 {\n    weight 1\n" % addr(i))
        if i % 2 == 0:
            out.append("    TCP_CHECK {\n      connect_timeout 3\n    }\n")
        else:
            out.append("    HTTP_GET {\n      url {\n        path /\n        digest b1946ac92492d2347c6235b4d2611184\n      }\n      connect_timeout 3\n    }\n")
        out.append("  }\n")
    out.append("}\n")
# The victims' first failed attempt (while still up) is logged at info only with
# log_all_failures; the DOWN delay is measured from it.
# (a checker option: keepalived 2.2.7 does not know it at virtual_server level, and rampart
# refuses it there).
out.append("virtual_server 10.255.0.1 80 {\n  delay_loop %s\n  lb_algo rr\n  lb_kind DR\n" % dl)
for v in range(1, victims + 1):
    out.append("  real_server 127.200.0.%d 9090 {\n    TCP_CHECK {\n      connect_timeout 3\n      retry %s\n      delay_before_retry %s\n      log_all_failures\n    }\n  }\n" % (v, retry, dbr))
out.append("}\n")
sys.stdout.write("".join(out))
PY
  LOG=$WORK/rampart_$DL.log
  RAMPART_LOG=info "$RAMPART" -n --dry-run -C --log-format json -f "$CONF" 2> "$LOG" &
  RPID=$!; PIDS+=("$RPID")
  # Let the first round (and the initial table) settle.
  sleep $(( DL > 5 ? DL * 2 : 10 ))
  A0=$(tail -1 "$WORK/backend.out" | sed -n "s/STATS accepted=//p")
  R0=$(cpu_ticks "$RPID"); B0=$(cpu_ticks "$BPID"); T0=$(date +%s.%N)
  sleep "$SECS"
  R1=$(cpu_ticks "$RPID"); B1=$(cpu_ticks "$BPID"); T1=$(date +%s.%N)
  A1=$(tail -1 "$WORK/backend.out" | sed -n 's/STATS accepted=//p')
  RSS=$(status_kib "$RPID" VmRSS); HWM=$(status_kib "$RPID" VmHWM)
  # Stop the victims' backend and wait for their DOWN decisions.
  STOP=$(date +%s.%N)
  kill "$VPID"; wait "$VPID" 2>/dev/null || true
  sleep "$(python3 -c "print($DL + $RETRY * $DBR + 3)")"
  kill "$RPID"; wait "$RPID" 2>/dev/null || true
  python3 - "$LOG" "$STOP" "$T0" "$T1" "$R0" "$R1" "$B0" "$B1" "$HZ" "$RSS" "$HWM" "$DL" "$N" "${A0:-0}" "${A1:-0}" "$SECS" <<'PY'
import sys, json, datetime, re
(log, stop, t0, t1, r0, r1, b0, b1, hz, rss, hwm, dl, n, a0, a1, secs) = sys.argv[1:]
stop, t0, t1 = float(stop), float(t0), float(t1)
wall = t1 - t0
cpu = (int(r1) - int(r0)) / int(hz) / wall * 100
bcpu = (int(b1) - int(b0)) / int(hz) / wall * 100
def ts(v):
    return datetime.datetime.strptime(v["timestamp"][:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()
first_fail, down = {}, {}
for line in open(log):
    try:
        v = json.loads(line)
    except ValueError:
        continue
    m = v.get("fields", {}).get("message", "")
    t = ts(v)
    if t < stop:
        continue
    g = re.search(r"target=(127\.200\.0\.\d+):9090 up=false", m)
    if g and g.group(1) not in first_fail:
        first_fail[g.group(1)] = t
    g = re.search(r"op=del-dest service=\S+ dest=\[(127\.200\.0\.\d+)\]:\d+", m)
    if g and g.group(1) not in down:
        down[g.group(1)] = t
fd = [down[k] - first_fail[k] for k in down if k in first_fail]
sd = [down[k] - stop for k in down]
fmt = lambda xs: ("%.3f-%.3f s (n=%d)" % (min(xs), max(xs), len(xs))) if xs else "none"
rate = (int(a1) - int(a0)) / float(secs) if int(a1) > int(a0) else float("nan")
print("| %s s | %s | %.0f | %.1f | %.1f / %.1f | %.1f | %s | %s |" % (
    dl, n, rate, cpu, int(rss) / 1024, int(hwm) / 1024, bcpu, fmt(fd), fmt(sd)))
PY
  # Restart the victims for the next round.
  "$BACKEND" "${VICTIM_ARGS[@]}" > "$WORK/victims.out" &
  VPID=$!; PIDS+=("$VPID")
  sleep 1
done
