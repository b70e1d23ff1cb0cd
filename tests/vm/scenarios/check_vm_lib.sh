# Helpers shared by the checker side-by-side scenarios (benches/vm_check_bench_scenario.sh and
# tests/vm/scenarios/check_vm_parity.sh), sourced after /usr/local/lib/vm/lib.sh. Copied into the
# VM as /files/check_vm_lib.sh; the backend (benches/check_backend.rs, release) as
# /files/check_backend.
#
# Topology: the real servers live in namespace "be", which owns all of 10.1.0.0/22 (an address
# with a prefix on a loopback device makes the whole prefix local), so one backend process with
# a wildcard listener answers for every real server. The daemons run in the VM's root namespace
# and reach the /22 over a veth pair; IPVS is programmed in the root namespace.
#   root be0 192.168.77.1/24 <-> be eth0 192.168.77.2/24, route 10.1.0.0/22 via 192.168.77.2
# The "victims" (real servers the scenarios stop) listen on port 9090 in a second backend
# process; stopping it refuses exactly them.

CV=/tmp/cv
mkdir -p "$CV"
# The digest keepalived and rampart compute for check_backend's body "hello\n".
CV_DIGEST=b1946ac92492d2347c6235b4d2611184

cv_topology() {
    ip netns add be
    ip -n be link set lo up
    ip -n be addr add 10.1.0.1/22 dev lo
    ip link add be0 type veth peer name eth0 netns be
    ip addr add 192.168.77.1/24 dev be0
    ip link set be0 up
    ip -n be addr add 192.168.77.2/24 dev eth0
    ip -n be link set eth0 up
    ip route add 10.1.0.0/22 via 192.168.77.2
    # A few thousand sockets a second; keepalived raises its own limit, rampart uses this one.
    ulimit -n 65536
}

# cv_addr I: the address of real server number I (0-based) in 10.1.0.0/22.
cv_addr() { echo "10.1.$(($1 / 250)).$((1 + $1 % 250))"; }

# cv_backend_start: the wildcard backend on :8080 in "be" (stdout: READY, then STATS every second).
cv_backend_start() {
    ip netns exec be /files/check_backend --port 8080 >"$CV/backend.out" 2>&1 &
    echo $! >"$CV/backend.pid"
    wait_until 10 grep -q READY "$CV/backend.out"
}

# cv_victims_start ADDR...: the victims' backend, one listener per ADDR on :9090.
cv_victims_start() {
    local a args=()
    for a in "$@"; do args+=(--listen "$a:9090"); done
    ip netns exec be /files/check_backend "${args[@]}" >"$CV/victims.out" 2>&1 &
    echo $! >"$CV/victims.pid"
    wait_until 10 grep -q READY "$CV/victims.out"
}
cv_victims_stop() {
    local pid
    pid=$(cat "$CV/victims.pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# cv_accepted FILE: connections a backend accepted so far (its last STATS line).
cv_accepted() { sed -n 's/^STATS accepted=//p' "$1" | tail -1; }

# cv_daemon_start keepalived|rampart CONF: the checker side only, in the foreground, logging to
# $CV/DAEMON.log. keepalived forks its checker child; rampart is one process.
cv_daemon_start() {
    local which=$1 conf=$2
    case $which in
        keepalived) keepalived -n -l -C -f "$conf" >"$CV/keepalived.log" 2>&1 & ;;
        rampart) RAMPART_LOG=${RAMPART_LOG:-info} rampart -n -C -f "$conf" --log-format json \
            >"$CV/rampart.log" 2>&1 & ;;
        *) echo "cv_daemon_start: unknown daemon $which"; return 1 ;;
    esac
    echo $! >"$CV/$which.pid"
}
# cv_daemon_stop DAEMON: TERM (both remove their IPVS entries on the way out), then clear the
# table for the next daemon.
cv_daemon_stop() {
    local pid
    pid=$(cat "$CV/$1.pid")
    kill "$pid" 2>/dev/null || true
    wait_until 20 sh -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # keepalived's checker child may outlive its parent by a moment.
    wait_until 10 sh -c "! grep -qx keepalived /proc/[0-9]*/comm 2>/dev/null" || true
    ipvsadm -C
}

# cv_pids DAEMON: the daemon's processes (keepalived: parent and checker child).
cv_pids() {
    local f
    for f in /proc/[0-9]*/comm; do
        [ "$(cat "$f" 2>/dev/null)" = "$1" ] && { f=${f#/proc/}; echo "${f%/comm}"; }
    done
    return 0
}

# cv_cpu_ticks DAEMON: utime+stime+cutime+cstime summed over the daemon's processes (clock ticks).
cv_cpu_ticks() {
    local p sum=0 t
    for p in $(cv_pids "$1"); do
        t=$(awk '{print $14+$15+$16+$17}' "/proc/$p/stat" 2>/dev/null) || continue
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

# cv_rss_kib DAEMON FIELD: VmRSS or VmHWM summed over the daemon's processes (KiB).
cv_rss_kib() {
    local p sum=0 v
    for p in $(cv_pids "$1"); do
        v=$(awk -v k="$2:" '$1 == k {print $2}' "/proc/$p/status" 2>/dev/null)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

# cv_table: the IPVS table as ipvsadm saves it.
cv_table() { ipvsadm -S -n; }

# cv_bench_conf N DELAY_LOOP PER_VS VICTIMS RETRY DBR: the benchmark's keepalived.conf. N real
# servers on :8080 in virtual servers of PER_VS, even-numbered ones
# TCP_CHECK, odd ones HTTP_GET with the digest; plus the victims' virtual server (TCP_CHECK,
# retry RETRY, delay_before_retry DBR, removed when down).
cv_bench_conf() {
    awk -v n="$1" -v dl="$2" -v per="$3" -v victims="$4" -v retry="$5" -v dbr="$6" \
        -v digest=$CV_DIGEST 'function addr(i) { return sprintf("10.1.%d.%d", int(i / 250), 1 + i % 250) }
    BEGIN {
        for (v = 0; v * per < n; v++) {
            printf "virtual_server 10.9.%d.1 80 {\n  delay_loop %s\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n", v, dl
            for (i = v * per; i < n && i < (v + 1) * per; i++) {
                printf "  real_server %s 8080 {\n    weight 1\n", addr(i)
                if (i % 2 == 0)
                    printf "    TCP_CHECK {\n      connect_timeout 3\n    }\n"
                else
                    printf "    HTTP_GET {\n      url {\n        path /\n        digest %s\n      }\n      connect_timeout 3\n    }\n", digest
                printf "  }\n"
            }
            printf "}\n"
        }
        printf "virtual_server 10.9.255.1 80 {\n  delay_loop %s\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n", dl
        for (i = 0; i < victims; i++)
            printf "  real_server %s 9090 {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 3\n      retry %d\n      delay_before_retry %d\n    }\n  }\n", addr(i), retry, dbr
        printf "}\n"
    }'
}
