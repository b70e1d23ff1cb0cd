#!/bin/bash
# Benchmark (not a test): the checker on one slow CPU, on the host (docs/benchmarks/check.md,
# "Checks on one CPU"). 1,000 real servers on 127.77.0.0/16:18080 (half TCP_CHECK, half
# HTTP_GET + digest) at delay_loop 6, served by benches/check_backend.rs; the backend and
# `rampart -n --dry-run -C` are pinned to CPU 0 (`taskset -c 0`) and, with QUOTA_US set, share
# a cgroup-v1 CPU quota of QUOTA_US per 20 ms (1000 = 5 % of one CPU: emulates the test VM's
# slow vCPU, where bursts of checks queue). After 20 s of settling, over 30 s: the check rate
# the backend saw, rampart's CPU ticks and context switches per thread; 12 s of tcpdump on lo:
# per check SYN -> the checker's FIN/RST, and how the SYNs spread over 100 ms bins.
# usage: benches/check_one_cpu.sh LABEL RAMPART_BIN [QUOTA_US]   (work files in /tmp/check_one_cpu)
set -u
L=$1 R=$2 QUOTA=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
W=/tmp/check_one_cpu; mkdir -p $W
B=${BACKEND_BIN:-$(ls -t "$HERE"/../target/release/deps/check_backend-* | grep -v '\.d$' | head -1)}
python3 - > $W/bench6.conf <<'PY'
out = []
for v in range(10):
    out.append("virtual_server 10.77.%d.1 80 {\n  delay_loop 6\n  lb_algo rr\n  lb_kind DR\n" % v)
    for i in range(v * 100, (v + 1) * 100):
        out.append("  real_server 127.77.%d.%d 18080 {\n    weight 1\n" % (i // 250, 1 + i % 250))
        if i % 2 == 0:
            out.append("    TCP_CHECK {\n      connect_timeout 3\n    }\n")
        else:
            out.append("    HTTP_GET {\n      url {\n        path /\n        digest b1946ac92492d2347c6235b4d2611184\n      }\n      connect_timeout 3\n    }\n")
        out.append("  }\n")
    out.append("}\n")
print("".join(out))
PY
CG=
if [ -n "$QUOTA" ]; then
    CG=/sys/fs/cgroup/cpu/check_one_cpu_$$
    mkdir -p $CG && echo 20000 >$CG/cpu.cfs_period_us && echo "$QUOTA" >$CG/cpu.cfs_quota_us
fi
taskset -c 0 "$B" --port 18080 >$W/$L.backend &
BP=$!; [ -n "$CG" ] && echo $BP >$CG/cgroup.procs
sleep 1
RAMPART_LOG=warn taskset -c 0 "$R" -n --dry-run -C -f $W/bench6.conf --control-socket $W/$L.sock 2>$W/$L.log &
RP=$!; [ -n "$CG" ] && echo $RP >$CG/cgroup.procs
threads() { for t in $(ls /proc/$RP/task); do echo "$t $(cat /proc/$RP/task/$t/comm) $(awk '{print $14+$15}' /proc/$RP/task/$t/stat) $(awk '/ctxt_switches/ {s+=$2} END {print s}' /proc/$RP/task/$t/status)"; done; }
sleep 20
A0=$(tail -1 $W/$L.backend | sed -n "s/STATS accepted=//p")
timeout 12 tcpdump -i lo -n -tt -s 96 'tcp port 18080 and (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0 or tcp[tcpflags] & tcp-push != 0)' >$W/$L.tcpdump 2>/dev/null &
threads >$W/$L.threads0
sleep 30
A1=$(tail -1 $W/$L.backend | sed -n "s/STATS accepted=//p")
threads >$W/$L.threads1
echo "$L: checks/s $(((A1 - A0) / 30)); host load $(cut -d' ' -f1 /proc/loadavg)"
paste $W/$L.threads0 $W/$L.threads1 | awk '{print "  thread", $1, $2, $7 - $3, "ticks,", $8 - $4, "context switches"; t += $7 - $3} END {print "  rampart CPU in 30 s:", t, "ticks"}'
sleep 1
python3 "$HERE/check_wire.py" $W/$L.tcpdump 18080
kill $RP $BP; wait
[ -n "$CG" ] && rmdir $CG
exit 0
