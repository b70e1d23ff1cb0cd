#!/bin/bash
# rampart ipvs vs the real ipvsadm on the corners of ipvsadm's printing: its sort comparator
# (unsigned differences read as int, so 10.x sorts after 192.x in pairs and the merge sort
# decides the rest), fwmarks above 2^31 printed signed, non-contiguous persistence masks, SCTP,
# IPv6 services and fwmarks, error messages; plus pipelined restore and the reconciler's
# one-request weight change. Sections are checked by tests/ipvs_vm_quirks.rs.
. /usr/local/lib/vm/lib.sh

ip link add dummy0 type dummy
ip link set dummy0 up
ip addr add 192.168.0.254/16 dev dummy0
ip addr add 10.0.0.254/8 dev dummy0
ip addr add 100.64.0.254/10 dev dummy0
ip -6 addr add 2001:db8:1::fe/64 dev dummy0 nodad
W=/tmp/q
mkdir -p $W

cat >$W/rules <<'R'
-A -t 10.0.0.1:80 -s rr
-A -t 192.168.0.1:80 -s wrr
-A -t 100.64.0.1:80 -s lc
-A -t 200.1.1.1:65535 -s rr -p
-A -t 127.0.0.1:22 -s sh -b sh-fallback,sh-port
-a -t 10.0.0.1:80 -r 192.168.1.1:80 -m
-a -t 10.0.0.1:80 -r 10.1.1.1:80 -m -w 0
-a -t 10.0.0.1:80 -r 100.64.1.1:80 -m -x 7 -y 3
-a -t 10.0.0.1:80 -r 10.1.1.1:8080 -m -w 65535
-a -t 192.168.0.1:80 -r 192.168.3.3 -g
-a -t 192.168.0.1:80 -r 192.168.3.4 -i
-A -u [ffff::1]:53 -s rr -o
-A -u [2001:db8::1]:53 -s rr -p 30 -M 48
-a -u [2001:db8::1]:53 -r [2001:db8:1::9]:53 -m
-A -u [::1]:53 -s rr
-A -f 4294967295 -s rr
-A -f 1 -s rr
-A -f 2147483649 -s rr
-A -f 3 -6 -s mh -b mh-port
-a -f 3 -6 -r 2001:db8:1::7 -g
-A --sctp-service 10.0.0.9:9 -s rr -p 10 -M 255.0.255.0
R

compare() {
    local a r rc=0
    for a in "$@"; do
        # shellcheck disable=SC2086
        { ipvsadm $a 2>&1 && r=0 || r=$?; echo "[exit $r]"; } >$W/want
        # shellcheck disable=SC2086
        { rampart ipvs $a 2>&1 && r=0 || r=$?; echo "[exit $r]"; } >$W/got
        expect_same "ipvsadm $a" $W/want $W/got || rc=1
    done
    return $rc
}

readbacks() {
    ipvsadm -C
    ipvsadm -R <$W/rules
    compare "-Ln" "-S -n" "-L" "-S" "-Ln --nosort" "-Ln --persistent-conn" "-Ln --thresholds" \
        "-Ln --tun-info" "-L -n -t 10.0.0.1:80" "-L -n -f 3 -6" "-Lnc" "-Ln --stats --exact" \
        "-L -n -u [2001:db8::1]:53 --rate"
}
section readbacks readbacks

restore_same() {
    ipvsadm -C
    rampart ipvs -R <$W/rules
    ipvsadm -S -n >$W/by-rampart
    ipvsadm -C
    ipvsadm -R <$W/rules
    ipvsadm -S -n >$W/by-ipvsadm
    expect_same "table restored by rampart vs ipvsadm" $W/by-ipvsadm $W/by-rampart
}
section restore-same restore_same

errors() {
    ipvsadm -C
    ipvsadm -R <$W/rules
    compare "-A -t 10.0.0.1:80" "-D -t 10.7.7.7:80" "-a -t 10.0.0.1:80 -r 192.168.1.1:80 -m" \
        "-d -t 10.0.0.1:80 -r 192.168.9.9:80" "-e -t 10.0.0.1:80 -r 192.168.9.9:80 -m" \
        "-a -t 10.7.7.7:80 -r 192.168.1.1:80 -m" "-A -t 10.0.0.2:80 -s nosuch" \
        "-E -t 10.7.7.7:80 -s rr" "--stop-daemon master" "-a -t 10.0.0.1:80 -r 224.0.0.1:80 -m" \
        "-L -n -t 10.7.7.7:80"
}
section errors errors

pipelined_restore() {
    ipvsadm -C
    local i j
    for i in $(seq 0 199); do
        echo "-A -t 10.2.$((i / 250)).$((i % 250 + 1)):80 -s wlc"
        for j in $(seq 1 10); do
            echo "-a -t 10.2.$((i / 250)).$((i % 250 + 1)):80 -r 192.168.$j.$((i % 250 + 1)):8080 -m -w $j"
        done
    done >$W/big
    rampart ipvs -R <$W/big
    ipvsadm -S -n >$W/big-rampart
    ipvsadm -C
    ipvsadm -R <$W/big
    ipvsadm -S -n >$W/big-ipvsadm
    expect_same "2,200 rules restored" $W/big-ipvsadm $W/big-rampart
    [ "$(grep -c '^-a' $W/big-rampart)" = 2000 ]
}
section pipelined-restore pipelined_restore

one_weight_change() {
    ipvsadm -S -n >$W/desired
    sed -i 's/-r 192.168.5.77:8080 -m -w 5/-r 192.168.5.77:8080 -m -w 9/' $W/desired
    grep -q 'r 192.168.5.77:8080 -m -w 9' $W/desired
    rampart ipvs --reconcile $W/desired >$W/out
    cat $W/out
    [ "$(tail -1 $W/out)" = "operations: 1" ]
    grep -q '"op":"edit_dest"' $W/out
    ipvsadm -S -n >$W/after
    expect_same "table after one weight change" $W/desired $W/after
    rampart ipvs --reconcile $W/desired | grep -qx 'operations: 0'
}
section one-weight-change one_weight_change
