#!/bin/bash
# Reload (SIGHUP) of the full daemon on a kernel with IPVS: one director running
# `rampart -f CONF` (VRRP + checkers + IPVS), real servers and a client in namespaces.
# Checked section by section by tests/ops_reload_vm.rs. Files: /files/e2e_lib.sh.
#
#   WAN 10.0.1.0/24: client .10, director .2, VIP 10.0.1.100 (VI_WAN, VRID 60)
#   LAN 10.0.2.0/24: director .2, rs1 .11, rs2 .12, rs3 .13 (default gw 10.0.2.2)
#   VS :80   rr  NAT  rs1 rs2 rs3 (rs3 inhibit_on_failure), delay_loop 3
#   VS :22   wrr NAT  rs1 weight 3, rs2 weight W2 — a long-lived TCP connection lands on rs1
#   VS :8080 (added by a reload) rs1
#
# Each reload step: `rampart reload --plan` first (its IPVS lines must name the operations),
# then SIGHUP, then the kernel table, the live connection and the daemon's `ipvs-op` lines
# (one per request sent, see src/check/sink.rs) are compared with what the step should do.
. /usr/local/lib/vm/lib.sh
. /files/e2e_lib.sh

RUN=$E2E_RUN
CONF=$RUN/r.conf
SOCK=$RUN/D.sock
LOG=$RUN/D.log

# Weights of rs1 and rs2 in VS :22 (step (a) changes the one without the live connection).
W1=3
W2=1
# conf RS3(0|1) VS8080(0|1): the configuration file's text.
conf() {
    local rs3=$1 vs8080=$2
    cat <<EOF
global_defs {
    router_id DIR_RELOAD
    notification_email {
        admin@example.test
    }
    notification_email_from lvs@example.test
    smtp_server 10.0.1.25
    smtp_connect_timeout 2
${SYNC:+    lvs_sync_daemon $SYNC}
}

vrrp_instance VI_WAN {
    state MASTER
    interface eth0
    virtual_router_id 60
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.0.1.100/24
    }
}

virtual_server 10.0.1.100 80 {
    delay_loop 3
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.2.11 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.0.2.12 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
EOF
    [ "$rs3" = 1 ] && cat <<EOF
    real_server 10.0.2.13 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 1
        }
    }
EOF
    cat <<EOF
}

virtual_server 10.0.1.100 22 {
    delay_loop 2
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 10.0.2.11 22 {
        weight $W1
        TCP_CHECK {
            connect_port 80
            connect_timeout 1
        }
    }
    real_server 10.0.2.12 22 {
        weight $W2
        TCP_CHECK {
            connect_port 80
            connect_timeout 1
        }
    }
}
EOF
    [ "$vs8080" = 1 ] && cat <<EOF

virtual_server 10.0.1.100 8080 {
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.2.11 8080 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
EOF
    return 0
}

table() { ip netns exec dir ipvsadm -Ln; }
# active_conn VIP:PORT RS:PORT: ActiveConn of the destination.
active_conn() {
    ip netns exec dir ipvsadm -Ln -t "$1" | awk -v rs="$2" '$1 == "->" && $2 == rs {print $5}'
}
# metric NAME: its value in a scrape of the daemon's metrics (retried: a scrape can time out
# on a loaded host).
metric() {
    local v i
    for i in 1 2 3 4 5; do
        v=$(printf 'GET /metrics HTTP/1.0\r\n\r\n' | ip netns exec dir nc -w 3 127.0.0.1 9100 |
            awk -v m="$1" '$1 == m {print $2}')
        [ -n "$v" ] && break
        sleep 0.2
    done
    echo "$v"
}
# log_mark: the log's current line count; log_since MARK: the lines after it.
log_mark() { wc -l <"$LOG"; }
log_since() { tail -n +"$(($1 + 1))" "$LOG" | sed 's/\x1b\[[0-9;]*m//g'; }
# ops_since MARK: the IPVS operations the daemon sent since MARK.
ops_since() { log_since "$1" | grep -o 'ipvs-op op=.*' || true; }
plan() { ip netns exec dir rampart reload --plan --socket "$SOCK" 2>&1; }
hup() { kill -HUP "$(cat "$RUN/D.pid")"; }
# reloaded MARK: a reload was applied since MARK (the checker engine logs its own line).
reloaded() { log_since "$1" | grep -q 'check: configuration reloaded'; }
# applied_since MARK: the checker engine sent its update after the reload.
applied_since() { log_since "$1" | grep -q 'ipvs-apply operations='; }
# ticks: how many lines the live connection's real server received so far.
ticks() { wc -l <"$RUN/live-$LIVE.out"; }
# live_conn: ActiveConn of the live connection's destination.
live_conn() { active_conn 10.0.1.100:22 "$LIVE_ADDR"; }
LIVE=rs1
LIVE_ADDR=10.0.2.11:22
# Sections run in subshells: what a section learnt for the later ones is kept in files.
with_state() {
    [ -f /tmp/e2e/live ] && . /tmp/e2e/live
    [ -f /tmp/e2e/weights ] && . /tmp/e2e/weights
    "$@"
}

setup() {
    local t0
    t0=$(now_us)
    plug client eth0 wan 10.0.1.10/24
    plug dir eth0 wan 10.0.1.2/24
    plug dir eth1 lan 10.0.2.2/24
    ip netns exec dir sysctl -qw net.ipv4.ip_forward=1
    local n
    for n in 1 2 3; do
        plug rs$n eth0 lan 10.0.2.1$n/24
        ip -n rs$n route add default via 10.0.2.2
        web rs$n 80 rs$n
    done
    web rs1 8080 rs1-8080
    # The long-lived connection's far ends: whatever arrives is kept in a file.
    # (stdin held open: a listener whose stdin ends closes the connection)
    (sleep 1000 | ip netns exec rs1 nc -l -p 22 >$RUN/live-rs1.out) &
    (sleep 1000 | ip netns exec rs2 nc -l -p 22 >$RUN/live-rs2.out) &
    touch $RUN/live-rs1.out $RUN/live-rs2.out
    echo "+$(secs_since $t0) s: namespaces and servers up"
    conf 1 0 >"$CONF"
    NO_COLOR=1 RAMPART_LOG=info,alert=debug ip netns exec dir rampart -n -f "$CONF" -l --control-socket "$SOCK" \
        --metrics-listen 127.0.0.1:9100 >>"$LOG" 2>&1 &
    echo $! >"$RUN/D.pid"
    wait_until 30 has_addr dir eth0 10.0.1.100 || { tail -n 30 "$LOG"; return 1; }
    wait_until 30 sh -c "[ \"\$(ip netns exec dir ipvsadm -Ln | grep -c -- '->.*Masq')\" = 5 ]" ||
        { table; tail -n 30 "$LOG"; return 1; }
    echo "+$(secs_since $t0) s: VIP held, table programmed"
    table
    [ "$(ask client 10.0.1.100 80)" != "" ]
    # The live connection, to whichever real server the scheduler picks.
    (while :; do echo "tick $(now_us)"; sleep 0.2; done) | ip netns exec client nc 10.0.1.100 22 &
    echo $! >"$RUN/live.pid"
    wait_until 10 sh -c "[ \$(cat $RUN/live-rs1.out $RUN/live-rs2.out | wc -l) -ge 2 ]" || { table; return 1; }
    if [ -s $RUN/live-rs1.out ]; then
        echo "LIVE=rs1 LIVE_ADDR=10.0.2.11:22" >/tmp/e2e/live
    else
        echo "LIVE=rs2 LIVE_ADDR=10.0.2.12:22" >/tmp/e2e/live
    fi
    . /tmp/e2e/live
    [ "$(live_conn)" = 1 ]
    echo "+$(secs_since $t0) s: live connection client -> VIP:22 -> $LIVE established, ActiveConn 1"
}

# (a) the weight of the real server in VS :22 without the live connection changes: the plan names
# one edit-dest, the daemon sends exactly one request, every other line of the table is the same,
# the live connection carries on.
weight_change() {
    local other w
    if [ $LIVE = rs1 ]; then W2=2; other=10.0.2.12; w=2; else W1=4; other=10.0.2.11; w=4; fi
    echo "W1=$W1 W2=$W2" >/tmp/e2e/weights
    conf 1 0 >"$CONF"
    local p
    p=$(plan)
    echo "$p" | sed 's/^/plan| /'
    [ "$(grep -c '^ipvs' <<<"$p")" = 1 ]
    grep -q "^ipvs: op=edit-dest service=tcp:\[10.0.1.100\]:22 dest=\[$other\]:22 forward=nat weight=$w " <<<"$p"
    table >"$RUN/before-a"
    local t0 mark ops_ok
    ops_ok=$(metric 'rampart_ipvs_operations_total{result="ok"}')
    t0=$(ticks)
    mark=$(log_mark)
    hup
    wait_until 10 applied_since "$mark" || { log_since "$mark"; return 1; }
    sleep 1
    echo "operations sent by the reload:"
    ops_since "$mark" | sed 's/^/    /'
    log_since "$mark" | grep 'ipvs-apply' | sed 's/^/    /'
    echo "rampart_ipvs_operations_total{result=\"ok\"}: $ops_ok before, $(metric 'rampart_ipvs_operations_total{result="ok"}') after"
    [ "$(metric 'rampart_ipvs_operations_total{result="ok"}')" = $((ops_ok + 1)) ]
    [ "$(ops_since "$mark" | wc -l)" = 1 ]
    grep -q "op=edit-dest service=tcp:\[10.0.1.100\]:22 dest=\[$other\]:22 .*weight=$w" <<<"$(ops_since "$mark")"
    grep -q 'ipvs-apply operations=1 failed=0' <<<"$(log_since "$mark")"
    table >"$RUN/after-a"
    echo "table diff (only $other's line in :22 may change):"
    diff "$RUN/before-a" "$RUN/after-a" | sed 's/^/    /' || true
    # One line gone, one line new: the edited destination's.
    local gone new
    gone=$(grep -vxF -f "$RUN/after-a" "$RUN/before-a" || true)
    new=$(grep -vxF -f "$RUN/before-a" "$RUN/after-a" || true)
    echo "lines gone: [$gone]; lines new: [$new]"
    [ "$(echo "$gone" | wc -l)" = 1 ] && [ "$(echo "$new" | wc -l)" = 1 ]
    grep -Eq -- "^ +-> $other:22 +Masq +$w " <<<"$new"
    [ "$(live_conn)" = 1 ]
    wait_until 5 sh -c "[ \$(wc -l <$RUN/live-$LIVE.out) -gt $((t0 + 3)) ]"
    kill -0 "$(cat "$RUN/live.pid")"
    echo "live connection: $(ticks) ticks received by $LIVE (was $t0 before the reload), ActiveConn 1"
}

# (b) rs3 (inhibit_on_failure) leaves VS :80: weight 0 at once, deleted one delay_loop (3 s)
# later; nothing else changes.
drain_removed() {
    conf 0 0 >"$CONF"
    local p
    p=$(plan)
    echo "$p" | sed 's/^/plan| /'
    grep -q '^- real_server \[10.0.2.13\]:80 in \[10.0.1.100\]:tcp:80 (drained to weight 0 first)' <<<"$p"
    grep -q '^ipvs: op=edit-dest service=tcp:\[10.0.1.100\]:80 dest=\[10.0.2.13\]:80 forward=nat weight=0 ' <<<"$p"
    grep -q '^ipvs after 3s drain: op=del-dest service=tcp:\[10.0.1.100\]:80 dest=\[10.0.2.13\]:80' <<<"$p"
    [ "$(grep -c '^ipvs' <<<"$p")" = 2 ]
    local mark t_hup
    mark=$(log_mark)
    t_hup=$(now_us)
    hup
    # (each sample is stamped after it is taken: a deletion is never dated early)
    (while :; do w=$(weight_of dir 10.0.1.100:80 10.0.2.13:80); echo "$(now_us) $w"; sleep 0.1; done) >"$RUN/samples-b" 2>&1 &
    local sampler=$!
    wait_until 15 sh -c "[ -z \"\$(ip netns exec dir ipvsadm -Ln -t 10.0.1.100:80 | grep 10.0.2.13)\" ]" || {
        kill $sampler; table; log_since "$mark"; return 1; }
    sleep 0.3
    kill $sampler
    wait $sampler 2>/dev/null || true
    echo "rs3's weight in :80 after SIGHUP (sampled every 0.1 s; empty = deleted):"
    awk -v t0="$t_hup" '{printf "    +%.1f s  %s\n", ($1 - t0) / 1000000, ($2 == "" ? "(gone)" : "weight " $2)}' \
        "$RUN/samples-b" | uniq -f 2 -c | head -n 20
    local zero_first gone
    zero_first=$(awk '$2 != "" {print $2}' "$RUN/samples-b" | uniq | tr '\n' ' ')
    echo "weights seen before removal: $zero_first"
    [ "$zero_first" = "0 " ]
    echo "operations sent:"
    ops_since "$mark" | sed 's/^/    /'
    [ "$(ops_since "$mark" | wc -l)" = 2 ]
    local ops
    ops=$(ops_since "$mark")
    grep -q 'op=edit-dest service=tcp:\[10.0.1.100\]:80 dest=\[10.0.2.13\]:80 .*weight=0' <<<"$(head -n 1 <<<"$ops")"
    grep -q 'op=del-dest service=tcp:\[10.0.1.100\]:80 dest=\[10.0.2.13\]:80' <<<"$(tail -n 1 <<<"$ops")"
    # The drain lasted one delay_loop (3 s), give or take a loaded host's delay.
    gone=$(awk '$2 == "" {print $1; exit}' "$RUN/samples-b")
    echo "deleted $(( (gone - t_hup) / 100000 ))/10 s after SIGHUP (drain time 3 s)"
    [ $((gone - t_hup)) -ge 2900000 ]
    [ "$(live_conn)" = 1 ]
}

# (c) a new virtual server :8080 is programmed and answers.
vs_added() {
    conf 0 1 >"$CONF"
    local p mark
    p=$(plan)
    echo "$p" | sed 's/^/plan| /'
    grep -q '^+ virtual_server \[10.0.1.100\]:tcp:8080' <<<"$p"
    grep -q '^ipvs: op=add-service service=tcp:\[10.0.1.100\]:8080 scheduler=rr ' <<<"$p"
    grep -q '^ipvs: op=add-dest service=tcp:\[10.0.1.100\]:8080 dest=\[10.0.2.11\]:8080 forward=nat weight=1 ' <<<"$p"
    [ "$(grep -c '^ipvs' <<<"$p")" = 2 ]
    mark=$(log_mark)
    hup
    wait_until 15 sh -c "ip netns exec dir ipvsadm -Ln -t 10.0.1.100:8080 | grep -Eq -- '-> 10.0.2.11:8080 +Masq +1 '" || {
        table; log_since "$mark"; return 1; }
    table | sed 's/^/    /'
    echo "operations sent:"
    ops_since "$mark" | sed 's/^/    /'
    [ "$(ops_since "$mark" | wc -l)" = 2 ]
    local a
    a=$(ask client 10.0.1.100 8080)
    echo "client through VIP:8080: ${a:-(nothing)}"
    [ "$a" = rs1-8080 ]
    [ "$(live_conn)" = 1 ]
}

# (d) a file with an error: refused (file:line in the log), alert queued, failure counted; the
# kernel table and the VIP stay exactly as they were.
broken_file() {
    table >"$RUN/before-d"
    ip -n dir addr show >"$RUN/addr-before-d"
    local fails_before
    fails_before=$(metric rampart_config_reload_failures_total)
    echo "rampart_config_reload_failures_total before: ${fails_before:-(absent)}"
    conf 0 1 | sed 's/lb_algo rr/lb_algo bogus/' >"$CONF"
    local line p mark
    line=$(grep -n 'lb_algo bogus' "$CONF" | head -n 1 | cut -d: -f1)
    p=$(plan) && { echo "$p"; echo "the plan of a broken file should fail"; return 1; }
    echo "$p" | sed 's/^/plan| /'
    grep -q "$CONF:$line" <<<"$p"
    mark=$(log_mark)
    hup
    wait_until 10 sh -c "[ \"\$(printf 'GET /metrics HTTP/1.0\r\n\r\n' | ip netns exec dir nc -w 2 127.0.0.1 9100 | awk '\$1 == \"rampart_config_reload_failures_total\" {print \$2}')\" = $(( ${fails_before:-0} + 1 )) ]" || {
        log_since "$mark"; return 1; }
    echo "rampart_config_reload_failures_total after: $(metric rampart_config_reload_failures_total)"
    wait_until 10 sh -c "tail -n +$((mark + 1)) $LOG | grep -q 'alert queued.*Configuration reload refused'" || {
        log_since "$mark"; return 1; }
    echo "log since the SIGHUP:"
    local since
    since=$(log_since "$mark")
    grep -v 'check-result' <<<"$since" | sed 's/^/    /'
    grep -q "ERROR.*$CONF:$line" <<<"$since"
    sleep 2
    table >"$RUN/after-d"
    ip -n dir addr show >"$RUN/addr-after-d"
    expect_same "ipvsadm -Ln" "$RUN/before-d" "$RUN/after-d"
    expect_same "ip addr in the director" "$RUN/addr-before-d" "$RUN/addr-after-d"
    [ "$(ops_since "$mark" | wc -l)" = 0 ]
    # Put the good file back for what follows.
    conf 0 1 >"$CONF"
}

# lvs_sync_daemon added by a reload starts the master sync daemon (VI_WAN is MASTER); a changed
# sync id restarts it with the new one; removed, it stops. No restart of rampart.
syncd_reload() {
    local mark
    mark=$(log_mark)
    SYNC="eth1 VI_WAN" conf 0 1 >"$CONF"
    hup
    wait_until 10 sh -c "ip netns exec dir ipvsadm -L --daemon | grep -q 'master sync daemon (mcast=eth1, syncid=60,'" || {
        ip netns exec dir ipvsadm -L --daemon; log_since "$mark" | grep -v check-result; return 1; }
    echo "added: $(ip netns exec dir ipvsadm -L --daemon)"
    SYNC="eth1 VI_WAN id 77" conf 0 1 >"$CONF"
    hup
    wait_until 10 sh -c "ip netns exec dir ipvsadm -L --daemon | grep -q 'master sync daemon (mcast=eth1, syncid=77,'" || {
        ip netns exec dir ipvsadm -L --daemon; log_since "$mark" | grep -v check-result; return 1; }
    echo "id changed: $(ip netns exec dir ipvsadm -L --daemon)"
    [ "$(ip netns exec dir ipvsadm -L --daemon | wc -l)" = 1 ]
    conf 0 1 >"$CONF"
    hup
    wait_until 10 sh -c "[ -z \"\$(ip netns exec dir ipvsadm -L --daemon)\" ]" || {
        ip netns exec dir ipvsadm -L --daemon; log_since "$mark" | grep -v check-result; return 1; }
    echo "removed: no sync daemon runs"
    log_since "$mark" | grep 'syncd' | sed 's/^/    /'
    [ "$(ops_since "$mark" | wc -l)" = 0 ]
}

# After all of it: the connection opened before the first reload still works.
live_connection() {
    local t0
    t0=$(ticks)
    wait_until 5 sh -c "[ \$(wc -l <$RUN/live-$LIVE.out) -gt $((t0 + 3)) ]"
    kill -0 "$(cat "$RUN/live.pid")"
    [ "$(live_conn)" = 1 ]
    echo "live connection still up: $(ticks) ticks at $LIVE, ActiveConn 1"
    has_addr dir eth0 10.0.1.100
    echo "VIP still held; VRRP transitions logged: $(grep -c 'Entering\|-> MASTER\|transition' "$LOG" || true)"
}

section setup setup || { tail -n 40 "$LOG"; exit 1; }
section weight-change with_state weight_change
section drain-removed with_state drain_removed
section vs-added with_state vs_added
section broken-file with_state broken_file
section syncd-reload with_state syncd_reload
section live-connection with_state live_connection
echo "--- daemon log (without check results) ---"
grep -v 'check-result' "$LOG" | tail -n 60 | sed 's/^/    /'
