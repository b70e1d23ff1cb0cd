#!/bin/bash
# End-to-end scenario 4 (docs/scenarios/lvs-tun.md): seed 003's LVS-TUN. rampart holds the VIP
# (VRRP) and the TUN service; the real servers are prepared with `rampart realserver setup
# --mode tun` (starting from strict rp_filter). Files: /files/e2e_lib.sh, /files/tun.conf.
# Checked by tests/e2e_tun.rs.
. /usr/local/lib/vm/lib.sh
. /files/e2e_lib.sh

mac_of() { ip -n "$1" link show "$2" | awk '/link\/ether/ {print $2}'; }
both_up() {
    [ "$(weight_of dir 10.0.4.100:80 10.0.4.11:80)" = 1 ] && [ "$(weight_of dir 10.0.4.100:80 10.0.4.12:80)" = 1 ]
}

setup() {
    plug client eth0 lan4 10.0.4.10/24
    plug dir eth0 lan4 10.0.4.2/24
    plug rs1 eth0 lan4 10.0.4.11/24
    plug rs2 eth0 lan4 10.0.4.12/24
    local r
    for r in rs1 rs2; do
        # A distribution's default: strict reverse-path filtering, which drops decapsulated
        # packets whose source (the client) is not routed via tunl0.
        ip netns exec $r sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
        web $r 80 "$r"
        ip netns exec $r rampart realserver setup --mode tun --vip 10.0.4.100 --state "$E2E_RUN/$r.json"
    done
    rampart_start D dir /files/tun.conf
    wait_until 30 has_addr dir eth0 10.0.4.100 || { show_log D; return 1; }
    wait_until 30 both_up || { ip netns exec dir ipvsadm -Ln; show_log D; return 1; }
    ip netns exec dir ipvsadm -Ln | tee "$E2E_RUN/ipvs"
    grep -q '^TCP  10.0.4.100:80 rr' "$E2E_RUN/ipvs"
    grep -Eq -- '-> 10\.0\.4\.11:80 +Tunnel +1 ' "$E2E_RUN/ipvs"
    grep -Eq -- '-> 10\.0\.4\.12:80 +Tunnel +1 ' "$E2E_RUN/ipvs"
}

# capture NS IF NAME: tcpdump on IF in NS into $E2E_RUN/NAME.pcap (background, until stop_capture).
capture() {
    # -Z root: Debian's tcpdump otherwise drops to user tcpdump before opening the file.
    ip netns exec "$1" tcpdump -Z root -i "$2" -n -U -w "$E2E_RUN/$3.pcap" 2>"$E2E_RUN/$3.err" &
    echo $! >"$E2E_RUN/$3.cap.pid"
    wait_until 10 grep -q listening "$E2E_RUN/$3.err" || { cat "$E2E_RUN/$3.err"; return 1; }
}
# stop_capture NAME [FILTER]: first waits (up to 20 s) until the capture holds a packet matching
# FILTER, then 1 s more: tcpdump drops what it has not read from its socket when interrupted,
# and under a busy emulated CPU it reads late.
stop_capture() {
    [ -z "${2:-}" ] || wait_until 20 has_packets "$1" "$2" || echo "capture $1: nothing matching '$2' after 20 s"
    sleep 1
    kill -INT "$(cat "$E2E_RUN/$1.cap.pid")"
    wait "$(cat "$E2E_RUN/$1.cap.pid")" 2>/dev/null || true
}
has_packets() { [ "$(count "$1" "$2")" -gt 0 ]; }
# count NAME FILTER [tcpdump options]: packets of the capture matching FILTER.
count() {
    { tcpdump -Z root -r "$E2E_RUN/$1.pcap" -n $3 "$2" 2>>"$E2E_RUN/read.err" || cat "$E2E_RUN/read.err" >&2; } | wc -l
}

# Requests reach the real servers inside IPIP (tcpdump on their eth0: IP protocol 4 from the
# director, carrying client -> VIP:80), the replies leave them as plain IP from the VIP to the
# client, the director's eth0 sees none of them, and the client gets the pages.
encapsulated_and_answered_directly() {
    capture dir eth0 dir
    capture rs1 eth0 rs1
    capture rs2 eth0 rs2
    local i a got=""
    for i in 1 2 3 4; do
        a=$(ask client 10.0.4.100 80)
        echo "client request $i answered by: ${a:-(nothing)}"
        [ -n "$a" ]
        got="$got $a"
    done
    stop_capture dir 'ip and dst host 10.0.4.100'
    stop_capture rs1 'tcp and src host 10.0.4.100'
    stop_capture rs2 'tcp and src host 10.0.4.100'
    [[ $got == *rs1* && $got == *rs2* ]]
    local r ipip replies
    for r in rs1 rs2; do
        ipip=$(count $r 'ip proto 4 and src host 10.0.4.2')
        replies=$(count $r 'tcp and src host 10.0.4.100 and dst host 10.0.4.10')
        echo "$r's eth0: $ipip IPIP packets from the director, $replies plain TCP replies from the VIP to the client"
        [ "$ipip" -gt 0 ] && [ "$replies" -gt 0 ]
    done
    echo "as tcpdump shows them on rs1's eth0:"
    tcpdump -Z root -r "$E2E_RUN/rs1.pcap" -n 'ip proto 4 or (tcp and src host 10.0.4.100)' 2>/dev/null | head -n 4 | sed 's/^/    /'
    tcpdump -Z root -r "$E2E_RUN/rs1.pcap" -n 'ip proto 4' 2>/dev/null | grep -q 'IP 10.0.4.2 > 10.0.4.11: IP 10.0.4.10.[0-9]* > 10.0.4.100.80:'
    local from
    from=$(count dir 'ip and src host 10.0.4.100')
    echo "director's eth0: $from packets from the VIP"
    [ "$from" = 0 ]
    local rxt
    rxt=$(ip -n rs1 -s link show tunl0 | awk '/RX:/ {getline; print $2}')
    echo "rs1's tunl0 received $rxt packets"
    [ "$rxt" -gt 0 ]
}

# Strict rp_filter put back by hand on rs1 (all and tunl0; the kernel applies the larger): its
# decapsulated requests are dropped. IPVS keeps scheduling rs1 (its HTTP_GET goes to 10.0.4.11
# directly, not through the tunnel, and still succeeds), so every other request times out:
# the failure `rampart realserver --mode tun` prevents. Loose again, rs1 answers.
rp_filter_matters() {
    ip netns exec rs1 sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.tunl0.rp_filter=1
    local i a got=""
    for i in 1 2 3 4; do
        a=$(ask client 10.0.4.100 80)
        got="$got ${a:--}"
    done
    echo "answers with strict rp_filter on rs1:$got"
    [[ $got != *rs1* && $got == *-* && $got == *rs2* ]]
    ip netns exec rs1 sysctl -qw net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.tunl0.rp_filter=2
    got=""
    for i in 1 2 3 4; do got="$got $(ask client 10.0.4.100 80)"; done
    echo "loose again:$got"
    [[ $got == *rs1* ]]
}

section setup setup
section encapsulated-and-answered-directly encapsulated_and_answered_directly
section rp-filter-matters rp_filter_matters
show_log D 20
