#!/bin/bash
# Runs inside the test VM (booted by benches/vm_check_bench.sh): N real servers checked by
# keepalived 2.2.7 (`keepalived -n -l -C`) and by rampart (`rampart -n -C`) on the same
# keepalived.conf, one after the other, each really programming IPVS. Prints one markdown row per
# daemon and delay_loop, and whether both programmed the same table.
# Env: N (1000), LOOPS ("1 6"), SECS (60), VICTIMS (10), DAEMONS ("keepalived rampart"),
#      REPS (1: each daemon once per delay_loop; 2: K R K R, to see the run-to-run noise),
#      WIRE (unset; 1: after each window, 12 s of tcpdump on the veth: how long checks last on
#      the wire, SYN to the checker's FIN/RST, per check type).
# Files: /files/check_vm_lib.sh, /files/check_backend.
. /usr/local/lib/vm/lib.sh
. /files/check_vm_lib.sh
set -u
N=${N:-1000}
LOOPS=${LOOPS:-"1 6"}
SECS=${SECS:-60}
VICTIMS=${VICTIMS:-10}
DAEMONS=${DAEMONS:-"keepalived rampart"}
REPS=${REPS:-1}
PER_VS=100
RETRY=2
DBR=1
VICTIM_VS=10.9.255.1:80
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

cv_topology
cv_backend_start
BACKEND_PID=$(cat "$CV/backend.pid")
backend_ticks() { awk '{print $14+$15}' "/proc/$BACKEND_PID/stat"; }
VICTIM_ADDRS=()
for v in $(seq 0 $((VICTIMS - 1))); do VICTIM_ADDRS+=("$(cv_addr "$v")"); done

gen_conf() { cv_bench_conf "$N" "$1" "$PER_VS" "$VICTIMS" "$RETRY" "$DBR"; }

dests() { ipvsadm -S -n | grep -c '^-a' || true; }
# cpu_busy: busy and total jiffies (no /dev/fd in the VM: no process substitution) of the (single) vCPU, from /proc/stat.
cpu_busy() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b - a) / 1e6}'; }

# wire_durations DAEMON DL: 12 s of the checkers' SYN/FIN/RST towards :8080; per connection the
# time from the SYN to the checker's FIN or RST, by check type (odd real server index: HTTP_GET).
wire_durations() {
    tcpdump -Z root -i be0 -n -tt -l 'tcp dst port 8080 and (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0)' \
        >"$CV/wire.$1.$2" 2>/dev/null &
    local tp=$!
    sleep 12
    kill $tp
    wait $tp 2>/dev/null
    awk -v d="$1" -v dl="$2" '{
        t = $1; src = $3; split($5, a, "."); f = $7
        if (f ~ /S/) { syn[src] = t; next }
        if (!(src in syn)) next
        dur = t - syn[src]; delete syn[src]
        k = ((a[3] * 250 + a[4] - 1) % 2) ? "HTTP_GET" : "TCP_CHECK"
        n[k]++; s[k] += dur; if (dur > mx[k]) mx[k] = dur
    } END { for (k in n) printf "%s delay_loop %s %s on the wire: n=%d mean %.1f ms, max %.1f ms\n", d, dl, k, n[k], s[k] / n[k] * 1000, mx[k] * 1000 }' "$CV/wire.$1.$2"
}

echo "VM: $(nproc) vCPU, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB, kernel $(uname -r)"
echo "keepalived: $(keepalived -v 2>&1 | head -1); rampart: $(rampart --version 2>&1 | head -1)"
echo "real servers: $N on :8080 (half TCP_CHECK, half HTTP_GET+digest) in $(((N + PER_VS - 1) / PER_VS)) virtual servers + $VICTIMS victims on :9090 (retry $RETRY, delay_before_retry $DBR s); window ${SECS} s"
ROWS=$CV/rows
: >"$ROWS"
for DL in $LOOPS; do
    CONF=$CV/bench_$DL.conf
    gen_conf "$DL" >"$CONF"
    RUNS=""
    for _ in $(seq "$REPS"); do RUNS="$RUNS $DAEMONS"; done
    for D in $RUNS; do
        cv_victims_start "${VICTIM_ADDRS[@]}"
        ipvsadm -C
        cv_daemon_start "$D" "$CONF"
        if ! wait_until 300 sh -c "[ \$(ipvsadm -S -n | grep -c '^-a') -ge $((N + VICTIMS)) ]"; then
            echo "$D delay_loop $DL: the table never reached $((N + VICTIMS)) destinations ($(dests)); log:"
            tail -20 "$CV/$D.log"
        fi
        # Let the first rounds settle (start-up work is not part of the steady state).
        settle=$((DL * 2 > 10 ? DL * 2 : 10))
        sleep "$settle"
        A0=$(cv_accepted "$CV/backend.out"); C0=$(cv_cpu_ticks "$D"); K0=$(backend_ticks); set -- $(cpu_busy); B0=$1 J0=$2; T0=$(now_us)
        sleep "$SECS"
        A1=$(cv_accepted "$CV/backend.out"); C1=$(cv_cpu_ticks "$D"); K1=$(backend_ticks); set -- $(cpu_busy); B1=$1 J1=$2; T1=$(now_us)
        RSS=$(cv_rss_kib "$D" VmRSS); HWM=$(cv_rss_kib "$D" VmHWM); NPROC=$(cv_pids "$D" | wc -l)
        cv_table | sort >"$CV/table.$D.$DL"
        echo "$D delay_loop $DL: $(grep -c '^-a' "$CV/table.$D.$DL") destinations in $(grep -c '^-A' "$CV/table.$D.$DL") services; VM load average $(cut -d' ' -f1-3 /proc/loadavg)"

        [ -z "${WIRE:-}" ] || wire_durations "$D" "$DL"

        # Stop the victims; note when each one leaves the victims' virtual server.
        STOP=$(now_us)
        cv_victims_stop
        declare -A gone=()
        deadline=$((STOP + (DL + RETRY * DBR + 20) * 1000000))
        while [ ${#gone[@]} -lt "$VICTIMS" ] && [ "$(now_us)" -lt $deadline ]; do
            listed=$(ipvsadm -Ln -t $VICTIM_VS 2>/dev/null | awk '$1 == "->" {print $2}')
            t=$(now_us)
            for a in "${VICTIM_ADDRS[@]}"; do
                [ -n "${gone[$a]:-}" ] && continue
                grep -qx "$a:9090" <<<"$listed" || gone[$a]=$t
            done
            sleep 0.1
        done
        min="" max=""
        for a in "${!gone[@]}"; do
            d=$((gone[$a] - STOP))
            [ -z "$min" ] || [ $d -lt $min ] && min=$d
            [ -z "$max" ] || [ $d -gt $max ] && max=$d
        done
        ngone=${#gone[@]}
        unset gone
        cv_daemon_stop "$D"
        awk -v d="$D" -v dl="$DL" -v n="$N" -v a0="$A0" -v a1="$A1" -v c0="$C0" -v c1="$C1" -v hz="$HZ" \
            -v t0="$T0" -v t1="$T1" -v rss="$RSS" -v hwm="$HWM" -v np="$NPROC" -v b0="$B0" -v b1="$B1" \
            -v j0="$J0" -v j1="$J1" -v mn="${min:-}" -v mx="${max:-}" -v ng="$ngone" -v k0="$K0" -v k1="$K1" 'BEGIN {
            wall = (t1 - t0) / 1e6; cpu = (c1 - c0) / hz; checks = a1 - a0
            rate = checks / wall
            downs = (mn == "") ? "none" : sprintf("%.2f–%.2f s (n=%d)", mn / 1e6, mx / 1e6, ng)
            bcpu = (k1 - k0) / hz
            printf "| %s | %s s | %d | %.0f | %.2f s | %.1f | %.0f | %.1f / %.1f (%d proc) | %.0f | %.0f | %s |\n", d, dl, n, rate, cpu, cpu / wall * 100, (checks > 0 ? cpu / checks * 1e6 : 0), rss / 1024, hwm / 1024, np, (checks > 0 ? bcpu / checks * 1e6 : 0), (b1 - b0) / (j1 - j0) * 100, downs
        }' | tee -a "$ROWS"
        echo "$D: victims gone: ${min:+$(secs 0 "$min")..$(secs 0 "$max") s after the stop}; last log lines:"
        tail -3 "$CV/$D.log" | cut -c1-200 | sed 's/^/    /'
    done
    if [ -f "$CV/table.keepalived.$DL" ] && [ -f "$CV/table.rampart.$DL" ]; then
        if cmp -s "$CV/table.keepalived.$DL" "$CV/table.rampart.$DL"; then
            echo "delay_loop $DL: keepalived and rampart programmed the same IPVS table (ipvsadm -S -n, sorted: $(wc -l <"$CV/table.rampart.$DL") lines)"
        else
            echo "delay_loop $DL: the IPVS tables DIFFER (keepalived ---, rampart +++):"
            diff -u "$CV/table.keepalived.$DL" "$CV/table.rampart.$DL" | head -30
        fi
    fi
done
echo
echo "| daemon | delay_loop | real servers | checks/s (backend accepted) | CPU time in the window | % of the vCPU | CPU µs per check | RSS end / peak MiB | backend CPU µs per connection (control) | VM vCPU busy % | victims: stop → out of IPVS (budget ${RETRY} × ${DBR} s after the first failure) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
cat "$ROWS"
