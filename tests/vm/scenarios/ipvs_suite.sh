#!/bin/bash
# The IPVS suite, all in one VM boot (tests/vm_ipvs.rs checks each section):
#   reverse:CASE   table built by the real ipvsadm, printed by `rampart ipvs` == printed by ipvsadm
#   forward:CASE   table built by `rampart ipvs`, read back by the real ipvsadm == the ipvsadm-built one
#   restore        ipvsadm-save files restored by `rampart ipvs -R` (and rampart's -S restored by ipvsadm)
#   lab-nat        seed 000's three-namespace lab through a NAT service programmed by rampart
#   lab-nat-masquerade   the same lab, seed 000's second variant (conntrack + MASQUERADE)
#   traffic-dr-fwmark, traffic-tun   real traffic through the other two forwarding methods
#   reconcile      the reconciler against extra/missing/changed entries and a foreign service
# Files: /files/ipvs_cases.txt (the cases), optional env SECTIONS (regex of sections to run).
. /usr/local/lib/vm/lib.sh

CASES=/files/ipvs_cases.txt
SECTIONS=${SECTIONS:-.}
W=/tmp/suite
mkdir -p "$W"

# Routes for destinations (a masq destination needs one) and an interface for the sync daemon.
ip link add dummy0 type dummy
ip link set dummy0 up
ip addr add 192.168.0.254/16 dev dummy0
ip addr add 203.0.113.254/24 dev dummy0
ip -6 addr add 2001:db8:1::fe/64 dev dummy0 nodad
ip link add sync0 type dummy
ip link set sync0 multicast on up
ip addr add 10.99.0.1/24 dev sync0

# Whether this rampart has `rampart ipvs` at all (it lands with the ipvs branch).
RAMPART_IPVS=yes
if rampart ipvs -Ln 2>&1 | grep -q 'not implemented'; then RAMPART_IPVS=no; fi
skip_without_rampart_ipvs() {
    if [ $RAMPART_IPVS = no ]; then
        echo "SKIP: this rampart binary has no 'rampart ipvs' yet"
        exit 0
    fi
}

# Readbacks compared in both directions (what `rampart ipvs` must print like ipvsadm), and extra ones only
# the real ipvsadm does on rampart's tables (-S does not save thresholds; --tun-info shows tunnel options).
# A case adds its own readbacks with "? ARGS" lines; CASE_R / CASE_F hold the current case's lists.
READBACKS=("-Ln" "-S -n" "-Ln --stats" "-Ln --rate" "-Ln --timeout" "-Ln --daemon")
FORWARD_ONLY_READBACKS=("-Ln --thresholds" "-Ln --tun-info" "-Ln --exact --stats")

reset_kernel() {
    ipvsadm -C
    ipvsadm --set 900 120 300
    ipvsadm --stop-daemon master >/dev/null 2>&1 || true
    ipvsadm --stop-daemon backup >/dev/null 2>&1 || true
}

# readback TOOL OUTDIR [ARGS...]: each readback (default: READBACKS) by TOOL ("ipvsadm" or
# "rampart ipvs"), one file each, ending with its exit status.
readback() {
    local tool=$1 out=$2 i=0 args
    shift 2
    [ $# -gt 0 ] || set -- "${READBACKS[@]}"
    mkdir -p "$out"
    for args in "$@"; do
        # shellcheck disable=SC2086
        { $tool $args 2>&1; echo "[exit status $?]"; } >"$out/$i"
        echo "$args" >"$out/$i.args"
        i=$((i + 1))
    done
}

# apply TOOL LINESFILE LOG: runs each line through TOOL; LOG gets "status<TAB>line" per line plus output.
apply() {
    local tool=$1 lines=$2 log=$3 line rc
    : >"$log"
    : >"$log.out"
    while IFS= read -r line; do
        # shellcheck disable=SC2086
        $tool $line >>"$log.out" 2>&1
        rc=$?
        printf '%s\t%s\n' "$rc" "$line" >>"$log"
    done <"$lines"
}

# Split the cases file into $W/cases/NAME.lines, listing the names in order in $W/cases/list.
mkdir -p "$W/cases"
: >"$W/cases/list"
name=
while IFS= read -r line; do
    case "$line" in
        '#'* | '') continue ;;
        '== '*)
            name=${line#== }
            echo "$name" >>"$W/cases/list"
            : >"$W/cases/$name.lines"
            : >"$W/cases/$name.reads"
            ;;
        '? '*) echo "${line#? }" >>"$W/cases/$name.reads" ;;
        *) echo "$line" >>"$W/cases/$name.lines" ;;
    esac
done <"$CASES"

reverse_case() {
    local name=$1 d=$W/run/$1
    skip_without_rampart_ipvs
    local ok=0 i
    for i in "${!CASE_R[@]}"; do
        expect_same "'rampart ipvs ${CASE_R[$i]}' (expected: ipvsadm's)" "$d/by-ipvsadm/$i" "$d/rampart-prints/$i" || ok=1
    done
    [ $ok = 0 ] && echo "ok: ${#CASE_R[@]} readbacks identical"
    return $ok
}

forward_case() {
    local name=$1 d=$W/run/$1
    skip_without_rampart_ipvs
    local ok=0 i
    # Same success/failure per line as ipvsadm.
    if ! paste "$d/ipvsadm.log" "$d/rampart.log" | awk -F'\t' '
        { a = ($1 == 0); r = ($3 == 0)
          if (a != r) { printf "STATUS DIFFERS: ipvsadm %s exit %s, rampart ipvs exit %s\n", $2, $1, $3; bad = 1 }
          else if ($1 != $3) printf "note: exit codes %s (ipvsadm) vs %s (rampart) for %s\n", $1, $3, $2 }
        END { exit bad }'; then
        ok=1
    fi
    for i in "${!CASE_F[@]}"; do
        expect_same "'ipvsadm ${CASE_F[$i]}' of the table made by rampart ipvs (expected: made by ipvsadm)" \
            "$d/by-ipvsadm/$i" "$d/by-rampart/$i" || ok=1
    done
    if ! cmp -s "$d/ipvsadm.log.out" "$d/rampart.log.out"; then
        echo "note: messages differ (--- ipvsadm, +++ rampart ipvs):"
        diff -u "$d/ipvsadm.log.out" "$d/rampart.log.out" | sed 's/^/    /' || true
    fi
    [ $ok = 0 ] && echo "ok: $(wc -l <"$d/ipvsadm.log") operations, ${#CASE_F[@]} readbacks identical"
    return $ok
}

if echo "forward: reverse:" | grep -Eq "$SECTIONS"; then
    while IFS= read -r name; do
        d=$W/run/$name
        mkdir -p "$d"
        mapfile -t case_reads <"$W/cases/$name.reads"
        CASE_R=("${READBACKS[@]}" "${case_reads[@]}")
        CASE_F=("${CASE_R[@]}" "${FORWARD_ONLY_READBACKS[@]}")
        if [ $RAMPART_IPVS = yes ]; then
            reset_kernel
            apply ipvsadm "$W/cases/$name.lines" "$d/ipvsadm.log"
            readback ipvsadm "$d/by-ipvsadm" "${CASE_F[@]}"
            readback "rampart ipvs" "$d/rampart-prints" "${CASE_R[@]}"
            reset_kernel
            apply "rampart ipvs" "$W/cases/$name.lines" "$d/rampart.log"
            readback ipvsadm "$d/by-rampart" "${CASE_F[@]}"
        fi
        echo "reverse:$name" | grep -Eq "$SECTIONS" && section "reverse:$name" reverse_case "$name"
        echo "forward:$name" | grep -Eq "$SECTIONS" && section "forward:$name" forward_case "$name"
    done <"$W/cases/list"
fi

# ------------------------------------------------------------------------------------------- restore
restore_roundtrip() {
    skip_without_rampart_ipvs
    reset_kernel
    # One table with everything the successful cases build (the error case is left out, and fwmark
    # 4294967295, which ipvsadm itself saves as "-f -1" and then cannot restore).
    grep -h -v -e '^--set' -e daemon -e 4294967295 -e '^-[CZDd]' -e '^-[Ee] ' $(sed "s#^#$W/cases/#; s#\$#.lines#" "$W/cases/list" | grep -v errors) \
        >"$W/all.lines"
    ipvsadm -R <"$W/all.lines"
    ipvsadm -S -n >"$W/saved.ipvsadm"
    echo "table: $(grep -c '^-A' "$W/saved.ipvsadm") services, $(grep -c '^-a' "$W/saved.ipvsadm") destinations"
    local ok=0
    rampart ipvs -S -n >"$W/saved.rampart"
    expect_same "rampart ipvs -S -n" "$W/saved.ipvsadm" "$W/saved.rampart" || ok=1
    ipvsadm -C
    rampart ipvs -R <"$W/saved.ipvsadm" || { echo "rampart ipvs -R exited $?"; ok=1; }
    ipvsadm -S -n >"$W/restored.rampart"
    expect_same "ipvsadm -S -n after rampart ipvs -R" "$W/saved.ipvsadm" "$W/restored.rampart" || ok=1
    ipvsadm -C
    rampart ipvs -S -n >"$W/empty.save"
    [ ! -s "$W/empty.save" ] || { echo "rampart ipvs -S -n of an empty table printed:"; cat "$W/empty.save"; ok=1; }
    ipvsadm -R <"$W/saved.rampart" || ok=1
    ipvsadm -S -n >"$W/restored.ipvsadm"
    expect_same "ipvsadm -R of rampart's save" "$W/saved.ipvsadm" "$W/restored.ipvsadm" || ok=1
    # -R of a file without -n style names: long options, as ipvsadm-save files written by hand have.
    ipvsadm -C
    printf '%s\n' "--add-service --tcp-service 10.0.0.12:8080 --scheduler wlc" \
        "--add-server --tcp-service 10.0.0.12:8080 --real-server 192.168.10.1:80 --masquerading --weight 9" \
        >"$W/long.rules"
    rampart ipvs -R <"$W/long.rules" || ok=1
    ipvsadm -S -n >"$W/long.rampart"
    ipvsadm -C
    ipvsadm -R <"$W/long.rules"
    ipvsadm -S -n >"$W/long.ipvsadm"
    expect_same "long-option rules restored by rampart" "$W/long.ipvsadm" "$W/long.rampart" || ok=1
    [ $ok = 0 ] && echo "ok: save/restore round trips identical"
    return $ok
}
echo restore | grep -Eq "$SECTIONS" && section restore restore_roundtrip

# ------------------------------------------------------------------------------------------- lab-nat
# Seed 000: namespaces a (client 172.30.0.10), b (director 172.30.0.20), c (real server 172.30.0.30) on a
# bridge; the virtual service 172.30.0.20:80 -> 172.30.0.30:80 masq is programmed by rampart in b.
lab_setup() {
    reset_kernel
    ns_on_bridge br0 a aa 172.30.0.10/24
    ns_on_bridge br0 b bb 172.30.0.20/24
    ns_on_bridge br0 c cc 172.30.0.30/24
    ip netns exec b sysctl -qw net.ipv4.ip_forward=1
    http_server c 80 "hello from c (real server)"
    # Before any virtual service, b answers nothing on port 80.
    if http_get a 172.30.0.20 80 >/dev/null 2>&1; then echo "something already answers on 172.30.0.20:80"; return 1; fi
}
lab_nat() {
    skip_without_rampart_ipvs
    lab_setup
    # Seed 000's "route" variant: replies from c go back through b.
    ip -n c route add 172.30.0.10 via 172.30.0.20
    ip netns exec b rampart ipvs -A -t 172.30.0.20:80 -s rr
    ip netns exec b rampart ipvs -a -t 172.30.0.20:80 -r 172.30.0.30:80 -m
    ip netns exec b ipvsadm -Ln
    local reply
    reply=$(http_get a 172.30.0.20 80)
    echo "client a got: $(echo "$reply" | head -1 | tr -d '\r') / $(echo "$reply" | tail -1)"
    echo "$reply" | grep -q 'hello from c (real server)'
    http_get a 172.30.0.20 80 | grep -q 'hello from c'
    echo "connections in b:"
    ip netns exec b ipvsadm -Lnc | sed 's/^/    /'
    ip netns exec b ipvsadm -Lnc | grep -q '172.30.0.10:.*172.30.0.20:80 *172.30.0.30:80'
    # Counters after real traffic, printed by both tools. The kernel folds its per-CPU counters into
    # what it reports every 2 s (the rate estimator), so wait for them to show.
    # Late packets (FIN, ACK) may be folded in later still: wait until two reads 2.2 s apart agree.
    wait_until 10 sh -c "ip netns exec b ipvsadm -Ln --stats | grep -Eq '^TCP +172.30.0.20:80 +2 '"
    local tries=0
    ip netns exec b ipvsadm -Ln --stats >"$W/lab.stats.prev"
    while :; do
        sleep 2.2
        ip netns exec b ipvsadm -Ln --stats >"$W/lab.stats.ipvsadm"
        cmp -s "$W/lab.stats.prev" "$W/lab.stats.ipvsadm" && break
        cp "$W/lab.stats.ipvsadm" "$W/lab.stats.prev"
        tries=$((tries + 1))
        [ $tries -lt 5 ] || { echo "counters never settled"; return 1; }
    done
    ip netns exec b rampart ipvs -Ln --stats >"$W/lab.stats.rampart"
    cat "$W/lab.stats.ipvsadm"
    expect_same "rampart ipvs -Ln --stats after traffic" "$W/lab.stats.ipvsadm" "$W/lab.stats.rampart"
    grep -Eq '^TCP +172.30.0.20:80 +2 ' "$W/lab.stats.ipvsadm"
    # The root namespace's table is untouched (IPVS is per namespace).
    [ -z "$(ipvsadm -S -n)" ] || { echo "the root namespace has services:"; ipvsadm -S -n; return 1; }
    echo "ok: client reached the real server through rampart's NAT service"
}
echo lab-nat | grep -Eq "$SECTIONS" && section lab-nat lab_nat

lab_nat_masquerade() {
    skip_without_rampart_ipvs
    # Seed 000's other variant: no route in c; b masquerades (needs IPVS conntrack).
    ip -n c route del 172.30.0.10 via 172.30.0.20 2>/dev/null || true
    ip netns exec b sysctl -qw net.ipv4.vs.conntrack=1
    ip netns exec b iptables -t nat -A POSTROUTING -m ipvs --vaddr 172.30.0.20 --vport 8080 -j MASQUERADE
    ip netns exec b rampart ipvs -A -t 172.30.0.20:8080 -s wrr
    ip netns exec b rampart ipvs -a -t 172.30.0.20:8080 -r 172.30.0.30:80 -m -w 2
    http_get a 172.30.0.20 8080 | grep -q 'hello from c'
    ip netns exec b ipvsadm -Lnc | grep -q '172.30.0.20:8080 *172.30.0.30:80'
    echo "ok: client reached the real server through rampart's NAT service with MASQUERADE"
}
echo lab-nat-masquerade | grep -Eq "$SECTIONS" && section lab-nat-masquerade lab_nat_masquerade

# --------------------------------------------------------------------------- direct routing, tunnelling
# Real traffic through the two other forwarding methods, programmed by rampart: a fwmark service (marks
# set by iptables' mangle table, multiport) with a direct-routing destination, and an IPIP tunnel.
# Namespaces x (client 10.10.0.10), y (director 10.10.0.20, VIPs), z (real server 10.10.0.30) on br1.
traffic_setup() {
    [ ! -e /run/netns/y ] || return 0
    ns_on_bridge br1 x xx 10.10.0.10/24
    ns_on_bridge br1 y yy 10.10.0.20/24
    ns_on_bridge br1 z zz 10.10.0.30/24
    http_server z 80 "hello from z"
    http_server z 8080 "hello from z on 8080"
}
traffic_dr_fwmark() {
    skip_without_rampart_ipvs
    traffic_setup
    ip -n y addr add 10.10.0.100/32 dev yy
    dr_real_server z 10.10.0.100
    ip netns exec y iptables -t mangle -A PREROUTING -d 10.10.0.100 -p tcp -m multiport --dports 80,8080 \
        -j MARK --set-mark 7
    ip netns exec y rampart ipvs -A -f 7 -s rr
    ip netns exec y rampart ipvs -a -f 7 -r 10.10.0.30:0 -g
    http_get x 10.10.0.100 80 | grep -q '^hello from z$'
    http_get x 10.10.0.100 8080 | grep -q '^hello from z on 8080$'
    ip netns exec y ipvsadm -Lnc | grep -q '10.10.0.100:8080 *10.10.0.30:8080'
    ip netns exec y ipvsadm -Lnc | sed 's/^/    /'
    echo "ok: fwmark service with a direct-routing destination carried both ports"
}
echo traffic-dr-fwmark | grep -Eq "$SECTIONS" && section traffic-dr-fwmark traffic_dr_fwmark

traffic_tun() {
    skip_without_rampart_ipvs
    traffic_setup
    ip -n y addr add 10.10.0.101/32 dev yy
    tun_real_server z 10.10.0.101
    ip netns exec y rampart ipvs -A -t 10.10.0.101:80 -s wlc
    ip netns exec y rampart ipvs -a -t 10.10.0.101:80 -r 10.10.0.30:80 -i
    http_get x 10.10.0.101 80 | grep -q '^hello from z$'
    ip netns exec y ipvsadm -Lnc | grep -q '10.10.0.101:80 *10.10.0.30:80'
    ip netns exec y ipvsadm -Lnc | sed 's/^/    /'
    echo "ok: IPIP-tunnelled destination answered the client directly"
}
echo traffic-tun | grep -Eq "$SECTIONS" && section traffic-tun traffic_tun

# ------------------------------------------------------------------------------------------- reconcile
# Contract with the ipvs branch (see tests/vm/README.md): `rampart ipvs --reconcile FILE` makes the services
# listed in FILE (ipvsadm-save format) exactly as FILE says, leaves every other service alone, and prints
# one line "operations: N" (the number of requests it sent).
reconcile_ops() { sed -n 's/^operations: \([0-9][0-9]*\)$/\1/p' "$1" | tail -1; }
reconcile() {
    skip_without_rampart_ipvs
    local probe
    probe=$(rampart ipvs --reconcile /dev/null 2>&1 || true)
    if ! echo "$probe" | grep -q '^operations: '; then
        echo "SKIP: PENDING: this rampart has no 'rampart ipvs --reconcile FILE' yet (it printed: $probe)"
        exit 0
    fi
    reset_kernel
    # The kernel before: S1 has an extra dest (.3) and a changed weight (.2); S2 has a changed scheduler
    # and persistence; S3 is missing; F is a foreign service (not in the desired file).
    ipvsadm -A -t 10.1.0.1:80 -s rr
    ipvsadm -a -t 10.1.0.1:80 -r 192.168.20.1:80 -m -w 1
    ipvsadm -a -t 10.1.0.1:80 -r 192.168.20.2:80 -m -w 1
    ipvsadm -a -t 10.1.0.1:80 -r 192.168.20.3:80 -m -w 1
    ipvsadm -A -t 10.1.0.2:80 -s wlc -p 60
    ipvsadm -a -t 10.1.0.2:80 -r 192.168.20.5:80 -g -w 1
    ipvsadm -A -t 10.9.9.9:80 -s lc
    ipvsadm -a -t 10.9.9.9:80 -r 192.168.20.9:80 -m -w 3
    ipvsadm -A -f 5 -6 -s rr
    cat >"$W/desired" <<'EOF'
-A -t 10.1.0.1:80 -s rr
-a -t 10.1.0.1:80 -r 192.168.20.1:80 -m -w 1
-a -t 10.1.0.1:80 -r 192.168.20.2:80 -m -w 5
-a -t 10.1.0.1:80 -r 192.168.20.4:80 -m -w 1
-A -t 10.1.0.2:80 -s rr
-a -t 10.1.0.2:80 -r 192.168.20.5:80 -g -w 1
-A -u [2001:db8::5]:53 -s wlc
-a -u [2001:db8::5]:53 -r [2001:db8:1::5]:53 -m -w 1
EOF
    ipvsadm -S -n | grep -e 10.9.9.9 -e 'f 5' >"$W/foreign.before"
    # Expected kernel afterwards: the desired services plus the untouched foreign ones, as ipvsadm saves them.
    local before_save
    before_save=$(ipvsadm -S -n)
    ipvsadm -C
    ipvsadm -R <"$W/desired"
    ipvsadm -A -t 10.9.9.9:80 -s lc
    ipvsadm -a -t 10.9.9.9:80 -r 192.168.20.9:80 -m -w 3
    ipvsadm -A -f 5 -6 -s rr
    ipvsadm -S -n >"$W/expected.save"
    ipvsadm -C
    echo "$before_save" | ipvsadm -R

    local ok=0 n1 n2
    rampart ipvs --reconcile "$W/desired" >"$W/reconcile1.out" 2>&1 || { echo "first run exited $?"; ok=1; }
    sed 's/^/    run 1: /' "$W/reconcile1.out"
    ipvsadm -S -n >"$W/after1.save"
    expect_same "kernel table after one reconcile (expected: desired + foreign)" "$W/expected.save" "$W/after1.save" || ok=1
    ipvsadm -S -n | grep -e 10.9.9.9 -e 'f 5' >"$W/foreign.after"
    expect_same "foreign services" "$W/foreign.before" "$W/foreign.after" || ok=1
    n1=$(reconcile_ops "$W/reconcile1.out")
    # extra dest deleted, weight edited, dest added, service edited, service + dest added: 6 requests.
    [ "$n1" = 6 ] || { echo "first run: expected 'operations: 6', got '${n1:-no operations line}'"; ok=1; }
    rampart ipvs --reconcile "$W/desired" >"$W/reconcile2.out" 2>&1 || { echo "second run exited $?"; ok=1; }
    sed 's/^/    run 2: /' "$W/reconcile2.out"
    n2=$(reconcile_ops "$W/reconcile2.out")
    [ "$n2" = 0 ] || { echo "second run: expected 'operations: 0', got '${n2:-no operations line}'"; ok=1; }
    ipvsadm -S -n >"$W/after2.save"
    expect_same "kernel table after the second reconcile" "$W/expected.save" "$W/after2.save" || ok=1
    [ $ok = 0 ] && echo "ok: one run converged ($n1 operations), the second sent none, foreign untouched"
    return $ok
}
echo reconcile | grep -Eq "$SECTIONS" && section reconcile reconcile
exit 0
