#!/bin/sh
# Capture real keepalived (Debian 2.2.7) adverts as golden test vectors.
# Runs keepalived inside a network namespace with a veth pair; tcpdump listens in the peer
# namespace. Nothing touches the host's interfaces. Usage: sh capture.sh [CASE...] (as root);
# without arguments every case is captured again.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tag=$$
A=rpcapA$tag; B=rpcapB$tag
work=$(mktemp -d)
cleanup() {
    for p in "$work"/*.kpid "$work"/*.tpid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true; done
    sleep 0.5
    ip netns del $A 2>/dev/null || true
    ip netns del $B 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
ip netns add $A; ip netns add $B
ip link add vA netns $A type veth peer name vB netns $B
for ns in $A $B; do
    ip -n $ns link set lo up
    ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip -n $A link set vA addrgenmode none; ip -n $B link set vB addrgenmode none
ip -n $A link set vA address 02:00:00:00:00:0a; ip -n $B link set vB address 02:00:00:00:00:0b
ip -n $A addr add 10.99.0.1/24 dev vA; ip -n $B addr add 10.99.0.2/24 dev vB
ip -n $A addr add fe80::1/64 dev vA nodad; ip -n $B addr add fe80::2/64 dev vB nodad
ip -n $A link set vA up; ip -n $B link set vB up

wanted() { [ -z "$only" ] || case " $only " in *" $1 "*) return 0;; *) return 1;; esac; }
only="$*"
run_case() { # name, instance body
    name=$1; body=$2
    wanted "$name" || return 0
    cat > "$work/$name.conf" <<CONF
global_defs {
    router_id golden
}
vrrp_instance VI_$name {
    interface vA
    state MASTER
$body
}
CONF
    ip netns exec $B tcpdump -i vB -U -s 0 -w "$here/$name.pcap" 'ip proto 112 or ip proto 51 or ip6 proto 112' >/dev/null 2>&1 &
    echo $! > "$work/$name.tpid"
    sleep 1
    ip netns exec $A keepalived -P -n -l -f "$work/$name.conf" -p "$work/$name.pid" -r "$work/$name.vpid" >"$work/$name.log" 2>&1 &
    echo $! > "$work/$name.kpid"
    sleep 7
    kill -TERM "$(cat "$work/$name.kpid")"; sleep 1.5
    kill "$(cat "$work/$name.tpid")"; sleep 0.5
    rm -f "$work/$name.kpid" "$work/$name.tpid"
    cp "$work/$name.conf" "$here/$name.conf"
    echo "== $name"; cat "$work/$name.log" | tail -5
}

run_case v2_pass '    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass rampart
    }
    virtual_ipaddress {
        192.0.2.10/24
        192.0.2.11/24
    }'
run_case v2_ah '    virtual_router_id 52
    priority 120
    advert_int 1
    authentication {
        auth_type AH
        auth_pass s3cret
    }
    virtual_ipaddress {
        192.0.2.20/24
    }'
run_case v3_ipv4 '    version 3
    virtual_router_id 53
    priority 200
    advert_int 0.5
    virtual_ipaddress {
        192.0.2.30/24
        192.0.2.31/24
        192.0.2.32/24
    }'
run_case v3_ipv6 '    version 3
    virtual_router_id 54
    priority 100
    advert_int 1
    virtual_ipaddress {
        2001:db8::54/64
    }'
run_case v2_ah_unicast '    virtual_router_id 55
    priority 130
    advert_int 1
    unicast_src_ip 10.99.0.1
    unicast_peer {
        10.99.0.2
    }
    authentication {
        auth_type AH
        auth_pass unicastAH
    }
    virtual_ipaddress {
        192.0.2.55/24
    }'
run_case v3_unicast '    version 3
    virtual_router_id 56
    priority 140
    advert_int 1
    unicast_src_ip 10.99.0.1
    unicast_peer {
        10.99.0.2
    }
    virtual_ipaddress {
        192.0.2.56/24
    }'
