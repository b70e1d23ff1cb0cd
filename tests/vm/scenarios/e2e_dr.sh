#!/bin/bash
# End-to-end scenario 3 (docs/scenarios/lvs-dr-fwmark.md): seed 001's LVS-DR with firewall
# marks. Ports 80 and 443 get mark 6666 from an iptables mangle rule; rampart holds the VIP
# (VRRP) and `virtual_server fwmark 6666` (DR, persistence); the real servers are prepared with
# `rampart realserver setup --mode dr`. Files: /files/e2e_lib.sh, /files/dr.conf.
# Checked by tests/e2e_dr.rs.
. /usr/local/lib/vm/lib.sh
. /files/e2e_lib.sh

mac_of() { ip -n "$1" link show "$2" | awk '/link\/ether/ {print $2}'; }
weight_fwm() { ip netns exec dir ipvsadm -Ln -f 6666 2>/dev/null | awk -v rs="$1:0" '$1 == "->" && $2 == rs {print $4}'; }
both_up() { [ "$(weight_fwm 10.0.3.11)" = 1 ] && [ "$(weight_fwm 10.0.3.12)" = 1 ]; }
only_rs2() { [ -z "$(weight_fwm 10.0.3.11)" ] && [ "$(weight_fwm 10.0.3.12)" = 1 ]; }

setup() {
    plug client1 eth0 lan3 10.0.3.10/24
    plug client2 eth0 lan3 10.0.3.20/24
    plug dir eth0 lan3 10.0.3.2/24
    plug rs1 eth0 lan3 10.0.3.11/24
    plug rs2 eth0 lan3 10.0.3.12/24
    local r
    for r in rs1 rs2; do
        web $r 80 "$r port 80"
        web $r 443 "$r port 443"
        ip netns exec $r rampart realserver setup --mode dr --vip 10.0.3.100 --state "$E2E_RUN/$r.json"
        echo "$r: lo has $(ip -n $r -4 addr show dev lo | awk '/inet 10/ {print $2}'); arp_ignore=$(ip netns exec $r sysctl -n net.ipv4.conf.all.arp_ignore) arp_announce=$(ip netns exec $r sysctl -n net.ipv4.conf.all.arp_announce)"
    done
    # Seed 001's rule: one mark for both ports.
    ip netns exec dir iptables -t mangle -A PREROUTING -d 10.0.3.100 -p tcp -m multiport --dports 80,443 \
        -j MARK --set-mark 6666
    rampart_start D dir /files/dr.conf
    wait_until 30 has_addr dir eth0 10.0.3.100 || { show_log D; return 1; }
    wait_until 30 both_up || { ip netns exec dir ipvsadm -Ln; show_log D; return 1; }
    ip netns exec dir ipvsadm -Ln | tee "$E2E_RUN/ipvs"
    grep -q '^FWM  6666 rr persistent 300' "$E2E_RUN/ipvs"
    grep -Eq -- '-> 10\.0\.3\.11:0 +Route +1 ' "$E2E_RUN/ipvs"
    grep -Eq -- '-> 10\.0\.3\.12:0 +Route +1 ' "$E2E_RUN/ipvs"
}

# Both ports of one client land on the same real server (one persistent fwmark service); the
# second client lands on the other one (rr).
both_ports_same_server() {
    local c p a s seen=""
    for c in client1 client2; do
        s=""
        for p in 80 443 80 443; do
            a=$(ask $c 10.0.3.100 $p)
            echo "$c -> 10.0.3.100:$p answered by: ${a:-(nothing)}"
            [ "$a" = "${a%% *} port $p" ]
            [ -z "$s" ] && s=${a%% *}
            [ "${a%% *}" = "$s" ]
        done
        seen="$seen $s"
    done
    [[ $seen == *rs1* && $seen == *rs2* ]]
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

# The replies do not pass through the director: its eth0 sees the client's requests to the
# VIP and nothing from the VIP; the client gets the replies from a real server's MAC; IPVS
# counts packets in and none out.
replies_bypass_the_director() {
    capture dir eth0 dir
    capture client1 eth0 client
    local a
    a=$(ask client1 10.0.3.100 80)
    echo "client1 got: $a"
    [ -n "$a" ]
    a=$(ask client1 10.0.3.100 443)
    echo "client1 got: $a"
    [ -n "$a" ]
    stop_capture dir 'ip and dst host 10.0.3.100 and src host 10.0.3.10'
    stop_capture client 'ip and src host 10.0.3.100'
    local to from
    to=$(count dir 'ip and dst host 10.0.3.100 and src host 10.0.3.10')
    from=$(count dir 'ip and src host 10.0.3.100')
    echo "director's eth0: $to packets from the client to the VIP, $from from the VIP"
    [ "$to" -gt 0 ] && [ "$from" = 0 ]
    local server=${a%% *} rsmac dmac macs
    rsmac=$(mac_of "$server" eth0)
    dmac=$(mac_of dir eth0)
    macs=$(tcpdump -Z root -r "$E2E_RUN/client.pcap" -n -e 'ip and src host 10.0.3.100' 2>/dev/null | awk '{print $2}' | sort -u)
    echo "client's eth0: replies from 10.0.3.100 came from MAC(s) $macs ($server: $rsmac, director: $dmac)"
    [ "$macs" = "$rsmac" ]
    sleep 2.5
    ip netns exec dir ipvsadm -Ln --stats -f 6666 | tee "$E2E_RUN/stats"
    awk '$1 == "FWM" {exit !($4 > 0 && $5 == 0)}' "$E2E_RUN/stats"
}

# rs1's web server on port 80 stops: its TCP_CHECK fails and rs1 leaves the pool (no
# inhibit_on_failure: removed, not weight 0); both ports of both clients go to rs2.
failed_server_leaves_the_pool() {
    web_stop rs1 80
    wait_until 30 only_rs2 || { ip netns exec dir ipvsadm -Ln; return 1; }
    ip netns exec dir ipvsadm -Ln | sed 's/^/    /'
    local c p a
    for c in client1 client2; do
        for p in 80 443; do
            a=$(ask $c 10.0.3.100 $p)
            echo "$c -> :$p answered by: ${a:-(nothing)}"
            [ "$a" = "rs2 port $p" ]
        done
    done
}

section setup setup
section both-ports-same-server both_ports_same_server
section replies-bypass-the-director replies_bypass_the_director
section failed-server-leaves-the-pool failed_server_leaves_the_pool
show_log D 20
