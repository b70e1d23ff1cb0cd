#!/bin/bash
# keepalived 2.2.7 as the oracle for rampart's checker side (tests/check_vm_parity.rs): the same
# keepalived.conf run by `keepalived -n -l -C` and by `rampart -n -C`, one after the other, each
# really programming IPVS; `ipvsadm -S -n` is taken at the same points of the same story:
#   start  every real server answers
#   down   the victims (real servers on :9090) stopped: with inhibit_on_failure weight 0, without
#          it removed; a quorum virtual server loses quorum and gets its sorry server, another
#          keeps it thanks to hysteresis
#   up     the victims back: configured weights, sorry server gone
# Sections: run:DAEMON (the story, snapshots under /tmp/cv), oracle (keepalived's tables show what
# the story is meant to exercise), parity:PHASE (byte-identical tables, sorted), order:PHASE (the
# same as printed; ipvsadm sorts destinations itself, so this only adds the line order).
# The real servers are busybox httpd in namespace "be" (which owns 10.1.0.0/22): one on :8080 for
# the steady ones, one on :9090 for the victims, both answering on every address.
# Files: /files/check_vm_lib.sh.
. /usr/local/lib/vm/lib.sh
. /files/check_vm_lib.sh

VICTIMS=(10.1.0.3 10.1.0.4 10.1.0.13 10.1.0.15 10.1.0.23 10.1.0.24 10.1.0.32 10.1.0.42 10.1.0.52 10.1.0.63 10.1.0.64 10.1.0.72 10.1.0.73)
CONF=$CV/parity.conf

# tcp PORT / http PORT: one checker block (retry 1, delay_before_retry 1: down after 2 failures).
tcp() { printf '    TCP_CHECK {\n      connect_timeout 2\n      retry 1\n      delay_before_retry 1\n    }\n'; }
http() {
    printf '    HTTP_GET {\n      url {\n        path /\n        digest %s\n      }\n' "$CV_DIGEST"
    printf '      connect_timeout 2\n      retry 1\n      delay_before_retry 1\n    }\n'
}
# rs ADDR PORT WEIGHT CHECK [EXTRA]: one real_server block.
rs() {
    printf '  real_server %s %s {\n    weight %s\n' "$1" "$2" "$3"
    [ -z "${5:-}" ] || printf '    %s\n' "$5"
    $4
    printf '  }\n'
}

{
    printf 'global_defs {\n  router_id parity\n}\n'
    # NAT, rr, inhibit_on_failure on some real servers.
    printf 'virtual_server 10.9.0.1 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n'
    rs 10.1.0.1 8080 1 tcp
    rs 10.1.0.2 8080 2 http inhibit_on_failure
    rs 10.1.0.3 9090 3 tcp inhibit_on_failure
    rs 10.1.0.4 9090 4 http inhibit_on_failure
    rs 10.1.0.5 8080 1 http
    rs 10.1.0.6 8080 1 tcp inhibit_on_failure
    printf '}\n'
    # DR, wrr, persistence, no inhibit_on_failure: down means removed.
    printf 'virtual_server 10.9.0.2 8080 {\n  delay_loop 1\n  lb_algo wrr\n  lb_kind DR\n  persistence_timeout 300\n  protocol TCP\n'
    rs 10.1.0.11 8080 10 tcp
    rs 10.1.0.12 8080 20 http
    rs 10.1.0.13 9090 30 tcp
    rs 10.1.0.14 8080 40 tcp
    rs 10.1.0.15 9090 50 http
    printf '}\n'
    # Quorum 3 of weight 4, a sorry server: losing both victims loses quorum.
    printf 'virtual_server 10.9.0.3 80 {\n  delay_loop 1\n  lb_algo wlc\n  lb_kind NAT\n  protocol TCP\n'
    printf '  quorum 3\n  hysteresis 0\n  sorry_server 10.1.0.250 8080\n'
    rs 10.1.0.21 8080 1 tcp
    rs 10.1.0.22 8080 1 http
    rs 10.1.0.23 9090 1 tcp
    rs 10.1.0.24 9090 1 http
    printf '}\n'
    # A fwmark service, source hashing, one victim.
    printf 'virtual_server fwmark 7 {\n  delay_loop 1\n  lb_algo sh\n  lb_kind DR\n'
    rs 10.1.0.31 8080 5 tcp
    rs 10.1.0.32 9090 5 http inhibit_on_failure
    rs 10.1.0.33 8080 5 tcp
    printf '}\n'
    # Tunnelling, and a group (two addresses and a fwmark) with direct routing: every kernel
    # service of the group gets the real servers, DR ports reset per service.
    printf 'virtual_server 10.9.0.4 443 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind TUN\n  protocol TCP\n'
    rs 10.1.0.41 8080 1 tcp
    rs 10.1.0.42 9090 1 http
    printf '}\n'
    # Hysteresis: quorum 3, hysteresis 1, lost below 2. Losing both victims leaves weight 2:
    # quorum kept, no sorry server. The sorry server sits at weight 0 (sorry_server_inhibit).
    printf 'virtual_server 10.9.0.5 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n'
    printf '  quorum 3\n  hysteresis 1\n  sorry_server 10.1.0.251 8080\n  sorry_server_inhibit\n'
    rs 10.1.0.61 8080 1 tcp
    rs 10.1.0.62 8080 1 http
    rs 10.1.0.63 9090 1 tcp
    rs 10.1.0.64 9090 1 http
    printf '}\n'
    # The same with heavier victims: weight 1 left, quorum lost, the inhibited sorry server up.
    printf 'virtual_server 10.9.0.6 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n'
    printf '  quorum 3\n  hysteresis 1\n  sorry_server 10.1.0.252 8080\n  sorry_server_inhibit\n'
    rs 10.1.0.71 8080 1 tcp
    rs 10.1.0.72 9090 2 tcp
    rs 10.1.0.73 9090 2 http
    printf '}\n'
    printf 'virtual_server_group G {\n  10.9.1.1 80\n  10.9.1.2-3 81\n  fwmark 9\n}\n'
    printf 'virtual_server group G {\n  delay_loop 1\n  lb_algo wrr\n  lb_kind DR\n  protocol TCP\n'
    rs 10.1.0.51 8080 2 tcp
    rs 10.1.0.52 9090 3 http inhibit_on_failure
    printf '}\n'
} >"$CONF"
# Destinations in the table: the group's two real servers are in each of its 4 kernel services;
# two inhibited sorry servers.
N_DESTS=$(($(grep -c real_server "$CONF") + 2 * 3 + 2))
# Victim lines (10.1.0.52 is in the group): what victims_weighted counts when all are up.
N_VICTIMS=$((${#VICTIMS[@]} + 3))

# web_start PORT / web_stop PORT: busybox httpd on *:PORT in "be" serving "hello\n" (CV_DIGEST).
mkdir -p "$CV/www"
printf 'hello\n' >"$CV/www/index.html"
web_start() {
    ip netns exec be busybox httpd -f -p "$1" -h "$CV/www" &
    echo $! >"$CV/web$1.pid"
    wait_until 5 ip netns exec be sh -c "netstat -ltn | grep -q ':$1 '"
}
web_stop() {
    kill "$(cat "$CV/web$1.pid")" 2>/dev/null || true
    wait_until 5 sh -c "! ip netns exec be netstat -ltn | grep -q ':$1 '"
}

cv_topology
web_start 8080

# victims_weighted: how many victims the table lists with a non-zero weight (by address: a DR
# destination shows the service's port).
VICTIM_RE="-r ($(IFS='|'; echo "${VICTIMS[*]//./\\.}")):[0-9]+ .*-w [1-9]"
victims_weighted() { ipvsadm -S -n | grep -cE -- "$VICTIM_RE" || true; }
export -f victims_weighted
export VICTIM_RE

# snap DAEMON PHASE: the table as saved, and sorted.
snap() {
    ipvsadm -S -n >"$CV/raw.$1.$2"
    sort "$CV/raw.$1.$2" >"$CV/snap.$1.$2"
    echo "$2: $(grep -c '^-a' "$CV/raw.$1.$2") destinations, $(victims_weighted) victims with weight > 0"
}

story() {
    local d=$1
    ipvsadm -C
    web_start 9090
    cv_daemon_start "$d" "$CONF"
    # Every real server answers: all of them in the table (no alpha), then one more round.
    wait_until 30 sh -c "[ \$(ipvsadm -S -n | grep -c '^-a') -ge $N_DESTS ]" || echo "start: not all $N_DESTS destinations after 30 s"
    sleep 3
    snap "$d" start
    web_stop 9090
    # Down after 2 failures 1 s apart, each victim within a delay_loop of the stop; then 2 s more.
    wait_until 30 bash -c '[ "$(victims_weighted)" -eq 0 ]' || echo "down: victims still weighted after 30 s"
    sleep 2
    snap "$d" down
    web_start 9090
    wait_until 30 bash -c "[ \$(victims_weighted) -eq $N_VICTIMS ]" || echo "up: not all victims weighted after 30 s"
    sleep 2
    snap "$d" up
    web_stop 9090
    cv_daemon_stop "$d"
    echo "--- last lines of $d's log ---"
    tail -5 "$CV/$d.log" | cut -c1-240 | sed 's/^/    /'
}

oracle() {
    local s=$CV/snap.keepalived
    # start: every configured real server, no sorry server.
    [ "$(grep -c '^-a' $s.start)" -eq "$N_DESTS" ]
    ! grep -q 10.1.0.250 $s.start
    # down: inhibit_on_failure keeps victims at weight 0, the others are removed; quorum lost.
    grep -q -- '-t 10.9.0.1:80 -r 10.1.0.3:9090 -m -w 0' $s.down
    ! grep -q -- '-r 10.1.0.13:' $s.down
    grep -q -- '-t 10.9.0.3:80 -r 10.1.0.250:8080' $s.down
    grep -q -- '-f 7 -r 10.1.0.32:0 -g -w 0' $s.down
    grep -q -- '-t 10.9.0.5:80 -r 10.1.0.251:8080 -m -w 0' $s.down
    grep -q -- '-t 10.9.0.5:80 -r 10.1.0.61:8080 -m -w 1' $s.down
    grep -q -- '-t 10.9.0.6:80 -r 10.1.0.252:8080 -m -w 1' $s.down
    # up: the start table again.
    cmp $s.start $s.up
    echo "keepalived's tables show weight 0, removal, quorum loss with the sorry server, hysteresis, and recovery"
}

for d in keepalived rampart; do section "run:$d" story "$d"; done
section oracle oracle
for phase in start down up; do
    section "parity:$phase" expect_same "$phase (--- keepalived, +++ rampart)" \
        "$CV/snap.keepalived.$phase" "$CV/snap.rampart.$phase"
done
for phase in start down up; do
    section "order:$phase" expect_same "$phase unsorted (--- keepalived, +++ rampart)" \
        "$CV/raw.keepalived.$phase" "$CV/raw.rampart.$phase"
done
echo "--- keepalived's table when the victims were down ---"
cat "$CV/raw.keepalived.down"
