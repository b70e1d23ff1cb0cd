#!/bin/bash
# End-to-end scenario 2 (docs/scenarios/connection-sync.md): the LVS-NAT pair with
# `lvs_sync_daemon eth1 LVS_LAN id 100`; a long-lived TCP connection through the VIP survives
# the master's death because the backup already holds its IPVS connection entry. Control run
# without lvs_sync_daemon: the same connection is reset.
# Files: /files/e2e_lib.sh, /files/sync-a.conf, /files/sync-b.conf. Checked by tests/e2e_sync.rs.
. /usr/local/lib/vm/lib.sh
. /files/e2e_lib.sh

VIP=10.0.1.100:80

holds() { [ "$(vips_of dira)" = "$1" ] && [ "$(vips_of dirb)" = "$2" ]; }
both_up() {
    local d
    for d in dira dirb; do
        [ "$(weight_of $d $VIP 10.0.2.11:80)" = 1 ] && [ "$(weight_of $d $VIP 10.0.2.12:80)" = 1 ] || return 1
    done
}
# daemons NS: the sync daemons the kernel runs in NS, one line each ("" when none).
daemons() { ip netns exec "$1" ipvsadm -L --daemon 2>/dev/null; }
mac_of() { ip -n "$1" link show "$2" | awk '/link\/ether/ {print $2}'; }
neigh_mac() { ip -n "$1" neigh show "$2" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'; }

# stream: client1 keeps one TCP connection to the VIP and sends a numbered line every 0.2 s;
# each line must come back (the real servers echo) within 3 s. Output: "TIME echo" per line,
# and a last line "BROKEN ..." when the connection fails. Runs until killed.
start_stream() {
    # The previous stream's file has a "line 3" too: the wait below must not see it before
    # the new stream's redirection truncates the file.
    rm -f "$E2E_RUN/stream"
    ip netns exec client1 bash -c '
        exec 3<>/dev/tcp/10.0.1.100/80 || { echo "BROKEN connect"; exit 1; }
        i=0
        while :; do
            i=$((i + 1))
            echo "line $i" >&3 2>/dev/null || { echo "${EPOCHREALTIME/./} BROKEN write $i"; exit 1; }
            if read -t 3 -r r <&3; then
                echo "${EPOCHREALTIME/./} $r"
            else
                echo "${EPOCHREALTIME/./} BROKEN no echo for line $i (read status $?)"; exit 1
            fi
            sleep 0.2
        done' >"$E2E_RUN/stream" 2>&1 &
    echo $! >"$E2E_RUN/stream.pid"
    wait_until 10 grep -q 'line 3$' "$E2E_RUN/stream"
}
stop_stream() {
    kill "$(cat "$E2E_RUN/stream.pid")" 2>/dev/null || true
    wait "$(cat "$E2E_RUN/stream.pid")" 2>/dev/null || true
}
client_port() { ip netns exec client1 ss -Htn state established dst 10.0.1.100 | awk '{split($3, a, ":"); print a[2]; exit}'; }
# conn_line NS PORT: NS's IPVS connection entry for client1's PORT.
conn_line() { ip netns exec "$1" ipvsadm -Lnc | grep -E " 10\.0\.1\.10:$2 +10\.0\.1\.100:80 " || true; }
# in_pkts NS: packets NS's IPVS forwarded in for the service (counters fold every 2 s).
in_pkts() { ip netns exec "$1" ipvsadm -Ln --stats -t $VIP | awk '$1 == "TCP" {print $4}'; }

# neigh_on NS IP MAC: NS has no neighbour entry for IP, or one with MAC.
neigh_on() { local m; m=$(neigh_mac "$1" "$2"); [ -z "$m" ] || [ "$m" = "$3" ]; }
# The client and the real servers reach the VIPs through A. Both directors may be MASTER for
# a moment when they start together (B's timer can run out first if it started earlier; A's
# advert sends it back), and B's announcement can then be the last the neighbours heard;
# A's second round of gratuitous ARPs (garp_master_delay) corrects them.
neighbours_on_a() {
    neigh_on client1 10.0.1.100 "$(mac_of dira eth0)" &&
        neigh_on rs1 10.0.2.1 "$(mac_of dira eth1)" &&
        neigh_on rs2 10.0.2.1 "$(mac_of dira eth1)"
}
# new_log_has NAME FROM TEXT: NAME's log from line FROM on contains TEXT.
new_log_has() { tail -n +"$2" "$E2E_RUN/$1.log" 2>/dev/null | grep -qF "$3"; }
start_pair() {
    # After a SIGKILL the old run's VIPs are still on A: wait for the new run's MASTER, not
    # for addresses.
    local from=1
    if [ -f "$E2E_RUN/A.log" ]; then from=$(($(wc -l <"$E2E_RUN/A.log") + 1)); fi
    rampart_start A dira "$1"
    rampart_start B dirb "$2"
    wait_until 40 new_log_has A "$from" "sync group HK_GRP1: BACKUP -> MASTER" || { show_log A; return 1; }
    wait_until 40 holds wan+lan none || { echo "A: $(vips_of dira) B: $(vips_of dirb)"; show_log A; show_log B; return 1; }
    wait_until 30 both_up || { ip netns exec dira ipvsadm -Ln; ip netns exec dirb ipvsadm -Ln; return 1; }
    wait_until 15 neighbours_on_a || {
        echo "neighbours still point elsewhere: client1 $(ip -n client1 neigh show 10.0.1.100)," \
            "rs1 $(ip -n rs1 neigh show 10.0.2.1), rs2 $(ip -n rs2 neigh show 10.0.2.1);" \
            "A $(mac_of dira eth0)/$(mac_of dira eth1), B $(mac_of dirb eth0)/$(mac_of dirb eth1)"
        return 1
    }
}

setup() {
    nat_pair_topology
    local r
    for r in rs1 rs2; do
        # A line-echo server on port 80 (busybox nc, one forked cat per connection).
        ip netns exec $r nc -ll -p 80 -e cat &
    done
    wait_until 5 ip netns exec rs2 sh -c "netstat -ltn | grep -q ':80 '"
    start_pair /files/sync-a.conf /files/sync-b.conf
    echo "A holds $(vips_of dira), B $(vips_of dirb)"
}

# rampart started the kernel's sync daemons following LVS_LAN: master on A, backup on B.
daemons_follow_vrrp() {
    wait_until 10 sh -c "ip netns exec dira ipvsadm -L --daemon | grep -q master" || true
    echo "A: $(daemons dira)"
    echo "B: $(daemons dirb)"
    [[ $(daemons dira) == "master sync daemon (mcast=eth1, syncid=100,"* ]]
    [[ $(daemons dirb) == "backup sync daemon (mcast=eth1, syncid=100,"* ]]
}

# Before the failover, B holds the connection's entry (ESTABLISHED, same client port, same real
# server as A) although it forwarded no packet of it: the sync daemon put it there.
backup_knows_the_connection() {
    start_stream
    local port a b
    port=$(client_port)
    echo "client1's connection: 10.0.1.10:$port -> 10.0.1.100:80"
    [ -n "$port" ]
    echo "$port" >"$E2E_RUN/port"
    a=$(conn_line dira "$port")
    wait_until 10 sh -c "ip netns exec dirb ipvsadm -Lnc | grep -Eq ' 10\.0\.1\.10:$port .* ESTABLISHED|ESTABLISHED +10\.0\.1\.10:$port '" || true
    b=$(conn_line dirb "$port")
    echo "A: $a"
    echo "B: $b"
    [[ $a == *ESTABLISHED* ]]
    [[ $b == *ESTABLISHED* ]]
    # Same real server on both.
    [ "$(awk '{print $NF}' <<<"$a")" = "$(awk '{print $NF}' <<<"$b")" ]
    sleep 2.5
    echo "packets B's IPVS forwarded in for the service so far: $(in_pkts dirb)"
    [ "$(in_pkts dirb)" = 0 ]
}

# SIGKILL rampart on A; B takes both VIPs, the client's neighbour entry moves to B, and the
# same socket keeps echoing: no reset, no gap longer than Master_Down_Interval + 1 s.
connection_survives() {
    local bmac t0 n before
    bmac=$(mac_of dirb eth0)
    before=$(grep -c . "$E2E_RUN/stream" || true)
    t0=$(now_us)
    rampart_kill A KILL
    wait_until 20 sh -c "[ \"\$(ip -n client1 neigh show 10.0.1.100 | grep -o '$bmac')\" = '$bmac' ]" || {
        echo "the client never moved to B"; show_log B; return 1; }
    echo "client moved to B's MAC after $(secs_since "$t0") s; B holds $(vips_of dirb)"
    # Ten more lines through B on the same socket.
    local moved
    moved=$(grep -c . "$E2E_RUN/stream")
    wait_until 15 sh -c "[ \$(grep -c . $E2E_RUN/stream) -ge $((moved + 10)) ] || grep -q BROKEN $E2E_RUN/stream" || true
    stop_stream
    echo "stream: $before lines before the kill, $(grep -c . "$E2E_RUN/stream") in all; last lines:"
    tail -n 3 "$E2E_RUN/stream" | sed 's/^/    /'
    ! grep -q BROKEN "$E2E_RUN/stream"
    [ "$(grep -c . "$E2E_RUN/stream")" -ge $((moved + 10)) ]
    # The largest gap between two echoes.
    local gap
    gap=$(awk 'NR > 1 {d = $1 - p; if (d > m) m = d} {p = $1} END {printf "%d", m / 1000}' "$E2E_RUN/stream")
    echo "largest gap between two echoes: $gap ms (limit MDI + 1 s = 4613 ms)"
    echo "B's entry now: $(conn_line dirb "$(cat "$E2E_RUN/port")")"
    sleep 2.5
    echo "packets B's IPVS forwarded in for the service: $(in_pkts dirb)"
    [ "$(in_pkts dirb)" -gt 0 ]
    echo "B's sync daemon now: $(daemons dirb)"
    [[ $(daemons dirb) == "master sync daemon (mcast=eth1, syncid=100,"* ]]
    [ "$gap" -le 4613 ]
}

# Graceful stop (SIGTERM) stops the daemons rampart started.
term_stops_daemons() {
    rampart_kill B TERM
    echo "B after SIGTERM: '$(daemons dirb)'"
    [ -z "$(daemons dirb)" ]
}

# Control run: the same steps without lvs_sync_daemon. B has no entry, and after the failover
# the client's connection breaks (B answers the mid-stream packets with a reset).
control_without_sync() {
    # A's kernel still runs the master daemon rampart started before it was killed.
    echo "A's kernel after the SIGKILL still runs: '$(daemons dira)'; stopped by hand"
    ip netns exec dira ipvsadm --stop-daemon master
    [ -z "$(daemons dira)" ]
    grep -v lvs_sync_daemon /files/sync-a.conf >"$E2E_RUN/nosync-a.conf"
    grep -v lvs_sync_daemon /files/sync-b.conf >"$E2E_RUN/nosync-b.conf"
    start_pair "$E2E_RUN/nosync-a.conf" "$E2E_RUN/nosync-b.conf"
    start_stream
    local port
    port=$(client_port)
    sleep 1
    echo "client1's connection 10.0.1.10:$port; B's entry: '$(conn_line dirb "$port")'"
    [ -n "$port" ] || { ip netns exec client1 ss -tan; return 1; }
    if [ -n "$(conn_line dirb "$port")" ]; then
        echo "diagnosis: B's addresses:"; ip -n dirb -4 addr | sed 's/^/    /'
        echo "client1: $(ip -n client1 neigh show 10.0.1.100); rs2: $(ip -n rs2 neigh show 10.0.2.1)"
        echo "A $(mac_of dira eth0)/$(mac_of dira eth1), B $(mac_of dirb eth0)/$(mac_of dirb eth1)"
        echo "B's daemons: '$(daemons dirb)'; B's connections:"; ip netns exec dirb ipvsadm -Lnc | sed 's/^/    /'
        return 1
    fi
    rampart_kill A KILL
    wait_until 20 grep -q BROKEN "$E2E_RUN/stream" || true
    stop_stream
    echo "stream after the failover without sync:"
    tail -n 2 "$E2E_RUN/stream" | sed 's/^/    /'
    grep -q BROKEN "$E2E_RUN/stream"
}

section setup setup
section daemons-follow-vrrp daemons_follow_vrrp
section backup-knows-the-connection backup_knows_the_connection
section connection-survives connection_survives
section term-stops-daemons term_stops_daemons
section control-without-sync control_without_sync
show_log A 30
show_log B 30
