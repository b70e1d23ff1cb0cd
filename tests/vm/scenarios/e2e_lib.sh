# Helpers shared by the end-to-end scenarios (tests/vm/scenarios/e2e_*.sh), sourced after
# /usr/local/lib/vm/lib.sh. Copied into the VM as /files/e2e_lib.sh.
#
# Hosts are network namespaces; segments are bridges in the VM's root namespace (the VM is
# thrown away, nothing leaves it). Every observation is taken from the kernel or from the
# traffic (ip addr, ipvsadm, tcpdump, iptables counters, what the client receives, the mails
# the SMTP server stored), never from rampart's own logs; the logs are printed for diagnosis.

E2E_RUN=/tmp/e2e
mkdir -p "$E2E_RUN"

# plug NS IFNAME BRIDGE ADDR/PREFIX...: namespace NS (created if needed) gets a veth IFNAME on
# BRIDGE (created if needed) with the addresses; the peer in the root namespace is NS-IFNAME.
plug() {
    local ns=$1 ifname=$2 br=$3 peer="${1}-${2}"
    shift 3
    [ -e "/run/netns/$ns" ] || { ip netns add "$ns"; ip -n "$ns" link set lo up; }
    if ! ip link show "$br" >/dev/null 2>&1; then
        ip link add "$br" type bridge
        # No STP, no forwarding delay: ports forward at once.
        ip link set "$br" type bridge forward_delay 0 stp_state 0
        ip link set "$br" up
    fi
    ip link add "$peer" type veth peer name "$ifname" netns "$ns"
    ip link set "$peer" master "$br" up
    local a
    for a in "$@"; do ip -n "$ns" addr add "$a" dev "$ifname"; done
    ip -n "$ns" link set "$ifname" up
}

# web NS PORT BODY: busybox httpd in NS on PORT serving BODY (pid in $E2E_RUN/web-NS-PORT.pid).
web() {
    local ns=$1 port=$2 root=$E2E_RUN/www-$1-$2
    mkdir -p "$root"
    printf '%s\n' "$3" >"$root/index.html"
    ip netns exec "$ns" busybox httpd -f -p "$port" -h "$root" &
    echo $! >"$E2E_RUN/web-$ns-$port.pid"
    wait_until 5 ip netns exec "$ns" sh -c "netstat -ltn | grep -q ':$port '"
}
web_stop() {
    local f=$E2E_RUN/web-$1-$2.pid
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
    rm -f "$f"
    wait_until 5 sh -c "! ip netns exec $1 netstat -ltn | grep -q ':$2 '"
}

# ask NS ADDR PORT: one HTTP GET from NS; prints the last line of the answer (the body) or
# nothing. Never fails.
ask() {
    printf 'GET / HTTP/1.0\r\n\r\n' | ip netns exec "$1" nc -w 2 "$2" "$3" 2>/dev/null | tail -n 1 | tr -d '\r' || true
}

# rampart_start NAME NS CONF: rampart as a director in NS (log $E2E_RUN/NAME.log).
rampart_start() {
    local name=$1 ns=$2 conf=$3
    ip netns exec "$ns" rampart -n -f "$conf" -l --control-socket "$E2E_RUN/$name.sock" \
        >>"$E2E_RUN/$name.log" 2>&1 &
    echo $! >"$E2E_RUN/$name.pid"
}
rampart_kill() {
    local f=$E2E_RUN/$1.pid
    [ -f "$f" ] && kill -"${2:-KILL}" "$(cat "$f")" 2>/dev/null
    [ -f "$f" ] && wait_until 10 sh -c "! kill -0 $(cat "$f") 2>/dev/null"
    rm -f "$f" "$E2E_RUN/$1.sock"
}
show_log() {
    echo "--- last lines of $1's log (diagnosis only) ---"
    tail -n "${2:-25}" "$E2E_RUN/$1.log" 2>/dev/null | sed 's/^/    /'
}

# has_addr NS IF ADDR: ADDR is configured on IF in NS.
has_addr() { ip -n "$1" -4 addr show dev "$2" 2>/dev/null | grep -q "inet $3/"; }

# weight_of NS VIP:PORT RS:PORT: the real server's weight in NS's IPVS table ("" if absent).
weight_of() {
    ip netns exec "$1" ipvsadm -Ln -t "$2" 2>/dev/null | awk -v rs="$3" '$1 == "->" && $2 == rs {print $4}'
}

# secs_since START_US: seconds since START_US with two decimals.
secs_since() {
    local d=$(($(now_us) - $1))
    printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}

# ---------------------------------------------------------------------------------------------
# Seed 004's LVS-NAT pair (docs/scenarios/lvs-nat.md):
#   WAN 10.0.1.0/24: client1 .10, client2 .11, mail .25, director A .2, director B .3
#   LAN 10.0.2.0/24: director A .2, director B .3, rs1 .11, rs2 .12 (default gw 10.0.2.1)
#   VIPs 10.0.1.100 (LVS_WAN, eth0) and 10.0.2.1 (LVS_LAN, eth1)
nat_pair_topology() {
    plug client1 eth0 wan 10.0.1.10/24
    plug client2 eth0 wan 10.0.1.11/24
    plug mail eth0 wan 10.0.1.25/24
    local d n=2
    for d in dira dirb; do
        plug "$d" eth0 wan "10.0.1.$n/24"
        plug "$d" eth1 lan "10.0.2.$n/24"
        ip netns exec "$d" sysctl -qw net.ipv4.ip_forward=1
        # With inhibit_on_failure a failed real server keeps weight 0 and its persistence
        # templates would keep sending clients to it; this expires them (the usual advice for
        # keepalived's persistence + inhibit_on_failure).
        ip netns exec "$d" sysctl -qw net.ipv4.vs.expire_quiescent_template=1
        n=$((n + 1))
    done
    plug rs1 eth0 lan 10.0.2.11/24
    plug rs2 eth0 lan 10.0.2.12/24
    ip -n rs1 route add default via 10.0.2.1
    ip -n rs2 route add default via 10.0.2.1
}

# Which VIPs director NS holds: "wan+lan", "wan", "lan" or "none".
vips_of() {
    local w=0 l=0
    has_addr "$1" eth0 10.0.1.100 && w=1
    has_addr "$1" eth1 10.0.2.1 && l=1
    case $w$l in 11) echo wan+lan ;; 10) echo wan ;; 01) echo lan ;; *) echo none ;; esac
}
