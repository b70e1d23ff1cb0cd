#!/bin/bash
# End-to-end scenario 1 (docs/scenarios/lvs-nat.md): seed 004's LVS-NAT director pair run by
# rampart, with real traffic, real failures and a real SMTP server (msmtpd).
# Files: /files/e2e_lib.sh, /files/nat-a.conf, /files/nat-b.conf, /files/msmtpd,
# /files/store-mail.sh. Checked section by section by tests/e2e_nat.rs.
. /usr/local/lib/vm/lib.sh
. /files/e2e_lib.sh

VIP=10.0.1.100:80
RS1=10.0.2.11:80
RS2=10.0.2.12:80
# Master_Down_Interval of the backup (priority 99, advert_int 1): 3 * 1 + (256 - 99) / 256 s.
MDI_MS=3613

ms_text() { printf '%d.%02d' $(($1 / 1000)) $(($1 % 1000 / 10)); }
# neigh_mac NS ADDR: the MAC of NS's neighbour entry for ADDR.
neigh_mac() { ip -n "$1" neigh show "$2" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'; }
# monitor_secs FILE REGEX T0_US: seconds from T0 to the first `ip -tshort monitor` line matching
# REGEX (its [YYYY-MM-DDTHH:MM:SS.ffffff] stamp is local time, UTC in the VM).
monitor_secs() {
    awk -v re="$2" -v t0="$3" '$0 ~ re {
        split(substr($1, 13, 15), t, ":")
        day = (t0 / 1000000) % 86400
        d = t[1] * 3600 + t[2] * 60 + t[3] - day
        if (d < -43200) d += 86400
        printf "%.2f", d
        exit
    }' "$1"
}

# holds A_VIPS B_VIPS: directors A and B hold these VIPs (see vips_of) right now.
holds() { [ "$(vips_of dira)" = "$1" ] && [ "$(vips_of dirb)" = "$2" ]; }
# weight_is NS RS W [RS W...]: the real servers have these weights in NS's table.
weight_is() {
    local ns=$1
    shift
    while [ $# -ge 2 ]; do
        [ "$(weight_of "$ns" $VIP "$1")" = "$2" ] || return 1
        shift 2
    done
}

setup() {
    local t0
    t0=$(now_us)
    nat_pair_topology
    web rs1 80 rs1
    web rs2 80 rs2
    mkdir -p "$E2E_RUN/mail"
    ip netns exec mail msmtpd --interface=10.0.1.25 --port=25 --log="$E2E_RUN/msmtpd.log" \
        --command='/files/store-mail.sh %F' &
    wait_until 5 ip netns exec mail sh -c "netstat -ltn | grep -q ':25 '"
    echo "+$(secs_since $t0) s: hosts, web servers and SMTP server up"
    rampart_start A dira /files/nat-a.conf
    rampart_start B dirb /files/nat-b.conf
    # A (priority 100) holds both VIPs, B none; both directors program the service with both
    # real servers up (the checkers run on both, as keepalived's do).
    wait_until 30 holds wan+lan none || {
        echo "A: $(vips_of dira)  B: $(vips_of dirb)"; show_log A; show_log B; return 1; }
    echo "+$(secs_since $t0) s: A holds both VIPs"
    local d
    for d in dira dirb; do
        wait_until 30 weight_is $d $RS1 1 $RS2 1 || {
            ip netns exec $d ipvsadm -Ln; show_log A; show_log B; return 1; }
    done
    echo "+$(secs_since $t0) s: both real servers up in both directors"
    echo "director A holds: $(vips_of dira); director B holds: $(vips_of dirb)"
}

# Seed 004 computes the digest with genhash; the configuration's digest must be what
# keepalived's genhash and rampart's print for rs2's page.
genhash_digest() {
    local want k r
    want=$(awk '/digest/ {print $2}' /files/nat-a.conf)
    k=$(ip netns exec dira genhash -s 10.0.2.12 -p 80 -u / | awk 'END {print $NF}')
    r=$(ip netns exec dira rampart genhash -s 10.0.2.12 -p 80 -u / | awk 'END {print $NF}')
    echo "config digest $want; keepalived genhash $k; rampart genhash $r"
    [ "$want" = "$k" ] && [ "$want" = "$r" ]
}

ipvs_tables() {
    local d
    for d in dira dirb; do
        echo "== ipvsadm -Ln in $d"
        ip netns exec $d ipvsadm -Ln | tee "$E2E_RUN/ipvs-$d"
        grep -q "^TCP  $VIP wrr persistent 60" "$E2E_RUN/ipvs-$d"
        grep -Eq -- "-> $RS1 +Masq +1 " "$E2E_RUN/ipvs-$d"
        grep -Eq -- "-> $RS2 +Masq +1 " "$E2E_RUN/ipvs-$d"
    done
}

# Each client address is always answered by the same real server (persistence_timeout 60);
# the two clients are spread over both (wrr with equal weights).
persistence() {
    local c i a first seen=""
    for c in client1 client2; do
        first=""
        for i in 1 2 3 4; do
            a=$(ask $c 10.0.1.100 80)
            echo "$c request $i answered by: ${a:-(nothing)}"
            [ -n "$a" ]
            [ -z "$first" ] && first=$a
            [ "$a" = "$first" ]
        done
        seen="$seen $first"
    done
    [[ $seen == *rs1* && $seen == *rs2* ]]
    echo "persistence templates in director A:"
    ip netns exec dira ipvsadm -Lnc | grep -E ':0 ' | sed 's/^/    /'
    ip netns exec dira ipvsadm -Lnc | grep -Eq ' 10\.0\.1\.10:0 +10\.0\.1\.100:80 '
    ip netns exec dira ipvsadm -Lnc | grep -Eq ' 10\.0\.1\.11:0 +10\.0\.1\.100:80 '
}

# SIGKILL rampart on A. Nobody removes A's addresses and IPVS rules (keepalived leaves them
# too), so A's kernel keeps forwarding for clients that still send to A's MAC; B takes both VIPs
# after Master_Down_Interval and its gratuitous ARPs move the client and the real servers'
# gateway to B. Measured from the kill: when B's kernel got each VIP (`ip monitor` timestamps)
# and when the client was first answered through B (its neighbour entry for the VIP has B's MAC
# and a request succeeds). A second client asks all along: its misses are printed.
failover_kill() {
    local bmac t0 t_ans="" a n deadline
    bmac=$(ip -n dirb link show eth0 | awk '/link\/ether/ {print $2}')
    ask client1 10.0.1.100 80 >/dev/null
    echo "client1's neighbour entry for the VIP before: $(neigh_mac client1 10.0.1.100) (A's MAC $(ip -n dira link show eth0 | awk '/link\/ether/ {print $2}'), B's $bmac)"
    ip -n dirb -tshort monitor address >"$E2E_RUN/monitor-b" 2>&1 &
    local monitor=$!
    (while :; do echo "$(now_us) $(ask client2 10.0.1.100 80)"; sleep 0.2; done) >"$E2E_RUN/during" 2>&1 &
    local asker=$!
    sleep 0.5
    t0=$(now_us)
    rampart_kill A KILL
    deadline=$((t0 + 20000000))
    while [ "$(now_us)" -lt $deadline ]; do
        n=$(neigh_mac client1 10.0.1.100)
        if [ "$n" = "$bmac" ]; then
            a=$(ask client1 10.0.1.100 80)
            if [ -n "$a" ]; then t_ans=$(secs_since "$t0"); break; fi
        fi
        sleep 0.05
    done
    wait_until 10 holds wan+lan wan+lan || true
    sleep 0.3
    kill $monitor $asker
    wait $monitor $asker 2>/dev/null || true
    local t_wan t_lan
    t_wan=$(monitor_secs "$E2E_RUN/monitor-b" 'inet 10\.0\.1\.100/' "$t0")
    t_lan=$(monitor_secs "$E2E_RUN/monitor-b" 'inet 10\.0\.2\.1/' "$t0")
    echo "after the SIGKILL: B's kernel got 10.0.1.100 at +${t_wan:-never} s and 10.0.2.1 at +${t_lan:-never} s"
    echo "the client was first answered through B at +${t_ans:-never} s"
    echo "Master_Down_Interval $(ms_text $MDI_MS) s; limit MDI + 1 s = $(ms_text $((MDI_MS + 1000))) s"
    echo "B holds: $(vips_of dirb); A (killed) left behind: $(vips_of dira)"
    local total missed
    total=$(awk '$1 > '"$t0"'' "$E2E_RUN/during" | wc -l)
    missed=$(awk '$1 > '"$t0"' && NF == 1' "$E2E_RUN/during" | wc -l)
    echo "client2 asking every 0.2 s meanwhile: $missed of $total requests unanswered"
    [ "$(vips_of dirb)" = wan+lan ]
    [ -n "$t_wan" ] && [ -n "$t_lan" ] && [ -n "$t_ans" ]
    local both
    both=$(awk -v a="$t_wan" -v b="$t_lan" 'BEGIN {printf "%d", (a > b ? a : b) * 1000}')
    echo "TAKEOVER_MS=$both"
    echo "ANSWERED_MS=$(awk -v s="$t_ans" 'BEGIN {printf "%d", s * 1000}')"
    echo "$both" >"$E2E_RUN/takeover_ms"
}

# The timing half of failover-kill, on its own so that a slow emulated CPU is told apart from a
# functional failure: B held both VIPs within Master_Down_Interval + 1 s of the kill. (The
# client's first answer through B comes a few hundred ms later here: the probe itself, an `ip`
# and an `nc` under the emulated CPU, is that slow.)
#
# Timing is noisy on a shared machine and an emulated CPU, so by default this asserts only a loose
# bound (2 × (MDI + 1 s): a failover that is broken, not slow) and prints the figure against the
# issue's limit; E2E_STRICT_TIMING=1 asserts MDI + 1 s itself (run on purpose on a quiet host).
failover_time() {
    local ms limit=$((MDI_MS + 1000))
    ms=$(cat "$E2E_RUN/takeover_ms")
    echo "B held both VIPs $(ms_text "$ms") s after the SIGKILL; limit MDI + 1 s = $(ms_text $limit) s:" \
        "$([ "$ms" -le "$limit" ] && echo within || echo OVER)"
    if [ "${E2E_STRICT_TIMING:-0}" = 1 ]; then
        [ "$ms" -le "$limit" ]
    else
        [ "$ms" -le $((2 * limit)) ]
    fi
}

# A comes back with the higher priority, preempts, and B releases both VIPs.
restart_a() {
    rampart_start A dira /files/nat-a.conf
    wait_until 30 holds wan+lan none || {
        echo "A: $(vips_of dira)  B: $(vips_of dirb)"; show_log A; show_log B; return 1; }
    echo "A holds $(vips_of dira) again, B $(vips_of dirb)"
    [ -n "$(ask client1 10.0.1.100 80)" ]
}

# Seed 004's `ifdown eth1`: the LAN link of the master goes down; LVS_LAN goes to FAULT, the sync
# group takes LVS_WAN with it and B takes both. Sampled every ~0.1 s: the two VIPs are never
# split between the directors.
lan_down() {
    (
        while :; do echo "$(vips_of dira) $(vips_of dirb)"; sleep 0.05; done
    ) >"$E2E_RUN/samples" 2>/dev/null &
    local sampler=$!
    ip -n dira link set eth1 down
    local ok=0
    wait_until 20 holds none wan+lan && ok=1
    sleep 0.5
    kill $sampler
    wait $sampler 2>/dev/null || true
    echo "after eth1 down on A: A holds $(vips_of dira), B holds $(vips_of dirb)"
    echo "samples (A B) during the switch:"
    uniq -c "$E2E_RUN/samples" | sed 's/^/    /'
    [ $ok = 1 ] || { show_log A; show_log B; return 1; }
    ! grep -Eq '^(wan lan|lan wan)$' "$E2E_RUN/samples"
    local a
    a=$(ask client1 10.0.1.100 80)
    echo "client answered through B: ${a:-(nothing)}"
    [ -n "$a" ]
    ip -n dira link set eth1 up
    wait_until 30 holds wan+lan none || {
        echo "A: $(vips_of dira)  B: $(vips_of dirb)"; show_log A; show_log B; return 1; }
    echo "eth1 up again: A holds $(vips_of dira), B $(vips_of dirb)"
}

# rs2's web server stops: HTTP_GET fails, inhibit_on_failure sets its weight to 0 on both
# directors, and no client request reaches it (an iptables counter on rs2 counts SYNs from the
# client network); it comes back with weight 1.
realserver_down() {
    ip netns exec rs2 iptables -I INPUT -p tcp --dport 80 --syn -s 10.0.1.0/24 -j ACCEPT
    web_stop rs2 80
    local d
    for d in dira dirb; do
        wait_until 30 weight_is $d $RS2 0 || {
            ip netns exec $d ipvsadm -Ln; return 1; }
        echo "== ipvsadm -Ln in $d after rs2 stopped"
        ip netns exec $d ipvsadm -Ln | sed 's/^/    /'
        ip netns exec $d ipvsadm -Ln | grep -Eq -- "-> $RS2 +Masq +0 "
    done
    ip netns exec rs2 iptables -Z INPUT
    local c i a
    for c in client1 client2; do
        for i in 1 2 3; do
            a=$(ask $c 10.0.1.100 80)
            echo "$c: ${a:-(nothing)}"
            [ "$a" = rs1 ]
        done
    done
    local syns
    syns=$(ip netns exec rs2 iptables -L INPUT -v -n -x | awk '/dpt:80/ {print $1; exit}')
    echo "client SYNs that reached rs2 while its weight was 0: $syns"
    [ "$syns" = 0 ]
    web rs2 80 rs2
    for d in dira dirb; do
        wait_until 30 weight_is $d $RS2 1 || {
            ip netns exec $d ipvsadm -Ln; return 1; }
    done
    echo "rs2 back: weight 1 on both directors"
}

# subjects: the Subject header of every stored mail (unfolded, CR removed), in arrival order.
subjects() {
    local f
    for f in $(ls "$E2E_RUN/mail" | grep '\.eml$' | sort); do
        tr -d '\r' <"$E2E_RUN/mail/$f" | awk '
            done { exit }
            /^Subject: / { s = $0; getting = 1; next }
            getting && /^[ \t]/ { sub(/^[ \t]+/, " "); s = s $0; next }
            getting { print s; done = 1 }'
    done
}
all_arrived() {
    local s got
    got=$(subjects)
    for s in "$@"; do grep -qxF "Subject: $s" <<<"$got" || return 1; done
}

# The mails msmtpd accepted, with keepalived's subjects: the sync group's transitions
# (smtp_alert in vrrp_sync_group, as in seed 004) and the checker's (smtp_alert in the
# virtual_server) from both directors.
emails() {
    local want=(
        "[DIRECTOR_A] VRRP Group HK_GRP1 - Entering MASTER state"
        "[DIRECTOR_B] VRRP Group HK_GRP1 - Entering MASTER state"
        "[DIRECTOR_A] VRRP Group HK_GRP1 - Entering FAULT state"
        "[DIRECTOR_B] VRRP Group HK_GRP1 - Entering BACKUP state"
        "[DIRECTOR_A] Realserver [10.0.2.12]:tcp:80 of virtual server [10.0.1.100]:tcp:80 - DOWN"
        "[DIRECTOR_B] Realserver [10.0.2.12]:tcp:80 of virtual server [10.0.1.100]:tcp:80 - DOWN"
        "[DIRECTOR_A] Realserver [10.0.2.12]:tcp:80 of virtual server [10.0.1.100]:tcp:80 - UP"
        "[DIRECTOR_B] Realserver [10.0.2.12]:tcp:80 of virtual server [10.0.1.100]:tcp:80 - UP"
    )
    # Alerts are queued and sent one by one: give the last ones time to arrive.
    wait_until 30 all_arrived "${want[@]}" || true
    echo "subjects received by the SMTP server (in order of arrival):"
    subjects | sed 's/^/    /'
    local s missing=0 got
    got=$(subjects)
    for s in "${want[@]}"; do
        grep -qxF "Subject: $s" <<<"$got" || { echo "MISSING: $s"; missing=1; }
    done
    local f
    f=$(ls "$E2E_RUN"/mail/*.eml | head -n 1)
    echo "the first one, as stored (envelope first):"
    tr -d '\r' <"$f" | sed 's/^/    /'
    grep -q '^X-Envelope-From: lvs@example.test$' "$f"
    grep -q '^X-Envelope-To: admin@example.test$' "$f"
    [ $missing = 0 ]
}

section setup setup
section genhash-digest genhash_digest
section ipvs-tables ipvs_tables
section persistence persistence
section failover-kill failover_kill
section failover-time failover_time
section restart-a restart_a
section lan-down lan_down
section realserver-down realserver_down
section emails emails
show_log A 40
show_log B 40
