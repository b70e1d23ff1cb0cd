# Helpers for VM scenarios: `. /usr/local/lib/vm/lib.sh` (run-vm.sh installs this file there).
# Scenarios run under bash as root in a fresh VM; see tests/vm/README.md.

# section NAME COMMAND [ARGS...]: runs COMMAND in a subshell with `set -eE -o pipefail` (a failing
# command is named) and frames its output so tests/common/vm.rs can check each part on its own:
#   @@SECTION NAME@@
#   ...output...
#   @@SECTION-END NAME rc=N ms=ELAPSED@@
# Returns COMMAND's status. A section that prints "SKIP: reason" as its first line and exits 0 is skipped.
section() {
    local name=$1 rc start
    shift
    start=$(now_us)
    echo "@@SECTION $name@@"
    (
        set -eEo pipefail
        # Say which command failed: a bare `grep -q` failing is otherwise silent.
        trap 'echo "FAILED: exit $? at line $LINENO: $BASH_COMMAND"' ERR
        "$@"
    )
    rc=$?
    echo "@@SECTION-END $name rc=$rc ms=$((($(now_us) - start) / 1000))@@"
    return $rc
}

# expect_same LABEL EXPECTED_FILE ACTUAL_FILE: byte-for-byte comparison; prints a unified diff and
# fails when they differ.
expect_same() {
    local label=$1 expected=$2 actual=$3
    if cmp -s "$expected" "$actual"; then
        return 0
    fi
    echo "MISMATCH $label (--- expected, +++ actual):"
    diff -u "$expected" "$actual" | sed 's/^/    /' || true
    return 1
}

# now_us: wall clock in microseconds (bash's EPOCHREALTIME), for benchmarks inside the VM.
now_us() {
    local t=${EPOCHREALTIME/./}
    echo "$t"
}

# wait_until SECONDS COMMAND...: retries COMMAND every 0.1 s until it succeeds or SECONDS pass.
wait_until() {
    local limit=$1 i=0
    shift
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt $((limit * 10)) ] || return 1
        sleep 0.1
    done
}

# ns_on_bridge BRIDGE NS IFNAME ADDR/PREFIX [ADDR6/PREFIX]: creates namespace NS (if needed) with a veth
# IFNAME inside, its peer IFNAME-br enslaved to BRIDGE (created if needed), addresses set, all up.
ns_on_bridge() {
    local br=$1 ns=$2 ifname=$3 addr=$4 addr6=${5:-}
    [ -e "/run/netns/$ns" ] || ip netns add "$ns"
    ip -n "$ns" link set lo up
    if ! ip link show "$br" >/dev/null 2>&1; then
        ip link add "$br" type bridge
        ip link set "$br" up
    fi
    ip link add "$ifname" type veth peer name "$ifname-br"
    ip link set "$ifname" netns "$ns"
    ip link set "$ifname-br" master "$br" up
    ip -n "$ns" addr add "$addr" dev "$ifname"
    [ -z "$addr6" ] || ip -n "$ns" addr add "$addr6" dev "$ifname" nodad
    ip -n "$ns" link set "$ifname" up
}

# http_server NS PORT BODY: busybox httpd in namespace NS serving BODY as /index.html (background).
http_server() {
    local ns=$1 port=$2 body=$3 root=/tmp/www-$1-$2
    mkdir -p "$root"
    printf '%s\n' "$body" >"$root/index.html"
    ip netns exec "$ns" busybox httpd -p "$port" -h "$root"
    wait_until 5 ip netns exec "$ns" sh -c "netstat -ltn | grep -q ':$port '"
}

# http_get NS ADDR PORT: one HTTP/1.0 GET / through nc (busybox wget crashes in this VM); prints the reply.
http_get() {
    local ns=$1 addr=$2 port=$3
    printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" | ip netns exec "$ns" nc -w 3 "$addr" "$port"
}

# dr_real_server NS VIP: makes NS accept traffic for VIP (direct routing) without answering ARP for it.
dr_real_server() {
    local ns=$1 vip=$2
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
    ip -n "$ns" addr add "$vip/32" dev lo
}

# tun_real_server NS VIP: makes NS decapsulate IPIP and accept traffic for VIP (IPVS tunnelling).
tun_real_server() {
    local ns=$1 vip=$2
    modprobe ipip
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    ip -n "$ns" link set tunl0 up
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.tunl0.rp_filter=0
    ip -n "$ns" addr add "$vip/32" dev tunl0
}

# start_bg NAME CMD...: runs CMD in the background, output in /tmp/NAME.log, pid in /run/bg/NAME.pid.
# stop_bg NAME: TERM, then KILL after 2 s. Everything dies with the VM anyway.
start_bg() {
    local name=$1
    shift
    mkdir -p /run/bg
    "$@" >"/tmp/$name.log" 2>&1 &
    echo $! >"/run/bg/$name.pid"
}
stop_bg() {
    local pid
    pid=$(cat "/run/bg/$1.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}
