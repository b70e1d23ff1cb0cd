#!/bin/bash
# Runs inside the test VM (benches/vm_check_bench.sh with SIMULTANEOUS=1): keepalived 2.2.7 and
# rampart on the same keepalived.conf AT THE SAME TIME, over the same window, each in its own
# namespace with its own IPVS table and its own backend namespace (IPVS is per network
# namespace):
#   dk (keepalived -n -l -C) -- veth -- bek (check_backend owning 10.1.0.0/22, victims on :9090)
#   dr (rampart -n -C)       -- veth -- ber (the same)
# Whatever the host does to the VM's one vCPU during the window, it does to both daemons: the
# comparison survives a loaded host better than the sequential runs do.
# Env: N (1000), LOOPS ("1 6"), SECS (60), VICTIMS (10), REPS (1).
# Files: /files/check_vm_lib.sh, /files/check_backend.
. /usr/local/lib/vm/lib.sh
. /files/check_vm_lib.sh
set -u
N=${N:-1000}
LOOPS=${LOOPS:-"1 6"}
SECS=${SECS:-60}
VICTIMS=${VICTIMS:-10}
REPS=${REPS:-1}
PER_VS=100
RETRY=2
DBR=1
VICTIM_VS=10.9.255.1:80
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
ulimit -n 65536
SIDES="k r"
name_of() { if [ "$1" = k ]; then echo keepalived; else echo rampart; fi; }
VICTIM_ADDRS=()
for v in $(seq 0 $((VICTIMS - 1))); do VICTIM_ADDRS+=("$(cv_addr "$v")"); done

for s in $SIDES; do
    ip netns add "d$s"
    ip netns add "be$s"
    ip -n "d$s" link set lo up
    ip -n "be$s" link set lo up
    ip -n "be$s" addr add 10.1.0.1/22 dev lo
    ip link add "v$s" netns "d$s" type veth peer name eth0 netns "be$s"
    ip -n "d$s" addr add 192.168.77.1/24 dev "v$s"
    ip -n "d$s" link set "v$s" up
    ip -n "be$s" addr add 192.168.77.2/24 dev eth0
    ip -n "be$s" link set eth0 up
    ip -n "d$s" route add 10.1.0.0/22 via 192.168.77.2
    ip netns exec "be$s" /files/check_backend --port 8080 >"$CV/backend.$s.out" 2>&1 &
    echo $! >"$CV/backend.$s.pid"
    wait_until 10 grep -q READY "$CV/backend.$s.out"
done
victims_start() {
    local a args=()
    for a in "${VICTIM_ADDRS[@]}"; do args+=(--listen "$a:9090"); done
    ip netns exec "be$1" /files/check_backend "${args[@]}" >"$CV/victims.$1.out" 2>&1 &
    echo $! >"$CV/victims.$1.pid"
    wait_until 10 grep -q READY "$CV/victims.$1.out"
}
ticks_of_pid() { awk '{print $14+$15}' "/proc/$1/stat"; }
ipvs() { ip netns exec "d$1" ipvsadm "${@:2}"; }
cpu_busy() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }

echo "VM: $(nproc) vCPU, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB, kernel $(uname -r)"
echo "keepalived: $(keepalived -v 2>&1 | head -1); rampart: $(rampart --version 2>&1 | head -1)"
echo "SIMULTANEOUS: both daemons in the same window, each in its own namespace, IPVS table and backend"
echo "real servers: $N on :8080 (half TCP_CHECK, half HTTP_GET+digest) in $(((N + PER_VS - 1) / PER_VS)) virtual servers + $VICTIMS victims on :9090 (retry $RETRY, delay_before_retry $DBR s); window ${SECS} s"
ROWS=$CV/rows
: >"$ROWS"
for DL in $LOOPS; do
    CONF=$CV/bench_$DL.conf
    cv_bench_conf "$N" "$DL" "$PER_VS" "$VICTIMS" "$RETRY" "$DBR" >"$CONF"
    for rep in $(seq "$REPS"); do
        for s in $SIDES; do victims_start "$s"; done
        ip netns exec dk keepalived -n -l -C -f "$CONF" >"$CV/keepalived.log" 2>&1 &
        ip netns exec dr env RAMPART_LOG=info rampart -n -C -f "$CONF" --log-format json >"$CV/rampart.log" 2>&1 &
        for s in $SIDES; do
            wait_until 300 bash -c "[ \$(ip netns exec d$s ipvsadm -S -n | grep -c '^-a') -ge $((N + VICTIMS)) ]" ||
                echo "$(name_of $s): the table never reached $((N + VICTIMS)) destinations"
        done
        sleep $((DL * 2 > 10 ? DL * 2 : 10))
        declare -A A0 C0 K0 A1 C1 K1
        for s in $SIDES; do
            A0[$s]=$(cv_accepted "$CV/backend.$s.out"); C0[$s]=$(cv_cpu_ticks "$(name_of $s)")
            K0[$s]=$(ticks_of_pid "$(cat "$CV/backend.$s.pid")")
        done
        set -- $(cpu_busy); B0=$1 J0=$2; T0=$(now_us)
        sleep "$SECS"
        for s in $SIDES; do
            A1[$s]=$(cv_accepted "$CV/backend.$s.out"); C1[$s]=$(cv_cpu_ticks "$(name_of $s)")
            K1[$s]=$(ticks_of_pid "$(cat "$CV/backend.$s.pid")")
        done
        set -- $(cpu_busy); B1=$1 J1=$2; T1=$(now_us)
        for s in $SIDES; do ipvs "$s" -S -n | sort >"$CV/table.$s.$DL"; done

        # Kill both victims' backends at once; note when each victim leaves each table.
        STOP=$(now_us)
        for s in $SIDES; do kill "$(cat "$CV/victims.$s.pid")"; done
        declare -A gone=()
        deadline=$((STOP + (DL + RETRY * DBR + 25) * 1000000))
        while [ ${#gone[@]} -lt $((2 * VICTIMS)) ] && [ "$(now_us)" -lt $deadline ]; do
            for s in $SIDES; do
                listed=$(ipvs "$s" -Ln -t $VICTIM_VS 2>/dev/null | awk '$1 == "->" {print $2}')
                t=$(now_us)
                for a in "${VICTIM_ADDRS[@]}"; do
                    [ -n "${gone[$s$a]:-}" ] && continue
                    grep -qx "$a:9090" <<<"$listed" || gone[$s$a]=$t
                done
            done
            sleep 0.1
        done
        for s in $SIDES; do
            d=$(name_of $s)
            min="" max="" ng=0
            for a in "${VICTIM_ADDRS[@]}"; do
                [ -n "${gone[$s$a]:-}" ] || continue
                ng=$((ng + 1))
                x=$((gone[$s$a] - STOP))
                { [ -z "$min" ] || [ $x -lt $min ]; } && min=$x
                { [ -z "$max" ] || [ $x -gt $max ]; } && max=$x
            done
            RSS=$(cv_rss_kib "$d" VmRSS); HWM=$(cv_rss_kib "$d" VmHWM); NPROC=$(cv_pids "$d" | wc -l)
            awk -v d="$d" -v dl="$DL" -v n="$N" -v a0="${A0[$s]}" -v a1="${A1[$s]}" -v c0="${C0[$s]}" \
                -v c1="${C1[$s]}" -v k0="${K0[$s]}" -v k1="${K1[$s]}" -v hz="$HZ" -v t0="$T0" -v t1="$T1" \
                -v rss="$RSS" -v hwm="$HWM" -v np="$NPROC" -v b0="$B0" -v b1="$B1" -v j0="$J0" -v j1="$J1" \
                -v mn="$min" -v mx="$max" -v ng="$ng" 'BEGIN {
                wall = (t1 - t0) / 1e6; cpu = (c1 - c0) / hz; checks = a1 - a0; bcpu = (k1 - k0) / hz
                downs = (mn == "") ? "none" : sprintf("%.2f–%.2f s (n=%d)", mn / 1e6, mx / 1e6, ng)
                printf "| %s | %s s | %d | %.0f | %.2f s | %.1f | %.0f | %.1f / %.1f (%d proc) | %.0f | %.0f | %s |\n", d, dl, n, checks / wall, cpu, cpu / wall * 100, (checks > 0 ? cpu / checks * 1e6 : 0), rss / 1024, hwm / 1024, np, (checks > 0 ? bcpu / checks * 1e6 : 0), (b1 - b0) / (j1 - j0) * 100, downs
            }' | tee -a "$ROWS"
        done
        unset gone A0 C0 K0 A1 C1 K1
        # Stop both; their tables go with them.
        for d in keepalived rampart; do
            for p in $(cv_pids $d); do kill "$p" 2>/dev/null; done
        done
        wait_until 30 sh -c '! grep -qxE "keepalived|rampart" /proc/[0-9]*/comm 2>/dev/null' || echo "a daemon did not stop"
        for s in $SIDES; do ipvs "$s" -C; done
        if cmp -s "$CV/table.k.$DL" "$CV/table.r.$DL"; then
            echo "delay_loop $DL run $rep: keepalived and rampart programmed the same IPVS table (ipvsadm -S -n, sorted: $(wc -l <"$CV/table.r.$DL") lines)"
        else
            echo "delay_loop $DL run $rep: the IPVS tables DIFFER (keepalived ---, rampart +++):"
            diff -u "$CV/table.k.$DL" "$CV/table.r.$DL" | head -30
        fi
    done
done
echo
echo "| daemon (simultaneous) | delay_loop | real servers | checks/s (its backend accepted) | CPU time in the window | % of the vCPU | CPU µs per check | RSS end / peak MiB | its backend's CPU µs per connection | VM vCPU busy % (both) | victims: kill → out of IPVS (budget ${RETRY} × ${DBR} s after the first failure) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
cat "$ROWS"
