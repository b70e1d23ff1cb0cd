#!/bin/bash
# keepalived 2.2.7 as the oracle for FILE_CHECK (tests/check_file_vm.rs): the same keepalived.conf
# run by `keepalived -n -l -C` and by `rampart -n -C`, one after the other, each really
# programming IPVS, while the same values are written to the tracked files. After each write the
# table must change and settle; `ipvsadm -S -n` (sorted) is kept per step and must be
# byte-identical between the two daemons.
# Sections: run:DAEMON (the story), oracle (keepalived's tables show weight × value, reverse,
# weight-0 faults, inhibit_on_failure, clamping, quorum and the sorry server), parity:STEP.
# The real servers are addresses behind a dummy device (FILE_CHECK opens no connection).
# Files: /files/check_vm_lib.sh.
. /usr/local/lib/vm/lib.sh
. /files/check_vm_lib.sh

FC=/tmp/fc
mkdir -p "$FC"
CONF=$FC/fc.conf

# rs ADDR WEIGHT EXTRA CHECK...: a real server with one FILE_CHECK block per CHECK (its lines
# separated by ';').
rs() {
    local addr=$1 weight=$2 extra=$3 c
    shift 3
    printf '  real_server %s 80 {\n    weight %s\n' "$addr" "$weight"
    [ -z "$extra" ] || printf '    %s\n' "$extra"
    for c in "$@"; do printf '    FILE_CHECK {\n      %s\n    }\n' "${c//;/$'\n'      }"; done
    printf '  }\n'
}
{
    printf 'global_defs {\n  router_id filecheck\n}\n'
    printf 'track_file f1 {\n  file %s/f1\n  init_file 1 overwrite\n}\n' "$FC"
    printf 'track_file f2 {\n  file %s/f2\n  weight -2 reverse\n}\n' "$FC"
    printf 'track_file f3 {\n  file %s/f3\n  weight 0\n}\n' "$FC"
    printf 'virtual_server 10.9.0.1 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n'
    rs 10.1.0.1 5 "" "track_file f1"
    rs 10.1.0.2 5 "" "track_file f1;weight 3"
    rs 10.1.0.3 5 "" "track_file f1;weight 0"
    rs 10.1.0.5 5 inhibit_on_failure "track_file f1;weight 2 reverse"
    rs 10.1.0.6 5 "" "track_file f2"
    rs 10.1.0.7 5 "" "track_file f1" "track_file f2;weight 1"
    rs 10.1.0.8 5 "" "track_file f3"
    rs 10.1.0.9 65535 "" "track_file f1;weight 65535"
    rs 10.1.0.10 5 inhibit_on_failure "track_file f1;weight 2147483647"
    printf '}\n'
    printf 'virtual_server 10.9.0.2 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n'
    printf '  quorum 5\n  sorry_server 10.1.0.250 80\n'
    rs 10.1.0.21 5 "" "track_file f1;weight 5"
    printf '}\n'
} >"$CONF"

# STEPS: "NAME FILE ACTION": write VALUE (w:VALUE), rename a file holding VALUE in (mv:VALUE),
# or remove the file (rm). Every step changes the table.
STEPS=(
    "f1=3 f1 w:3" "f1=-2 f1 w:-2" "f1=0 f1 w:0" "f2=1 f2 w:1" "f2=-3 f2 w:-3" "f3=1 f3 w:1"
    "f3=0 f3 w:0" "f1=-1 f1 w:-1" "f1-renamed-in-4 f1 mv:4" "f1-removed f1 rm"
    "f1=min f1 w:-2147483648" "f1=max f1 w:2147483648" "f1=abc f1 w:abc" "f1=0x10 f1 w:0x10"
)

ip link add d0 type dummy
ip addr add 10.1.255.254/16 dev d0
ip link set d0 up

table() { ipvsadm -S -n | sort; }
# settled_change PREV: the table differs from PREV and reads the same twice 0.3 s apart.
settled_change() {
    local a b
    a=$(table)
    [ "$a" != "$(cat "$1")" ] || return 1
    sleep 0.3
    b=$(table)
    [ "$a" = "$b" ]
}
export -f table settled_change

story() {
    local d=$1 step name file action prev
    rm -f "$FC/f1" "$FC/f2" "$FC/f3"
    ipvsadm -C
    table >"$FC/empty"
    cv_daemon_start "$d" "$CONF"
    # The first table: real servers in it, and settled.
    wait_until 30 bash -c "table | grep -q '^-a' && settled_change $FC/empty" || { echo "start: no table after 30 s"; cv_daemon_stop "$d"; return 1; }
    table >"$FC/$d.start"
    prev=$FC/$d.start
    echo "start: $(grep -c '^-a' "$prev") destinations"
    for step in "${STEPS[@]}"; do
        read -r name file action <<<"$step"
        case $action in
            w:*) printf '%s\n' "${action#w:}" >"$FC/$file" ;;
            mv:*) printf '%s\n' "${action#mv:}" >"$FC/new" && mv "$FC/new" "$FC/$file" ;;
            rm) rm -f "$FC/$file" ;;
        esac
        wait_until 20 settled_change "$prev" || { echo "$name: the table did not change within 20 s"; cv_daemon_stop "$d"; return 1; }
        table >"$FC/$d.$name"
        prev=$FC/$d.$name
        echo "$name: $(grep -c '^-a' "$prev") destinations"
    done
    cv_daemon_stop "$d"
    echo "--- last lines of $d's log ---"
    tail -5 "$CV/$d.log" | cut -c1-240 | sed 's/^/    /'
}

oracle() {
    local k=$FC/keepalived
    # init_file 1: weight + value × weight; weight 0 faults on a non-zero value; reverse.
    grep -q -- '-r 10.1.0.1:80 -m -w 6$' $k.start
    grep -q -- '-r 10.1.0.2:80 -m -w 8$' $k.start
    ! grep -q -- '-r 10.1.0.3:80' $k.start
    grep -q -- '-r 10.1.0.5:80 -m -w 3$' $k.start
    grep -q -- '-r 10.1.0.9:80 -m -w 131070$' $k.start
    # Driven below 0: weight 0, still in the table; quorum lost: the sorry server.
    grep -q -- '-r 10.1.0.2:80 -m -w 0$' $k.f1=-2
    grep -q -- '-r 10.1.0.250:80 -m -w 1$' $k.f1=-1
    # A file-weight-0 fault removes; back at 0.
    ! grep -q -- '-r 10.1.0.8:80' $k.f3=1
    grep -q -- '-r 10.1.0.8:80 -m -w 5$' $k.f3=0
    # -2^31: fault (removed, or weight 0 with inhibit_on_failure); clamped at 2^31-1.
    ! grep -q -- '-r 10.1.0.1:80' $k.f1=min
    grep -q -- '-r 10.1.0.10:80 -m -w 0$' $k.f1=min
    grep -q -- '-r 10.1.0.1:80 -m -w 2147483647$' $k.f1=max
    # strtol: junk reads 0, 0x10 is 16.
    grep -q -- '-r 10.1.0.1:80 -m -w 21$' $k.f1=0x10
    echo "keepalived's tables show weight × value, reverse, weight-0 faults, clamping, quorum and the sorry server"
}

for d in keepalived rampart; do section "run:$d" story "$d"; done
section oracle oracle
for step in start "${STEPS[@]}"; do
    name=${step%% *}
    section "parity:$name" expect_same "$name (--- keepalived, +++ rampart)" \
        "$FC/keepalived.$name" "$FC/rampart.$name"
done
echo "--- keepalived's table at f1=-2 ---"
cat "$FC/keepalived.f1=-2"
